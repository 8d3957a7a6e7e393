"""Microsoft Teams: the ChatAdapter and the /api/messages endpoint (`inbound`).

Each request from the Bot Connector carries a JWT, checked by `auth` against
Microsoft's published keys (fetched over aiohttp, cached, following key rotation) before
anything is read from the body.
Everything else speaks plain HTTP and JSON: activities and Adaptive Cards are built by
`cards`, read by `activity`, and sent by `connector`; a card a crash may have cut off is
looked for in its channel with Microsoft Graph (`graph`).

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
from datetime import datetime
from typing import Any

import aiohttp
from aiohttp import web

from bot.card_links import teams_message_link
from bot.chat import MessageRef, Ping
from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.cards import Card
from bot.chat.teams.approval_cards import approval_activity
from bot.chat.teams.auth import TokenChecker
from bot.chat.teams.cards import card_activity, image_attachment, text_activity
from bot.chat.teams.connector import AppToken, BotConnector, token_url
from bot.chat.teams.graph import GRAPH_URL, GraphCardFinder, card_marker
from bot.chat.teams.inbound import PLATFORM, CommandRunner, TeamsInbound
from bot.clock import Clock
from bot.errors import ConfigError, DeliveryError, Problem
from bot.settings import TEAMS_OPENID_URL, Settings
from bot.store import people
from bot.store import teams as store
from bot.store.db import Database

log = logging.getLogger(__name__)


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
        None when there is none, or Graph may not be asked (see `graph`)."""
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
        inbound = TeamsInbound(self)

        async def api_messages(request: web.Request) -> web.Response:
            return await inbound.handle_request(request, run)

        return api_messages
