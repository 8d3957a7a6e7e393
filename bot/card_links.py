"""Links to a mention's card in private notes, fetched when the note is sent.

A note about a mention (a reminder, an escalation) is written with a sentence saying
where its card is ("The card is in #care on Slack.") and that sentence in its payload
(`card_where`). When the note goes out, the sentence becomes a link to the card where the
platform gives one (Slack: a message permalink; Teams: a deep link to the channel post),
asked once per card and kept. The sentence stays when the card is not posted yet, the
platform has no link (the console), or asking fails.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlencode

from bot.chat import ChatAdapter, MessageRef
from bot.errors import DeliveryError

log = logging.getLogger(__name__)

CARD_WHERE = "card_where"  # the payload key of the sentence a link replaces
_KEPT = 10_000  # links remembered; the oldest are forgotten past this


def teams_message_link(channel: str, message_id: str, *, tenant_id: str, group_id: str = "") -> str:
    """Teams' deep link to a channel post (learn.microsoft.com, "Deep link to navigate to
    channel conversation"); `groupId` only where the team's group id is known."""
    query = {"tenantId": tenant_id, "groupId": group_id, "parentMessageId": message_id}
    params = urlencode({key: value for key, value in query.items() if value})
    path = f"{quote(channel, safe=':@')}/{quote(message_id, safe='')}"
    return f"https://teams.microsoft.com/l/message/{path}?{params}"


class CardLinks:
    """Puts a link to the card in a private note's text; one lookup per card."""

    def __init__(
        self,
        *,
        ref_of: Callable[[int], Awaitable[MessageRef | None]],
        adapter_of: Callable[[str], ChatAdapter],
    ):
        self.ref_of = ref_of
        self.adapter_of = adapter_of
        self._links: dict[MessageRef, str] = {}

    async def text(self, payload: dict[str, Any], number: int | None) -> str:
        """The note's text, its `card_where` sentence replaced by a link to the card if any."""
        text = str(payload["text"])
        where = payload.get(CARD_WHERE)
        if number is None or not isinstance(where, str) or not where or where not in text:
            return text
        link = await self.link(number)
        return text.replace(where, f"The card: {link}") if link else text

    async def link(self, number: int) -> str | None:
        """A link to the card of mention `number`; None when there is none to be had.

        Kept by where the card is, so a card posted again elsewhere (`move`) gets its own.
        """
        ref = await self.ref_of(number)
        if ref is None:
            return None  # not posted yet: asked again next time
        if ref in self._links:
            return self._links[ref]
        try:
            card_link = getattr(self.adapter_of(ref.platform), "card_link", None)
        except DeliveryError:
            return None  # the card's platform is not configured any more
        link = await card_link(ref) if card_link is not None else None
        if link:
            if len(self._links) >= _KEPT:
                self._links.pop(next(iter(self._links)))
            self._links[ref] = link
        return link
