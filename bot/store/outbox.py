"""The outbox: every effect on the outside world, written with the change that causes it.

Each effect is queued in a lane (`lane_of`): the destination it goes to, a chat channel,
one person's private chat, or the source account that posts public replies. Lanes are
delivered side by side (`bot.store.lanes` takes a lane's next effect); within a lane an
effect's priority (`PRIORITY`) decides, and an effect that must follow another (a card's
update after the card, a conversation's second answer after its first) waits for it
(`waiting`, `after_id`) instead of being looked at again and again.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.store.sql import Conn


class Kind(StrEnum):
    """What an outbox row does when delivered."""

    CARD_POST = "card_post"
    CARD_UPDATE = "card_update"
    THREAD_POST = "thread_post"
    PRIVATE_NOTE = "private_note"
    CHANNEL_NOTE = "channel_note"
    PUBLIC_REPLY = "public_reply"
    REPORT = "report"  # a digest for one person: text and an optional chart image
    APPROVAL_REQUEST = "approval_request"  # a lead is asked to approve a held answer
    APPROVAL_UPDATE = "approval_update"  # a lead's request drawn again with the decision
    SUMMARY_CARD = "summary_card"  # an incident's card or a roll-up, posted then updated


class Status(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a public reply whose send was interrupted: a person must check
    WAITING = "waiting"  # waits for an earlier effect (`after_id`) to be delivered or given up


# Within a lane, lower goes first: answers to customers and to the person who typed a
# command, then card updates, then new cards (and requests, digests), then thread notes.
PRIORITY: dict[Kind, int] = {
    Kind.PUBLIC_REPLY: 0,
    Kind.PRIVATE_NOTE: 0,
    Kind.CARD_UPDATE: 1,
    Kind.APPROVAL_UPDATE: 1,
    Kind.CARD_POST: 2,
    Kind.APPROVAL_REQUEST: 2,
    Kind.REPORT: 2,
    Kind.THREAD_POST: 3,
    Kind.CHANNEL_NOTE: 3,
}
_UNFINISHED = "('pending', 'sending', 'waiting')"


@dataclass(frozen=True, slots=True)
class Effect:
    """One outbox row."""

    id: int
    kind: Kind
    mention: int | None
    target: str
    payload: dict[str, Any]
    status: Status
    attempts: int
    next_at: datetime
    last_error: str | None
    lane: str = ""
    key: str = ""  # the idempotency key of this effect, the same on every try


def _card_lane(db: Conn, mention: int) -> str:
    """The channel a mention's card went (or goes) to: where its updates and thread go."""
    row = db.execute(
        "SELECT target FROM outbox WHERE mention = ? AND kind = ? ORDER BY id DESC LIMIT 1",
        [mention, Kind.CARD_POST.value],
    ).fetchone()
    if row is not None:
        return str(row[0])
    row = db.execute("SELECT platform, channel FROM cards WHERE mention = ?", [mention]).fetchone()
    return f"{row[0]}:{row[1]}" if row is not None else "unposted"


def lane_of(
    db: Conn,
    *,
    kind: Kind,
    mention: int | None,
    target: str,
    payload: dict[str, Any],
) -> str:
    """The lane an effect is delivered in: its destination, as one name."""
    if kind in (Kind.CARD_POST, Kind.CHANNEL_NOTE):
        return target
    if kind == Kind.PUBLIC_REPLY and mention is not None:
        row = db.execute("SELECT source FROM mentions WHERE number = ?", [mention]).fetchone()
        return f"reply:{row[0] if row else ''}"
    if kind in (Kind.PRIVATE_NOTE, Kind.REPORT, Kind.APPROVAL_REQUEST):
        return f"dm:{target or 'console'}:{payload.get('person', '')}"
    if kind == Kind.APPROVAL_UPDATE:
        return f"{payload.get('platform', target)}:{payload.get('channel', '')}"
    if mention is not None:  # a card's update or a message in its thread
        return _card_lane(db, mention)
    return target


# What an effect must follow, if it is still undelivered: a card update follows its card;
# a thread message the card and the thread's earlier messages; an answer the earlier
# answers of its conversation.
_FOLLOWS: dict[Kind, tuple[Kind, ...]] = {
    Kind.CARD_UPDATE: (Kind.CARD_POST,),
    Kind.THREAD_POST: (Kind.CARD_POST, Kind.THREAD_POST),
    Kind.PUBLIC_REPLY: (Kind.PUBLIC_REPLY,),
}


