"""Hacker News: stories and comments matching search terms, through the public Algolia
search API (`/api/v1/search_by_date`). Read-only: Hacker News has no API for posting, so
an answer is recorded and the card says where to post it by hand.

Results come newest first and pages are counted from the newest, so each term keeps a time
cursor: the newest `created_at_i` handed over and the ids seen near it. A poll asks for
everything from a little before that time (late-indexed items are caught; the ids already
seen are dropped) up to the time the poll started (so pages do not shift while they are
read), and reads the pages oldest first: when there are more than `max_pages`, the oldest
are handed over now and the rest next time, so nothing is skipped or repeated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import SourceError
from connectors.base import WEB_SCHEMES, Batch, Connector, ConnectorConfig, SearchTerms
from connectors.jsonapi import JsonApi, PlatformError, web_address

log = logging.getLogger(__name__)

SEEN_LIMIT = 1000  # ids remembered per term, to drop repeats inside the overlap
ITEM_URL = "https://news.ycombinator.com/item?id={id}"
USER_URL = "https://news.ycombinator.com/user?id={user}"


class HackerNewsConfig(ConnectorConfig):
    """Settings of a Hacker News source."""

    search: SearchTerms = Field(min_length=1, description="terms to search stories and comments")
    stories: bool = True
    comments: bool = True
    api: str = "https://hn.algolia.com/api/v1"
    overlap: int = Field(default=600, ge=0, le=86_400)
    page_size: int = Field(default=50, ge=1, le=1000)
    max_pages: int = Field(default=10, ge=1, le=100)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+hackernews)", min_length=1)

    @field_validator("api")
    @classmethod
    def _address(cls, value: str) -> str:
        return web_address(value)

    def tags(self) -> str:
        """Algolia's tags filter: stories, comments, or either."""
        kinds = [k for k, on in (("story", self.stories), ("comment", self.comments)) if on]
        if not kinds:
            raise ValueError("nothing to read: set stories or comments to true")
        return kinds[0] if len(kinds) == 1 else f"({','.join(kinds)})"


