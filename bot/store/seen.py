"""Requests and events already handled, so that a replay or a retry is not acted on twice."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils


def first_time(
    db: sqlite_utils.Database, *, key: str, now: datetime, keep: timedelta = timedelta(hours=1)
) -> bool:
    """Record `key`; True if it was not seen within `keep` (older keys are forgotten)."""
    db.execute("DELETE FROM seen_requests WHERE seen_at < ?", [(now - keep).isoformat()])
    cursor = db.execute(
        "INSERT OR IGNORE INTO seen_requests (key, seen_at) VALUES (?, ?)", [key, now.isoformat()]
    )
    return cursor.rowcount == 1
