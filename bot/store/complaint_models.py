"""The complaint models `allhands triage learn` installed: the newest is the one in use.

Every replica reads the newest from here (and checks for a newer one by its id), so all of
them triage alike and a restarted container keeps it. Only the last `KEEP` are kept.
"""

from __future__ import annotations

import functools
import gzip
import json
import logging
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.domain import complaint_model
from bot.domain.complaint_model import Forgotten, without_features
from bot.errors import ModelError
from bot.store.sql import Conn

log = logging.getLogger(__name__)

KEEP = 5  # installed models kept; older ones are deleted by the write that installs one
REWRITE_LEVEL = 6  # gzip level of a body rewritten inside an erasure's transaction


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
    erasures: int | None = None,
) -> int | None:
    """Install a model if the newest installed one is still `over` (None: there was none)
    and, with `erasures`, no erasure was recorded after that many (the model may hold posts
    read before they were erased), deleting all but the last `keep`; its id, or None when
    another was installed or an erasure ran meanwhile."""
    if newest_id(db) != over:
        return None
    if erasures is not None and erasures_seen(db) != erasures:
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


def erasures_seen(db: Conn) -> int:
    """A mark of the erasures recorded so far (read before the posts a model learns from)."""
    return int(db.execute("SELECT coalesce(max(id), 0) FROM erasures").fetchone()[0])


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


def clean_models(
    db: Conn,
    *,
    clean: Callable[[str], str | None],
    learned: Iterable[str] = (),
    names: Iterable[str] = (),
) -> int:
    """Rewrite the kept models whose teams' examples `clean` changes (None: the example is
    dropped, as a team left with none) or whose weights hold text features of the erased
    posts `learned` (as training read them) or of the erased person's `names` that the
    shipped model, trained on public data only, does not have (see
    `complaint_model.forgotten`); the number of models rewritten.

    Each replica reads a model again only when a row with a higher id appears (one cheap
    query a minute), so changing a body in place would leave the old texts in use. The rows
    from the oldest changed one on are therefore written again, in their order, under new
    ids, and the old rows deleted: within a minute every replica reads the newest again and
    uses the cleaned one it would have chosen before. (A `triage learn` fitted meanwhile,
    on posts read before they were erased, installs nothing: see `install`.)"""
    rows = db.execute(
        "SELECT id, installed_at, trained_on, figures, body FROM complaint_models ORDER BY id"
    ).fetchall()
    learned, names = list(learned), list(names)
    forgotten = None
    if learned or names:
        forgotten = complaint_model.forgotten(learned, names=names, public=public_features())
    changed: dict[int, bytes] = {}
    dropped: list[int] = []
    for row in rows:
        cleaned, features = _cleaned(bytes(row[4]), clean, forgotten)
        if cleaned is not None:
            changed[int(row[0])] = cleaned
        if features:
            dropped.append(features)
    if dropped:
        # How many, never which: the features are the erased people's words.
        log.info(
            "erasure: %d learned text feature(s) dropped from %d kept complaint model(s)",
            sum(dropped),
            len(dropped),
        )
    if not changed:
        return 0
    first = min(changed)
    again = [r for r in rows if int(r[0]) >= first]
    for id_, installed_at, trained_on, figures, body in again:
        db.execute(
            "INSERT INTO complaint_models (installed_at, trained_on, figures, body)"
            " VALUES (?, ?, ?, ?)",
            [installed_at, trained_on, figures, changed.get(int(id_), bytes(body))],
        )
    old = [int(r[0]) for r in again]
    db.execute(f"DELETE FROM complaint_models WHERE id IN ({', '.join('?' * len(old))})", old)
    return len(changed)


def public_features() -> frozenset[str]:
    """The features of the shipped model, trained on public data only (read again when its
    file changes); none, with an error logged, when it does not read."""
    # Imported here: triage_model, which owns the model file, imports this module.
    from bot.triage_model import SHIPPED

    try:
        stat = SHIPPED.stat()
    except OSError:
        return _public(SHIPPED, 0, -1)
    return _public(SHIPPED, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=2)
def _public(path: Path, _mtime: int, _size: int) -> frozenset[str]:
    from bot.triage_model import load_model

    try:
        return frozenset(load_model(path).weights)
    except ModelError as exc:
        log.error("%s; an erasure drops every learned feature of the erased posts", exc)
        return frozenset()


def _cleaned(
    body: bytes, clean: Callable[[str], str | None], forgotten: Forgotten | None
) -> tuple[bytes | None, int]:
    """The model file `body` with its teams' examples cleaned and the features `forgotten`
    drops taken out (None if nothing changed), and how many features went.

    Only `team_examples`, `features` and `weights` are touched; the rest is written back as
    `triage_model.encode` wrote it (the same key order, separators and gzip header),
    compressed at level 6: it takes a seventh of the time of level 9 for 1% more bytes, and
    the writer waits for it (benchmarks/erasure_models.py). A body that does not read is
    no model any replica uses, and is left as it is."""
    try:
        data = json.loads(gzip.decompress(body).decode("utf-8"))
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, ValueError):
        return None, 0
    if not isinstance(data, dict):
        return None, 0
    data, dropped = without_features(data, forgotten) if forgotten else (data, 0)
    changed = dropped > 0
    examples = data.get("team_examples")
    if isinstance(examples, dict):
        kept = _kept_examples(examples, clean)
        if kept != examples:
            data["team_examples"] = kept
            changed = True
    if not changed:
        return None, 0
    compressed = gzip.compress(
        json.dumps(data, separators=(",", ":")).encode(), compresslevel=REWRITE_LEVEL, mtime=0
    )
    return compressed, dropped


def _kept_examples(examples: dict[str, Any], clean: Callable[[str], str | None]) -> dict[str, Any]:
    """The teams' examples cleaned, a team left with none dropped."""
    kept: dict[str, Any] = {}
    for team, texts in examples.items():
        if not isinstance(texts, list):
            kept[team] = texts
            continue
        cleaned = [t if not isinstance(t, str) else clean(t) for t in texts]
        left = [t for t in cleaned if t is not None]
        if left:
            kept[team] = left
    return kept


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
