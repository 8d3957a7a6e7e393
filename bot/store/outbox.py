"""The outbox: every effect on the outside world, written with the change that causes it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import sqlite_utils


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


class Status(StrEnum):
    """Where an outbox row stands."""

    PENDING = "pending"
    SENDING = "sending"
    DONE = "done"
    FAILED = "failed"
    UNKNOWN = "unknown"  # a public reply whose send was interrupted: a person must check


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


def enqueue(
    db: sqlite_utils.Database,
    *,
    kind: Kind,
    now: datetime,
    mention: int | None = None,
    target: str = "",
    payload: dict[str, Any] | None = None,
) -> int:
    """Queue an effect; call it inside the transaction that makes the change it reports."""
    cursor = db.execute(
        "INSERT INTO outbox (kind, mention, target, payload, next_at, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [
            kind.value,
            mention,
            target,
            json.dumps(payload or {}, ensure_ascii=False),
            now.isoformat(),
            now.isoformat(),
        ],
    )
    return int(cursor.lastrowid or 0)


def _effect(row: tuple[Any, ...]) -> Effect:
    id_, kind, mention, target, payload, status, attempts, next_at, last_error = row
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
    )


_COLUMNS = "id, kind, mention, target, payload, state, attempts, next_at, last_error"

# Effects that stand alone: they neither wait for a mention's earlier effects nor hold up
# its later ones. A request's redraw is only queued once the request is posted, and
# drawing it again must not wait for (or delay) the customer's answer.
UNORDERED = (Kind.APPROVAL_UPDATE,)
_UNORDERED_SQL = ", ".join(f"'{kind.value}'" for kind in UNORDERED)


def take_due(db: sqlite_utils.Database, *, now: datetime, limit: int = 100) -> list[Effect]:
    """Mark the effects that are due as sending and return them, oldest first.

    An effect waits while an earlier one for the same mention is undelivered, so that a
    card is posted before it is updated and thread messages keep their order (except the
    `UNORDERED` kinds).
    """
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM outbox o WHERE state = 'pending' AND next_at <= ?"
        f" AND (mention IS NULL OR kind IN ({_UNORDERED_SQL}) OR NOT EXISTS (SELECT 1"
        "   FROM outbox e WHERE e.mention = o.mention AND e.id < o.id"
        f"   AND e.state IN ('pending', 'sending') AND e.kind NOT IN ({_UNORDERED_SQL})))"
        " ORDER BY id LIMIT ?",
        [now.isoformat(), limit],
    ).fetchall()
    effects = [_effect(r) for r in rows]
    if effects:
        ids = [e.id for e in effects]
        db.execute(
            f"UPDATE outbox SET state = 'sending', attempts = attempts + 1"
            f" WHERE id IN ({', '.join('?' * len(ids))}) AND state = 'pending'",
            ids,
        )
    for effect in effects:
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
    return effects


def finish(
    db: sqlite_utils.Database, *, id: int, now: datetime, result: dict[str, Any] | None = None
) -> None:
    """Mark an effect delivered."""
    db.execute(
        "UPDATE outbox SET state = 'done', done_at = ?, result = ?, last_error = NULL WHERE id = ?",
        [now.isoformat(), json.dumps(result or {}), id],
    )


def retry(db: sqlite_utils.Database, *, id: int, at: datetime, error: str) -> None:
    """Put an effect back in the queue to be tried again at `at`."""
    db.execute(
        "UPDATE outbox SET state = 'pending', next_at = ?, last_error = ? WHERE id = ?",
        [at.isoformat(), error[:1000], id],
    )


def fail(db: sqlite_utils.Database, *, id: int, now: datetime, error: str) -> None:
    """Give up on an effect; it stays in the table for people to see."""
    db.execute(
        "UPDATE outbox SET state = 'failed', done_at = ?, last_error = ? WHERE id = ?",
        [now.isoformat(), error[:1000], id],
    )


def recover(db: sqlite_utils.Database, *, now: datetime) -> list[Effect]:
    """After a restart: effects caught mid-send go back to the queue, except public replies.

    A public reply that may or may not have gone out is marked unknown rather than sent
    again; the returned list is those, for the caller to tell people about.
    """
    unknown = [
        _effect(r)
        for r in db.execute(
            f"SELECT {_COLUMNS} FROM outbox WHERE state = 'sending' AND kind = ?",
            [Kind.PUBLIC_REPLY.value],
        ).fetchall()
    ]
    db.execute(
        "UPDATE outbox SET state = 'unknown', last_error = 'interrupted while sending'"
        " WHERE state = 'sending' AND kind = ?",
        [Kind.PUBLIC_REPLY.value],
    )
    db.execute(
        "UPDATE outbox SET state = 'pending', next_at = ? WHERE state = 'sending'",
        [now.isoformat()],
    )
    return unknown


def next_due(db: sqlite_utils.Database) -> datetime | None:
    """When the earliest pending effect is due, or None if nothing is pending."""
    row = db.execute("SELECT min(next_at) FROM outbox WHERE state = 'pending'").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def counts(db: sqlite_utils.Database) -> dict[str, int]:
    """How many effects are in each state (kept by triggers: no row of the outbox is read)."""
    return {s: n for s, n in db.execute("SELECT state, n FROM outbox_counts WHERE n > 0")}


KEEP_DONE = timedelta(days=3)  # how long delivered effects stay, unless settings say otherwise
PRUNE_BATCH = 500


def prune(
    db: sqlite_utils.Database,
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


def oldest_done(db: sqlite_utils.Database) -> datetime | None:
    """When the oldest delivered effect still kept was delivered, or None."""
    row = db.execute("SELECT min(done_at) FROM outbox WHERE state = 'done'").fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0) -> timedelta:
    """How long to wait before the next try after `attempts` failures (exponential, capped)."""
    return timedelta(seconds=min(cap, base ** min(attempts, 20)))
