"""Answers people gave to mentions, and what became of each."""

from __future__ import annotations

from datetime import datetime

from bot.chat.cards import ReplyView
from bot.store import outbox
from bot.store.sql import Conn


def add(db: Conn, *, mention: int, actor: str, text: str, status: str, now: datetime) -> int:
    """Record an answer: `queued` (to be posted), `manual` (post it by hand) or `held`."""
    cursor = db.execute(
        "INSERT INTO replies (mention, actor, text, at, status) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        [mention, actor, text, now.isoformat(), status],
    )
    return int(cursor.fetchone()[0])


def mark(db: Conn, *, id: int, status: str, external_id: str = "", url: str = "") -> None:
    """Record what became of an answer: sent (with where), failed, or unknown."""
    db.execute(
        "UPDATE replies SET status = ?, external_id = ?, url = ? WHERE id = ?",
        [status, external_id or None, url or None, id],
    )


def for_mention(db: Conn, *, mention: int) -> list[ReplyView]:
    """The answers given to one mention, oldest first."""
    rows = db.execute(
        "SELECT actor, text, status, url FROM replies WHERE mention = ? ORDER BY id", [mention]
    ).fetchall()
    return [ReplyView(actor=a, text=t, status=s, url=u or "") for a, t, s, u in rows]


def queue_public(
    db: Conn, *, mention: int, reply: int, text: str, actor: str, now: datetime
) -> int:
    """Queue an answer to be posted in the customer's thread; the only place that does.

    Every public reply (a person's, one a lead approved, an SLA holding reply) is queued
    here, inside the transaction that records it.
    """
    return outbox.enqueue(
        db,
        kind=outbox.Kind.PUBLIC_REPLY,
        mention=mention,
        payload={"reply": reply, "text": text, "actor": actor},
        now=now,
    )


def release(db: Conn, *, id: int, status: str, text: str | None = None) -> bool:
    """A held answer goes ahead (`queued` or `manual`), with a lead's text if edited."""
    cursor = db.execute(
        "UPDATE replies SET status = ?, text = coalesce(?, text) WHERE id = ? AND status = 'held'",
        [status, text, id],
    )
    return cursor.rowcount == 1


def count_given(db: Conn, *, actor: str, at_most: int) -> int:
    """How many answers a person has given that went out or are going (not held or rejected),
    counted up to `at_most`: whatever a person's history, it reads at most that many."""
    row = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM replies WHERE actor = ?"
        " AND status NOT IN ('held', 'rejected') LIMIT ?) AS given",
        [actor, max(at_most, 0)],
    ).fetchone()
    return int(row[0])


def writer(db: Conn, *, id: int) -> str | None:
    """Who wrote an answer."""
    row = db.execute("SELECT actor FROM replies WHERE id = ?", [id]).fetchone()
    return str(row[0]) if row else None


def _same_words(text: str) -> str:
    return " ".join(text.split()).casefold()


def given_already(
    db: Conn, *, mention: int, text: str, since: datetime
) -> tuple[datetime, str] | None:
    """When and by whom the same answer (same words, spacing and case aside) was last given
    to this conversation at `since` or later, unless it failed or was rejected; else None."""
    wanted = _same_words(text)
    rows = db.execute(
        "SELECT text, at, actor FROM replies WHERE mention = ? AND at >= ?"
        " AND status NOT IN ('failed', 'unknown', 'rejected') ORDER BY id DESC",
        [mention, since.isoformat()],
    ).fetchall()
    for given, at, actor in rows:
        if _same_words(given) == wanted:
            return datetime.fromisoformat(at), str(actor)
    return None
