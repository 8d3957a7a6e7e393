"""The Slack ChatAdapter: cards and messages through Slack's Web API, paced per channel.

Every failure becomes a DeliveryError the outbox understands (`bot.chat.slack.calls`):
a 429 carries Slack's Retry-After (and holds the channel back for that long), 5xx
answers, timeouts and broken connections are transient (retried with backoff for as long
as Slack is down), and a request Slack will never accept (bad blocks, a deleted message)
is permanent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import MessageRef, Ping
from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.cards import Card
from bot.chat.slack.approval_blocks import approval_message
from bot.chat.slack.blocks import card_message, text_message
from bot.chat.slack.calls import PLATFORM, ChannelPacer, call_slack
from bot.chat.slack.channels import SlackChannels
from bot.chat.slack.files import SlackFiles, UploadRefused
from bot.chat.slack.history import CardFinder, card_metadata
from bot.chat.slack.people import SlackPeople
from bot.chat.slack.text import fit
from bot.clock import Clock
from bot.errors import DeliveryError
from bot.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

# What the Web API methods allhands calls need, and nothing more (docs/slack/manifest.yaml):
# chat.postMessage/update/postEphemeral: chat:write; chat.getPermalink (a card's link in
# private notes): none; users.info: users:read;
# conversations.list and users.conversations: channels:read (public), groups:read
# (private channels the bot is in); the slash command: commands; a digest's chart:
# files:write (files.getUploadURLExternal, files.completeUploadExternal) and im:write
# (conversations.open, for the id of the lead's DM to share it in).
SCOPES = (
    "channels:history",
    "channels:read",
    "chat:write",
    "commands",
    "files:write",
    "groups:history",
    "groups:read",
    "im:write",
    "users:read",
    "users:read.email",
)
# Slack cuts a message's text at 40,000 characters; a file's comment is one.
COMMENT_TEXT = 40_000


class SlackAdapter:
    """The ChatAdapter for Slack. People are recorded by their Slack user id and named in the
    texts allhands composes (bot.store.people)."""

    platform = PLATFORM

    def __init__(
        self, *, client: AsyncWebClient, clock: Clock, database: Database, per_second: float = 1.0
    ):
        self.client = client
        self.clock = clock
        self.pacer = ChannelPacer(clock=clock, per_second=per_second)
        self.channels = SlackChannels(client=client, clock=clock)
        self.people = SlackPeople(client=client, database=database, clock=clock)
        self.files = SlackFiles(client=client, pacer=self.pacer)
        self.history = CardFinder(client=client, database=database, clock=clock)
        self._refusals_logged: set[str] = set()

    async def _send(
        self,
        channel_id: str,
        method: str,
        call: Callable[[], Awaitable[T]],
        *,
        pace: str | None = None,
    ) -> T:
        """A call that writes to `channel_id`, paced under the key `pace` if given, else
        only held back while Slack's last Retry-After for this method runs."""
        key = pace or method
        await self.pacer.wait(key, reserve=pace is not None)
        try:
            return await call_slack(method, call)
        except DeliveryError as exc:
            if exc.retry_after is not None:
                self.pacer.hold(key, exc.retry_after)
            if "channel_not_found" in str(exc) or "is_archived" in str(exc):
                self.channels.forget(channel_id)
            raise

    async def _post(self, channel_id: str, message: dict[str, Any], **extra: Any) -> MessageRef:
        # chat.postMessage is the method Slack limits per channel (about 1 a second).
        response = await self._send(
            channel_id,
            "chat.postMessage",
            lambda: self.client.chat_postMessage(
                channel=channel_id,
                unfurl_links=False,
                unfurl_media=False,
                link_names=False,
                **message,
                **extra,
            ),
            pace=channel_id,
        )
        return MessageRef(PLATFORM, str(response["channel"]), str(response["ts"]))

    async def _card(self, card: Card) -> dict[str, Any]:
        return card_message(card)

    async def post_card(self, channel: str, card: Card, *, key: str | None = None) -> MessageRef:
        """Post a mention card (Block Kit) in a channel given as `#name` or id; `key` goes in
        the message's metadata, for `find_card`."""
        channel_id = await self.channels.resolve(channel)
        extra = {"metadata": card_metadata(key)} if key else {}
        return await self._post(channel_id, await self._card(card), **extra)

    async def find_card(self, channel: str, key: str, *, since: datetime) -> MessageRef | None:
        """The card posted under `key` in the channel since `since` (see `history`)."""
        channel_id = await self.channels.resolve(channel)
        return await self.history.find(channel_id, key, since=since)

    async def post_message(self, channel: str, text: str) -> MessageRef:
        """Post a plain message (escaped) in a channel given as `#name` or id."""
        channel_id = await self.channels.resolve(channel)
        return await self._post(channel_id, text_message(text))

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        """Replace a posted card with its new state, in place (chat.update).

        Not paced per channel: Slack limits chat.update per workspace (Tier 3), so a card
        update never queues behind a channel's backlog of new cards; its 429s are obeyed.
        """
        message = await self._card(card)
        await self._send(
            ref.channel,
            "chat.update",
            lambda: self.client.chat_update(
                channel=ref.channel, ts=ref.id, link_names=False, **message
            ),
        )

    async def post_in_thread(
        self, ref: MessageRef, text: str, *, ping: Ping | None = None
    ) -> MessageRef:
        """Post a message (escaped) in a card's thread; `ping` (a team's `sla.ping`) puts
        `<!here>` or `<!channel>` in front of it."""
        message = text_message(text, ping=ping)
        return await self._post(ref.channel, message, thread_ts=ref.id)

    async def card_link(self, ref: MessageRef) -> str | None:
        """A link to a posted card (chat.getPermalink); None when Slack gives none."""
        try:
            response = await call_slack(
                "chat.getPermalink",
                lambda: self.client.chat_getPermalink(channel=ref.channel, message_ts=ref.id),
            )
        except DeliveryError as exc:
            log.info("Slack: no link to the card %s in %s: %s", ref.id, ref.channel, exc)
            return None
        link = response.get("permalink")
        return link if isinstance(link, str) and link.startswith("https://") else None

    async def tell(self, person: str, text: str, *, channel: str | None = None) -> None:
        """Tell one person something: ephemeral in `channel` (not paced: Slack does not count
        it against the channel), else in their DM with the app."""
        user = await self.people.user_id(person)
        message = text_message(text)
        if channel is not None:
            channel_id = await self.channels.resolve(channel)
            await self._send(
                channel_id,
                "chat.postEphemeral",
                lambda: self.client.chat_postEphemeral(
                    channel=channel_id, user=user, link_names=False, **message
                ),
            )
            return
        await self._post(user, message)

    async def ask_approval(self, request: ApprovalRequest) -> MessageRef:
        """Ask a lead, in their DM with the app, to approve, edit or reject a held answer;
        the request message (the DM and its ts)."""
        user = await self.people.user_id(request.person)
        await self.people.ensure(user)  # messages about the decision name the lead
        responder = await self.people.name(request.responder)
        return await self._post(user, approval_message(request, responder=responder))

    async def show_decision(
        self, ref: MessageRef, request: ApprovalRequest, decision: ApprovalDecision
    ) -> None:
        """Draw a lead's request again with the decision instead of its buttons (chat.update;
        not paced, as `update_card`)."""
        responder = await self.people.name(request.responder)
        named = replace(decision, by=await self.people.name(decision.by))
        message = approval_message(request, responder=responder, decided=named)
        await self._send(
            ref.channel,
            "chat.update",
            lambda: self.client.chat_update(
                channel=ref.channel, ts=ref.id, link_names=False, **message
            ),
        )

    async def send_report(
        self,
        person: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Send a digest in the person's DM with the app (see `_report`)."""
        user = await self.people.user_id(person)
        await self._report(user, text, image=image, image_name=image_name, image_text=image_text)

    async def post_report(
        self,
        channel: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Post a digest in a channel as a lead gets it privately (see `_report`)."""
        channel_id = await self.channels.resolve(channel)
        await self._report(
            channel_id,
            text,
            image=image,
            image_name=image_name,
            image_text=image_text,
            in_channel=True,
        )

    async def _report(
        self,
        where: str,
        text: str,
        *,
        image: bytes | None,
        image_name: str,
        image_text: str,
        in_channel: bool = False,
    ) -> None:
        """A digest to `where` (a person's id, or a channel id with `in_channel`): its chart
        as an image with the text as the image's comment; as text with the chart's table
        where Slack refuses the upload for good (a missing scope, uploads switched off)."""
        if image:
            name = image_name or "report.png"
            digest = hashlib.sha256(image + b"\0" + text.encode()).hexdigest()
            try:
                await self.files.share_in_dm(
                    where,
                    key=f"{where}/{name}/{digest}",
                    data=image,
                    filename=name,
                    title=name,
                    comment=fit(text, COMMENT_TEXT) or " ",
                    alt_text=image_text,
                    channel=where if in_channel else None,
                )
                return
            except UploadRefused as exc:
                self._upload_refused(exc)
        table = f"{text}\n```\n{image_text}\n```" if image_text else text
        await self._post(where, text_message(table))

    def _upload_refused(self, exc: UploadRefused) -> None:
        """Say once per reason why charts come as tables (it lasts until someone acts)."""
        if exc.reason in self._refusals_logged:
            log.debug("Slack: %s; the digest goes as text", exc)
            return
        self._refusals_logged.add(exc.reason)
        log.warning(
            "Slack refused a digest's chart (%s): digests come as text with the chart's"
            " table until it is fixed (the app's scopes files:write and im:write, or the"
            " workspace's file upload settings)",
            exc,
        )
