"""RSS and Atom feeds: conditional GET, a size-capped read, parsing off the event loop.

The cursor remembers the feed's ETag and Last-Modified (sent back as If-None-Match and
If-Modified-Since) and the ids of the newest entries already handed over, so each fetch
returns only entries not seen before, oldest first. Feeds cannot be answered.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import io
import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, ClassVar
from urllib.parse import urlsplit

import aiohttp
import feedparser
from pydantic import Field, field_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import FeedError
from connectors.base import WEB_SCHEMES, Batch, Connector, ConnectorConfig

log = logging.getLogger(__name__)

SEEN_LIMIT = 500  # entry ids remembered beyond those still in the feed
MAX_ID = 512  # longer entry ids are replaced by their hash so the cursor stays small
MAX_HANDLE = 200
CHUNK = 64 * 1024
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)

# The DTD part of a document comes before its first element. Feeds have no use for entities
# that expand into other entities, parameter entities or external ones; those are how
# "billion laughs" and file-reading attacks are built, so only short literal values (such
# as `<!ENTITY nbsp "&#160;">` in old feeds) are let through.
_FIRST_ELEMENT = re.compile(rb"<[A-Za-z_]")
_ENTITY_DECL = re.compile(rb"<!ENTITY\b")
_SAFE_ENTITY = re.compile(
    rb"<!ENTITY\s+[\w.:-]+\s+"
    rb"""(?:"(?:&#\w+;|[^&%"<]{0,16})"|'(?:&#\w+;|[^&%'<]{0,16})')\s*>"""
)
_HTML_START = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)


