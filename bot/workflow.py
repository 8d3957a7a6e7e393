"""What people do to mentions from chat: each command checked and applied atomically.

Every state change, its audit event and the outbox rows for its effects are written in
one transaction on the store's writer thread.

Internal by default: only `reply` (checked by the guardrails) and a lead's `approve` or
`edit` of a held answer can post anything publicly (see `bot.replying`); every other
command, and anything typed in a card's thread (`thread_message`), stays in chat. `list`
and `show`, which change nothing, are answered by `bot.mention_views`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.approving import ApprovalDesk
from bot.chat.text import shorten
from bot.clock import Clock
from bot.domain.commands import HELP, Command, parse
from bot.domain.durations import format_duration
from bot.domain.mentions import Action, Mention, authorise
from bot.domain.triage import SentimentAnalyzer
from bot.errors import CommandError
from bot.incident_commands import IncidentCommands
from bot.incidents import CARD_EVERY
from bot.mention_views import MentionViews
from bot.playbooks import Playbooks
from bot.replying import ReplyDesk
from bot.store import corrections, mentions, outbox, people
from bot.store import incidents as incident_store
from bot.store.db import Database
from bot.store.sql import Conn
from bot.submitting import load_root
from connectors.base import Connector

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Context:
    """Who typed a command, on which platform, in which channel; for a lead's button,
    the held answer it was made for (`approve`, `edit` and `reject` decide only that one)."""

    actor: str
    platform: str = "console"
    channel: str | None = None
    held: int | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The bot's answer to a command; private to the person who typed it."""

    text: str
    ok: bool = True


_load = load_root


