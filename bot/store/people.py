"""The people directory: the name to show for each person id a chat platform gives us.

Actors are recorded by the platform's stable id (a Teams user's AAD object id, say);
chat shows their names. Platform-neutral: every adapter may add to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlite_utils


def remember(
    db: sqlite_utils.Database, *, id: str, name: str, platform: str, now: datetime
) -> None:
    """Record (or refresh) the name of a person."""
    if not id or not name:
        return
    db.execute(
        "INSERT INTO people (id, platform, name, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, platform = excluded.platform,"
        " updated_at = excluded.updated_at WHERE people.name != excluded.name",
        [id, platform, name[:200], now.isoformat()],
    )


def names(db: sqlite_utils.Database, *, ids: Iterable[str]) -> dict[str, str]:
    """The known names of these people, by id (unknown ids are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = db.execute(
        f"SELECT id, name FROM people WHERE id IN ({', '.join('?' * len(wanted))})", wanted
    ).fetchall()
    return dict(rows)
