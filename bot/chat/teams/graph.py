"""Finding a Teams card an earlier try posted, by the effect's key in the card, through
Microsoft Graph.

The Bot Connector cannot read a channel's posts back, so each card carries its effect's
key as the `id` of its first element (`card_marker`), and before an effect whose outcome
is unknown is posted again, the channel's posts since the effect was queued are listed
with Graph (GET /teams/{group-id}/channels/{channel-id}/messages, newest first, paged by
@odata.nextLink): an app-only token (client credentials, scope graph's `.default`) and the
resource-specific permission ChannelMessage.Read.Group, which the app's manifest asks for
when it is installed in a team. Where the token or the permission is refused, it is said
once in the log and in `allhands stats`, and the card is posted again as before (it may
show twice). Group chats are not looked in: their cards are posted again, as before.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.chat import MessageRef
from bot.chat.teams.connector import RETRYABLE, AppToken, BotConnector, retry_after, token_url
from bot.clock import Clock
from bot.errors import DeliveryError
from bot.settings import TEAMS_GRAPH_URL
from bot.store import chat_warnings
from bot.store import teams as store
from bot.store.db import Database

log = logging.getLogger(__name__)

GRAPH_URL = TEAMS_GRAPH_URL
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
PERMISSION = "ChannelMessage.Read.Group"
ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
PAGES = 20  # of 50 posts: a card is looked for among the 1,000 newest at most
TEAMS = "teams"
_TOPIC = "graph"
_MARK = "allhands-effect:"


def card_marker(key: str) -> str:
    """The `id` a card's first element carries: the effect's key, found again by Graph."""
    return f"{_MARK}{key}"


def carries(message: dict[str, Any], key: str) -> bool:
    """Whether a Graph chatMessage is a card posted under `key` (the attachment's `content`
    is the card's JSON as a string)."""
    for attachment in message.get("attachments") or []:
        if not isinstance(attachment, dict) or attachment.get("contentType") != ADAPTIVE_CARD:
            continue
        content = attachment.get("content")
        if isinstance(content, str):
            try:
                content = json.loads(content)
            except (ValueError, RecursionError):
                continue
        body = content.get("body") if isinstance(content, dict) else None
        for element in body if isinstance(body, list) else []:
            if isinstance(element, dict) and element.get("id") == card_marker(key):
                return True
    return False


def _created(message: dict[str, Any]) -> datetime | None:
    try:
        return datetime.fromisoformat(str(message.get("createdDateTime")).replace("Z", "+00:00"))
    except ValueError:
        return None


class _NotInTeam(Exception):
    """Graph does not know the channel in that team."""


class GraphCardFinder:
    """Lists a Teams channel's posts with Graph for the card posted under an effect's key."""

    def __init__(
        self,
        *,
        app_id: str,
        password: str,
        login_url: str,
        graph_url: str,
        database: Database,
        clock: Clock,
    ):
        self.app_id = app_id
        self.password = password
        self.login_url = login_url  # "" : Microsoft's login for the channel's tenant
        self.graph_url = (graph_url or GRAPH_URL).rstrip("/")
        self.database = database
        self.clock = clock
        self.refused = False
        self._tokens: dict[str, AppToken] = {}
        self._groups: dict[str, str] = {}  # a team's Bot Framework id -> its Graph id

    def _token(self, tenant: str) -> AppToken:
        url = self.login_url or token_url(tenant)
        if url not in self._tokens:
            self._tokens[url] = AppToken(
                app_id=self.app_id,
                password=self.password,
                url=url,
                clock=self.clock,
                scope=GRAPH_SCOPE,
            )
        return self._tokens[url]

    async def find(
        self,
        conversation: store.Conversation,
        connector: BotConnector,
        key: str,
        *,
        since: datetime,
    ) -> MessageRef | None:
        """The card with `key` posted in the channel since `since`, or None."""
        if conversation.kind != "channel":
            return None
        # A channel the bot was never addressed in: it is in one of the teams it knows.
        if conversation.team_id:
            teams = [conversation.team_id]
        else:
            teams = await self.database.read(store.team_ids)
        for team in teams:
            group = await self._group(connector, conversation, team)
            if group is None:
                continue
            token = self._token(conversation.tenant_id)
            try:
                header = await token.header(connector.http)
            except DeliveryError as exc:
                if token.refused in (400, 401, 403):
                    await self._withheld(str(exc))
                    return None
                raise
            try:
                return await self._look(connector.http, group, conversation.id, header, token,
                                        key=key, since=since)  # fmt: skip
            except _NotInTeam:
                continue
        return None

    async def _look(
        self,
        http: aiohttp.ClientSession,
        group: str,
        channel: str,
        header: str,
        token: AppToken,
        *,
        key: str,
        since: datetime,
    ) -> MessageRef | None:
        oldest = since - timedelta(minutes=1)
        path = f"/teams/{quote(group, safe='')}/channels/{quote(channel, safe='')}/messages"
        url: str | None = f"{self.graph_url}{path}?$top=50"
        for _ in range(PAGES):
            if url is None:
                break
            page = await self._get(http, URL(url, encoded=True), header, token)
            if page is None:
                return None
            for message in page.get("value") or []:
                if not isinstance(message, dict):
                    continue
                created = _created(message)
                if created is not None and created < oldest:
                    return None  # newest first: the rest is older than the effect
                if carries(message, key):
                    return MessageRef(TEAMS, channel, str(message.get("id")))
            url = self._next(page)
        return None

    def _next(self, page: dict[str, Any]) -> str | None:
        link = page.get("@odata.nextLink")
        # The token goes only where Graph is: a next link elsewhere is not followed.
        if isinstance(link, str) and link.startswith(f"{self.graph_url}/"):
            return link
        return None

    async def _group(
        self, connector: BotConnector, conversation: store.Conversation, team: str
    ) -> str | None:
        if team not in self._groups:
            try:
                details = await connector.team_details(conversation.service_url, team)
            except DeliveryError as exc:
                if not exc.permanent:
                    raise
                log.warning("Teams: could not read the details of team %s: %s", team, exc)
                return None
            group = details.get("aadGroupId")
            if not isinstance(group, str) or not group:
                log.warning("Teams: team %s has no aadGroupId; its cards are not looked for", team)
                return None
            self._groups[team] = group
        return self._groups[team]

    async def _get(
        self, http: aiohttp.ClientSession, url: URL, header: str, token: AppToken
    ) -> dict[str, Any] | None:
        """One page of messages; None where Graph refuses to say (the card is posted)."""
        try:
            async with http.get(url, headers={"Authorization": header}) as response:
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
                status = response.status
                wait = retry_after(response.headers.get("Retry-After"), now=self.clock.now())
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                f"Graph is unreachable: {type(exc).__name__}: {exc}", transient=True
            ) from exc
        answer: dict[str, Any] = body if isinstance(body, dict) else {}
        if status == 200:
            if self.refused:
                self.refused = False
                await self.database.write(chat_warnings.clear, platform=TEAMS, topic=_TOPIC)
            return answer
        found = answer.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        text = f"Graph answered {status} {error.get('code') or ''}".rstrip()
        if error.get("message"):
            text += f": {str(error['message'])[:300]}"
        if status in (401, 403):  # a token Graph does not take, or no consent in the team
            token.forget()
            await self._withheld(text)
            return None
        if status == 404:
            raise _NotInTeam(text)
        if status in RETRYABLE:  # busy or down: the card waits, as it would for Teams
            raise DeliveryError(text, retry_after=wait, transient=True)
        log.warning("Teams: cannot look for an earlier card: %s", text)
        return None

    async def _withheld(self, error: str) -> None:
        message = (
            "cannot read channel posts to find cards an interrupted send already posted"
            f" ({error}): give the app the resource-specific permission {PERMISSION}"
            " (docs/teams/manifest.json) and install it again in the team;"
            " until then such a card may show twice"
        )
        if not self.refused:
            log.warning("Teams: %s", message)
        self.refused = True
        await self.database.write(
            chat_warnings.record,
            platform=TEAMS,
            topic=_TOPIC,
            message=message,
            now=self.clock.now(),
        )
