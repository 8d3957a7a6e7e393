"""Submitting an answer, in one transaction: checked against who may answer and what
already waits, then sent, held for a lead's approval, or refused with nothing written.

`send_answer` is the one path by which an answer is queued, unheld or approved
(`replies.queue_public` is the only function that queues a public reply).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.answer_repeats import refuse_repeat, split_again
from bot.chat.approval import ApprovalRequest
from bot.domain.approval_rules import ApprovalRules, Decision, decide
from bot.domain.guardrails import Verdict
from bot.domain.mentions import UNCLAIMED, Action, Mention, authorise
from bot.errors import CommandError, TransitionError
from bot.store import approvals, mentions, outbox, people, replies
from bot.store.sql import Conn


def load_root(db: Conn, number: int) -> Mention:
    """The mention people answer: CommandError for an unknown number or a later message."""
    mention = mentions.get(db, number=number)
    if mention is None:
        raise CommandError(f"There is no #{number}. `list` shows what is open.")
    if mention.root_number is not None:
        raise CommandError(
            f"#{number} is a later message in the conversation of #{mention.root_number};"
            f" use #{mention.root_number}."
        )
    return mention


def _claim_if_free(db: Conn, *, mention: Mention, actor: str, now: datetime) -> Mention:
    """An answer claims its mention for its writer when nobody has it."""
    if mention.state not in UNCLAIMED:
        return mention
    return mentions.transition(
        db,
        mention=mention,
        action=Action.CLAIM,
        actor=actor,
        now=now,
        changes={"claimed_by": actor},
    )


def send_answer(
    db: Conn,
    *,
    mention: Mention,
    reply_id: int,
    actor: str,
    text: str,
    now: datetime,
    can_reply: bool,
    detail: dict[str, Any] | None = None,
) -> Mention:
    """Claim for `actor` if nobody has, record the answer, queue it publicly (in a transaction)."""
    mention = _claim_if_free(db, mention=mention, actor=actor, now=now)
    updated = mentions.transition(
        db,
        mention=mention,
        action=Action.ANSWER,
        actor=actor,
        now=now,
        detail={"reply": reply_id, "public": can_reply, **(detail or {})},
    )
    if can_reply:
        replies.queue_public(
            db, mention=mention.number, reply=reply_id, text=text, actor=actor, now=now
        )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=mention.number, now=now)
    return updated


@dataclass(frozen=True, slots=True)
class Submitted:
    """What became of a reply: the decision, and the stored answer's id unless refused."""

    decision: Decision
    mention: Mention
    reply: int | None = None


def _decide(
    db: Conn,
    *,
    mention: Mention,
    actor: str,
    verdict: Verdict,
    rules: ApprovalRules,
    leads: tuple[str, ...],
    team: str,
) -> Decision:
    return decide(
        verdict,
        rules,
        responder=actor,
        leads=leads,
        team=team,
        audience=mention.author.audience,
        author=mention.author.handle,
        earlier_replies=replies.count_given(db, actor=actor, at_most=rules.first_replies),
    )


def _already_waiting(db: Conn, held: approvals.Held, number: int) -> CommandError:
    return CommandError(
        f"{people.name_of(db, id=held.responder)}'s answer to #{number} already waits for a"
        " lead's approval;"
        f" a lead can `approve {number}`, `edit {number} <text>` or `reject {number} <reason>`."
    )


def submit(
    db: Conn,
    *,
    number: int,
    actor: str,
    text: str,
    verdict: Verdict,
    rules: ApprovalRules,
    leads: tuple[str, ...],
    team: str,
    platform: str,
    lead_platform: str,
    can_reply: bool,
    now: datetime,
    again: bool = False,
) -> Submitted:
    """Send, hold or refuse a checked answer, atomically; a refused one writes nothing."""
    mention = load_root(db, number)
    authorise(mention, Action.ANSWER, actor, holder_name=people.name_of(db, id=mention.claimed_by))
    if not again:
        refuse_repeat(db, number=number, actor=actor, text=text, now=now)
    waiting = approvals.waiting(db, mention=number)
    if waiting is not None:
        raise _already_waiting(db, waiting, number)
    decision = _decide(
        db, mention=mention, actor=actor, verdict=verdict, rules=rules, leads=leads, team=team
    )
    if decision.outcome == "refuse":
        return Submitted(decision, mention)
    if decision.outcome == "send":
        status = "queued" if can_reply else "manual"
        reply_id = replies.add(db, mention=number, actor=actor, text=text, status=status, now=now)
        updated = send_answer(
            db,
            mention=mention,
            reply_id=reply_id,
            actor=actor,
            text=text,
            now=now,
            can_reply=can_reply,
        )
        return Submitted(decision, updated, reply_id)
    mention = _claim_if_free(db, mention=mention, actor=actor, now=now)
    reply_id = replies.add(db, mention=number, actor=actor, text=text, status="held", now=now)
    reasons = [f.line() for f in decision.held]
    approvals.ask(
        db,
        reply=reply_id,
        mention=number,
        responder=actor,
        platform=platform,
        text=text,
        reasons=reasons,
        approvers=list(decision.approvers),
        now=now,
    )
    rules_tripped = [f.rule.value for f in decision.held]
    updated = mentions.transition(
        db,
        mention=mention,
        action=Action.HOLD,
        actor=actor,
        now=now,
        detail={"reply": reply_id, "reasons": rules_tripped, "approvers": list(decision.approvers)},
    )
    for lead in decision.approvers:
        request = ApprovalRequest(
            person=lead,
            mention=number,
            reply=reply_id,
            text=text,
            reasons=tuple(reasons),
            responder=actor,
            source=mention.source,
            author=mention.author.handle,
            url=mention.url,
        )
        outbox.enqueue(
            db,
            kind=outbox.Kind.APPROVAL_REQUEST,
            mention=number,
            target=lead_platform,
            payload=request.payload(),
            now=now,
        )
    thread_note(
        db,
        number,
        f"{people.name_of(db, id=actor)}'s answer waits for a lead's approval"
        f" ({', '.join(rules_tripped)});"
        " nothing is posted until then.",
        now,
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
    return Submitted(decision, updated, reply_id)


def thread_note(db: Conn, number: int, text: str, now: datetime) -> None:
    """Queue a message in the mention card's thread (internal, never posted publicly)."""
    outbox.enqueue(
        db, kind=outbox.Kind.THREAD_POST, mention=number, payload={"text": text}, now=now
    )


def preview_decision(
    db: Conn,
    *,
    number: int,
    actor: str,
    verdict: Verdict,
    rules: ApprovalRules,
    leads: tuple[str, ...],
    team: str,
    text: str = "",
    now: datetime | None = None,
) -> tuple[Decision, list[str]]:
    """What `submit` would decide now, and anything else that would stop it (given the
    text and the time, a repeat of a recent answer too); writes nothing."""
    mention = load_root(db, number)
    blockers = []
    answer, again = split_again(text)
    if answer and now is not None and not again:
        try:
            refuse_repeat(db, number=number, actor=actor, text=answer, now=now)
        except CommandError as exc:
            blockers.append(str(exc))
    try:
        authorise(
            mention, Action.ANSWER, actor, holder_name=people.name_of(db, id=mention.claimed_by)
        )
    except TransitionError as exc:
        blockers.append(str(exc))
    waiting = approvals.waiting(db, mention=number)
    if waiting is not None:
        blockers.append(str(_already_waiting(db, waiting, number)))
    decision = _decide(
        db, mention=mention, actor=actor, verdict=verdict, rules=rules, leads=leads, team=team
    )
    return decision, blockers
