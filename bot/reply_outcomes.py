"""What a public answer's outcome does to its mention: posted, failed, or unknown.

Nothing is shown as done that was not done. An answer that fails for good (the post is
gone, the account lost its token) or whose send was cut off by a stop puts its mention
back in front of people: open and unclaimed again, so `list` shows it and the SLA clock
runs again from now (a nudge, then an escalation, if nobody takes it); the writer is told
privately why and what to do, the card's thread says so and the card is drawn again. An
automatic holding reply changes no state (its mention was not answered); its failure is
said in the card's thread. Runs on the store's writer, in the transaction that settles
the outbox row.
"""

from __future__ import annotations

from datetime import datetime

from bot.chat.text import sentence
from bot.domain.mentions import SYSTEM, Action, State
from bot.errors import TransitionError
from bot.store import mentions, outbox, people, replies
from bot.store.sql import Conn


def _platform_of(db: Conn, person: str, number: int) -> str:
    """The chat platform where `person` is told things: theirs, else their card's."""
    row = db.execute("SELECT platform FROM people WHERE id = ?", [person]).fetchone()
    if row is None:
        row = db.execute("SELECT platform FROM cards WHERE mention = ?", [number]).fetchone()
    return str(row[0]) if row else "console"


def _back_in_list(db: Conn, *, number: int, now: datetime, why: str) -> bool:
    """Open the mention again, unclaimed; False if it stays where it is (ignored, new)."""
    mention = mentions.get(db, number=number)
    if mention is None or mention.state in (State.IGNORED, State.NEW):
        return False
    try:
        mentions.transition(
            db,
            mention=mention,
            action=Action.REPLY_FAILED,
            actor=SYSTEM,
            now=now,
            changes={"claimed_by": None},
            detail={"reason": why[:500]},
        )
    except TransitionError:
        return False
    return True


def reply_failed(
    db: Conn,
    *,
    effect_id: int,
    number: int,
    reply_id: int,
    status: str,
    error: str,
    now: datetime,
) -> None:
    """A public answer failed for good (`failed`) or may not have gone out (`unknown`)."""
    replies.mark(db, id=reply_id, status=status)
    if status == "failed":
        outbox.fail(db, id=effect_id, now=now, error=error)
    else:
        outbox.mark_unknown(db, id=effect_id, now=now)
    writer = replies.writer(db, id=reply_id) or SYSTEM
    if status == "failed":
        why = f"it could not be posted: {error}"
        todo = (
            f"Check the customer's post; `reply {number} <text>` to try again, or"
            f" `resolve {number}` if it needs no answer."
        )
    else:
        why = "the bot stopped while sending it, so it may or may not have been posted"
        todo = (
            f"Check the customer's thread; if it is missing, `reply {number} <text>`;"
            f" if it is there, `resolve {number}`."
        )
    if writer == SYSTEM:
        text = f"The automatic holding reply to #{number} was not delivered: {sentence(why)}"
        outbox.enqueue(
            db, kind=outbox.Kind.THREAD_POST, mention=number, payload={"text": text}, now=now
        )
        outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
        return
    back = _back_in_list(db, number=number, now=now, why=why)
    who = people.name_of(db, id=writer)
    where = f" #{number} is open again, in `list`." if back else ""
    outbox.enqueue(
        db,
        kind=outbox.Kind.THREAD_POST,
        mention=number,
        payload={
            "text": f"The answer to #{number} by {who} was not delivered: {sentence(why)}{where}"
        },
        now=now,
    )
    outbox.enqueue(
        db,
        kind=outbox.Kind.PRIVATE_NOTE,
        mention=number,
        target=_platform_of(db, writer, number),
        payload={
            "person": writer,
            "text": (
                f"Your answer to #{number} did not reach the customer: {sentence(why)}"
                f"{where} {todo}"
            ),
        },
        now=now,
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)


def reply_posted(
    db: Conn,
    *,
    effect_id: int,
    number: int,
    reply_id: int,
    actor: str,
    external_id: str,
    url: str,
    now: datetime,
) -> None:
    """A public answer is posted: marked sent, its effect done, its card's thread told."""
    replies.mark(db, id=reply_id, status="sent", external_id=external_id, url=url)
    outbox.finish(db, id=effect_id, now=now, result={"id": external_id, "url": url})
    who = people.shown(db, ids=[actor]).get(actor, actor)
    what = "The automatic holding reply" if actor == SYSTEM else f"{who}'s answer"
    text = f"{what} is posted in the customer's thread: {url or external_id}"
    outbox.enqueue(
        db, kind=outbox.Kind.THREAD_POST, mention=number, payload={"text": text}, now=now
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
