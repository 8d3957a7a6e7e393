"""Signatures of accepted webhook requests, remembered long enough to refuse replays."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils


def remember(
    db: sqlite_utils.Database, *, source: str, signature: str, now: datetime, keep: timedelta
) -> bool:
    """Record a request's signature; False when it was seen before (a replay)."""
    db.execute("DELETE FROM webhook_signatures WHERE seen_at < ?", [(now - keep).isoformat()])
    cursor = db.execute(
        "INSERT OR IGNORE INTO webhook_signatures (source, signature, seen_at) VALUES (?, ?, ?)",
        [source, signature, now.isoformat()],
    )
    return cursor.rowcount == 1


def forget(db: sqlite_utils.Database, *, source: str, signature: str) -> None:
    """Drop a signature whose request could not be stored, so the sender may try again."""
    db.execute(
        "DELETE FROM webhook_signatures WHERE source = ? AND signature = ?", [source, signature]
    )
