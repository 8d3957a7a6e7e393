"""Exactly once as people see it: an effect that may already have gone out is looked for
on the platform before it is sent again.

An effect is tried again when its last try failed or the process stopped while sending it;
either way the platform may have it already (a post answered too late, a crash between
the post and our record of it). Cards carry their effect's key (Slack message metadata;
on Teams, the id of the card's first element, read back with Microsoft Graph) and public
replies are found by theirs (Bluesky's record key, Mastodon's reply in the
thread), so a second try returns the first post instead of making another.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot.chat import ChatAdapter, MessageRef
from bot.chat.cards import Card
from bot.domain.mentions import Mention
from bot.store import outbox
from bot.store.db import Database
from bot.store.sql import Conn
from connectors.base import Connector, ExternalRef

log = logging.getLogger(__name__)


def effect_key(effect: outbox.Effect) -> str:
    """The key an effect is sent under, and found by: its own random key, kept across tries
    (effects queued before keys were stored fall back to their row id)."""
    return effect.key or f"allhands-{effect.id}"


def _created_at(db: Conn, *, id: int) -> datetime:
    row = db.execute("SELECT created_at FROM outbox WHERE id = ?", [id]).fetchone()
    return datetime.fromisoformat(row[0])


async def post_card(
    adapter: ChatAdapter, channel: str, card: Card, *, effect: outbox.Effect, database: Database
) -> MessageRef:
    """Post a card once: on a second try, the first one is looked for in the channel."""
    key = effect_key(effect)
    if effect.attempts > 0:
        since = await database.read(_created_at, id=effect.id)
        found = await adapter.find_card(channel, key, since=since)
        if found is not None:
            log.info("card of #%s was posted by an earlier try; not posted again", effect.mention)
            return found
    return await adapter.post_card(channel, card, key=key)


async def public_reply(
    connector: Connector, mention: Mention, text: str, *, effect: outbox.Effect
) -> ExternalRef:
    """Post a public reply once: on a second try, the first one is looked for first."""
    key = effect_key(effect)
    if effect.attempts > 0 and connector.finds_replies:
        found = await connector.sent_before(mention, text, key=key)
        if found is not None:
            log.info("reply for #%s was posted by an earlier try", mention.number)
            return found
    return await connector.reply(mention, text, key=key)
