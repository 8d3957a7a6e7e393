"""The people directory: the name to show for each person id a chat platform gives us,
and the other names they go by.

Actors are recorded by the platform's stable id (a Slack member id, a Teams user's AAD
object id); chat shows their names. Playbooks name people the way colleagues know them
(`dana`, `dana@lumo.example`, `Dana Scully`) and `find` turns that into the platform's id.
Platform-neutral: every adapter adds to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from bot.store.sql import Conn


def alias_key(text: str) -> str:
    """How a name is compared: no surrounding space or leading @, any case."""
    return text.strip().removeprefix("@").strip().casefold()


def remember(
    db: Conn,
    *,
    id: str,
    name: str,
    platform: str,
    now: datetime,
    aliases: Iterable[str] = (),
) -> None:
    """Record (or refresh) the name of a person, and other names they go by."""
    if not id or not name:
        return
    db.execute(
        "INSERT INTO people (id, platform, name, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET name = excluded.name, platform = excluded.platform,"
        " updated_at = excluded.updated_at WHERE people.name != excluded.name",
        [id, platform, name[:200], now.isoformat()],
    )
    keys = {alias_key(a) for a in (name, *aliases) if a and len(a) <= 200} - {""}
    db.executemany(
        "INSERT INTO people_aliases (alias, person, platform) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [(key, id, platform) for key in sorted(keys)],
    )


def find(db: Conn, *, who: str, platform: str) -> str | None:
    """The platform id of the person a playbook calls `who` (an id, handle, e-mail or
    name), or None when nobody, or more than one person, goes by it there."""
    if db.execute("SELECT 1 FROM people WHERE id = ?", [who]).fetchone():
        return who
    rows = db.execute(
        "SELECT DISTINCT person FROM people_aliases WHERE alias = ? AND platform = ?",
        [alias_key(who), platform],
    ).fetchall()
    return str(rows[0][0]) if len(rows) == 1 else None


def resolve(db: Conn, *, names: Iterable[str], platform: str) -> tuple[str, ...]:
    """Each of `names` as its platform id where the directory knows it, else as written."""
    return tuple(find(db, who=name, platform=platform) or name for name in names)


def names(db: Conn, *, ids: Iterable[str]) -> dict[str, str]:
    """The known names of these people, by id (unknown ids are left out)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = db.execute(
        f"SELECT id, name FROM people WHERE id IN ({', '.join('?' * len(wanted))})", wanted
    ).fetchall()
    return dict(rows)


def shown(db: Conn, *, ids: Iterable[str | None]) -> dict[str, str]:
    """How chat shows each of these people: their name where known, else the id itself
    (the console's people are their names already)."""
    wanted = {i for i in ids if i}
    return {i: i for i in wanted} | names(db, ids=wanted)


def name_of(db: Conn, *, id: str | None) -> str:
    """How chat shows one person (their name, else their id); empty for nobody."""
    return shown(db, ids=[id]).get(id, "") if id else ""
