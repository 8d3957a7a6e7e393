"""People's display names, cached from their chat platform; actors are `platform:id`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import sqlite_utils


def remember(db: sqlite_utils.Database, *, actor: str, name: str, now: datetime) -> None:
    """Store (or refresh) the name shown for an actor."""
    db.execute(
        "INSERT INTO people (actor, name, fetched_at) VALUES (?, ?, ?)"
        " ON CONFLICT(actor) DO UPDATE SET name = excluded.name, fetched_at = excluded.fetched_at",
        [actor, name, now.isoformat()],
    )


def known(db: sqlite_utils.Database, *, actor: str) -> tuple[str, datetime] | None:
    """The stored name of an actor and when it was fetched, or None."""
    row = db.execute("SELECT name, fetched_at FROM people WHERE actor = ?", [actor]).fetchone()
    return (row[0], datetime.fromisoformat(row[1])) if row else None


def names(db: sqlite_utils.Database, *, actors: Iterable[str | None]) -> dict[str, str]:
    """actor -> name for those of `actors` whose name is known."""
    wanted = sorted({a for a in actors if a})
    if not wanted:
        return {}
    rows = db.execute(
        f"SELECT actor, name FROM people WHERE actor IN ({', '.join('?' * len(wanted))})", wanted
    ).fetchall()
    return {actor: name for actor, name in rows}


def display_name(db: sqlite_utils.Database, *, actor: str | None) -> str:
    """The name to show for an actor: its stored name, else the actor as written."""
    if not actor:
        return ""
    return names(db, actors=[actor]).get(actor, actor)
