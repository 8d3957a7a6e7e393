"""Erasure requests and retention: customers' text and identity blanked wherever the store
keeps them, the numbers digests need kept (times, states, team, kind, audience).

`forget` serves one person's erasure request: their mentions are blanked, then every text
column of every table is searched for what identified them (handle, name, profile and post
addresses) and those words are replaced (bot.store.erasure_sweep). `expire` blanks what is
older than the playbooks' retention. Both take the blanked posts out of the kept complaint
models, whose teams' examples are copies of posts people moved to a team and whose weights
learned from posts whose kind people corrected. Both record that an erasure happened,
never what was erased. Both turn on SQLite's secure_delete, so that the old text does not
stay in freed pages (PostgreSQL keeps old row versions until VACUUM reclaims them: run it
after one).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.errors import AllhandsError
from bot.store import complaint_models, corrections, day_figures, erasure_sweep, outbox, sql
from bot.store.sql import Conn

REQUESTED = "(erased at the author's request)"
EXPIRED = "(removed: older than the retention period)"
# Keys whose values in event details and outbox payloads are people's words.
PRIVATE_KEYS = frozenset({"text", "before", "after", "reason", "note", "quote", "title"})
BATCH = 500


class ErasureError(AllhandsError):
    """An erasure cannot be done as asked; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Erased:
    """What an erasure changed: mentions blanked, other cells mended, kept complaint models
    rewritten without the blanked posts among their examples or what their weights learned."""

    mentions: int
    cells: int = 0
    models: int = 0


def handle_key(handle: str) -> str:
    """A handle as compared here: no surrounding space or leading @, any case."""
    return handle.strip().removeprefix("@").strip().casefold()


def forget(db: Conn, *, source: str, handle: str, now: datetime, requested_by: str) -> Erased:
    """Erase everything the store keeps about `handle` on `source`; ErasureError if unknown."""
    key = handle_key(handle)
    if not key:
        raise ErasureError("name the author: --author HANDLE")
    known = {r[0] for r in db.execute("SELECT DISTINCT source FROM mentions")}
    if source not in known:
        choices = ", ".join(sorted(known)) or "none yet"
        raise ErasureError(f"no mentions from source {source!r} (sources in the store: {choices})")
    rows = db.execute(
        "SELECT number, author_handle, author_name, author_url, url, external_id FROM mentions"
        " WHERE source = ? AND lower(ltrim(author_handle, '@')) = ?",
        [source, key],
    ).fetchall()
    if not rows:
        raise ErasureError(f"no mentions from {handle!r} on {source}; nothing was changed")
    _begin(db, now=now)
    pseudonym = f"erased-{secrets.token_hex(4)}"
    numbers = [r[0] for r in rows]
    names = {key, *(r[1] for r in rows), *(r[2] for r in rows if len(r[2]) >= 3)}
    needles = names | {r[3] for r in rows} | {r[4] for r in rows}
    needles |= {r[5] for r in rows if len(r[5]) >= 6}
    moved = corrections.moved_texts(db, numbers=numbers)  # read before the texts are blanked
    learned = corrections.learned_texts(db, numbers=numbers)
    _blank_mentions(
        db, numbers=numbers, text=REQUESTED, pseudonym=lambda _h: pseudonym, now=now, redraw=True
    )
    db.execute(
        "UPDATE events SET actor = ? WHERE lower(actor) = ?",
        [f"{source}:{pseudonym}", f"{source}:{key}"],
    )
    _forget_directory(db, source=source, key=key)
    # Actors renamed in the event log may be anyone's answers on any day: count them again.
    day_figures.forget_all(db)
    variants = erasure_sweep.as_written({n for n in needles if n and n.strip()})
    cells = erasure_sweep.sweep(db, variants=variants)
    pattern = erasure_sweep.whole_words(variants)
    # Their moved posts leave the models; others' examples lose their name, as others'
    # posts just did (a later `triage learn` takes these posts as they are now). What the
    # models' weights learned from their corrected posts and their names goes too.
    models = complaint_models.clean_models(
        db,
        clean=lambda t: (
            None if t in moved else pattern.sub(erasure_sweep.MARK, t) if pattern else t
        ),
        learned=learned,
        names=names,
    )
    _record(db, now=now, reason="request", source=source, count=len(numbers), by=requested_by)
    db.execute("DELETE FROM erasing")
    return Erased(mentions=len(numbers), cells=cells, models=models)


