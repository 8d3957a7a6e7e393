"""A stand-in social network that plays a file of sample posts, for the demo and for tests.

Each fetch returns the next few posts of the file; lines appended to a file of one's own
arrive as new posts. Replies are accepted and kept in memory
(nothing leaves the machine), so the whole loop can be tried without any account.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from bot.domain.mentions import Author, Item, Mention
from bot.errors import SourceError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits

BUILTIN = "builtin"
SAMPLES = Path(__file__).parent / "samples" / "demo.jsonl"


class ReplayConfig(ConnectorConfig):
    """Settings of a replay source."""

    file: str = Field(default=BUILTIN, description="a JSON Lines file, or `builtin` for the demo's")
    batch: int = Field(default=6, ge=1, le=10_000, description="posts handed over per fetch")
    start: str = Field(default="2026-01-05T08:00:00+00:00", description="time of the first post")


def _read_lines(file: str) -> list[dict[str, Any]]:
    text = SAMPLES.read_text("utf-8") if file == BUILTIN else Path(file).read_text("utf-8")
    posts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            post = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{file}:{number}: not JSON: {exc.msg}") from None
        if not isinstance(post, dict) or "id" not in post or "text" not in post:
            raise ValueError(f"{file}:{number}: each line needs at least an id and a text")
        posts.append(post)
    return posts


class ReplayConnector(Connector):
    """Plays sample posts a few at a time; the cursor is how many have been played."""

    kind: ClassVar[str] = "replay"
    platform: ClassVar[str] = "the demo network"
    Config: ClassVar[type[ConnectorConfig]] = ReplayConfig
    can_reply: ClassVar[bool] = True
    limits = Limits(max_length=500)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._posts: list[dict[str, Any]] | None = None
        self.sent: list[tuple[str, str]] = []  # (in reply to, text), for people and tests

    async def _load(self) -> list[dict[str, Any]]:
        # The bundled file never changes; a file of one's own is read afresh each time, so
        # that lines appended to it arrive like new posts.
        assert isinstance(self.config, ReplayConfig)
        if self._posts is not None:
            return self._posts
        try:
            posts = await asyncio.to_thread(_read_lines, self.config.file)
        except (OSError, ValueError) as exc:
            raise SourceError(self.source_id, f"cannot read replay file: {exc}") from None
        if self.config.file == BUILTIN:
            self._posts = posts
        return posts

    async def fetch(self, cursor: str | None) -> Batch:
        """The next `batch` posts after `cursor`."""
        assert isinstance(self.config, ReplayConfig)
        posts = await self._load()
        start = int(cursor or 0)
        chunk = posts[start : start + self.config.batch]
        first = datetime.fromisoformat(self.config.start).astimezone(UTC)
        items = [self._item(post, first) for post in chunk]
        return Batch(items=items, cursor=str(start + len(chunk)))

    def _item(self, post: dict[str, Any], first: datetime) -> Item:
        author = post.get("author", {})
        handle = str(author.get("handle", "someone"))
        return Item(
            external_id=str(post["id"]),
            text=str(post["text"]),
            author=Author(
                handle=handle,
                name=str(author.get("name", "")),
                audience=author.get("followers"),
                url=f"https://social.example/@{handle}",
            ),
            url=f"https://social.example/@{handle}/{post['id']}",
            created_at=first + timedelta(minutes=float(post.get("minute", 0))),
            language=post.get("lang"),
            parent_id=post.get("in_reply_to"),
            is_html=bool(post.get("html", False)),
        )

    def posting_as(self) -> str:
        """The demo's stand-in account."""
        return f"the demo account of {self.source_id!r} (replay: replies stay on this machine)"

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Keep the reply in memory, as if posted under the customer's post."""
        self.sent.append((mention.external_id, text))
        reply_id = f"reply-{key}"
        return ExternalRef(id=reply_id, url=f"{mention.url}#{reply_id}")
