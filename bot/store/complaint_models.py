"""The complaint models `allhands triage learn` installed: the newest is the one in use.

Every replica reads the newest from here (and checks for a newer one by its id), so all of
them triage alike and a restarted container keeps it. Only the last `KEEP` are kept.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from bot.store.sql import Conn

KEEP = 5  # installed models kept; older ones are deleted by the write that installs one


@dataclass(frozen=True, slots=True)
class Installed:
    """One installed model's row; `body` (the gzipped JSON) only when it was asked for."""

    id: int
    installed_at: datetime
    trained_on: str
    figures: Mapping[str, float] = field(default_factory=dict)
    body: bytes | None = None


def install(
    db: Conn,
    *,
    body: bytes,
    trained_on: str,
    figures: Mapping[str, float],
    now: datetime,
    over: int | None,
    keep: int = KEEP,
) -> int | None:
    """Install a model if the newest installed one is still `over` (None: there was none),
    deleting all but the last `keep`; its id, or None when another was installed meanwhile."""
    if newest_id(db) != over:
        return None
    row = db.execute(
        "INSERT INTO complaint_models (installed_at, trained_on, figures, body)"
        " VALUES (?, ?, ?, ?) RETURNING id",
        [now.isoformat(), trained_on, json.dumps(dict(figures), sort_keys=True), body],
    ).fetchone()
    db.execute(
        "DELETE FROM complaint_models WHERE id NOT IN"
        " (SELECT id FROM complaint_models ORDER BY id DESC LIMIT ?)",
        [keep],
    )
    return int(row[0])


def newest_id(db: Conn) -> int | None:
    """The id of the newest installed model (a cheap check for a new one), None if none."""
    row = db.execute("SELECT max(id) FROM complaint_models").fetchone()
    return None if row[0] is None else int(row[0])


def newer(db: Conn, *, than: int | None) -> list[Installed]:
    """The installed models newer than id `than` (every one for None), newest first, with
    their bodies."""
    found = db.execute(
        "SELECT id, installed_at, trained_on, figures, body FROM complaint_models"
        " WHERE id > ? ORDER BY id DESC",
        [-1 if than is None else than],
    )
    return [_installed(r) for r in found]


def every(db: Conn) -> list[Installed]:
    """The installed models kept, newest first, without their bodies."""
    found = db.execute(
        "SELECT id, installed_at, trained_on, figures, NULL FROM complaint_models ORDER BY id DESC"
    )
    return [_installed(r) for r in found]


def _installed(row: tuple[object, ...]) -> Installed:
    try:
        figures = json.loads(str(row[3]))
    except ValueError:
        figures = {}
    if not isinstance(figures, dict):
        figures = {}
    return Installed(
        id=int(str(row[0])),
        installed_at=datetime.fromisoformat(str(row[1])),
        trained_on=str(row[2]),
        figures={str(k): float(v) for k, v in figures.items() if isinstance(v, int | float)},
        body=None if row[4] is None else bytes(row[4]),  # type: ignore[call-overload]
    )