def _predecessor(db: Conn, kind: Kind, mention: int | None) -> int | None:
    follows = _FOLLOWS.get(kind)
    if mention is None or not follows:
        return None
    marks = ", ".join("?" * len(follows))
    row = db.execute(
        f"SELECT id FROM outbox WHERE mention = ? AND kind IN ({marks})"
        f" AND state IN {_UNFINISHED} ORDER BY id DESC LIMIT 1",
        [mention, *(k.value for k in follows)],
    ).fetchone()
    return int(row[0]) if row else None


def enqueue(
    db: Conn,
    *,
    kind: Kind,
    now: datetime,
    mention: int | None = None,
    target: str = "",
    payload: dict[str, Any] | None = None,
) -> int:
    """Queue an effect; call it inside the transaction that makes the change it reports."""
    payload = payload or {}
    after = _predecessor(db, kind, mention)
    cursor = db.execute(
        "INSERT INTO outbox (kind, mention, target, payload, next_at, created_at, state,"
        " lane, priority, after_id, idempotency_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        [
            kind.value,
            mention,
            target,
            json.dumps(payload, ensure_ascii=False),
            now.isoformat(),
            now.isoformat(),
            Status.WAITING.value if after is not None else Status.PENDING.value,
            lane_of(db, kind=kind, mention=mention, target=target, payload=payload),
            PRIORITY[kind],
            after,
            new_key(),
        ],
    )
    return int(cursor.fetchone()[0])


def enqueue_many(
    db: Conn, *, kind: Kind, effects: list[tuple[int | None, str]], now: datetime
) -> None:
    """Queue one effect of `kind` per (mention, target), in that order, in one statement;
    only for kinds that wait for no earlier effect (a run of new cards)."""
    if kind in _FOLLOWS:
        raise ValueError(f"{kind.value} effects wait for earlier ones: queue them one by one")
    for start in range(0, len(effects), 200):
        chunk = effects[start : start + 200]
        rows = [
            [
                kind.value,
                mention,
                target,
                "{}",
                now.isoformat(),
                now.isoformat(),
                Status.PENDING.value,
                lane_of(db, kind=kind, mention=mention, target=target, payload={}),
                PRIORITY[kind],
                None,
                new_key(),
            ]
            for mention, target in chunk
        ]
        db.execute(
            "INSERT INTO outbox (kind, mention, target, payload, next_at, created_at, state,"
            " lane, priority, after_id, idempotency_key) VALUES"
            f" {', '.join(['(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)'] * len(rows))}",
            [v for row in rows for v in row],
        )


def new_key() -> str:
    """A fresh idempotency key: random, so it never comes again (another database, a reset)."""
    return f"allhands-{uuid.uuid4()}"


def _release(db: Conn, id: int) -> None:
    """Effects waiting for effect `id` may go now that it is settled."""
    db.execute("UPDATE outbox SET state = 'pending' WHERE after_id = ? AND state = 'waiting'", [id])


def _effect(row: tuple[Any, ...]) -> Effect:
    id_, kind, mention, target, payload, status, attempts, next_at, last_error, lane, key = row
    return Effect(
        id=id_,
        kind=Kind(kind),
        mention=mention,
        target=target,
        payload=json.loads(payload),
        status=Status(status),
        attempts=attempts,
        next_at=datetime.fromisoformat(next_at),
        last_error=last_error,
        lane=lane,
        key=key or "",
    )


COLUMNS = (
    "id, kind, mention, target, payload, state, attempts, next_at, last_error, lane,"
    " idempotency_key"
)
_COLUMNS = COLUMNS


def read_effect(row: tuple[Any, ...]) -> Effect:
    """An Effect from a row selected with `COLUMNS`."""
    return _effect(row)


def mark_taken(db: Conn, effect: Effect, *, now: datetime, taker: str | None = None) -> None:
    """Mark an effect as being sent (by the replica `taker`); a card update stands for the
    updates queued after it."""
    db.execute(
        "UPDATE outbox SET state = 'sending', attempts = attempts + 1, taken_by = ?"
        " WHERE id = ? AND state = 'pending'",
        [taker, effect.id],
    )
    if effect.kind == Kind.CARD_UPDATE:
        # A card is drawn from the store as it is when sent, so this update shows every
        # change queued so far: later updates already queued for it would repeat it.
        db.execute(
            "UPDATE outbox SET state = 'done', done_at = ?, result = ?"
            " WHERE mention = ? AND kind = ? AND state = 'pending' AND id > ?",
            [
                now.isoformat(),
                json.dumps({"superseded_by": effect.id}),
                effect.mention,
                Kind.CARD_UPDATE.value,
                effect.id,
            ],
        )


