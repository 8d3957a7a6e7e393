"""A lead's decision on a held answer: approve it, edit it, or reject it.

Only the team's leads decide, never on their own answer. Approving releases the answer
through `bot.submitting.send_answer`, the same path an unheld reply takes, so it is queued
once by `replies.queue_public`; the writer is told the outcome, every lead's request is
drawn again with the decision (`bot.approval_requests`; a lead whose request could not
be, as one shown as text, is told instead), and each step is an event in the mention's
history. A button decides only the held answer it was made for (`expected`): checked in
the decision's transaction, so a newer answer held meanwhile is never decided unseen.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.approval_requests import queue_redraws
from bot.chat.text import sentence, shorten
from bot.domain.approval_rules import same_person
from bot.domain.mentions import CLOSED, Action, Mention, authorise
from bot.errors import CommandError, TransitionError
from bot.replying import ReplyDesk, lines_of
from bot.store import approvals, mentions, outbox, people, replies
from bot.store.sql import Conn
from bot.submitting import load_root, send_answer, thread_note


def _tell(db: Conn, number: int, platform: str, person: str, text: str, now: datetime) -> None:
    outbox.enqueue(
        db,
        kind=outbox.Kind.PRIVATE_NOTE,
        mention=number,
        target=platform,
        payload={"person": person, "text": text},
        now=now,
    )


def _waiting_for_lead(
    db: Conn,
    *,
    number: int,
    lead: str,
    leads: tuple[str, ...],
    team: str,
    verb: str,
    expected: int | None = None,
) -> tuple[Mention, approvals.Held]:
    """The mention and its answer that `lead` may `verb` now (the answer `expected`, when
    a button names one); CommandError, worded as the commands word it, if not."""
    mention = load_root(db, number)
    if not any(same_person(lead, someone) for someone in leads):
        shown = people.shown(db, ids=leads)
        names = ", ".join(shown[someone] for someone in leads) or "none are set"
        raise CommandError(
            f"Only the leads of team {team} ({names}) can {verb} answers to #{number}."
        )
    held = approvals.waiting(db, mention=number)
    if held is None:
        last = approvals.latest(db, mention=number)
        if expected is not None:
            # Say what became of the answer the button was made for.
            asked = approvals.get(db, reply=expected)
            last = asked if asked is not None and asked.mention == number else last
        if last is None:
            raise CommandError(f"No answer to #{number} waits for approval.")
        shown = people.shown(db, ids=[last.decided_by, last.responder])
        decider = shown.get(last.decided_by or "", last.decided_by)
        raise CommandError(
            f"No answer to #{number} waits for approval: {decider} {last.state}"
            f" {shown[last.responder]}'s answer at {last.decided_at:%Y-%m-%d %H:%M} UTC."
        )
    if expected is not None and held.reply != expected:
        # `approve N` decides whatever waits now: a request left from an earlier answer
        # must not decide a newer one its reader has not seen.
        raise CommandError(
            f"This request is for an earlier answer to #{number};"
            f" {people.name_of(db, id=held.responder)}'s newer answer waits for approval:"
            " decide on its own request."
        )
    return mention, held


def _show_decision(
    db: Conn,
    *,
    held: approvals.Held,
    lead: str,
    lead_platform: str,
    told: str,
    now: datetime,
) -> None:
    """Every lead's request shows the decision; other leads with no request to redraw
    (sent as text, or not sent yet) are `told` instead."""
    redrawn = queue_redraws(db, held=held, now=now)
    for other in held.approvers:
        if same_person(other, lead) or any(same_person(other, r) for r in redrawn):
            continue
        _tell(db, held.mention, lead_platform, other, told, now)


def approve_held(
    db: Conn,
    *,
    number: int,
    lead: str,
    leads: tuple[str, ...],
    team: str,
    lead_platform: str,
    can_reply: bool,
    where: str,
    now: datetime,
    text: str | None = None,
    expected: int | None = None,
) -> approvals.Held:
    """A lead lets a held answer go out, as written or with their `text` (in a transaction);
    with `expected`, only if that is the answer waiting."""
    verb = "edit" if text is not None else "approve"
    mention, held = _waiting_for_lead(
        db, number=number, lead=lead, leads=leads, team=team, verb=verb, expected=expected
    )
    responder = held.responder
    if same_person(lead, responder):
        raise CommandError(f"You wrote this answer; another lead of team {team} must {verb} it.")
    if mention.state in CLOSED:
        raise CommandError(
            f"#{number} is {mention.state.value}, so {responder}'s answer cannot be sent;"
            f" `reopen {number}` first, or `reject {number} <reason>`."
        )
    holder = mention.claimed_by
    if holder and not same_person(holder, responder):
        raise CommandError(
            f"#{number} is now claimed by {holder}, so {responder}'s answer cannot be sent;"
            f" `reject {number} <reason>`, or `assign {number} {responder}` and {verb} again."
        )
    approvals.settle(
        db, reply=held.reply, state="edited" if text is not None else "approved", by=lead, now=now
    )
    detail: dict[str, Any] = {"reply": held.reply}
    if text is not None:
        detail.update(before=held.text, after=text)
    mention = mentions.transition(
        db,
        mention=mention,
        action=Action.EDIT if text is not None else Action.APPROVE,
        actor=lead,
        now=now,
        detail=detail,
    )
    final = text if text is not None else held.text
    replies.release(db, id=held.reply, status="queued" if can_reply else "manual", text=text)
    try:
        authorise(
            mention, Action.ANSWER, responder, holder_name=people.name_of(db, id=mention.claimed_by)
        )
        send_answer(
            db,
            mention=mention,
            reply_id=held.reply,
            actor=responder,
            text=final,
            now=now,
            can_reply=can_reply,
            detail={"approved_by": lead, "edited": text is not None},
        )
    except TransitionError as exc:
        who = people.name_of(db, id=responder)
        raise CommandError(f"{who}'s answer cannot be sent: {exc}") from None
    done = "edited and approved" if text is not None else "approved"
    outcome = "it is being posted" if can_reply else f"post it by hand at {where}"
    shown = people.shown(db, ids=[lead, responder])
    lead_name, responder_name = shown[lead], shown[responder]
    told = f"{lead_name} {done} your answer to #{number}; {outcome}."
    if text is not None:
        told += f" It now reads: {shorten(text, 300)}"
    _tell(db, number, held.platform, responder, told, now)
    _show_decision(
        db,
        held=held,
        lead=lead,
        lead_platform=lead_platform,
        told=f"{lead_name} {done} {responder_name}'s answer to #{number}; nothing more to do.",
        now=now,
    )
    thread_note(db, number, f"{lead_name} {done} {responder_name}'s answer.", now)
    return held


def reject_held(
    db: Conn,
    *,
    number: int,
    lead: str,
    leads: tuple[str, ...],
    team: str,
    lead_platform: str,
    reason: str,
    now: datetime,
    expected: int | None = None,
) -> approvals.Held:
    """A lead stops a held answer; the writer is told why (in a transaction); with
    `expected`, only if that is the answer waiting."""
    mention, held = _waiting_for_lead(
        db, number=number, lead=lead, leads=leads, team=team, verb="reject", expected=expected
    )
    approvals.settle(db, reply=held.reply, state="rejected", by=lead, now=now, note=reason)
    replies.mark(db, id=held.reply, status="rejected")
    mentions.transition(
        db,
        mention=mention,
        action=Action.REJECT,
        actor=lead,
        now=now,
        detail={"reply": held.reply, "reason": reason},
    )
    responder = held.responder
    shown = people.shown(db, ids=[lead, responder])
    lead_name, responder_name = shown[lead], shown[responder]
    if not same_person(lead, responder):
        _tell(
            db,
            number,
            held.platform,
            responder,
            f"{lead_name} rejected your answer to #{number}: {sentence(reason)} Nothing was"
            " posted; write a"
            f" new one with `reply {number} <text>` (`preview {number} <text>` checks it first).",
            now,
        )
    _show_decision(
        db,
        held=held,
        lead=lead,
        lead_platform=lead_platform,
        told=f"{lead_name} rejected {responder_name}'s answer to #{number}; nothing more to do.",
        now=now,
    )
    thread_note(
        db, number, f"{lead_name} rejected {responder_name}'s answer; nothing was posted.", now
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
    return held


class ApprovalDesk:
    """Runs the leads' commands: approve, edit, reject."""

    def __init__(self, desk: ReplyDesk):
        self.desk = desk

    async def waiting_for(
        self, number: int, *, actor: str, verb: str, expected: int | None = None
    ) -> approvals.Held:
        """The answer to #`number` that `actor` may `verb` now (`expected`, if given);
        CommandError, worded as the commands word it, if not. Changes nothing: the
        decision checks again in its own transaction."""
        setting = await self.desk.setting(number)
        _, held = await self.desk.database.read(
            _waiting_for_lead,
            number=number,
            lead=actor,
            leads=setting.leads,
            team=setting.team_id,
            verb=verb,
            expected=expected,
        )
        return held

    async def approve(
        self,
        number: int,
        *,
        actor: str,
        platform: str,
        text: str | None = None,
        expected: int | None = None,
    ) -> str:
        """`approve N` / `edit N <text>`: a lead lets the held answer go out (only the
        answer `expected`, when a button names it)."""
        setting = await self.desk.setting(number)
        if text is not None:
            verdict = await self.desk.check(setting, text)
            if verdict.refusals:
                # A lead's text is not held (they are the approval), but it is never
                # allowed to break a rule.
                raise CommandError(
                    "\n".join(
                        [
                            f"Not sent: your text for #{number} breaks a rule; the answer still"
                            " waits.",
                            *lines_of(verdict.refusals),
                        ]
                    )
                )
        held = await self.desk.database.write(
            approve_held,
            number=number,
            lead=actor,
            leads=setting.leads,
            team=setting.team_id,
            lead_platform=setting.lead_platform(platform),
            can_reply=setting.can_reply,
            where=setting.where(),
            now=self.desk.clock.now(),
            text=text,
            expected=expected,
        )
        done = "Edited and approved" if text is not None else "Approved"
        writer = await self.desk.database.read(people.name_of, id=held.responder)
        if setting.can_reply:
            return f"{done} {writer}'s answer to #{number}; it is being posted."
        return f"{done} {writer}'s answer to #{number}; they will post it by hand."

    async def reject(
        self, number: int, reason: str, *, actor: str, platform: str, expected: int | None = None
    ) -> str:
        """`reject N <reason>`: a lead stops the held answer (only the answer `expected`,
        when a button names it); the writer is told why."""
        setting = await self.desk.setting(number)
        held = await self.desk.database.write(
            reject_held,
            number=number,
            lead=actor,
            leads=setting.leads,
            team=setting.team_id,
            lead_platform=setting.lead_platform(platform),
            reason=reason,
            now=self.desk.clock.now(),
            expected=expected,
        )
        writer = await self.desk.database.read(people.name_of, id=held.responder)
        return f"Rejected {writer}'s answer to #{number}; nothing was posted."
