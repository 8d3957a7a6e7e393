"""How each source is doing: last success, last error, items seen, and its backoff."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.sql import Conn


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def record_success(
    db: Conn,
    *,
    source: str,
    now: datetime,
    items: int,
    retry_at: datetime | None = None,
) -> None:
    """A fetch worked and brought `items` items; `retry_at` is set when the platform asked
    us to wait (its rate limit is nearly used)."""
    db.execute(
        "INSERT INTO source_health (source, last_success, items_seen, failures, retry_at)"
        " VALUES (?, ?, ?, 0, ?)"
        " ON CONFLICT(source) DO UPDATE SET last_success = excluded.last_success,"
        " items_seen = source_health.items_seen + excluded.items_seen, failures = 0,"
        " retry_at = excluded.retry_at",
        [source, now.isoformat(), items, _iso(retry_at)],
    )


def record_failure(db: Conn, *, source: str, now: datetime, error: str) -> int:
    """A fetch failed with `error`; returns how many fetches in a row have failed."""
    db.execute(
        "INSERT INTO source_health (source, last_error, last_error_at, failures)"
        " VALUES (?, ?, ?, 1)"
        " ON CONFLICT(source) DO UPDATE SET last_error = excluded.last_error,"
        " last_error_at = excluded.last_error_at, failures = source_health.failures + 1",
        [source, error[:1000], now.isoformat()],
    )
    row = db.execute("SELECT failures FROM source_health WHERE source = ?", [source]).fetchone()
    return int(row[0])


def wait_until(db: Conn, *, source: str, at: datetime | None) -> None:
    """Do not read the source again before `at` (None: whenever it is due)."""
    db.execute("UPDATE source_health SET retry_at = ? WHERE source = ?", [_iso(at), source])


def retry_at(db: Conn, *, source: str) -> datetime | None:
    """When the source may be read again, if it is backing off."""
    row = db.execute("SELECT retry_at FROM source_health WHERE source = ?", [source]).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def health(db: Conn) -> dict[str, dict[str, Any]]:
    """source -> {last_success, last_error, last_error_at, items_seen, failures, retry_at}."""
    cursor = db.execute("SELECT * FROM source_health ORDER BY source")
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names[1:], row[1:], strict=True)) for row in cursor.fetchall()}