def act(
    db: Conn,
    *,
    number: int,
    action: Action,
    actor: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> Mention:
    """Apply one action to a mention and queue its card update (runs in a transaction)."""
    mention = _load(db, number)
    authorise(mention, action, actor, holder_name=people.name_of(db, id=mention.claimed_by))
    updated = mentions.transition(
        db, mention=mention, action=action, actor=actor, now=now, changes=changes, detail=detail
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
    return updated


def assign(
    db: Conn,
    *,
    number: int,
    actor: str,
    person: str,
    platform: str,
    now: datetime,
) -> Mention:
    """Give a mention to `person` and tell them privately."""
    updated = act(
        db,
        number=number,
        action=Action.ASSIGN,
        actor=actor,
        now=now,
        changes={"claimed_by": person},
        detail={"to": person},
    )
    outbox.enqueue(
        db,
        kind=outbox.Kind.PRIVATE_NOTE,
        mention=number,
        target=platform,
        payload={
            "person": person,
            "text": f"{people.name_of(db, id=actor)} gave you #{number}:"
            f" {shorten(updated.text, 120)} {updated.url}",
        },
        now=now,
    )
    return updated


def _note(db: Conn, *, number: int, actor: str, text: str, now: datetime) -> None:
    """Record an internal note on a mention (runs in a transaction)."""
    mention = _load(db, number)
    mentions.transition(
        db,
        mention=mention,
        action=Action.NOTE,
        actor=actor,
        now=now,
        detail={"text": shorten(text, 2000)},
    )


def _plan(
    cmd: Command, number: int, actor: str, now: datetime
) -> tuple[Action, dict[str, Any], dict[str, Any], str]:
    """For a plain state change: the action, column changes, event detail and the answer."""
    verb = cmd.verb
    if verb == "claim":
        return (
            Action.CLAIM,
            {"claimed_by": actor},
            {},
            (f"#{number} is yours. Answer with `reply {number} <text>`."),
        )
    if verb == "release":
        return (
            Action.RELEASE,
            {"claimed_by": None},
            {},
            (f"You released #{number}; it is back in the team's queue."),
        )
    if verb == "resolve":
        return Action.RESOLVE, {}, {}, f"#{number} is resolved. Thank you!"
    if verb == "reopen":
        return Action.REOPEN, {"claimed_by": None}, {}, f"#{number} is open again."
    if verb == "ignore":
        return (
            Action.IGNORE,
            {"claimed_by": None},
            {"reason": cmd.text},
            (f"#{number} is ignored ({shorten(cmd.text, 80)})."),
        )
    if verb == "snooze":
        assert cmd.duration is not None
        until = now + cmd.duration
        return (
            Action.SNOOZE,
            {"snoozed_until": until},
            {"until": until.isoformat()},
            (f"#{number} is snoozed for {format_duration(cmd.duration)}."),
        )
    raise CommandError(f"Unknown command `{verb}`.")  # parse() only returns known verbs


class Workflow:
    """Runs chat commands against the store."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        connectors: Mapping[str, Connector],
        on_change: Callable[[], None] = lambda: None,
        analyzer: SentimentAnalyzer | None = None,
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.connectors = connectors
        self.on_change = on_change
        self.desk = ReplyDesk(
            database=database,
            clock=clock,
            playbooks=playbooks,
            connectors=connectors,
            analyzer=analyzer,
        )
        self.leads_desk = ApprovalDesk(self.desk)
        self.views = MentionViews(
            database=database, clock=clock, playbooks=playbooks, connectors=connectors
        )
        self.incidents: IncidentCommands | None = None  # set by the app

    async def handle(self, line: str, ctx: Context) -> Answer:
        """Parse and run one command line; every refusal is a one-line Answer, never a raise."""
        try:
            command = parse(line)
            text = await self._run(command, ctx)
        except CommandError as exc:
            return Answer(str(exc), ok=False)
        return Answer(text)

    async def _run(self, cmd: Command, ctx: Context) -> str:
        if cmd.verb == "help":
            return HELP
        if cmd.verb == "list":
            return await self.views.listing(cmd.scope, ctx, page=cmd.number or 1)
        if cmd.incident is not None or cmd.verb in ("detach", "split", "merge", "reply-all"):
            if self.incidents is None:
                raise CommandError("Incidents are not kept here.")
            return await self.incidents.handle(cmd, ctx)
        assert cmd.number is not None
        number = cmd.number
        if cmd.verb == "show":
            return await self.views.show(number)
        if cmd.verb == "preview":
            return await self.desk.preview(number, cmd.text, actor=ctx.actor)
        if cmd.verb in ("reply", "approve", "edit", "reject"):
            result = await self._answering(cmd, ctx)
        elif cmd.verb == "assign":
            await self.database.write(
                assign,
                number=number,
                actor=ctx.actor,
                person=cmd.text,
                platform=ctx.platform,
                now=self.clock.now(),
            )
            person = await self.database.read(people.name_of, id=cmd.text)
            result = f"#{number} is now {person}'s; they have been told."
        elif cmd.verb in ("move", "kind"):
            result = await self._correct(cmd, ctx)
        else:  # a plain state change
            now = self.clock.now()
            action, changes, detail, result = _plan(cmd, number, ctx.actor, now)
            await self.database.write(
                act,
                number=number,
                action=action,
                actor=ctx.actor,
                now=now,
                changes=changes,
                detail=detail,
            )
        await self.database.write(
            incident_store.redraw_roll_up_of, number=number, now=self.clock.now(), every=CARD_EVERY
        )
        self.on_change()
        return result

    async def _correct(self, cmd: Command, ctx: Context) -> str:
        """`move N team` and `kind N kind`: a person corrects triage; it is kept to learn from."""
        assert cmd.number is not None
        number, now = cmd.number, self.clock.now()
        mention = await self.database.read(_load, number)
        if cmd.verb == "kind":
            if mention.kind == cmd.text:
                return f"#{number} is already a {cmd.text}."
            await self.database.write(
                corrections.relabel, mention=mention, kind=cmd.text, actor=ctx.actor, now=now
            )
            return f"#{number} is now a {cmd.text} (was {mention.kind}); triage will learn from it."
        teams = self.playbooks().teams
        team = teams.get(cmd.text) or next(
            (t for t in teams.values() if cmd.text.lower() in (t.id.lower(), t.name.lower())), None
        )
        if team is None:
            raise CommandError(f"No team `{cmd.text[:40]}`; teams: {', '.join(sorted(teams))}.")
        if mention.team == team.id:
            return f"#{number} is already with {team.id}."
        await self.database.write(
            corrections.move,
            mention=mention,
            team=team.id,
            channel=str(team.channel),
            actor=ctx.actor,
            now=now,
        )
        return f"#{number} moved to {team.id} ({team.channel.channel}); the old card says so."

    async def _answering(self, cmd: Command, ctx: Context) -> str:
        assert cmd.number is not None
        number, who = cmd.number, {"actor": ctx.actor, "platform": ctx.platform}
        if cmd.verb == "reply":
            return await self.desk.reply(number, cmd.text, **who)
        expected = ctx.held
        if cmd.verb == "approve":
            return await self.leads_desk.approve(number, **who, expected=expected)
        if cmd.verb == "edit":
            return await self.leads_desk.approve(number, **who, text=cmd.text, expected=expected)
        return await self.leads_desk.reject(number, cmd.text, **who, expected=expected)

    async def thread_message(self, number: int, text: str, ctx: Context) -> Answer:
        """Something typed in a card's thread: kept as an internal note, never posted.

        Chat adapters call this for thread messages; whatever the text says (even
        `reply 42 ...`), it is recorded in the mention's history and goes nowhere else.
        """
        try:
            await self.database.write(
                _note, number=number, actor=ctx.actor, text=text, now=self.clock.now()
            )
        except CommandError as exc:
            return Answer(str(exc), ok=False)
        return Answer(
            f"Noted in #{number}'s history; the customer does not see it."
            f" To answer them, use `reply {number} <text>`."
        )
