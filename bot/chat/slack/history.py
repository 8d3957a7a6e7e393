"""Finding a card an earlier try posted, by the effect's key in the message's metadata.

Each card goes out with Slack message metadata (`event_type` allhands_card, the effect's
key in `event_payload`). Before an effect whose outcome is unknown is posted again, the
channel's history since the effect was queued is read with `include_all_metadata`
(conversations.history: scopes channels:history and groups:history). A workspace that
withholds those scopes is said so once in the log and in `allhands stats`, and the card
is then posted again as before (it may show twice).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import MessageRef
from bot.chat.slack.calls import call_slack
from bot.clock import Clock
from bot.errors import DeliveryError
from bot.store import chat_warnings
from bot.store.db import Database

log = logging.getLogger(__name__)

CARD_EVENT = "allhands_card"
HISTORY_SCOPES = ("channels:history", "groups:history")
PAGES = 10  # of 200 messages: a card is looked for among the 2,000 newest at most
SLACK = "slack"
_TOPIC = "history"


def card_metadata(key: str) -> dict[str, Any]:
    """The message metadata a card carries (chat.postMessage's `metadata`)."""
    return {"event_type": CARD_EVENT, "event_payload": {"effect": key}}


class CardFinder:
    """Reads a channel's history for the card posted under an effect's key."""

    def __init__(self, *, client: AsyncWebClient, database: Database, clock: Clock):
        self.client = client
        self.database = database
        self.clock = clock
        self.refused = False

    async def find(self, channel_id: str, key: str, *, since: datetime) -> MessageRef | None:
        """The card with `key` posted in `channel_id` since `since`, or None."""
        oldest = f"{(since - timedelta(minutes=1)).timestamp():.6f}"
        cursor = ""
        for _ in range(PAGES):
            args: dict[str, Any] = {
                "channel": channel_id,
                "oldest": oldest,
                "limit": 200,
                "include_all_metadata": True,
            }
            if cursor:
                args["cursor"] = cursor
            try:
                page = await call_slack(
                    "conversations.history", partial(self.client.conversations_history, **args)
                )
            except DeliveryError as exc:
                if "missing_scope" in str(exc) or "not_allowed_token_type" in str(exc):
                    await self._withheld(str(exc))
                    return None
                raise
            if self.refused:
                self.refused = False
                await self.database.write(chat_warnings.clear, platform=SLACK, topic=_TOPIC)
            for message in page.get("messages") or []:
                meta = message.get("metadata") or {}
                payload = meta.get("event_payload") or {}
                if meta.get("event_type") == CARD_EVENT and payload.get("effect") == key:
                    return MessageRef(SLACK, channel_id, str(message.get("ts")))
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or ""
            if not page.get("has_more") or not cursor:
                return None
        return None

    async def _withheld(self, error: str) -> None:
        message = (
            "cannot read channel history to find cards an interrupted send already posted"
            f" ({error}): add the scopes {' and '.join(HISTORY_SCOPES)} and reinstall the app;"
            " until then such a card may show twice"
        )
        if not self.refused:
            log.warning("Slack: %s", message)
        self.refused = True
        await self.database.write(
            chat_warnings.record,
            platform=SLACK,
            topic=_TOPIC,
            message=message,
            now=self.clock.now(),
        )
