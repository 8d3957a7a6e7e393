"""Reply drafts for chat dialogs: templates filled in, length counted as the platform counts.

Platform-neutral, built on `bot.replying.ReplyDesk`: a chat adapter's reply dialog asks
for the templates, the filled text of one, a running count, and the problems that would
stop a draft (the same checks `reply` makes: claims, state, guardrails, length), and
shows them its own way. Sending still goes through `reply N <text>`.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.clock import Clock
from bot.domain.mentions import UNCLAIMED, Action, State, next_state
from bot.domain.sla import next_open
from bot.errors import CommandError, TransitionError
from bot.replying import (
    ReplyDesk,
    Setting,
    approval_rules,
    lines_of,
    policy_for,
)
from bot.sla import working_hours
from bot.sla_steps import fill_template, opens_at_text
from bot.store.db import Database
from bot.submitting import preview_decision


@dataclass(frozen=True, slots=True)
class Count:
    """How a draft measures up: characters left (None without a limit) and a sentence."""

    left: int | None
    note: str


class ReplyDrafts:
    """What a reply dialog needs: the mention's setting, its templates, counts and checks."""

    def __init__(self, *, desk: ReplyDesk, database: Database, clock: Clock):
        self.desk = desk
        self.database = database
        self.clock = clock

    async def setting(self, number: int) -> Setting:
        """Everything about answering mention `number`; CommandError if there is none."""
        return await self.desk.setting(number)

    def template_names(self) -> tuple[str, ...]:
        """The playbooks' template ids, in order."""
        return tuple(self.desk.playbooks().templates)

    def from_template(self, setting: Setting, name: str, *, agent: str) -> str:
        """Template `name` filled in for the mention, answered by `agent`; empty if unknown."""
        template = self.desk.playbooks().templates.get(name)
        if template is None:
            return ""
        mention = setting.mention
        values = {
            "author": mention.author.handle,
            "name": mention.author.name or mention.author.handle,
            "number": str(mention.number),
            "team": (setting.team.name or setting.team.id) if setting.team else mention.team,
            "agent": agent,
            "url": mention.url,
            "opens_at": self._opens_at(setting),
        }
        return " ".join(fill_template(template, values).split())

    def _opens_at(self, setting: Setting) -> str:
        book = self.desk.playbooks()
        hours_id = getattr(getattr(setting.team, "sla", None), "hours", None)
        spec = book.business_hours.get(hours_id) if hours_id else None
        if spec is None:
            return "our next working hours"
        hours = working_hours(spec)
        now = self.clock.now()
        try:
            when = next_open(now, hours)
        except ValueError:  # hours with no working time at all
            return "our next working hours"
        return "now" if when <= now else opens_at_text(when, hours)

    def count(self, setting: Setting, text: str) -> Count:
        """How much room `text` leaves, counted as the mention's platform will receive it."""
        source = setting.platform_name()
        if not setting.can_reply:
            return Count(
                None,
                f"{source} cannot be answered from chat: your answer is recorded and you"
                f" post it there yourself.",
            )
        policy = policy_for(setting.guardrails, setting.connector, setting.mention)
        oversize = policy.too_big(text)
        if oversize is not None:
            return Count(-1, f"Too big: {oversize} on {source}.")
        if policy.max_length is None:
            return Count(None, f"{policy.count(text):,} characters; {source} sets no limit.")
        left = policy.max_length - policy.count(text)
        if left >= 0:
            return Count(
                left, f"{left:,} of {policy.max_length:,} characters left, as {source} counts them."
            )
        return Count(left, f"{-left:,} characters too many: {source} allows {policy.max_length:,}.")

    async def problem(self, number: int, *, actor: str, text: str) -> str | None:
        """Why this draft would not go out as it is (one line each), or None when it would.

        A draft that would wait for a lead's approval is not a problem: sending it asks
        the lead, and the writer is told.
        """
        if not text.strip():
            return "Write a reply first."
        try:
            setting = await self.setting(number)
        except CommandError as exc:
            return str(exc)
        mention = setting.mention
        try:
            # An unclaimed mention is claimed by its first answer.
            state = State.CLAIMED if mention.state in UNCLAIMED else mention.state
            next_state(state, Action.ANSWER, number=number)
        except TransitionError as exc:
            return str(exc)
        count = self.count(setting, text)
        if count.left is not None and count.left < 0:
            return count.note + " Shorten it."
        verdict = await self.desk.check(setting, text)
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
        problems = [*blockers]
        if decision.outcome == "refuse":
            problems += lines_of(decision.refused)
        return "\n".join(problems) or None
