"""The Slack ChatAdapter: cards and messages through Slack's Web API, paced per channel.

Every failure becomes a DeliveryError the outbox understands (`bot.chat.slack_calls`):
a 429 carries Slack's Retry-After (and holds the channel back for that long), 5xx
answers, timeouts and broken connections are transient (retried with backoff for as long
as Slack is down), and a request Slack will never accept (bad blocks, a deleted message)
is permanent.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import MessageRef, Ping
from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.cards import Card
from bot.chat.slack_approval_blocks import approval_message
from bot.chat.slack_blocks import card_message, text_message
from bot.chat.slack_calls import ChannelPacer, call_slack
from bot.chat.slack_files import SlackFiles, UploadRefused
from bot.chat.slack_history import CardFinder, card_metadata
from bot.chat.slack_text import fit
from bot.clock import Clock
from bot.errors import DeliveryError
from bot.store import people
from bot.store.db import Database

log = logging.getLogger(__name__)
T = TypeVar("T")

PLATFORM = "slack"
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

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
# Slack user ids where our own texts name people (claims and events record the id).


class SlackChannels:
    """Channel names and ids: playbooks may write `#name`; Slack's API wants ids.

    Names come from conversations.list and are cached; a name not found triggers one
    fresh listing at most every `recheck`, so a typo cannot hammer Slack.
    """

    def __init__(
        self, *, client: AsyncWebClient, clock: Clock, recheck: timedelta = timedelta(minutes=1)
    ):
        self.client = client
        self.clock = clock
        self.recheck = recheck
        self._ids: dict[str, str] = {}
        self._names: dict[str, str] = {}
        self._listed_at: datetime | None = None
        self._lock = asyncio.Lock()
        self._members: dict[str, tuple[datetime, frozenset[str]]] = {}

    async def resolve(self, channel: str) -> str:
        """The id of a channel written `#name` or as an id."""
        if not channel.startswith("#"):
            return channel
        name = channel[1:]
        if name in self._ids:
            return self._ids[name]
        async with self._lock:
            now = self.clock.now()
            if name not in self._ids and (
                self._listed_at is None or now - self._listed_at >= self.recheck
            ):
                await self._list()
                self._listed_at = now
        if name in self._ids:
            return self._ids[name]
        raise DeliveryError(
            f"Slack has no channel #{name} that allhands can see: create it, or invite"
            " @allhands to it if it is private"
        )

    def cached_id(self, channel: str) -> str | None:
        """The id of `channel` if known without asking Slack."""
        return channel if not channel.startswith("#") else self._ids.get(channel[1:])

    def forget(self, channel_id: str) -> None:
        """Drop what is known of a channel (it was renamed, archived or deleted)."""
        name = self._names.pop(channel_id, None)
        if name is not None:
            self._ids.pop(name, None)

    async def _pages(
        self, method: str, fetch: Callable[[str | None], Awaitable[Any]]
    ) -> list[dict[str, Any]]:
        """Every channel of a paginated listing (Slack's cursor pagination)."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await call_slack(method, partial(fetch, cursor))
            found.extend(page.get("channels") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return found

    async def _list(self) -> None:
        def fetch(cursor: str | None) -> Awaitable[Any]:
            return self.client.conversations_list(
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )

        channels = await self._pages("conversations.list", fetch)
        self._ids = {str(c["name"]): str(c["id"]) for c in channels}
        self._names = {v: k for k, v in self._ids.items()}
        log.info("Slack: %d channels listed", len(self._ids))

    async def member_of(
        self, user_id: str, *, max_age: timedelta = timedelta(minutes=5)
    ) -> frozenset[str]:
        """The ids of the channels a person is in (cached for `max_age`)."""
        now = self.clock.now()
        cached = self._members.get(user_id)
        if cached is not None and now - cached[0] < max_age:
            return cached[1]

        def fetch(cursor: str | None) -> Awaitable[Any]:
            return self.client.users_conversations(
                user=user_id,
                types="public_channel,private_channel",
                exclude_archived=True,
                limit=1000,
                cursor=cursor,
            )

        channels = await self._pages("users.conversations", fetch)
        found = frozenset(str(c["id"]) for c in channels)
        self._members[user_id] = (now, found)
        return found


class SlackPeople:
    """Slack users' names from users.info, kept in the people directory (bot.store.people).

    A name is looked up when its person acts and at most once per `max_age`; a failed
    look-up keeps the name already known (or the id) rather than stopping anything.
    """

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        database: Database,
        clock: Clock,
        max_age: timedelta = timedelta(days=1),
    ):
        self.client = client
        self.database = database
        self.clock = clock
        self.max_age = max_age
        self._fetched: dict[str, datetime] = {}

    async def ensure(self, user_id: str) -> str:
        """The name of a Slack user, looked up if not done within `max_age`; never raises."""
        now = self.clock.now()
        fetched = self._fetched.get(user_id)
        if fetched is None or now - fetched >= self.max_age:
            try:
                response = await call_slack(
                    "users.info", lambda: self.client.users_info(user=user_id)
                )
            except DeliveryError as exc:
                log.warning("Slack: could not look up the name of %s: %s", user_id, exc)
            else:
                await self._remember(response.get("user") or {}, fallback=user_id)
        known = await self.database.read(people.names, ids=[user_id])
        return known.get(user_id, user_id)

    async def by_email(self, email: str) -> str | None:
        """The Slack user id of the person with this e-mail address (users.lookupByEmail)."""
        try:
            response = await call_slack(
                "users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email)
            )
        except DeliveryError as exc:
            log.warning("Slack: no user found for %s: %s", email, exc)
            return None
        user = response.get("user") or {}
        if not _USER_ID.fullmatch(str(user.get("id", ""))):
            return None
        await self._remember(user, fallback=str(user["id"]))
        return str(user["id"])

    async def _remember(self, user: dict[str, Any], *, fallback: str) -> None:
        """Keep a user's shown name and the names they go by (handle, names, e-mail)."""
        user_id = str(user.get("id") or fallback)
        profile = user.get("profile") or {}
        names = [
            profile.get("display_name"),
            profile.get("real_name"),
            user.get("real_name"),
            user.get("name"),
        ]
        name = next((str(n) for n in names if n), user_id)[:80]
        aliases = [str(a) for a in (*names, profile.get("email")) if a]
        now = self.clock.now()
        await self.database.write(
            people.remember, id=user_id, name=name, platform=PLATFORM, now=now, aliases=aliases
        )
        self._fetched[user_id] = now

    async def user_id(self, person: str) -> str:
        """The Slack user id of a person as allhands names them: an id already, or (for a
        playbook's `dana@lumo.example`) found by e-mail; DeliveryError if Slack has nobody."""
        if _USER_ID.fullmatch(person):
            return person
        if "@" in person.strip("@") and (found := await self.by_email(person.strip())):
            return found
        raise DeliveryError(
            f"{person!r} is no Slack user allhands knows; in playbooks, name people by their"
            " Slack e-mail address or member id (U0123ABCD)",
            permanent=True,
        )

    async def name(self, person: str | None) -> str:
        """How Slack shows one person: their name where known, else their id. (Texts arrive
        with people named already: nothing is swapped into finished text, where a
        customer's words could hold an id.)"""
        return await self.database.read(people.name_of, id=person)


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
        """The card posted under `key` in the channel since `since` (see slack_history)."""
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
