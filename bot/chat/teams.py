"""Microsoft Teams: the ChatAdapter and the /api/messages endpoint.

Each request from the Bot Connector carries a JWT, checked by `teams_auth` against
Microsoft's published keys (fetched over aiohttp, cached, following key rotation) before
anything is read from the body.
Everything else speaks plain HTTP and JSON: activities and Adaptive Cards are built by
`teams_cards`, read by `teams_activity`, and sent by `teams_connector`; a card a crash
may have cut off is looked for in its channel with Microsoft Graph (`teams_graph`).

Requests are acknowledged as soon as the command they carry is done; the bot's answer
is posted in the background, in the thread where the command was typed or clicked.
Proactive posts (cards, updates, thread messages, private notes, approval requests) come
through the outbox, so nothing is lost while Teams is unreachable. A lead's approval
request is a card with Approve / Edit / Reject in their 1:1 chat; its buttons decide only
the held answer the card names, and once any lead decides (clicked or typed), the outbox
has every lead's card redrawn with the decision (`show_decision`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from bot.card_links import teams_message_link
from bot.chat import MessageRef, Ping
from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.cards import Card
from bot.chat.teams_activity import Activity, command_text, mentions, read_submit
from bot.chat.teams_auth import KeysUnavailable, TokenChecker, Unauthorized
from bot.chat.teams_cards import (
    approval_activity,
    card_activity,
    channel_id_card,
    image_attachment,
    text_activity,
)
from bot.chat.teams_connector import AppToken, BotConnector, token_url
from bot.chat.teams_graph import GRAPH_URL, GraphCardFinder, card_marker
from bot.clock import Clock
from bot.errors import CommandError, ConfigError, DeliveryError, Problem
from bot.incident_commands import stale_card_note
from bot.settings import TEAMS_OPENID_URL, Settings
from bot.store import people, webhooks
from bot.store import teams as store
from bot.store.db import Database
from bot.workflow import Answer, Context

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


class TeamsAdapter:
    """The ChatAdapter for Microsoft Teams, and the handler of its /api/messages requests."""

    platform = PLATFORM

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        app_id: str = "",
        password: str = "",
        tenant_id: str = "",
        openid_url: str = "",
        login_url: str = "",
        graph_url: str = GRAPH_URL,
    ):
        self.database = database
        self.clock = clock
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.authenticator = TokenChecker(
            app_id=app_id, openid_url=openid_url or TEAMS_OPENID_URL, clock=clock
        )
        self._token = (
            AppToken(
                app_id=app_id, password=password, url=login_url or token_url(tenant_id), clock=clock
            )
            if app_id
            else None
        )
        self._finder = (
            GraphCardFinder(
                app_id=app_id,
                password=password,
                login_url=login_url,
                graph_url=graph_url,
                database=database,
                clock=clock,
            )
            if app_id
            else None
        )
        self._http: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @classmethod
    def from_settings(cls, settings: Settings, *, database: Database, clock: Clock) -> TeamsAdapter:
        """The adapter the settings describe; ConfigError when they are incomplete."""
        if settings.microsoft_app_id and not settings.microsoft_app_password:
            raise ConfigError(
                [
                    Problem(
                        "is not set, but MICROSOFT_APP_ID is",
                        key="MICROSOFT_APP_PASSWORD",
                        hint="the client secret of the bot's Azure app registration",
                    )
                ]
            )
        if not settings.microsoft_app_id:
            log.warning(
                "Teams: no MICROSOFT_APP_ID, so requests to /api/messages are NOT authenticated;"
                " this is only for the Bot Framework Emulator on your own machine"
            )
        return cls(
            database=database,
            clock=clock,
            app_id=settings.microsoft_app_id,
            password=settings.microsoft_app_password,
            tenant_id=settings.microsoft_app_tenant_id,
            openid_url=settings.teams_openid_url,
            login_url=settings.teams_token_url,
            graph_url=settings.teams_graph_url,
        )

    # -- plumbing ---------------------------------------------------------------------

    def _connector(self) -> BotConnector:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        return BotConnector(http=self._http, token=self._token, clock=self.clock)

    async def close(self) -> None:
        """Finish answers in flight and close the HTTP session."""
        await self.settle()
        await self.authenticator.keys.close()
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait until every answer the bot is sending in the background has gone."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def _where(self, channel: str) -> store.Conversation:
        conversation = await self.database.read(store.conversation, id=channel)
        if conversation is not None:
            return conversation
        # A channel never addressed, in an organisation where the bot is installed.
        installed = await self.database.read(store.only_installation)
        if installed is not None:
            kind = (
                "channel" if channel.endswith(("@thread.tacv2", "@thread.skype")) else "groupChat"
            )
            return replace(installed, id=channel, kind=kind)
        raise DeliveryError(
            f"allhands is not installed where it could reach the Teams channel {channel}:"
            " add the app to that channel's team, then type `@allhands channel` there",
            retry_after=300,
        )

    @staticmethod
    def _thread(conversation: store.Conversation, message_id: str) -> str:
        """The conversation id of a channel post's reply chain."""
        if conversation.kind == "channel":
            return f"{conversation.id};messageid={message_id}"
        return conversation.id

    async def _post(self, channel: str, activity: dict[str, Any]) -> MessageRef:
        conversation = await self._where(channel)
        connector = self._connector()
        if conversation.kind == "channel":
            # A new post (thread) in a channel is a new conversation in the Bot Framework.
            result = await connector.create_conversation(
                conversation.service_url,
                {
                    "isGroup": True,
                    "bot": {"id": conversation.bot_id},
                    "tenantId": conversation.tenant_id,
                    "channelData": {
                        "channel": {"id": channel},
                        "tenant": {"id": conversation.tenant_id},
                    },
                    "activity": activity,
                },
            )
            message_id = (
                result.get("activityId") or str(result.get("id", "")).partition(";messageid=")[2]
            )
        else:
            result = await connector.send(conversation.service_url, channel, activity)
            message_id = result.get("id", "")
        if not isinstance(message_id, str) or not message_id:
            raise DeliveryError(
                f"Teams accepted the post in {channel} but did not say its id", permanent=True
            )
        return MessageRef(self.platform, channel, message_id)

    # -- ChatAdapter ------------------------------------------------------------------

    async def post_card(self, channel: str, card: Card, *, key: str | None = None) -> MessageRef:
        """Post a mention card as an Adaptive Card, as a new post in the channel; `key`
        goes in the card, for `find_card`."""
        return await self._post(
            channel, card_activity(card, marker=card_marker(key) if key else "")
        )

    async def find_card(self, channel: str, key: str, *, since: datetime) -> MessageRef | None:
        """The card posted under `key` in a channel since `since`, read back with Graph;
        None when there is none, or Graph may not be asked (see `teams_graph`)."""
        if self._finder is None:
            return None
        conversation = await self._where(channel)
        return await self._finder.find(conversation, self._connector(), key, since=since)

    async def post_message(self, channel: str, text: str) -> MessageRef:
        """Post a message as a new post in the channel."""
        return await self._post(channel, text_activity(text))

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        """Replace a posted card in place with its new state."""
        conversation = await self._where(ref.channel)
        await self._connector().update(
            conversation.service_url,
            self._thread(conversation, ref.id),
            ref.id,
            card_activity(card),
        )

    async def post_in_thread(
        self, ref: MessageRef, text: str, *, ping: Ping | None = None
    ) -> MessageRef:
        """Post a message in a card's reply chain.

        `ping` (a team's `sla.ping`) is not rendered on Teams yet: the message is posted
        without notifying the whole channel.
        """
        if ping is not None:
            log.debug("Teams: posting without the %s ping, which is not supported yet", ping)
        conversation = await self._where(ref.channel)
        activity = {**text_activity(text), "replyToId": ref.id}
        result = await self._connector().send(
            conversation.service_url, self._thread(conversation, ref.id), activity
        )
        return MessageRef(self.platform, ref.channel, str(result.get("id", "")))

    async def card_link(self, ref: MessageRef) -> str | None:
        """A deep link to a card posted in a channel, from the stored conversation; None in
        a chat (no such link) or a channel never stored."""
        conversation = await self.database.read(store.conversation, id=ref.channel)
        if conversation is None or conversation.kind != "channel" or not ref.id:
            return None
        return teams_message_link(ref.channel, ref.id, tenant_id=conversation.tenant_id)

    async def tell(self, person: str, text: str, *, channel: str | None = None) -> None:
        """Tell one person privately, in their 1:1 chat with the bot (opened if need be)."""
        member, chat = await self._personal_chat(person)
        await self._connector().send(member.service_url, chat, text_activity(text))

    async def send_report(
        self,
        person: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Send a person a report in their 1:1 chat, the image inline where there is one."""
        member, chat = await self._personal_chat(person)
        activity = text_activity(text)
        if image is not None:
            activity["attachments"] = [image_attachment(image, image_name or "chart.png")]
        elif image_text:
            activity = text_activity(f"{text}\n\n{image_text}")
        await self._connector().send(member.service_url, chat, activity)

    async def post_report(
        self,
        channel: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Post a report (a digest) in a channel, the image inline where there is one."""
        activity = text_activity(text)
        if image is not None:
            activity["attachments"] = [image_attachment(image, image_name or "chart.png")]
        elif image_text:
            activity = text_activity(f"{text}\n\n{image_text}")
        await self._post(channel, activity)

    async def ask_approval(self, request: ApprovalRequest) -> MessageRef:
        """Ask a lead, in their 1:1 chat, to approve, edit or reject a held answer (a card);
        the card's message."""
        member, chat = await self._personal_chat(request.person)
        names = await self.database.read(people.names, ids={request.responder})
        result = await self._connector().send(
            member.service_url, chat, approval_activity(request, names=names)
        )
        message_id = result.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise DeliveryError(
                "Teams accepted the approval card but did not say its id", permanent=True
            )
        return MessageRef(self.platform, chat, message_id)

    async def show_decision(
        self, ref: MessageRef, request: ApprovalRequest, decision: ApprovalDecision
    ) -> None:
        """Redraw a lead's approval card in their 1:1 chat with the decision, no buttons."""
        member, _ = await self._personal_chat(request.person)
        names = await self.database.read(people.names, ids={request.responder, decision.by})
        await self._connector().update(
            member.service_url,
            ref.channel,
            ref.id,
            approval_activity(request, names=names, outcome=decision),
        )

    async def _personal_chat(self, person: str) -> tuple[store.Member, str]:
        """The person's 1:1 chat with the bot, opened the first time."""
        member = await self.database.read(store.member, person=person)
        if member is None:
            raise DeliveryError(
                f"allhands cannot reach {person} on Teams: they must be in a team where the"
                " app is installed and have written to it or been @mentioned once",
                permanent=True,
            )
        chat = member.chat_id
        if not chat:
            result = await self._connector().create_conversation(
                member.service_url,
                {
                    "isGroup": False,
                    "bot": {"id": member.bot_id},
                    "members": [{"id": member.user_id}],
                    "tenantId": member.tenant_id,
                    "channelData": {"tenant": {"id": member.tenant_id}},
                },
            )
            chat = result.get("id")
            if not isinstance(chat, str) or not chat:
                raise DeliveryError("Teams opened no chat with the person", permanent=True)
            await self.database.write(store.set_chat, person=person, chat_id=chat)
        return member, chat

    # -- /api/messages ----------------------------------------------------------------

    def endpoint(self, run: CommandRunner) -> Callable[[web.Request], Awaitable[web.Response]]:
        """The aiohttp handler for POST /api/messages, running commands with `run`."""

        async def api_messages(request: web.Request) -> web.Response:
            return await self.handle_request(request, run)

        return api_messages

    async def handle_request(self, request: web.Request, run: CommandRunner) -> web.Response:
        """Authenticate one activity from the Bot Connector and act on it."""
        header = request.headers.get("Authorization")
        if not header and not self.authenticator.disabled:
            return _refuse(401, "missing Authorization header")
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            return _refuse(400, "the body is not JSON allhands reads (or nested too deeply)")
        if not isinstance(body, dict):
            return _refuse(400, "the body is not an activity")
        try:
            await self.authenticator.check(body, header)
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
        if self.tenant_id and activity.tenant_id and activity.tenant_id != self.tenant_id:
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
        first = await self.database.write(
            webhooks.remember,
            source="teams-activity",
            signature=f"{activity.conversation.id}|{activity.id}",
            now=self.clock.now(),
            keep=_SEEN_FOR,
        )
        return not first

    async def _remember(self, activity: Activity) -> None:
        """Store who wrote and where, so the bot can name them and post there later."""
        now = self.clock.now()
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
                    db, id=member.person, name=sender.name, platform=self.platform, now=now
                )

        await self.database.write(record)

    async def _on_update(self, activity: Activity) -> None:
        bot_id = activity.recipient.id
        removed = any(m.id == bot_id for m in activity.members_removed) or (
            activity.type == "installationUpdate" and activity.action == "remove"
        )
        if removed:
            log.info("Teams: allhands was removed from %s", activity.base_conversation_id)
            await self.database.write(store.forget_conversation, id=activity.base_conversation_id)
            return
        if activity.event_type == "channelDeleted" and activity.created_channel_id:
            await self.database.write(store.forget_conversation, id=activity.created_channel_id)
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
            self._spawn(self._answer(activity, welcome, in_thread=False))
            if activity.team_id:
                self._spawn(self._learn_roster(activity, activity.team_id))

    async def _learn_roster(self, activity: Activity, team_id: str) -> None:
        """Remember every member of a team the bot joins, with the names they go by (name,
        e-mail, sign-in name), so that playbooks can name leads as `dana@lumo.example` and
        the bot can reach them before they ever write to it."""
        connector = self._connector()
        continuation: str | None = None
        learned = 0
        for _ in range(1000):  # 100 a page: a team of 100,000 is beyond any Teams limit
            try:
                page = await connector.paged_members(activity.service_url, team_id, continuation)
            except DeliveryError as exc:
                log.warning("Teams: could not read the members of team %s: %s", team_id, exc)
                return
            members = [m for m in page.get("members") or [] if isinstance(m, dict)]
            await self.database.write(
                _remember_roster,
                members=members,
                tenant_id=activity.tenant_id,
                service_url=activity.service_url,
                bot_id=activity.recipient.id,
                now=self.clock.now(),
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
            actor=activity.actor, platform=self.platform, channel=activity.base_conversation_id
        )
        if activity.value is not None and not activity.text.strip():
            await self._on_submit(activity, ctx, run)
            return
        line = command_text(activity, people=await self._mentioned_people(activity))
        words = line.lower().removeprefix("/allhands").split()
        if words == ["channel"]:
            self._spawn(self._answer(activity, self._channel_answer(activity)))
            return
        answer = await run(line, ctx)
        text = answer.text
        if not words or words[0] == "help":
            text = f"{text}\n{TEAMS_HELP}"
        self._spawn(self._answer(activity, text_activity(text)))

    async def _on_submit(self, activity: Activity, ctx: Context, run: CommandRunner) -> None:
        """A click on a card's button: run the command it means, answer under the card."""
        try:
            submit = read_submit(activity.value)
        except CommandError as exc:
            answer = Answer(str(exc), ok=False)
        else:
            stale = None
            if submit.incident:  # a card drawn before the incident was resolved or merged
                stale = await self.database.read(stale_card_note, number=submit.number)
            # An approval card's button decides only the held answer it names.
            answer = (
                Answer(stale, ok=False)
                if stale
                else await run(submit.line, replace(ctx, held=submit.held))
            )
        text = answer.text
        if activity.kind != "personal":  # others in the channel see who clicked
            text = f"{activity.from_.name or 'someone'}: {text}"
        self._spawn(self._answer(activity, text_activity(text)))

    async def _mentioned_people(self, activity: Activity) -> dict[str, str]:
        """Person ids of the users @mentioned in a command (other than the bot)."""
        found: dict[str, str] = {}
        for _, user_id, name in mentions(activity):
            if user_id == activity.recipient.id or user_id in found:
                continue
            member = await self.database.read(store.member_by_user_id, user_id=user_id)
            if member is not None:
                found[user_id] = member.person
                continue
            try:
                info = await self._connector().member(
                    activity.service_url, activity.conversation.id, user_id
                )
            except DeliveryError as exc:
                log.warning("Teams: could not look up the mentioned user %s: %s", user_id, exc)
                continue
            person = info.get("aadObjectId") or user_id
            if not isinstance(person, str):
                continue
            found[user_id] = person
            now = self.clock.now()
            added = store.Member(
                person, user_id, activity.tenant_id, activity.service_url, activity.recipient.id
            )
            await self.database.write(store.remember_member, member=added, now=now)
            await self.database.write(
                people.remember,
                id=person,
                name=str(info.get("name") or name),
                platform=self.platform,
                now=now,
            )
        return found

    async def _answer(
        self, activity: Activity, reply: dict[str, Any], *, in_thread: bool = True
    ) -> None:
        """Post the bot's answer where the activity came from (its thread, or the chat)."""
        body = {**reply, "replyToId": activity.id} if in_thread and activity.id else reply
        try:
            await self._connector().send(activity.service_url, activity.conversation.id, body)
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
