"""What people do to mentions from chat: each command checked and applied atomically.

Every state change, its audit event and the outbox rows for its effects are written in
one transaction on the store's writer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlite_utils

from bot.chat.cards import audience_label
from bot.chat.text import shorten
from bot.clock import Clock
from bot.domain.commands import HELP, Command, parse
from bot.domain.durations import format_duration
from bot.domain.mentions import ACTIVE, UNCLAIMED, Action, Mention, State, authorise
from bot.errors import CommandError
from bot.playbooks import Playbooks
from bot.store import mentions, outbox, replies
from bot.store.db import Database
from connectors.base import Connector

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Context:
    """Who typed a command, on which platform, in which channel."""

    actor: str
    platform: str = "console"
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """The bot's answer to a command; private to the person who typed it."""

    text: str
    ok: bool = True


def _load(db: sqlite_utils.Database, number: int) -> Mention:
    mention = mentions.get(db, number=number)
    if mention is None:
        raise CommandError(f"There is no #{number}. `list` shows what is open.")
    if mention.root_number is not None:
        raise CommandError(
            f"#{number} is a later message in the conversation of #{mention.root_number};"
            f" use #{mention.root_number}."
        )
    return mention


def act(
    db: sqlite_utils.Database,
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
    authorise(mention, action, actor)
    updated = mentions.transition(
        db, mention=mention, action=action, actor=actor, now=now, changes=changes, detail=detail
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
    return updated


def answer(
    db: sqlite_utils.Database,
    *,
    number: int,
    actor: str,
    text: str,
    now: datetime,
    can_reply: bool,
) -> Mention:
    """Record an answer, claiming the mention first if nobody has; queue the public reply."""
    mention = _load(db, number)
    authorise(mention, Action.ANSWER, actor)
    if mention.state in UNCLAIMED:
        mention = mentions.transition(
            db,
            mention=mention,
            action=Action.CLAIM,
            actor=actor,
            now=now,
            changes={"claimed_by": actor},
        )
    status = "queued" if can_reply else "manual"
    reply_id = replies.add(db, mention=number, actor=actor, text=text, status=status, now=now)
    updated = mentions.transition(
        db,
        mention=mention,
        action=Action.ANSWER,
        actor=actor,
        now=now,
        detail={"reply": reply_id, "public": can_reply},
    )
    if can_reply:
        outbox.enqueue(
            db,
            kind=outbox.Kind.PUBLIC_REPLY,
            mention=number,
            payload={"reply": reply_id, "text": text, "actor": actor},
            now=now,
        )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=number, now=now)
    return updated


def assign(
    db: sqlite_utils.Database,
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
            "text": f"{actor} gave you #{number}: {shorten(updated.text, 120)} {updated.url}",
        },
        now=now,
    )
    return updated


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
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.connectors = connectors
        self.on_change = on_change

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
            return await self._list(cmd.scope, ctx)
        assert cmd.number is not None
        number = cmd.number
        if cmd.verb == "show":
            return await self._show(number)
        if cmd.verb == "reply":
            return await self._reply(number, cmd.text, ctx)
        if cmd.verb == "assign":
            await self.database.write(
                assign,
                number=number,
                actor=ctx.actor,
                person=cmd.text,
                platform=ctx.platform,
                now=self.clock.now(),
            )
            result = f"#{number} is now {cmd.text}'s; they have been told."
        else:
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
        self.on_change()
        return result

    async def _reply(self, number: int, text: str, ctx: Context) -> str:
        mention = await self.database.read(mentions.get, number=number)
        if mention is None:
            raise CommandError(f"There is no #{number}. `list` shows what is open.")
        connector = self.connectors.get(mention.source)
        can_reply = connector is not None and connector.can_reply
        if connector is not None and can_reply:
            posted = connector.reply_text(mention, text)  # as the platform will count it
            left = connector.limits.remaining(posted)
            if left is not None and left < 0:
                assert connector.limits.max_length is not None
                raise CommandError(
                    f"Your reply is {connector.limits.count(posted):,} characters;"
                    f" {mention.source} allows {connector.limits.max_length:,}."
                    f" Shorten it by {-left:,}."
                )
        await self.database.write(
            answer,
            number=number,
            actor=ctx.actor,
            text=text,
            now=self.clock.now(),
            can_reply=can_reply,
        )
        self.on_change()
        if can_reply:
            return f"Sending your reply to #{number} on {mention.source}, in the customer's thread."
        where = connector.where_to_answer(mention) if connector else (mention.url or "the post")
        return (
            f"Recorded your answer to #{number} and marked it answered. {mention.source} cannot"
            f" be answered from chat: post it by hand at {where}"
        )

    async def _list(self, scope: str, ctx: Context) -> str:
        team = None
        if scope == "mine":
            found = await self.database.read(
                mentions.find, states=(State.CLAIMED, State.ANSWERED), claimed_by=ctx.actor
            )
            title = "Yours"
        elif scope == "team":
            team = self._team_of(ctx)
            if team is None:
                raise CommandError("This channel belongs to no team; try `list open`.")
            found = await self.database.read(mentions.find, states=ACTIVE, team=team)
            title = f"Team {team}"
        elif scope == "all":
            found = await self.database.read(mentions.find, states=ACTIVE)
            title = "Everything active"
        else:
            found = await self.database.read(mentions.find, states=UNCLAIMED)
            title = "Open"
        if not found:
            return f"{title}: nothing. Well done."
        now = self.clock.now()
        lines = [f"{title} ({len(found)}):"]
        for m in found:
            extra = f" {m.claimed_by}" if m.claimed_by else ""
            if m.snoozed_until and m.snoozed_until > now:
                extra += " (snoozed)"
            lines.append(
                f"  #{m.number} [{m.state.value}{extra}] {m.kind}/{m.urgency} {m.team}"
                f" @{m.author.handle}: {shorten(m.text, 70)}"
            )
        return "\n".join(lines)

    def _team_of(self, ctx: Context) -> str | None:
        if ctx.channel is None:
            return None
        for team in self.playbooks().teams.values():
            if team.channel.channel == ctx.channel or str(team.channel) == ctx.channel:
                return team.id
        return None

    async def _show(self, number: int) -> str:
        mention = await self.database.read(_load, number)
        thread = await self.database.read(mentions.follow_ups, number=number)
        answers = await self.database.read(replies.for_mention, mention=number)
        history = await self.database.read(mentions.events, number=number)
        author = mention.author
        audience = audience_label(author.audience)
        lines = [
            f"#{number} · {mention.state.value} · {mention.kind}/{mention.urgency}"
            f" · team {mention.team} · sentiment {mention.sentiment:+.2f}",
            f"From @{author.handle}"
            + (f" ({author.name})" if author.name else "")
            + (f", {audience}" if audience else "")
            + f" on {mention.source}",
            f"  {mention.text}",
            f"  {mention.url}" if mention.url else "",
        ]
        for later in thread:
            lines.append(f"  ↳ @{later.author.handle}: {later.text}")
        for reply in answers:
            lines.append(f"  ⤷ answer by {reply.actor} [{reply.status}]: {reply.text}")
        lines.append("History:")
        for event in history:
            arrow = f"{event.from_state.value} -> " if event.from_state else ""
            lines.append(
                f"  {event.at:%Y-%m-%d %H:%M} {event.actor} {event.action.value}"
                f" ({arrow}{event.to_state.value})"
            )
        return "\n".join(line for line in lines if line)