class _Hit(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    objectID: str = Field(min_length=1, max_length=40)  # Algolia's names
    created_at_i: int = Field(ge=0)
    author: str | None = None
    title: str | None = None
    url: str | None = None
    story_text: str | None = None
    comment_text: str | None = None
    story_id: int | None = None
    story_title: str | None = None
    parent_id: int | None = None


@dataclass(frozen=True, slots=True)
class _Place:
    """Where a term was left: the newest time handed over and the ids seen near it."""

    at: int
    seen: tuple[str, ...]
    behind: bool = False  # pages were left for the next poll


class HackerNewsConnector(Connector):
    """Reads stories and comments matching search terms; answers are posted by hand."""

    kind: ClassVar[str] = "hackernews"
    Config: ClassVar[type[ConnectorConfig]] = HackerNewsConfig

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        config = self.settings
        config.tags()  # refuse "neither stories nor comments" at start-up
        self.api = JsonApi.of(self.http, config, clock=self.clock)

    @property
    def settings(self) -> HackerNewsConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, HackerNewsConfig)
        return self.config

    async def fetch(self, cursor: str | None) -> Batch:
        """Stories and comments newer than each term's place in `cursor`, oldest first."""
        places = _load_cursor(cursor, self.source_id)
        until = int(self.clock.now().timestamp())
        found: dict[str, tuple[int, Item]] = {}
        for term in self.settings.search:
            hits, place = await self._read(term, places.get(term), until)
            places[term] = place
            for hit in hits:
                item = self._item(hit)
                if item is not None:
                    found.setdefault(item.external_id, (hit.created_at_i, item))
        items = [item for _, item in sorted(found.values(), key=lambda p: (p[0], p[1].external_id))]
        text = json.dumps(
            {t: {"at": p.at, "seen": list(p.seen), "behind": p.behind} for t, p in places.items()},
            sort_keys=True,
        )
        return Batch(items=items, cursor=text)

    async def _page(self, term: str, since: int | None, until: int, page: int) -> dict[str, Any]:
        config = self.settings
        numeric = f"created_at_i<={until}"
        if since is not None:
            numeric = f"created_at_i>={since},{numeric}"
        params = [
            ("query", term),
            ("tags", config.tags()),
            ("numericFilters", numeric),
            ("hitsPerPage", str(config.page_size)),
            ("page", str(page)),
        ]
        try:
            answer = await self.api.call("GET", "/search_by_date", params=params)
        except PlatformError as exc:
            raise exc.source_error(self.source_id) from None
        data = answer.data
        if not isinstance(data, dict) or not isinstance(data.get("hits"), list):
            raise SourceError(
                self.source_id, f"search_by_date answered {type(data).__name__} without hits"
            )
        return data

    async def _read(self, term: str, place: _Place | None, until: int) -> tuple[list[_Hit], _Place]:
        config = self.settings
        # While catching up, the overlap would fill the page budget with items already seen.
        since = None if place is None else place.at - (0 if place.behind else config.overlap)
        first = await self._page(term, since, until, 0)
        pages = first.get("nbPages")
        count = pages if isinstance(pages, int) and pages > 0 else 1
        if place is None:
            wanted = [0]  # the first poll takes the newest page only
        else:
            wanted = list(range(count - 1, -1, -1))[: config.max_pages]  # oldest pages first
            if count > config.max_pages:
                log.info(
                    "%s: %d pages for %r; reading the oldest %d now, the rest next time",
                    self.source_id,
                    count,
                    term,
                    config.max_pages,
                )
        raw: list[Any] = []
        for page in wanted:
            data = first if page == 0 else await self._page(term, since, until, page)
            raw.extend(data["hits"])
        seen = set(place.seen) if place else set()
        hits: dict[str, _Hit] = {}
        for entry in raw:
            try:
                hit = _Hit.model_validate(entry)
            except ValidationError as exc:
                log.warning("%s: skipped a hit: %s", self.source_id, exc.errors()[0]["msg"])
                continue
            if hit.objectID not in seen:
                hits[hit.objectID] = hit
        ordered = sorted(hits.values(), key=lambda h: (h.created_at_i, h.objectID))
        newest = max([h.created_at_i for h in ordered] + [place.at if place else 0])
        if not ordered and place is None:
            newest = until  # nothing yet: start from now, not from the beginning of time
        keep_after = newest - config.overlap
        recent = [h.objectID for h in reversed(ordered) if h.created_at_i >= keep_after]
        kept = recent + [i for i in (place.seen if place else ()) if i not in hits]
        behind = place is not None and count > config.max_pages
        return ordered, _Place(at=newest, seen=tuple(kept[:SEEN_LIMIT]), behind=behind)

    def _item(self, hit: _Hit) -> Item | None:
        comment = hit.comment_text is not None
        text = hit.comment_text if comment else (hit.story_text or "")
        if not hit.author or (comment and not text) or (not comment and not hit.title):
            return None  # deleted or dead: nothing left to read
        link = ITEM_URL.format(id=hit.objectID)
        title = f"Re: {hit.story_title}" if comment and hit.story_title else (hit.title or "")
        if not comment and hit.url and urlsplit(hit.url).scheme.lower() in WEB_SCHEMES:
            text = f"{text}<p>{_escape(hit.url)}</p>" if text else _escape(hit.url)
        return Item(
            external_id=hit.objectID,
            text=text or "",
            title=_escape(title),
            author=Author(handle=hit.author, url=USER_URL.format(user=hit.author)),
            url=link,
            created_at=datetime.fromtimestamp(hit.created_at_i, tz=UTC),
            parent_id=str(hit.parent_id) if comment and hit.parent_id is not None else None,
            is_html=True,
        )

    def where_to_answer(self, mention: Mention) -> str:
        """The item's page on Hacker News, where a signed-in person can reply."""
        return f"{mention.url or ITEM_URL.format(id=mention.external_id)} (reply there, signed in)"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _load_cursor(text: str | None, source_id: str) -> dict[str, _Place]:
    if not text:
        return {}
    try:
        data = json.loads(text)
        places = {}
        for term, value in data.items():
            at, seen, behind = value["at"], value["seen"], value.get("behind", False)
            if not isinstance(at, int) or not all(isinstance(s, str) for s in seen):
                raise ValueError("bad types")
            places[str(term)] = _Place(at=at, seen=tuple(seen), behind=behind is True)
        return places
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("%s: cursor %.80r is not readable; starting from now", source_id, text)
        return {}
