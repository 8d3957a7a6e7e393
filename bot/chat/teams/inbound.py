"""Microsoft Teams: what arrives at /api/messages. Each activity's token is checked first
(`auth`), then the activity is read (`activity`), remembered once (a redelivery is not run
twice), and acted on: a command typed or clicked is run and answered in its thread; the bot
added to a team learns its roster.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web
from pydantic import ValidationError

from bot.chat.teams.activity import Activity, command_text, mentions, read_submit
from bot.chat.teams.auth import KeysUnavailable, Unauthorized
from bot.chat.teams.cards import channel_id_card, text_activity
from bot.errors import CommandError, DeliveryError
from bot.incident_commands import stale_card_note
from bot.store import people, webhooks
from bot.store import teams as store
from bot.workflow import Answer, Context

if TYPE_CHECKING:
    from bot.chat.teams.adapter import TeamsAdapter

log = logging.getLogger(__name__)

PLATFORM = "teams"

CommandRunner = Callable[[str, Context], Awaitable[Answer]]
"""Runs one command line for someone: `Workflow.handle`."""

TEAMS_HELP = (
    "On Teams, write @allhands and a command in a channel (or just the command in a chat"
    " with allhands), or use the buttons on a card. `@allhands channel` shows the id to put"
    " in a playbook for the channel you type it in."
)
_SEEN_FOR = timedelta(hours=1)  # activity ids remembered, so a redelivery is not run twice


class TeamsInbound:
    """The handler of the Bot Connector's activities for one adapter."""

    def __init__(self, adapter: TeamsAdapter):
        self.adapter = adapter

    async def handle_request(self, request: web.Request, run: CommandRunner) -> web.Response:
        """Authenticate one activity from the Bot Connector and act on it."""
        header = request.headers.get("Authorization")
        if not header and not self.adapter.authenticator.disabled:
            return _refuse(401, "missing Authorization header")
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return _refuse(400, "the body is not JSON allhands reads (or nested too deeply)")
        if not isinstance(body, dict):
            return _refuse(400, "the body is not an activity")
        try:
            await self.adapter.authenticator.check(body, header)
        except KeysUnavailable as exc:
            log.error("Teams: %s", exc)
            return _refuse(503, "cannot check the token now")
        except Unauthorized as exc:
            log.info("Teams: refused a request to /api/messages: %s", exc)
            return _refuse(401, "invalid token")
        try:
            activity = Activity.model_validate(body)
        except ValidationError as exc:
            log.info("Teams: an activity that does not fit: %s", exc.errors()[:3])
            return _refuse(400, "not an activity allhands can read")
        if (
            self.adapter.tenant_id
            and activity.tenant_id
            and activity.tenant_id != self.adapter.tenant_id
        ):
            log.warning("Teams: refused an activity from tenant %s", activity.tenant_id)
            return _refuse(403, "this bot serves another organisation")
        if await self._seen_before(activity):
            return web.Response(status=200)
        await self._remember(activity)
        if activity.type == "message":
            await self._on_message(activity, run)
        elif activity.type in ("conversationUpdate", "installationUpdate"):
            await self._on_update(activity)
        return web.Response(status=200)

    async def _seen_before(self, activity: Activity) -> bool:
        # Bot Framework redelivers a request it got no answer to in time; a redelivered
        # `reply` must not answer the customer twice. Remembered in the store, so that a
        # redelivery reaching another replica is recognised too.
        if not activity.id:
            return False
        first = await self.adapter.database.write(
            webhooks.remember,
            source="teams-activity",
            signature=f"{activity.conversation.id}|{activity.id}",
            now=self.adapter.clock.now(),
            keep=_SEEN_FOR,
        )
        return not first

    async def _remember(self, activity: Activity) -> None:
        """Store who wrote and where, so the bot can name them and post there later."""
        now = self.adapter.clock.now()
        service_url = activity.service_url
        bot_id = activity.recipient.id
        if not service_url or not bot_id:
            return
        sender = activity.from_
        conversation = store.Conversation(
            id=activity.base_conversation_id,
            kind=activity.kind,
            service_url=service_url,
            tenant_id=activity.tenant_id,
            bot_id=bot_id,
            team_id=activity.team_id,
            name=activity.channel_name,
        )
        member = (
            store.Member(activity.actor, sender.id, activity.tenant_id, service_url, bot_id)
            if sender.id and sender.id != bot_id
            else None
        )
        created = activity.created_channel_id if activity.event_type == "channelCreated" else None

        def record(db: Any) -> None:
            store.remember_conversation(db, conversation=conversation, now=now)
            if created:
                store.remember_conversation(
                    db,
                    conversation=replace(conversation, id=created, kind="channel"),
                    now=now,
                )
            if member is not None:
                store.remember_member(db, member=member, now=now)
                people.remember(
                    db, id=member.person, name=sender.name, platform=self.adapter.platform, now=now
                )

        await self.adapter.database.write(record)

    async def _on_update(self, activity: Activity) -> None:
        bot_id = activity.recipient.id
        removed = any(m.id == bot_id for m in activity.members_removed) or (
            activity.type == "installationUpdate" and activity.action == "remove"
        )
        if removed:
            log.info("Teams: allhands was removed from %s", activity.base_conversation_id)
            await self.adapter.database.write(
                store.forget_conversation, id=activity.base_conversation_id
            )
            return
        if activity.event_type == "channelDeleted" and activity.created_channel_id:
            await self.adapter.database.write(
                store.forget_conversation, id=activity.created_channel_id
            )
            return
        # Teams sends an installationUpdate too when the app is added: welcome only once.
        if any(m.id == bot_id for m in activity.members_added):
            log.info(
                "Teams: allhands was added to %s %s", activity.kind, activity.base_conversation_id
            )
            if activity.kind == "personal":
                welcome = text_activity(
                    "Hi! allhands will tell you here when someone gives you a mention. "
                    + TEAMS_HELP
                )
            else:
                welcome = self._channel_answer(activity)
            self.adapter._spawn(self._answer(activity, welcome, in_thread=False))
            if activity.team_id:
                self.adapter._spawn(self._learn_roster(activity, activity.team_id))

    async def _learn_roster(self, activity: Activity, team_id: str) -> None:
        """Remember every member of a team the bot joins, with the names they go by (name,
        e-mail, sign-in name), so that playbooks can name leads as `dana@lumo.example` and
        the bot can reach them before they ever write to it."""
        connector = self.adapter._connector()
        continuation: str | None = None
        learned = 0
        for _ in range(1000):  # 100 a page: a team of 100,000 is beyond any Teams limit
            try:
                page = await connector.paged_members(activity.service_url, team_id, continuation)
            except DeliveryError as exc:
                log.warning("Teams: could not read the members of team %s: %s", team_id, exc)
                return
            members = [m for m in page.get("members") or [] if isinstance(m, dict)]
            await self.adapter.database.write(
                _remember_roster,
                members=members,
                tenant_id=activity.tenant_id,
                service_url=activity.service_url,
                bot_id=activity.recipient.id,
                now=self.adapter.clock.now(),
            )
            learned += len(members)
            continuation = page.get("continuationToken")
            if not isinstance(continuation, str) or not continuation:
                break
        log.info("Teams: learned %d member(s) of team %s", learned, team_id)

    def _channel_answer(self, activity: Activity) -> dict[str, Any]:
        if activity.kind == "personal":
            return text_activity(
                "This is a chat with allhands, not a channel: type `@allhands channel` in the"
                " channel where a team's mention cards should go."
            )
        where = activity.channel_name or (
            "this channel" if activity.kind == "channel" else "this chat"
        )
        return channel_id_card(
            f"teams:{activity.base_conversation_id}",
            f"To have a team's mention cards posted in {where}, write this in its playbook"
            " entry (teams.<id>.channel):",
        )

    async def _on_message(self, activity: Activity, run: CommandRunner) -> None:
        ctx = Context(
            actor=activity.actor,
            platform=self.adapter.platform,
            channel=activity.base_conversation_id,
        )
        if activity.value is not None and not activity.text.strip():
            await self._on_submit(activity, ctx, run)
            return
        line = command_text(activity, people=await self._mentioned_people(activity))
        words = line.lower().removeprefix("/allhands").split()
        if words == ["channel"]:
            self.adapter._spawn(self._answer(activity, self._channel_answer(activity)))
            return
        answer = await run(line, ctx)
        text = answer.text
        if not words or words[0] == "help":
            text = f"{text}\n{TEAMS_HELP}"
        self.adapter._spawn(self._answer(activity, text_activity(text)))

    async def _on_submit(self, activity: Activity, ctx: Context, run: CommandRunner) -> None:
        """A click on a card's button: run the command it means, answer under the card."""
        try:
            submit = read_submit(activity.value)
        except CommandError as exc:
            answer = Answer(str(exc), ok=False)
        else:
            stale = None
            if submit.incident:  # a card drawn before the incident was resolved or merged
                stale = await self.adapter.database.read(stale_card_note, number=submit.number)
            # An approval card's button decides only the held answer it names.
            answer = (
                Answer(stale, ok=False)
                if stale
                else await run(submit.line, replace(ctx, held=submit.held))
            )
        text = answer.text
        if activity.kind != "personal":  # others in the channel see who clicked
            text = f"{activity.from_.name or 'someone'}: {text}"
        self.adapter._spawn(self._answer(activity, text_activity(text)))

    async def _mentioned_people(self, activity: Activity) -> dict[str, str]:
        """Person ids of the users @mentioned in a command (other than the bot)."""
        found: dict[str, str] = {}
        for _, user_id, name in mentions(activity):
            if user_id == activity.recipient.id or user_id in found:
                continue
            member = await self.adapter.database.read(store.member_by_user_id, user_id=user_id)
            if member is not None:
                found[user_id] = member.person
                continue
            try:
                info = await self.adapter._connector().member(
                    activity.service_url, activity.conversation.id, user_id
                )
            except DeliveryError as exc:
                log.warning("Teams: could not look up the mentioned user %s: %s", user_id, exc)
                continue
            person = info.get("aadObjectId") or user_id
            if not isinstance(person, str):
                continue
            found[user_id] = person
            now = self.adapter.clock.now()
            added = store.Member(
                person, user_id, activity.tenant_id, activity.service_url, activity.recipient.id
            )
            await self.adapter.database.write(store.remember_member, member=added, now=now)
            await self.adapter.database.write(
                people.remember,
                id=person,
                name=str(info.get("name") or name),
                platform=self.adapter.platform,
                now=now,
            )
        return found

    async def _answer(
        self, activity: Activity, reply: dict[str, Any], *, in_thread: bool = True
    ) -> None:
        """Post the bot's answer where the activity came from (its thread, or the chat)."""
        body = {**reply, "replyToId": activity.id} if in_thread and activity.id else reply
        try:
            await self.adapter._connector().send(
                activity.service_url, activity.conversation.id, body
            )
        except DeliveryError as exc:
            log.warning("Teams: could not answer in %s: %s", activity.base_conversation_id, exc)


def _remember_roster(
    db: Any,
    *,
    members: list[dict[str, Any]],
    tenant_id: str,
    service_url: str,
    bot_id: str,
    now: datetime,
) -> None:
    """Store how to reach each member of a team, and the names they go by."""
    for info in members:
        person, user_id = info.get("aadObjectId"), info.get("id")
        if not (isinstance(person, str) and person and isinstance(user_id, str) and user_id):
            continue
        member = store.Member(person, user_id, tenant_id, service_url, bot_id)
        store.remember_member(db, member=member, now=now)
        names = [info.get(k) for k in ("name", "email", "userPrincipalName", "givenName")]
        aliases = [str(n) for n in names if isinstance(n, str) and n]
        people.remember(
            db,
            id=person,
            name=aliases[0] if aliases else person,
            platform=PLATFORM,
            now=now,
            aliases=aliases,
        )


def _refuse(status: int, reason: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": reason}}, status=status)
