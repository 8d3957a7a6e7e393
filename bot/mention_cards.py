"""A mention's card as the store holds it: drawn as it stands now, where it was posted, and
the transaction that records it posted. Runs on the store (`Database.read` / `write`).
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from bot.chat import MessageRef
from bot.chat.cards import Card, build_card
from bot.domain.mentions import CLOSED, SYSTEM, Action, State
from bot.errors import DeliveryError
from bot.store import mentions, outbox, people, replies
from bot.store import sla as sla_store
from bot.store.sql import Conn


def load_card(db: Conn, *, number: int, now: datetime) -> Card:
    """The card of a mention as it stands now."""
    mention = mentions.get(db, number=number)
    if mention is None:
        raise DeliveryError(f"mention #{number} does not exist", permanent=True)
    closed_by = closed_at = None
    if mention.state in CLOSED or mention.state == State.REOPENED:
        last = mentions.events(db, number=number)[-1]
        # A reopened card names the person who reopened it (not when the customer did).
        if mention.state in CLOSED or last.action == Action.REOPEN:
            closed_by, closed_at = last.actor, last.at
    answers = replies.for_mention(db, mention=number)
    return build_card(
        mention,
        now=now,
        replies=answers,
        closed_by=closed_by,
        closed_at=closed_at,
        follow_ups=len(mentions.follow_ups(db, number=number)),
        names=people.shown(db, ids=[mention.claimed_by, closed_by, *(a.actor for a in answers)]),
        sla=Counter(t.step.value for t in sla_store.steps_taken(db, mention=number)),
    )


def card_ref(db: Conn, *, number: int) -> MessageRef | None:
    """Where a mention's card was posted, if it was."""
    row = db.execute(
        "SELECT platform, channel, message_id FROM cards WHERE mention = ?", [number]
    ).fetchone()
    return MessageRef(*row) if row else None


def card_posted(db: Conn, *, effect_id: int, number: int, ref: MessageRef, now: datetime) -> None:
    """A card is posted: remember where, announce a new mention, and mark its effect done."""
    db.execute(
        "INSERT INTO cards (mention, platform, channel, message_id, posted_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (mention) DO UPDATE SET platform = excluded.platform,"
        " channel = excluded.channel, message_id = excluded.message_id,"
        " posted_at = excluded.posted_at",
        [number, ref.platform, ref.channel, ref.id, now.isoformat()],
    )
    mention = mentions.get(db, number=number)
    if mention is not None and mention.state == State.NEW:
        mentions.transition(
            db,
            mention=mention,
            action=Action.ANNOUNCE,
            actor=SYSTEM,
            now=now,
            detail={"channel": f"{ref.platform}:{ref.channel}"},
        )
    outbox.finish(db, id=effect_id, now=now, result={"message": ref.id})