class RssConfig(ConnectorConfig):
    """Settings of an RSS/Atom source."""

    url: str = Field(description="address of the feed, http:// or https://")
    timeout: float = Field(default=20.0, gt=0, le=600, description="seconds allowed per fetch")
    max_bytes: int = Field(default=5_000_000, ge=1, description="largest feed body accepted")
    user_agent: str = Field(default="allhands/0.1 (+feed reader)", min_length=1)

    @field_validator("url")
    @classmethod
    def _web_address(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc:
            raise ValueError(f"{value!r} is not a feed address; write http://… or https://…")
        return value.strip()


@dataclass(frozen=True, slots=True)
class FeedCursor:
    """What the cursor text holds: validators for a conditional GET and the ids seen."""

    etag: str | None = None
    modified: str | None = None
    seen: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, text: str | None) -> FeedCursor:
        """The cursor in `text`; an empty or unreadable one reads the feed from the start."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            etag, modified, seen = data.get("etag"), data.get("modified"), data.get("seen", [])
            if not (
                isinstance(etag, str | None)
                and isinstance(modified, str | None)
                and isinstance(seen, list)
                and all(isinstance(s, str) for s in seen)
            ):
                raise ValueError("unexpected field types")
        except (ValueError, AttributeError) as exc:
            # The store ignores entries it already holds, so starting over only costs a re-read.
            log.warning(
                "feed cursor %.80r is not readable (%s); reading the feed afresh", text, exc
            )
            return cls()
        return cls(etag=etag, modified=modified, seen=seen)

    def dump(self) -> str:
        """The cursor as compact JSON text."""
        data = {"etag": self.etag, "modified": self.modified, "seen": self.seen}
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class FeedResponse:
    """A feed body as read, with the headers the parser and the next request need."""

    body: bytes
    url: str
    content_type: str = ""
    etag: str | None = None
    modified: str | None = None


class RssConnector(Connector):
    """Reads an RSS or Atom feed; each fetch returns entries not seen before, oldest first."""

    kind: ClassVar[str] = "rss"
    Config: ClassVar[type[ConnectorConfig]] = RssConfig

    @property
    def settings(self) -> RssConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, RssConfig)
        return self.config

    async def fetch(self, cursor: str | None) -> Batch:
        """Entries added since `cursor`, oldest first; FeedError when the feed is unusable."""
        state = FeedCursor.load(cursor)
        response = await self._get(state)
        if response is None:
            log.debug("feed %s not modified", self.source_id)
            return Batch(items=[], cursor=cursor)
        loop = asyncio.get_running_loop()
        # feedparser is blocking and CPU-bound: it must not run on the event loop.
        items = await loop.run_in_executor(None, partial(read_feed, response, self.source_id))
        seen = set(state.seen)
        new = [item for item in items if item.external_id not in seen]
        current = [item.external_id for item in reversed(items)]  # newest first
        in_feed = set(current)
        kept = current + [i for i in state.seen if i not in in_feed]
        next_cursor = FeedCursor(
            etag=response.etag,
            modified=response.modified,
            seen=kept[: max(SEEN_LIMIT, len(current))],
        )
        return Batch(items=new, cursor=next_cursor.dump())

    async def _get(self, state: FeedCursor) -> FeedResponse | None:
        """The feed body, or None when the server says it has not changed (304)."""
        config = self.settings
        headers = {"User-Agent": config.user_agent, "Accept": ACCEPT}
        if state.etag:
            headers["If-None-Match"] = state.etag
        if state.modified:
            headers["If-Modified-Since"] = state.modified
        timeout = aiohttp.ClientTimeout(total=config.timeout)
        try:
            async with self.http.get(config.url, headers=headers, timeout=timeout) as resp:
                if resp.status == 304:
                    return None
                if not 200 <= resp.status < 300:
                    reason = f" {resp.reason}" if resp.reason else ""
                    raise FeedError(
                        self.source_id, f"{config.url} answered HTTP {resp.status}{reason}"
                    )
                body = await self._read_capped(resp)
                return FeedResponse(
                    body=body,
                    url=str(resp.url),
                    content_type=resp.headers.get("Content-Type", ""),
                    etag=resp.headers.get("ETag"),
                    modified=resp.headers.get("Last-Modified"),
                )
        except TimeoutError:
            raise FeedError(
                self.source_id, f"no answer from {config.url} within {config.timeout:g} s"
            ) from None
        except aiohttp.ClientConnectionError as exc:
            raise FeedError(self.source_id, f"cannot reach {config.url}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise FeedError(self.source_id, f"reading {config.url} failed: {exc}") from None

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, read in chunks and abandoned as soon as it grows past `max_bytes`."""
        cap = self.settings.max_bytes
        too_big = f"{self.settings.url} sent more than {cap:,} bytes (max_bytes)"
        if resp.content_length is not None and resp.content_length > cap:
            raise FeedError(self.source_id, too_big)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > cap:
                raise FeedError(self.source_id, too_big)
            chunks.append(chunk)
        return b"".join(chunks)

    def where_to_answer(self, mention: Mention) -> str:
        """The entry's own page: feeds cannot be answered from chat."""
        return mention.url or "the original post"


def read_feed(response: FeedResponse, source_id: str) -> list[Item]:
    """Parse a feed body into items, oldest first; FeedError when it is not a usable feed."""
    body = response.body
    if not body.strip():
        raise FeedError(source_id, f"{response.url} sent an empty document, not a feed")
    _refuse_entity_tricks(body, source_id)
    if _HTML_START.match(body[:4096]) or "html" in response.content_type.lower():
        kind = "an HTML page"
    else:
        kind = "something"
    headers = {"content-location": response.url}
    if response.content_type:
        headers["content-type"] = response.content_type
    try:
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except Exception as exc:  # the parser is fed hostile input; any failure means "unusable"
        raise FeedError(
            source_id, f"{response.url} could not be parsed: {type(exc).__name__}: {exc}"
        ) from None
    entries = parsed.get("entries") or []
    feed = parsed.get("feed") or {}
    if not parsed.get("version") or (parsed.get("bozo") and not entries and not feed):
        problem = parsed.get("bozo_exception")
        detail = f" ({problem})" if problem else ""
        raise FeedError(
            source_id, f"{response.url} sent {kind} that is not an RSS or Atom feed{detail}"
        )
    feed_title = str(feed.get("title") or "")
    # Atom declares whether text is plain or HTML. RSS cannot, and feedparser's guess calls
    # anything with a <script> in it plain text, so RSS text is always treated as HTML.
    typed = str(parsed.get("version")).startswith("atom")
    items: list[Item] = []
    ids: set[str] = set()
    for entry in entries:
        item = _item(entry, feed_title=feed_title, source_id=source_id, typed=typed)
        if item.external_id not in ids:  # a feed listing an entry twice hands it over once
            ids.add(item.external_id)
            items.append(item)
    return _oldest_first(items)


