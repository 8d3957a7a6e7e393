"""Chat platforms: one ChatAdapter protocol, one module per platform, pure card builders.

Adapters treat every string they are given as untrusted plain text and escape it for
their platform; they never interpret markup found in it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from bot.chat.cards import Card

Ping = Literal["here", "channel"]
"""Whom a thread message notifies: the channel's members online, or all of them."""


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the bot posted: where it lives, so it can be updated or replied under."""

    platform: str
    channel: str
    id: str


class ChatAdapter(Protocol):
    """What allhands needs of a chat platform. Each method raises DeliveryError on failure."""

    platform: str

    async def post_card(self, channel: str, card: Card, *, key: str | None = None) -> MessageRef:
        """Post a mention card in a channel and return where it is; `key` names the effect
        posting it, for `find_card`."""
        ...

    async def find_card(self, channel: str, key: str, *, since: datetime) -> MessageRef | None:
        """The card posted with `key` in `channel` since `since`, if the platform shows it
        (a try whose answer was lost did post it); None when not found or not knowable."""
        ...

    async def post_message(self, channel: str, text: str) -> MessageRef:
        """Post a plain message in a channel (admin notices, escalations, digests)."""
        ...

    async def update_card(self, ref: MessageRef, card: Card) -> None:
        """Replace a posted card with its new state."""
        ...

    async def post_in_thread(
        self, ref: MessageRef, text: str, *, ping: Ping | None = None
    ) -> MessageRef:
        """Post a message in a card's thread.

        `ping` asks the platform to notify the channel: "here" (its members who are
        online; Slack `<!here>`) or "channel" (all of them; Slack `<!channel>`). Only a
        team's playbook (`sla.ping`) sets it, through the outbox payload's `ping` field;
        the text itself is escaped as always and can never ping anyone.
        """
        ...

    async def tell(self, person: str, text: str, *, channel: str | None = None) -> None:
        """Tell one person something only they see (in `channel` where the platform needs one)."""
        ...

    async def send_report(
        self,
        person: str,
        text: str,
        *,
        image: bytes | None = None,
        image_name: str = "",
        image_text: str = "",
    ) -> None:
        """Send one person a report (a digest) privately, with an image where possible.

        `image` is a PNG named `image_name`; where the platform cannot show an image,
        show `image_text` (the same figures as a small table) instead.
        """
        ...


__all__ = ["Card", "ChatAdapter", "MessageRef", "Ping"]
