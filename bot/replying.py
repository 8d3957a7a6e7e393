"""The one way an answer goes out: guardrails check it, and a lead approves it if it must wait.

`ReplyDesk` runs the commands `reply` and `preview` (`bot.approving` runs the leads'
`approve`, `edit` and `reject`). A reply is checked against its team's guardrails
(`bot.domain.guardrails`) before anything is stored. A refused one changes nothing; a held
one is stored as `held` and the team's leads are asked; one that may go out is queued by
`send_answer`, which is also what releases an approved answer, through
`replies.queue_public`, the only function that queues a public reply.

Internal by default: no other command queues a public reply, and a message typed in a
card's thread is an internal note (`Workflow.thread_message`), never posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.answer_repeats import AGAIN, refuse_repeat, split_again
from bot.chat.approval import ApprovalRequest
from bot.clock import Clock
from bot.domain.guardrails import (
    PRIVATE_TEMPLATE,
    ApprovalRules,
    Decision,
    Finding,
    Policy,
    Verdict,
    check_reply,
    decide,
    fill_template,
)
from bot.domain.mentions import UNCLAIMED, Action, Mention, authorise
from bot.domain.triage import SentimentAnalyzer
from bot.errors import CommandError, TransitionError
from bot.playbooks import Playbooks, TeamSpec
from bot.playbooks.schema import Guardrails
from bot.store import approvals, mentions, outbox, people, replies
from bot.store.db import Database
from bot.store.sql import Conn
from connectors.base import Connector

log = logging.getLogger(__name__)


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


def _no_other_limit(text: str) -> str | None:
    return None


def policy_for(guardrails: Guardrails, connector: Connector | None, mention: Mention) -> Policy:
    """The text rules for a reply to `mention` under these guardrails.

    Length is measured on the text as the platform will receive it (`reply_text` may put
    the author's handle in front) and counted the platform's way.
    """
    limits = connector.limits if connector is not None and connector.can_reply else None
    count: Callable[[str], int] = len
    too_big: Callable[[str], str | None] = _no_other_limit
    if connector is not None and limits is not None:
        measure, posted, oversize = limits.count, connector.reply_text, limits.too_big

        def count(text: str) -> int:
            return measure(posted(mention, text))

        def too_big(text: str) -> str | None:
            return oversize(posted(mention, text))

    return Policy(
        private_data=guardrails.private_data,
        account_patterns=tuple(guardrails.account_patterns),
        banned_phrases=tuple(guardrails.banned_phrases),
        sign_off=guardrails.sign_off,
        link_domains=(
            tuple(guardrails.link_domains) if guardrails.link_domains is not None else None
        ),
        tone_check=guardrails.tone_check,
        phone_regions=tuple(guardrails.phone_regions),
        max_length=limits.max_length if limits is not None else None,
        count=count,
        too_big=too_big,
        platform=connector.platform_name() if connector is not None else mention.source,
    )


def approval_rules(guardrails: Guardrails) -> ApprovalRules:
    """The approval rules of these guardrails."""
    approval = guardrails.approval
    return ApprovalRules(
        on_hold=approval.on_hold,
        audience_over=approval.audience_over,
        first_replies=approval.first_replies,
    )


def lines_of(findings: tuple[Finding, ...]) -> list[str]:
    """Findings as the lines of a chat answer: `- rule: what and how to fix it`."""
    return [f"- {f.line()}" for f in findings]


def _then_held(decision: Decision) -> list[str]:
    if not decision.notes:
        return []
    rules = ", ".join(f.rule.value for f in decision.notes)
    return [f"Once fixed, it would wait for a lead's approval ({rules})."]


@dataclass(frozen=True, slots=True)
class Setting:
    """Everything the playbooks and connectors say about answering one mention."""

    mention: Mention
    team: TeamSpec | None
    guardrails: Guardrails
    connector: Connector | None
    can_reply: bool
    # Who may approve answers for the team (none if the team is gone): the playbook's
    # leads, each as the chat platform's id for them where the people directory knows it.
    leads: tuple[str, ...] = ()

    @property
    def team_id(self) -> str:
        """The mention's team, even if the playbooks no longer define it."""
        return self.team.id if self.team is not None else self.mention.team

    def lead_platform(self, fallback: str) -> str:
        """The chat platform where the team's leads are told things."""
        return self.team.channel.platform if self.team is not None else fallback

    def platform_name(self) -> str:
        """Where the customer wrote, as people name it ("Mastodon"); else the source id."""
        if self.connector is not None:
            return self.connector.platform_name()
        return self.mention.source

    def where(self) -> str:
        """Where a person posts an answer by hand when the source cannot take replies."""
        if self.connector is not None:
            return self.connector.where_to_answer(self.mention)
        return self.mention.url or "the post"


class ReplyDesk:
    """Runs the answering commands `reply` and `preview`; the leads' desk builds on it."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        connectors: Mapping[str, Connector],
        analyzer: SentimentAnalyzer | None = None,
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.connectors = connectors
        self.analyzer = analyzer

    async def setting(self, number: int) -> Setting:
        """What the playbooks and connectors say about answering mention `number`."""
        mention = await self.database.read(load_root, number)
        books = self.playbooks()
        team = books.teams.get(mention.team)
        guardrails = team.guardrails if team is not None else books.guardrails
        connector = self.connectors.get(mention.source)
        can_reply = connector is not None and connector.can_reply
        leads: tuple[str, ...] = ()
        if team is not None:
            leads = await self.database.read(
                people.resolve, names=team.leads, platform=team.channel.platform
            )
        return Setting(mention, team, guardrails, connector, can_reply, leads)

    async def check(self, setting: Setting, text: str) -> Verdict:
        """The guardrails' verdict on `text` as an answer in `setting`."""
        policy = policy_for(setting.guardrails, setting.connector, setting.mention)
        # Phone-number parsing and VADER are CPU work: off the event loop.
        return await asyncio.to_thread(check_reply, text, policy, analyzer=self.analyzer)

    async def _private_reply(self, setting: Setting, actor: str) -> str | None:
        """The ready "please write to us privately" answer, if it passes the checks itself."""
        mention = setting.mention
        template = self.playbooks().templates.get("private", PRIVATE_TEMPLATE)
        text = fill_template(
            template,
            {
                "author": mention.author.handle,
                "name": mention.author.name or mention.author.handle,
                "number": mention.number,
                "team": setting.team.name if setting.team is not None else mention.team,
                "agent": actor,
                "url": mention.url,
                "opens_at": "",
            },
        )
        sign_off = setting.guardrails.sign_off
        if sign_off and sign_off.casefold() not in text.casefold():
            text = f"{text} {sign_off}"
        verdict = await self.check(setting, text)
        return None if verdict.refusals else " ".join(text.split())

    async def _refusal(
        self, setting: Setting, decision: Decision, verdict: Verdict, actor: str
    ) -> str:
        number = setting.mention.number
        count = len(decision.refused)
        lines = [
            f"Not sent: your reply to #{number} breaks {count} rule{'s' if count != 1 else ''}"
            " (nothing was stored).",
            *lines_of(decision.refused),
            *_then_held(decision),
        ]
        if verdict.private_data and (private := await self._private_reply(setting, actor)):
            lines.append(f"Ready to send instead: reply {number} {private}")
        return "\n".join(lines)

    async def reply(self, number: int, text: str, *, actor: str, platform: str) -> str:
        """`reply N [--again] <text>`: check, then send, hold for a lead, or refuse with the
        reasons (the same answer given in the last minutes is refused without `--again`)."""
        text, again = split_again(text)
        if not text:
            raise CommandError(f"What should the reply say? e.g. `reply {number} {AGAIN} Thanks`")
        setting = await self.setting(number)
        verdict = await self.check(setting, text)
        submitted = await self.database.write(
            submit,
            number=number,
            actor=actor,
            text=text,
            verdict=verdict,
            rules=approval_rules(setting.guardrails),
            leads=setting.leads,
            team=setting.team_id,
            platform=platform,
            lead_platform=setting.lead_platform(platform),
            can_reply=setting.can_reply,
            now=self.clock.now(),
            again=again,
        )
        decision = submitted.decision
        source = setting.platform_name()
        if decision.outcome == "refuse":
            raise CommandError(await self._refusal(setting, decision, verdict, actor))
        if decision.outcome == "hold":
            log.info(
                "answer %s to #%s held for %s",
                submitted.reply,
                number,
                decision.approvers,
                extra={"mention": number},
            )
            asked = await self.database.read(people.shown, ids=decision.approvers)
            return "\n".join(
                [
                    f"Your reply to #{number} waits for a lead's approval; nothing is posted"
                    " until then.",
                    *lines_of(decision.held),
                    f"Asked: {', '.join(asked[a] for a in decision.approvers)}."
                    " You will be told what they decide.",
                ]
            )
        if setting.can_reply:
            return f"Sending your reply to #{number} on {source}, in the customer's thread."
        return (
            f"Recorded your answer to #{number} and marked it answered. {source} cannot"
            f" be answered from chat: post it by hand at {setting.where()}"
        )

    async def preview(self, number: int, text: str, *, actor: str) -> str:
        """`preview N <text>`: exactly what would be posted, where, as whom; sends nothing."""
        setting = await self.setting(number)
        verdict = await self.check(setting, text)
        decision, blockers = await self.database.read(
            preview_decision,
            number=number,
            actor=actor,
            verdict=verdict,
            rules=approval_rules(setting.guardrails),
            leads=setting.leads,
            team=setting.team_id,
            text=text,
            now=self.clock.now(),
        )
        mention = setting.mention
        connector = setting.connector
        policy = policy_for(setting.guardrails, connector, mention)
        lines = [f"Preview of your reply to #{number}; nothing is sent."]
        if setting.can_reply and connector is not None:
            post = f"post {mention.url}" if mention.url else "post"
            lines += [
                f"Where: {connector.platform_name()} (source {mention.source}), in reply to"
                f" @{mention.author.handle}'s {post}, in the customer's thread.",
                f"As: {connector.posting_as()}.",
            ]
        else:
            lines.append(
                f"Where: not posted by allhands; {setting.platform_name()} cannot be answered"
                " from chat,"
                f" so you would post it by hand at {setting.where()}."
            )
        length = policy.count(text)
        if policy.max_length is not None:
            lines.append(
                f"Length: {length:,} of {policy.max_length:,} characters, as"
                f" {setting.platform_name()} counts them."
            )
        else:
            lines.append(f"Length: {length:,} characters; {setting.platform_name()} sets no limit.")
        posted = text
        if setting.can_reply and connector is not None:
            posted = connector.reply_text(mention, text)
        lines.append("Text, exactly as it would be posted:")
        lines += [f"  {line}" for line in posted.splitlines() or [""]]
        if decision.outcome == "refuse":
            lines.append("Verdict: it would be refused.")
            lines += lines_of(decision.refused) + _then_held(decision)
            if verdict.private_data and (private := await self._private_reply(setting, actor)):
                lines.append(f"Ready to send instead: reply {number} {private}")
        elif decision.outcome == "hold":
            lines.append(
                "Verdict: it would wait for a lead's approval"
                f" ({', '.join(decision.approvers)} would be asked)."
            )
            lines += lines_of(decision.held)
        else:
            lines.append(
                f"Verdict: it passes every check; `reply {number} <the same text>` sends it."
            )
        lines += [f"But: {b}" for b in blockers]
        return "\n".join(lines)
