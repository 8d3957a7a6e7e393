"""Where the leads' approval requests were posted: one row per request message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.chat import MessageRef
from bot.store.sql import Conn


@dataclass(frozen=True, slots=True)
class RequestMessage:
    """One lead's approval request for one held answer, as posted in chat."""

    reply: int
    lead: str  # as the held answer's approvers name them
    ref: MessageRef


def record(db: Conn, *, reply: int, lead: str, ref: MessageRef, now: datetime) -> None:
    """Remember where `lead` was asked about the held answer `reply` (once per message)."""
    db.execute(
        "INSERT INTO approval_messages"
        " (platform, channel, message_id, reply, lead, posted_at) VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [ref.platform, ref.channel, ref.id, reply, lead, now.isoformat()],
    )


def for_reply(db: Conn, *, reply: int) -> list[RequestMessage]:
    """Every request message posted about the held answer `reply`, oldest first."""
    rows = db.execute(
        "SELECT reply, lead, platform, channel, message_id FROM approval_messages"
        " WHERE reply = ? ORDER BY posted_at, rowid",
        [reply],
    ).fetchall()
    return [
        RequestMessage(reply=r, lead=lead, ref=MessageRef(platform, channel, message_id))
        for r, lead, platform, channel, message_id in rows
    ]
