"""Reply drafts for chat dialogs: templates filled in, length counted as the platform counts.

Platform-neutral: a chat adapter's reply dialog asks for the templates, the filled text
of one, a running count and the problems that stop a draft from being sent, and shows
them its own way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.clock import Clock
from bot.domain import templates
from bot.domain.mentions import UNCLAIMED, Action, Mention, State, authorise, next_state
from bot.errors import CommandError, TransitionError
from bot.people import PeopleDirectory
from bot.playbooks import Playbooks
from bot.store import mentions, people
from bot.store.db import Database
from connectors.base import Connector


@dataclass(frozen=True, slots=True)
class Count:
    """How a draft measures up: characters left (None without a limit) and a sentence."""

    left: int | None
    note: str


class ReplyDrafts:
    """What a reply dialog needs: the mention, its templates, counts and checks."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        connectors: Mapping[str, Connector],
        people: PeopleDirectory,
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.connectors = connectors
        self.people = people

    async def mention(self, number: int) -> Mention:
        """The mention a reply would answer; CommandError if there is none to answer."""
        mention = await self.database.read(mentions.get, number=number)
        if mention is None:
            raise CommandError(f"There is no #{number}. `list` shows what is open.")
        if mention.root_number is not None:
            raise CommandError(
                f"#{number} is a later message in the conversation of #{mention.root_number};"
                f" answer #{mention.root_number}."
            )
        return mention

    def template_names(self) -> tuple[str, ...]:
        """The playbooks' template ids, in order."""
        return tuple(self.playbooks().templates)

    async def from_template(self, mention: Mention, name: str, *, actor: str) -> str:
        """Template `name` filled in for `mention`, answered by `actor`; empty if unknown."""
        book = self.playbooks()
        text = book.templates.get(name)
        if text is None:
            return ""
        agent = await self.database.read(people.display_name, actor=actor)
        team = book.teams.get(mention.team)
        values = templates.values_for(
            mention,
            agent=agent,
            team=(team.name or team.id) if team else mention.team,
            opens_at=self._opens_at(mention.team),
        )
        return templates.fill(text, values).strip()

    def _opens_at(self, team_id: str) -> str:
        book = self.playbooks()
        team = book.teams.get(team_id)
        hours_name = getattr(getattr(team, "sla", None), "hours", None)
        hours = book.business_hours.get(hours_name) if hours_name else None
        if hours is None:
            return "our next working hours"
        when = templates.next_opening(
            now=self.clock.now(),
            timezone=hours.timezone,
            weekdays=hours.weekdays,
            opens=hours.open,
            closes=hours.close,
            holidays=hours.holidays,
        )
        if when is None:
            return "our next working hours"
        if when <= self.clock.now():
            return "now"
        return f"{when:%A %H:%M} ({hours.timezone})"

    def count(self, mention: Mention, text: str) -> Count:
        """How much room `text` leaves, counted the way the mention's platform counts."""
        connector = self.connectors.get(mention.source)
        if connector is None or not connector.can_reply:
            return Count(
                None,
                f"{mention.source} cannot be answered from chat: your answer is recorded and"
                " you post it there yourself.",
            )
        limits = connector.limits
        left = limits.remaining(text)
        if left is None or limits.max_length is None:
            return Count(None, f"{len(text):,} characters; {mention.source} sets no limit.")
        if left >= 0:
            return Count(
                left,
                f"{left:,} of {limits.max_length:,} characters left, as {mention.source}"
                " counts them.",
            )
        return Count(
            left,
            f"{-left:,} characters too many: {mention.source} allows {limits.max_length:,}.",
        )

    async def problem(self, number: int, *, actor: str, text: str) -> str | None:
        """Why this draft cannot be sent as it is, or None when it can."""
        if not text.strip():
            return "Write a reply first."
        try:
            mention = await self.mention(number)
        except CommandError as exc:
            return str(exc)
        count = self.count(mention, text)
        if count.left is not None and count.left < 0:
            return count.note + " Shorten it."
        holder = await self.database.read(people.display_name, actor=mention.claimed_by)
        try:
            authorise(mention, Action.ANSWER, actor, holder_name=holder or None)
            # An unclaimed mention is claimed by its first answer.
            state = State.CLAIMED if mention.state in UNCLAIMED else mention.state
            next_state(state, Action.ANSWER, number=number)
        except TransitionError as exc:
            return str(exc)
        return None
