"""The one way an answer goes out: guardrails check it, and a lead approves it if it must wait.

`ReplyDesk` runs the commands `reply` and `preview` (`bot.approving` runs the leads'
`approve`, `edit` and `reject`). A reply is checked against its team's guardrails
(`bot.domain.guardrails`) before anything is stored. A refused one changes nothing; a held
one is stored as `held` and the team's leads are asked; one that may go out is queued by
`send_answer` (`bot.submitting`, where every answer is stored in one transaction), which
is also what releases an approved answer, through `replies.queue_public`, the only
function that queues a public reply.

Internal by default: no other command queues a public reply, and a message typed in a
card's thread is an internal note (`Workflow.thread_message`), never posted.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.answer_repeats import AGAIN, split_again
from bot.clock import Clock
from bot.domain.approval_rules import ApprovalRules, Decision
from bot.domain.guardrails import (
    PRIVATE_TEMPLATE,
    Finding,
    Policy,
    Verdict,
    check_reply,
    fill_template,
)
from bot.domain.mentions import Mention
from bot.domain.triage import SentimentAnalyzer
from bot.errors import CommandError
from bot.playbooks import Playbooks, TeamSpec
from bot.playbooks.schema import Guardrails
from bot.store import people
from bot.store.db import Database
from bot.submitting import load_root, preview_decision, submit
from connectors.base import Connector

log = logging.getLogger(__name__)


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