def _refuse_entity_tricks(body: bytes, source_id: str) -> None:
    # NULs are dropped so UTF-16 and UTF-32 documents are checked as well as UTF-8 ones.
    text = body.replace(b"\x00", b"")
    start = _FIRST_ELEMENT.search(text)
    prolog = text[: start.start() if start else None]
    declared = len(_ENTITY_DECL.findall(prolog))
    if declared and declared != len(_SAFE_ENTITY.findall(prolog)):
        raise FeedError(
            source_id,
            "the document declares XML entities that expand into other entities or outside"
            " resources; refused as a likely entity-expansion attack",
        )


def _item(entry: Mapping[str, Any], *, feed_title: str, source_id: str, typed: bool) -> Item:
    link = str(entry.get("link") or "")
    url = link if urlsplit(link).scheme.lower() in WEB_SCHEMES else ""
    title = _as_html(str(entry.get("title") or ""), entry.get("title_detail"), typed=typed)
    content = entry.get("content") or []
    if content:  # the full text: a mention can sit past the end of a summary
        text = _as_html(str(content[0].get("value") or ""), content[0], typed=typed)
    else:
        text = _as_html(str(entry.get("summary") or ""), entry.get("summary_detail"), typed=typed)
    detail = entry.get("author_detail") or {}
    # "sam@example.com (Sam Ops)" is split by feedparser; the name alone is the handle.
    handle = str(detail.get("name") or entry.get("author") or feed_title or source_id)
    author_url = str(detail.get("href") or "")
    return Item(
        external_id=_entry_id(entry),
        text=text,
        title=title,
        url=url,
        author=Author(
            handle=handle[:MAX_HANDLE],
            url=author_url if urlsplit(author_url).scheme.lower() in WEB_SCHEMES else "",
        ),
        created_at=_when(entry),
        is_html=True,
        raw={},
    )


def _entry_id(entry: Mapping[str, Any]) -> str:
    """The entry's id, else its link, else a hash of its title and link (or summary)."""
    ident = str(entry.get("id") or entry.get("link") or "")
    if not ident:
        title, link = str(entry.get("title") or ""), str(entry.get("link") or "")
        basis = f"{title}\n{link}" if title or link else str(entry.get("summary") or "")
        return "sha256:" + hashlib.sha256(basis.encode("utf-8")).hexdigest()
    if len(ident) > MAX_ID:
        return "sha256:" + hashlib.sha256(ident.encode("utf-8")).hexdigest()
    return ident


def _as_html(value: str, detail: Mapping[str, Any] | None, *, typed: bool) -> str:
    """`value` as HTML; text declared plain is escaped so normalising keeps it literally."""
    kind = str((detail or {}).get("type") or "text/html")
    return html.escape(value, quote=False) if typed and "html" not in kind else value


def _when(entry: Mapping[str, Any]) -> datetime | None:
    """When the entry was published (or else updated), as an aware UTC datetime."""
    for key in ("published_parsed", "updated_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                year, month, day, hour, minute, second = parsed[:6]
                # struct_time allows a leap second (60); datetime does not.
                return datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
            except (TypeError, ValueError):
                continue
    return None


def _oldest_first(items: list[Item]) -> list[Item]:
    """Items by date when every one has a date, else in reverse document order."""
    ordered = list(reversed(items))  # feeds list their newest entry first
    if all(item.created_at is not None for item in ordered):
        ordered.sort(key=lambda item: item.created_at or datetime.min.replace(tzinfo=UTC))
    return ordered
