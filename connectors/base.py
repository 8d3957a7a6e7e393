"""What every connector is: typed config, `fetch(cursor)`, optional `reply`, length rules.

This is the extension point for new sources. A connector subclasses `Connector`, names
its `kind`, declares a pydantic `Config`, implements `fetch`, and (if the platform lets
us answer) `reply`. It is then listed in `connectors.registry` — built-ins are
registered exactly as a third-party connector would be.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Protocol

import aiohttp
from pydantic import AfterValidator, BaseModel, ConfigDict

from bot.clock import Clock, SystemClock
from bot.domain.mentions import Item, Mention


def _search_terms(value: list[str]) -> list[str]:
    """Configured search terms, trimmed; ValueError for an empty one."""
    if any(not term.strip() for term in value):
        raise ValueError("a search term cannot be empty")
    return [term.strip() for term in value]


SearchTerms = Annotated[list[str], AfterValidator(_search_terms)]
"""A source's `search` setting: terms to follow, none of them empty."""

# The link schemes a post, a profile or a configured address may use.
WEB_SCHEMES = frozenset({"http", "https"})


class ConnectorConfig(BaseModel):
    """Base for connector settings: unknown keys are refused, not ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True, slots=True)
class Batch:
    """What one fetch returned: new items and the cursor that covers them.

    The cursor is opaque text the connector alone understands; the store saves it in
    the same transaction as the items, so it never runs ahead of what was stored.
    """

    items: list[Item] = field(default_factory=list)
    cursor: str | None = None
    # Seconds the platform asked us to wait before reading again (its rate limit is
    # nearly used up); the poller skips the source until then.
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class ExternalRef:
    """Where something we posted lives on the platform."""

    id: str
    url: str = ""


@dataclass(frozen=True, slots=True)
class Limits:
    """How a platform measures a reply: its maximum and the function that counts."""

    max_length: int | None = None
    count: Callable[[str], int] = len
    max_bytes: int | None = None  # a second limit on the UTF-8 size (Bluesky: 3,000)

    def remaining(self, text: str) -> int | None:
        """How much room is left for `text`, or None when the platform sets no limit."""
        return None if self.max_length is None else self.max_length - self.count(text)

    def too_big(self, text: str) -> str | None:
        """Why `text` is over a limit other than its length (its size in bytes), or None."""
        size = len(text.encode("utf-8"))
        if self.max_bytes is not None and size > self.max_bytes:
            return f"{size:,} bytes in UTF-8, over the {self.max_bytes:,} allowed"
        return None


class TokenStore(Protocol):
    """Where a source keeps OAuth tokens the platform hands out (and rotates) at run time."""

    async def load(self, source: str) -> dict[str, Any] | None:
        """The tokens saved for `source`, or None."""
        ...

    async def save(self, source: str, tokens: dict[str, Any]) -> None:
        """Keep `tokens` for `source`, replacing what was there."""
        ...


class MemoryTokens:
    """Tokens kept only while the process runs (tests, and sources without a store)."""

    def __init__(self) -> None:
        self.saved: dict[str, dict[str, Any]] = {}

    async def load(self, source: str) -> dict[str, Any] | None:
        """The tokens saved for `source`, or None."""
        return self.saved.get(source)

    async def save(self, source: str, tokens: dict[str, Any]) -> None:
        """Keep `tokens` for `source`."""
        self.saved[source] = dict(tokens)


class Connector(ABC):
    """A source of mentions. Subclasses set `kind` and `Config` and implement `fetch`."""

    kind: ClassVar[str]
    Config: ClassVar[type[ConnectorConfig]]
    can_reply: ClassVar[bool] = False
    # True when `sent_before` can find a reply an earlier try (even before a restart)
    # posted: a reply whose outcome is unknown is then looked for and not sent twice.
    finds_replies: ClassVar[bool] = False
    # False for sources that push (webhooks): the scheduler never polls them.
    polls: ClassVar[bool] = True
    # The platform as people name it ("Mastodon"), for messages; the source id if unset.
    platform: ClassVar[str] = ""
    limits: Limits = Limits()

    def __init__(
        self,
        *,
        source_id: str,
        config: ConnectorConfig,
        http: aiohttp.ClientSession,
        clock: Clock | None = None,
        tokens: TokenStore | None = None,
    ):
        self.source_id = source_id
        self.config = config
        self.http = http
        self.clock: Clock = clock or SystemClock()
        self.tokens: TokenStore = tokens if tokens is not None else MemoryTokens()

    @abstractmethod
    async def fetch(self, cursor: str | None) -> Batch:
        """Return items newer than `cursor` and the cursor to pass next time.

        Raise `bot.errors.SourceError` (or a subclass) when the source cannot be read;
        never return a cursor past items that are not in the batch.
        """

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Post `text` publicly as an answer to `mention`, in its thread.

        `key` is stable across retries of the same reply so that a platform that supports
        idempotency keys never posts it twice.
        """
        raise NotImplementedError(f"{self.kind} sources cannot be answered from chat")

    async def sent_before(self, mention: Mention, text: str, *, key: str) -> ExternalRef | None:
        """The reply an earlier try with this `key` posted, or None (see `finds_replies`)."""
        return None

    def reply_text(self, mention: Mention, text: str) -> str:
        """The text as it will be posted (a platform may add the author's handle); measured
        against `limits` before a reply is accepted."""
        return text

    def where_to_answer(self, mention: Mention) -> str:
        """For sources that cannot reply: where a person should post the answer by hand."""
        return mention.url or "the original post"

    def platform_name(self) -> str:
        """The platform's name for people to read ("Mastodon"), else the source's id."""
        return self.platform or self.source_id

    def posting_as(self) -> str:
        """Whose name a reply appears under on the platform, for previews."""
        return f"the account configured for source {self.source_id!r}"
