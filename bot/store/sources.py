"""How each source is doing: last success, last error, items seen."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlite_utils


def record_success(db: sqlite_utils.Database, *, source: str, now: datetime, items: int) -> None:
    """A fetch worked and brought `items` items."""
    db.execute(
        "INSERT INTO source_health (source, last_success, items_seen) VALUES (?, ?, ?)"
        " ON CONFLICT(source) DO UPDATE SET last_success = excluded.last_success,"
        " items_seen = items_seen + excluded.items_seen",
        [source, now.isoformat(), items],
    )


def record_failure(db: sqlite_utils.Database, *, source: str, now: datetime, error: str) -> None:
    """A fetch failed with `error`."""
    db.execute(
        "INSERT INTO source_health (source, last_error, last_error_at) VALUES (?, ?, ?)"
        " ON CONFLICT(source) DO UPDATE SET last_error = excluded.last_error,"
        " last_error_at = excluded.last_error_at",
        [source, error[:1000], now.isoformat()],
    )


def health(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """source -> {last_success, last_error, last_error_at, items_seen}."""
    cursor = db.execute("SELECT * FROM source_health ORDER BY source")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in cursor.fetchall()}
