"""The leads' approval requests in chat: asking a lead, where each is, drawing them again.

The outbox worker asks (`post_request`) and redraws (`redraw_request`) through these.
When an adapter posts a request with buttons (`bot.chat.approval.deliver`), where it went
is recorded (`bot.store.approval_messages`) in the transaction that marks the outbox row
done. When a lead decides, `queue_redraws` runs inside the decision's transaction and
queues one `approval_update` effect per recorded request, so that every lead's request
(the decider's too) shows who decided what, without buttons, whether the decision was
clicked or typed; the outbox retries each until it is shown, once. A request still on its
way when the decision is made is drawn again as soon as it is recorded (`request_posted`),
and one not yet sent is not sent at all (`still_waiting`): its lead is told instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from bot.chat import ChatAdapter, MessageRef, approval
from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.clock import Clock
from bot.store import approval_messages, approvals, mentions, outbox
from bot.store.approval_messages import RequestMessage
from bot.store.db import Database
from bot.store.sql import Conn


def _queue_redraw(db: Conn, *, number: int, message: RequestMessage, now: datetime) -> None:
    outbox.enqueue(
        db,
        kind=outbox.Kind.APPROVAL_UPDATE,
        mention=number,
        target=message.ref.platform,
        payload={
            "reply": message.reply,
            "lead": message.lead,
            "platform": message.ref.platform,
            "channel": message.ref.channel,
            "message": message.ref.id,
        },
        now=now,
    )


def queue_redraws(db: Conn, *, held: approvals.Held, now: datetime) -> list[str]:
    """Queue a redraw of every request posted about `held`, just decided (in the decision's
    transaction); the leads whose requests they are."""
    posted = approval_messages.for_reply(db, reply=held.reply)
    for message in posted:
        _queue_redraw(db, number=held.mention, message=message, now=now)
    return [message.lead for message in posted]


def still_waiting(db: Conn, *, reply: int) -> bool:
    """Whether the held answer `reply` still waits for a lead (so asking one makes sense)."""
    held = approvals.get(db, reply=reply)
    return held is None or held.state == "waiting"


def request_posted(
    db: Conn,
    *,
    effect_id: int,
    number: int,
    reply: int,
    lead: str,
    ref: MessageRef | None,
    now: datetime,
) -> None:
    """Record where a request was posted and mark its outbox row done; if a lead decided
    while it was on its way, queue its redraw now (the decision could not see it)."""
    result: dict[str, Any] = {}
    if ref is not None:
        approval_messages.record(db, reply=reply, lead=lead, ref=ref, now=now)
        if not still_waiting(db, reply=reply):
            message = RequestMessage(reply=reply, lead=lead, ref=ref)
            _queue_redraw(db, number=number, message=message, now=now)
        result = {"message": ref.id}
    outbox.finish(db, id=effect_id, now=now, result=result)


def decided_request(
    db: Conn, *, reply: int, lead: str
) -> tuple[ApprovalRequest, ApprovalDecision] | None:
    """The request `lead` was sent about `reply`, and its decision; None while it waits."""
    held = approvals.get(db, reply=reply)
    if held is None or held.state == "waiting":
        return None
    if held.decided_by is None or held.decided_at is None:
        return None
    about = mentions.get(db, number=held.mention)
    request = ApprovalRequest(
        person=lead,
        mention=held.mention,
        reply=held.reply,
        text=held.original_text,
        reasons=tuple(held.reasons),
        responder=held.responder,
        source=about.source if about else "",
        author=about.author.handle if about else "",
        url=about.url if about else "",
    )
    decision = ApprovalDecision(
        state=held.state,
        by=held.decided_by,
        at=held.decided_at,
        text=held.text if held.state == "edited" else "",
        note=held.note or "",
    )
    return request, decision


async def post_request(
    effect: outbox.Effect,
    *,
    database: Database,
    clock: Clock,
    adapter_of: Callable[[str], ChatAdapter],
    person_of: Callable[[str, str], Awaitable[str]],
    source_name: Callable[[str], str],
) -> None:
    """Ask a lead; record where the request went, with its row done, to redraw it."""
    reply = int(effect.payload["reply"])
    if not await database.read(still_waiting, reply=reply):
        # A lead decided before this one was asked: they were told instead.
        skipped = {"skipped": "decided before this lead was asked"}
        await database.write(outbox.finish, id=effect.id, now=clock.now(), result=skipped)
        return
    platform = effect.target or "console"
    person = await person_of(effect.payload["person"], platform)
    source = source_name(str(effect.payload.get("source", "")))
    payload = {**effect.payload, "person": person, "source": source}
    ref = await approval.deliver(adapter_of(platform), payload)
    assert effect.mention is not None
    await database.write(
        request_posted,
        effect_id=effect.id,
        number=effect.mention,
        reply=reply,
        lead=str(effect.payload["person"]),
        ref=ref,
        now=clock.now(),
    )


async def redraw_request(
    effect: outbox.Effect,
    *,
    database: Database,
    adapter_of: Callable[[str], ChatAdapter],
    person_of: Callable[[str, str], Awaitable[str]],
    source_name: Callable[[str], str],
) -> dict[str, Any]:
    """Draw a lead's request again with the decision on the held answer."""
    payload = effect.payload
    ref = MessageRef(str(payload["platform"]), str(payload["channel"]), str(payload["message"]))
    found = await database.read(decided_request, reply=int(payload["reply"]), lead=payload["lead"])
    if found is None:
        return {"skipped": "the answer is not decided"}
    request, decision = found
    person = await person_of(request.person, ref.platform)
    await approval.redraw(
        adapter_of(ref.platform),
        ref,
        replace(request, person=person, source=source_name(request.source)),
        decision,
    )
    return {}