def expire(db: Conn, *, before: datetime, now: datetime) -> Erased:
    """Blank customers' text and identity in mentions received before `before`."""
    rows = db.execute(
        "SELECT number, source, author_handle FROM mentions"
        " WHERE erased_at IS NULL AND received_at < ? ORDER BY received_at LIMIT ?",
        [before.isoformat(), BATCH * 20],
    ).fetchall()
    if not rows:
        return Erased(mentions=0)
    _begin(db, now=now)
    names: dict[tuple[str, str], str] = {}
    by_number = {r[0]: (r[1], handle_key(r[2])) for r in rows}

    def pseudonym(number: int) -> str:
        return names.setdefault(by_number[number], f"erased-{secrets.token_hex(4)}")

    numbers = list(by_number)
    moved = corrections.moved_texts(db, numbers=numbers)  # read before the texts are blanked
    learned = corrections.learned_texts(db, numbers=numbers)
    _blank_mentions(db, numbers=numbers, text=EXPIRED, pseudonym=pseudonym, now=now)
    # A customer's later message is recorded on the conversation's first mention, as
    # theirs, when it arrived: within the times of the mentions blanked here.
    first, last = db.execute(
        f"SELECT min(received_at), max(received_at) FROM mentions WHERE number IN"
        f" ({', '.join('?' * len(numbers))})",
        numbers,
    ).fetchone()
    for event_id, actor in db.execute(
        "SELECT id, actor FROM events WHERE at BETWEEN ? AND ? AND action = 'follow_up'",
        [first, last],
    ).fetchall():
        source, _, handle = str(actor).partition(":")
        name = names.get((source, handle_key(handle)))
        if name is not None:
            db.execute("UPDATE events SET actor = ? WHERE id = ?", [f"{source}:{name}", event_id])
    db.execute(
        "UPDATE digests SET text = ?, chart_text = '' WHERE created_at < ? AND text != ?",
        [EXPIRED, before.isoformat(), EXPIRED],
    )
    models = 0
    if moved or learned:  # the only posts the models' examples and weights learned from
        models = complaint_models.clean_models(
            db, clean=lambda t: None if t in moved else t, learned=learned
        )
    _record(db, now=now, reason="retention", source="", count=len(numbers), by="")
    db.execute("DELETE FROM erasing")
    return Erased(mentions=len(numbers), models=models)


