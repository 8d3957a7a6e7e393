"""What `list` and `show` answer: pages of mentions, and one mention's whole story, read
from the store."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from bot.chat.cards import audience_label, kind_label
from bot.chat.text import shorten
from bot.clock import Clock
from bot.domain.mentions import ACTIVE, UNCLAIMED, State
from bot.errors import CommandError
from bot.incident_commands import incidents_line
from bot.playbooks import Playbooks
from bot.store import incidents as incident_store
from bot.store import mentions, people, replies
from bot.store import sla as sla_store
from bot.store.db import Database
from bot.submitting import load_root
from connectors.base import Connector

if TYPE_CHECKING:
    from bot.workflow import Context

LIST_PAGE = 20  # mentions a page of `list`: a page stays within every platform's message limits


class MentionViews:
    """Answers `list` and `show` from the store; they change nothing."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        connectors: Mapping[str, Connector],
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.connectors = connectors

    async def listing(self, scope: str, ctx: Context, *, page: int = 1) -> str:
        """What `list` answers: one page of the mentions in `scope`, oldest first."""
        team = None
        filters: dict[str, Any]
        if scope == "mine":
            filters = {"states": (State.CLAIMED, State.ANSWERED), "claimed_by": ctx.actor}
            title = "Yours"
        elif scope == "team":
            team = self._team_of(ctx)
            if team is None:
                raise CommandError("This channel belongs to no team; try `list open`.")
            filters = {"states": ACTIVE, "team": team}
            title = f"Team {team}"
        elif scope == "all":
            filters = {"states": ACTIVE}
            title = "Everything active"
        else:
            filters = {"states": UNCLAIMED}
            title = "Open"
        total = await self.database.read(mentions.count_found, **filters)
        found = await self.database.read(
            mentions.find, **filters, limit=LIST_PAGE, offset=(page - 1) * LIST_PAGE
        )
        incident_lines = await self.database.read(incidents_line, team=team)
        if incident_lines:
            title = (
                f"Incidents ({len(incident_lines)}):\n" + "\n".join(incident_lines) + "\n" + title
            )
        if not found:
            if total and page > 1:
                last = -(-total // LIST_PAGE)
                return f"{title}: {total:,} in all, on {last} page(s); there is no page {page}."
            return f"{title}: nothing. Well done."
        now = self.clock.now()
        names = await self.database.read(people.shown, ids=[m.claimed_by for m in found])
        within = await self.database.read(
            incident_store.incidents_of, mentions=[m.number for m in found]
        )
        first = (page - 1) * LIST_PAGE + 1
        if total <= LIST_PAGE:
            lines = [f"{title} ({total}):"]
        else:
            lines = [f"{title} ({total:,}; {first}–{first + len(found) - 1}, oldest first):"]
        for m in found:
            extra = f" {names[m.claimed_by]}" if m.claimed_by else ""
            if m.snoozed_until and m.snoozed_until > now:
                extra += " (snoozed)"
            if m.number in within:
                extra += f" in I{within[m.number]}"
            lines.append(
                f"  #{m.number} [{m.state.value}{extra}] {m.kind}/{m.urgency} {m.team}"
                f" @{shorten(m.author.handle, 30)}: {shorten(m.text, 70)}"
            )
        if first + len(found) - 1 < total:
            narrower = "`list mine` or `list team`" if scope in ("open", "all") else "`list mine`"
            lines.append(
                f"{total - first - len(found) + 1:,} more: `list {scope} {page + 1}` shows the"
                f" next {LIST_PAGE}; {narrower} shows fewer."
            )
        return "\n".join(lines)

    def _platform_of(self, source: str) -> str:
        """Where a source's customers write, as people name it; with the source's id."""
        connector = self.connectors.get(source)
        name = connector.platform_name() if connector is not None else source
        return source if name == source else f"{name} (source {source})"

    def _team_of(self, ctx: Context) -> str | None:
        if ctx.channel is None:
            return None
        for team in self.playbooks().teams.values():
            if team.channel.channel == ctx.channel or str(team.channel) == ctx.channel:
                return team.id
        return None

    async def show(self, number: int) -> str:
        """What `show N` answers: the mention, its thread, answers, SLA steps and history."""
        mention = await self.database.read(load_root, number)
        thread = await self.database.read(mentions.follow_ups, number=number)
        answers = await self.database.read(replies.for_mention, mention=number)
        history = await self.database.read(mentions.events, number=number)
        names = await self.database.read(
            people.shown, ids=[*(a.actor for a in answers), *(e.actor for e in history)]
        )
        author = mention.author
        audience = audience_label(author.audience)
        lines = [
            f"#{number} · {mention.state.value} · {kind_label(mention)}/{mention.urgency}"
            f" · team {mention.team} · sentiment {mention.sentiment:+.2f}"
            + (f" · {mention.language}" if mention.language else "")
            + (f" · {mention.triage_note}" if mention.triage_note else ""),
            f"From @{author.handle}"
            + (f" ({author.name})" if author.name else "")
            + (f", {audience}" if audience else "")
            + f" on {self._platform_of(mention.source)}",
            f"  {mention.text}",
            f"  {mention.url}" if mention.url else "",
        ]
        for later in thread:
            lines.append(f"  ↳ @{later.author.handle}: {later.text}")
        for reply in answers:
            lines.append(f"  ⤷ answer by {names[reply.actor]} [{reply.status}]: {reply.text}")
        steps = await self.database.read(sla_store.steps_taken, mention=number)
        if steps:
            lines.append("SLA steps:")
            lines.extend(f"  {t.at:%Y-%m-%d %H:%M} {t.step.value} (round {t.round})" for t in steps)
        lines.append("History:")
        for event in history:
            arrow = f"{event.from_state.value} -> " if event.from_state else ""
            lines.append(
                f"  {event.at:%Y-%m-%d %H:%M} {names[event.actor]} {event.action.value}"
                f" ({arrow}{event.to_state.value})"
            )
        return "\n".join(line for line in lines if line)
