"""Slack channels by name and id (conversations.list), and the channels a person is in."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.calls import call_slack
from bot.clock import Clock
from bot.errors import DeliveryError

log = logging.getLogger(__name__)


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