def take_due(db: Conn, *, now: datetime, limit: int = 100) -> list[Effect]:
    """Mark the effects that are due, in every lane, as sending and return them, oldest
    first (the worker takes one lane at a time with `bot.store.lanes.take_next`).

    An effect waiting for an earlier one (`waiting`) is not due until that one is settled.
    """
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM outbox WHERE state = 'pending' AND next_at <= ?"
        " ORDER BY id LIMIT ?",
        [now.isoformat(), limit],
    ).fetchall()
    effects = [_effect(r) for r in rows]
    for effect in effects:
        mark_taken(db, effect, now=now)
    return effects


def finish(db: Conn, *, id: int, now: datetime, result: dict[str, Any] | None = None) -> None:
    """Mark an effect delivered."""
    db.execute(
        "UPDATE outbox SET state = 'done', done_at = ?, result = ?, last_error = NULL WHERE id = ?",
        [now.isoformat(), json.dumps(result or {}), id],
    )
    _release(db, id)


def retry(db: Conn, *, id: int, at: datetime, error: str) -> None:
    """Put an effect back in the queue to be tried again at `at`."""
    db.execute(
        "UPDATE outbox SET state = 'pending', next_at = ?, last_error = ? WHERE id = ?",
        [at.isoformat(), error[:1000], id],
    )


def fail(db: Conn, *, id: int, now: datetime, error: str) -> None:
    """Give up on an effect; it stays in the table for people to see."""
    db.execute(
        "UPDATE outbox SET state = 'failed', done_at = ?, last_error = ? WHERE id = ?",
        [now.isoformat(), error[:1000], id],
    )
    _release(db, id)


def interrupted(db: Conn, *, live: Collection[str] = ()) -> list[Effect]:
    """The effects left `sending` by a process that stopped mid-send: every one taken by
    none of the `live` replicas."""
    marks = ", ".join("?" * len(live))
    by_the_dead = f" AND (taken_by IS NULL OR taken_by NOT IN ({marks}))" if live else ""
    return [
        _effect(r)
        for r in db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = 'sending'{by_the_dead}", [*live]
        ).fetchall()
    ]


def requeue(db: Conn, *, id: int, now: datetime) -> None:
    """Put an interrupted effect back in the queue, due now (it is safe to send again)."""
    db.execute(
        "UPDATE outbox SET state = 'pending', next_at = ? WHERE id = ? AND state = 'sending'",
        [now.isoformat(), id],
    )


def mark_unknown(db: Conn, *, id: int, now: datetime) -> None:
    """An interrupted effect may or may not have gone out; a person must check."""
    db.execute(
        "UPDATE outbox SET state = 'unknown', done_at = ?,"
        " last_error = 'interrupted while sending' WHERE id = ?",
        [now.isoformat(), id],
    )
    _release(db, id)


def queued(db: Conn) -> dict[str, int]:
    """How many effects wait to be sent, per lane (what a stop leaves for the next start)."""
    return {
        lane: n
        for lane, n in db.execute(
            "SELECT lane, count(*) FROM outbox WHERE state IN ('pending', 'waiting')"
            " GROUP BY lane ORDER BY lane"
        )
    }


def next_due(db: Conn) -> datetime | None:
    """When the earliest pending effect is due, or None if nothing is pending."""
    row = db.execute("SELECT min(next_at) FROM outbox WHERE state = 'pending'").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def counts(db: Conn) -> dict[str, int]:
    """How many effects are in each state (kept by triggers: no row of the outbox is read)."""
    return {s: n for s, n in db.execute("SELECT state, n FROM outbox_counts WHERE n > 0")}


KEEP_DONE = timedelta(days=3)  # how long delivered effects stay, unless settings say otherwise
PRUNE_BATCH = 500


def prune(
    db: Conn,
    *,
    now: datetime,
    keep: timedelta = KEEP_DONE,
    batch: int = PRUNE_BATCH,
) -> int:
    """Delete up to `batch` effects delivered more than `keep` ago, oldest first; how many.

    Failed and unknown effects stay for people to see; pending and sending ones are work.
    Small batches keep each transaction short on the single writer: call it again while it
    returns `batch`.
    """
    cursor = db.execute(
        "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox"
        " WHERE state = 'done' AND done_at < ? ORDER BY done_at LIMIT ?)",
        [(now - keep).isoformat(), batch],
    )
    return max(cursor.rowcount, 0)


def oldest_done(db: Conn) -> datetime | None:
    """When the oldest delivered effect still kept was delivered, or None."""
    row = db.execute("SELECT min(done_at) FROM outbox WHERE state = 'done'").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0) -> timedelta:
    """How long to wait before the next try after `attempts` failures (exponential, capped)."""
    return timedelta(seconds=min(cap, base ** min(attempts, 20)))