def _blank_mentions(
    db: Conn,
    *,
    numbers: Sequence[int],
    text: str,
    pseudonym: Callable[[int], str],
    now: datetime,
    redraw: bool = False,
) -> None:
    """Blank the mentions and what hangs off them: events, replies, approvals, effects;
    with `redraw`, their cards in chat are drawn again (an erasure request, not the daily
    retention pass, which would flood chat with updates of old cards)."""
    for chunk in _chunks(numbers):
        marks = ", ".join("?" * len(chunk))
        for number in chunk:
            db.execute(
                "UPDATE mentions SET text = ?, title = '', author_handle = ?, author_name = '',"
                " author_url = '', url = '', external_id = ?, parent_id = NULL,"
                " conversation_id = NULL, erased_at = ? WHERE number = ?",
                [text, pseudonym(number), f"erased:{number}", now.isoformat(), number],
            )
        _blank_json(db, "events", "id", "detail", f"mention IN ({marks})", chunk, text)
        _blank_json(db, "sla_steps", "id", "detail", f"mention IN ({marks})", chunk, text)
        _blank_json(db, "outbox", "id", "payload", f"mention IN ({marks})", chunk, text)
        db.execute(
            "UPDATE replies SET text = ?, url = NULL, external_id = NULL"
            f" WHERE mention IN ({marks})",
            [text, *chunk],
        )
        db.execute(
            f"UPDATE approvals SET original_text = '', note = NULL WHERE mention IN ({marks})",
            chunk,
        )
        # An answer not yet posted to someone who is erased is not posted.
        db.execute(
            f"DELETE FROM outbox WHERE mention IN ({marks}) AND kind = ? AND state = ?",
            [*chunk, outbox.Kind.PUBLIC_REPLY.value, outbox.Status.PENDING.value],
        )
        db.execute(
            f"UPDATE outbox SET last_error = NULL, result = NULL WHERE mention IN ({marks})"
            " AND state != ?",
            [*chunk, outbox.Status.PENDING.value],
        )
        if not redraw:
            continue
        roots = db.execute(
            "SELECT DISTINCT coalesce(root_number, number) FROM mentions"
            f" WHERE number IN ({marks})",
            chunk,
        ).fetchall()
        for (root,) in roots:
            if db.execute("SELECT 1 FROM cards WHERE mention = ?", [root]).fetchone():
                outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=root, now=now)


def _blank_json(
    db: Conn,
    table: str,
    key: str,
    column: str,
    where: str,
    args: Sequence[Any],
    text: str,
) -> None:
    """Replace people's words (PRIVATE_KEYS) inside a JSON column with `text`."""
    rows = db.execute(f"SELECT {key}, {column} FROM {table} WHERE {where}", list(args)).fetchall()
    for row_id, raw in rows:
        try:
            value = json.loads(raw)
        except (TypeError, ValueError):
            continue
        blanked = _blank_value(value, text)
        if blanked != value:
            db.execute(
                f"UPDATE {table} SET {column} = ? WHERE {key} = ?",
                [json.dumps(blanked, ensure_ascii=False, sort_keys=True), row_id],
            )


def _blank_value(value: Any, text: str) -> Any:
    if isinstance(value, dict):
        return {
            k: (text if k in PRIVATE_KEYS and isinstance(v, str) and v else _blank_value(v, text))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_blank_value(v, text) for v in value]
    return value


def _forget_directory(db: Conn, *, source: str, key: str) -> None:
    """The people directory holds staff; drop any entry naming this customer on `source`."""
    ids = [key, f"{source}:{key}"]
    db.execute(
        "DELETE FROM people_aliases WHERE platform = ? AND (alias IN (?, ?) OR person IN (?, ?))",
        [source, *ids, *ids],
    )
    db.execute("DELETE FROM people WHERE platform = ? AND id IN (?, ?)", [source, *ids])


def _begin(db: Conn, *, now: datetime) -> None:
    """Open an erasure: freed space is zeroed, and events may be blanked until it ends
    (in this transaction only: `erasing` is emptied before it commits)."""
    if db.dialect != sql.POSTGRESQL:
        db.execute("PRAGMA secure_delete = ON")
    db.execute("INSERT INTO erasing (started_at) VALUES (?)", [now.isoformat()])


def _record(db: Conn, *, now: datetime, reason: str, source: str, count: int, by: str) -> None:
    db.execute(
        "INSERT INTO erasures (at, reason, source, mentions, requested_by) VALUES (?, ?, ?, ?, ?)",
        [now.isoformat(), reason, source, count, by],
    )


def _chunks(items: Sequence[int], size: int = BATCH) -> Iterable[Sequence[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def checkpoint(path: str, *, tries: int = 20) -> bool:
    """Empty the write-ahead log into the database file (a running bot's readers hold it
    only for a moment, so it is tried again); False when a reader kept it busy."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        for _ in range(tries):
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            time.sleep(0.25)
    finally:
        conn.close()
    return False
