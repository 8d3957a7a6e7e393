"""Mastodon: mentions of the company account, hashtags and search terms; replies in thread.

Each stream (mentions, each hashtag, each search term) keeps its own place in the cursor
(the newest id handed over) and is read forward from it with `min_id`, following the
`Link: rel="prev"` page, so nothing between two polls is skipped. The first poll of a
stream takes only its newest page. Paging stops early when the account's rate limit is
nearly used up (`X-RateLimit-Remaining`), keeping room for replies, and the poller waits
until `X-RateLimit-Reset`. Replies carry an `Idempotency-Key`, so a retried send after a
timeout returns the status already posted instead of posting twice.
"""

from __future__ import annotations

import html
import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar, Literal
from urllib.parse import quote, urlsplit

import yarl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import DeliveryError, SourceError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits, SearchTerms
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError
from connectors.richtext import MASTODON_URL_LENGTH, mastodon_length

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARACTERS = 500  # until the instance says otherwise
WEB_SCHEMES = frozenset({"http", "https"})
# Narrowest last: a reply is never more public than the post it answers.
VISIBILITIES = ("public", "unlisted", "private", "direct")
_ACCT = re.compile(r"[\w.-]+(?:@[\w.-]+)?", re.ASCII)
_HASHTAG = re.compile(r"\w+")


def _web_address(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc:
        raise ValueError(f"{value!r} is not an instance address; write https://mastodon.example")
    return value.strip().rstrip("/")


class MastodonConfig(ConnectorConfig):
    """Settings of a Mastodon source."""

    instance: str = Field(description="the instance's address, e.g. https://mastodon.social")
    token: str = Field(default="", description="the account's access token (write ${VAR})")
    mentions: bool = Field(default=True, description="read mentions of the account")
    hashtags: list[str] = Field(default=[], description="hashtags to follow, without #")
    search: SearchTerms = Field(default=[], description="search terms to follow")
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    page_size: int = Field(default=40, ge=1, le=40)
    max_pages: int = Field(default=5, ge=1, le=100)
    rate_limit_reserve: int = Field(default=10, ge=0, le=300)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+mastodon)", min_length=1)

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        return _web_address(value)

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, value: list[str]) -> list[str]:
        tags = []
        for tag in value:
            name = tag.strip().removeprefix("#")
            if not _HASHTAG.fullmatch(name):
                raise ValueError(f"{tag!r} is not a hashtag; write letters, digits and _ only")
            tags.append(name)
        return tags

    @model_validator(mode="after")
    def _something_to_read(self) -> MastodonConfig:
        if self.mentions and not self.token:
            raise ValueError(
                "mentions need the account's token: add token: ${MASTODON_TOKEN},"
                " or set mentions: false and follow hashtags or search terms"
            )
        if not (self.mentions or self.hashtags or self.search):
            raise ValueError("nothing to read: set mentions: true, hashtags or search")
        return self


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Account(_Model):
    id: str
    acct: str = Field(min_length=1, max_length=400)
    display_name: str = ""
    url: str | None = None
    followers_count: int | None = None


class _Status(_Model):
    id: str = Field(min_length=1, max_length=100)
    created_at: datetime | None = None
    content: str = ""
    spoiler_text: str = ""
    url: str | None = None
    uri: str = ""
    in_reply_to_id: str | None = None
    language: str | None = None
    visibility: str = "public"
    account: _Account
    reblog: dict[str, Any] | None = None


class _Notification(_Model):
    id: str = Field(min_length=1, max_length=100)
    type: str
    status: _Status | None = None


@dataclass(frozen=True, slots=True)
class _Stream:
    """One thing to read: its cursor key, API path and fixed parameters."""

    key: str
    path: str
    params: tuple[tuple[str, str], ...]
    search: bool = False
    notifications: bool = False


@dataclass
class _StreamRead:
    items: list[Item]
    newest: str | None
    wait: float | None = None  # the rate limit is nearly used: wait this long


def id_order(value: str) -> tuple[int, str]:
    """Sort key for Mastodon ids: numeric strings compare by length first, then text."""
    return (len(value), value)


def _web(url: str | None) -> str:
    return url if url and urlsplit(url).scheme.lower() in WEB_SCHEMES else ""


class MastodonConnector(Connector):
    """Reads mentions, hashtags and search results from one Mastodon account; answers them."""

    kind: ClassVar[str] = "mastodon"
    platform: ClassVar[str] = "Mastodon"
    Config: ClassVar[type[ConnectorConfig]] = MastodonConfig
    can_reply: ClassVar[bool] = True
    finds_replies: ClassVar[bool] = True

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        config = self.settings
        self.api = JsonApi(
            self.http,
            base_url=config.instance,
            clock=self.clock,
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            user_agent=config.user_agent,
        )
        self._instance_known = False
        self._me: str | None = None  # our account id, to skip our own posts
        self._set_limits(DEFAULT_MAX_CHARACTERS, MASTODON_URL_LENGTH)
        # What the last answer said of the rate-limit window: no reply is sent into a window
        # that has no room left for it (a GET and a POST); it waits for the reset instead.
        self._spent_until: datetime | None = None

    @property
    def settings(self) -> MastodonConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, MastodonConfig)
        return self.config

    def _set_limits(self, max_characters: int, url_length: int) -> None:
        self.limits = Limits(
            max_length=max_characters, count=partial(mastodon_length, url_length=url_length)
        )

    def _auth(self) -> dict[str, str]:
        token = self.settings.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _learn_instance(self) -> None:
        """Read the instance's own status length and link length, once."""
        if self._instance_known:
            return
        try:
            answer = await self.api.call("GET", "/api/v2/instance")
        except PlatformError as exc:
            log.info("%s: instance limits unknown (%s); assuming 500", self.source_id, exc)
            return
        statuses = answer.data.get("configuration", {}) if isinstance(answer.data, dict) else {}
        statuses = statuses.get("statuses", {}) if isinstance(statuses, dict) else {}
        maximum = statuses.get("max_characters") if isinstance(statuses, dict) else None
        per_url = statuses.get("characters_reserved_per_url", MASTODON_URL_LENGTH)
        if isinstance(maximum, int) and maximum > 0:
            url_length = per_url if isinstance(per_url, int) and per_url >= 0 else 23
            self._set_limits(maximum, url_length)
            self._instance_known = True

    # Reading

    def _streams(self) -> list[_Stream]:
        config = self.settings
        limit = ("limit", str(config.page_size))
        streams = []
        if config.mentions:
            streams.append(
                _Stream(
                    "mentions",
                    "/api/v1/notifications",
                    (("types[]", "mention"), limit),
                    notifications=True,
                )
            )
        for tag in config.hashtags:
            path = f"/api/v1/timelines/tag/{quote(tag, safe='')}"
            streams.append(_Stream(f"tag:{tag.lower()}", path, (limit,)))
        for term in config.search:
            params = (("q", term), ("type", "statuses"), ("resolve", "false"), limit)
            streams.append(_Stream(f"search:{term}", "/api/v2/search", params, search=True))
        return streams

    async def _learn_me(self) -> None:
        if self.settings.token and self._me is None:
            answer = await self._get("/api/v1/accounts/verify_credentials", ())
            try:
                self._me = _Account.model_validate(answer.data).id
            except ValidationError:
                raise SourceError(
                    self.source_id, "verify_credentials answered something that is not an account"
                ) from None

    async def fetch(self, cursor: str | None) -> Batch:
        """Posts newer than each stream's place in `cursor`, oldest first."""
        places = _load_cursor(cursor, self.source_id)
        await self._learn_instance()
        await self._learn_me()
        found: dict[str, Item] = {}
        wait = None
        for stream in self._streams():
            read = await self._read(stream, places.get(stream.key))
            for item in read.items:
                found.setdefault(item.external_id, item)
            if read.newest is not None:
                places[stream.key] = read.newest
            if read.wait is not None:
                wait = read.wait
                break  # the rest waits for the next window
        items = sorted(found.values(), key=lambda item: id_order(item.external_id))
        return Batch(items=items, cursor=json.dumps(places, sort_keys=True), retry_after=wait)

    async def _get(self, path: str, params: Any) -> ApiResponse:
        try:
            return await self.api.call("GET", path, params=params, headers=self._auth())
        except PlatformError as exc:
            raise SourceError(self.source_id, str(exc), retry_after=exc.retry_after) from None

    async def _read(self, stream: _Stream, since: str | None) -> _StreamRead:
        config = self.settings
        newest = since
        items: list[Item] = []
        min_id = since
        offset = 0
        for _ in range(config.max_pages):
            params = list(stream.params)
            if min_id is not None:
                params.append(("min_id", min_id))
            if offset:
                params.append(("offset", str(offset)))
            try:
                answer = await self._get(stream.path, params)
            except SourceError as exc:
                if stream.key.startswith("tag:") and "HTTP 404" in str(exc):
                    return _StreamRead([], since)  # a hashtag nobody has used yet
                raise
            entries = answer.data.get("statuses") if stream.search else answer.data
            if stream.search and not isinstance(answer.data, dict):
                entries = None
            if not isinstance(entries, list):
                raise SourceError(
                    self.source_id,
                    f"{stream.path} answered {type(answer.data).__name__}, not a list",
                )
            page_newest = None
            for entry in entries:
                status, entry_id = self._status(entry, stream)
                if entry_id is not None and (
                    page_newest is None or id_order(entry_id) > id_order(page_newest)
                ):
                    page_newest = entry_id
                if status is not None:
                    items.append(status)
            if page_newest is not None and (
                newest is None or id_order(page_newest) > id_order(newest)
            ):
                newest = page_newest
            low = answer.remaining is not None and answer.remaining <= config.rate_limit_reserve
            if low:
                wait = answer.wait if answer.wait is not None else 60.0
                log.info(
                    "%s: %s calls left in the rate-limit window; waiting %.0f s",
                    self.source_id,
                    answer.remaining,
                    wait,
                )
                return _StreamRead(items, newest, wait=wait)
            if since is None or len(entries) < config.page_size or page_newest is None:
                break  # the first poll takes the newest page; a short page is the last
            if stream.search:
                if not config.token:
                    break  # offset paging needs a token
                offset += len(entries)
            else:
                min_id = _prev_min_id(answer.links) or page_newest
        return _StreamRead(items, newest)

    def _status(self, entry: Any, stream: _Stream) -> tuple[Item | None, str | None]:
        """The item in one entry (None to skip it) and the id that orders the stream."""
        try:
            if stream.notifications:
                notification = _Notification.model_validate(entry)
                if notification.type != "mention" or notification.status is None:
                    return None, notification.id
                return self._item(notification.status), notification.id
            status = _Status.model_validate(entry)
        except ValidationError as exc:
            ident = entry.get("id") if isinstance(entry, dict) else None
            log.warning(
                "%s: skipped an entry of %s that is not a status (id %.40r): %s",
                self.source_id,
                stream.key,
                ident,
                exc.errors()[0]["msg"] if exc.errors() else exc,
            )
            return None, ident if isinstance(ident, str) and ident.isdigit() else None
        return self._item(status), status.id

    def _item(self, status: _Status) -> Item | None:
        if status.reblog is not None or (self._me is not None and status.account.id == self._me):
            return None  # boosts repeat someone else's post; our own posts are not mentions
        account = status.account
        return Item(
            external_id=status.id,
            text=status.content,
            # The content warning is plain text; escaped so that normalising keeps it as written.
            title=html.escape(status.spoiler_text, quote=False),
            author=Author(
                handle=account.acct,
                name=account.display_name,
                audience=account.followers_count,
                url=_web(account.url),
            ),
            url=_web(status.url) or _web(status.uri),
            created_at=status.created_at,
            language=status.language,
            parent_id=status.in_reply_to_id,
            is_html=True,
        )

    # Answering

    def posting_as(self) -> str:
        """The account whose access token this source holds."""
        instance = self.settings.instance
        return (
            f"the Mastodon account whose access token source {self.source_id!r} holds,"
            f" on {instance}"
        )

    async def sent_before(self, mention: Mention, text: str, *, key: str) -> ExternalRef | None:
        """Our reply with this text under the customer's status, if an earlier try posted it
        (the Idempotency-Key covers a retry within Mastodon's hour; this, any later one)."""
        if not self.settings.token:
            return None
        try:
            await self._learn_me()
            answer = await self.api.call(
                "GET",
                f"/api/v1/statuses/{quote(mention.external_id, safe='')}/context",
                headers=self._auth(),
            )
        except SourceError as exc:
            raise DeliveryError(str(exc)) from None
        except PlatformError as exc:
            if exc.status == 404:
                return None  # the post is gone; the reply itself says so
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from None
        below = answer.data.get("descendants") if isinstance(answer.data, dict) else None
        wanted = _words(self.reply_text(mention, text))
        for raw in below if isinstance(below, list) else []:
            try:
                status = _Status.model_validate(raw)
            except ValidationError:
                continue
            if (
                status.account.id == self._me
                and status.in_reply_to_id == mention.external_id
                and _words(status.content) == wanted
            ):
                log.info(
                    "%s: the reply to %s was posted by an earlier try",
                    self.source_id,
                    status.in_reply_to_id,
                )
                return ExternalRef(id=status.id, url=_web(status.url) or _web(status.uri))
        return None

    def reply_text(self, mention: Mention, text: str) -> str:
        """The reply with the author's @acct in front, unless the text already names them."""
        acct = mention.author.handle
        if not _ACCT.fullmatch(acct):
            return text
        named = re.search(rf"(?<![\w@])@{re.escape(acct)}(?![\w@.])", text, re.IGNORECASE)
        return text if named else f"@{acct} {text}"

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Post the answer under the customer's status, at most once per `key`."""
        if not self.settings.token:
            raise DeliveryError(f"{self.source_id} has no token, so it cannot post", permanent=True)
        await self._learn_instance()
        status_text = self.reply_text(mention, text)
        length = self.limits.count(status_text)
        assert self.limits.max_length is not None
        if length > self.limits.max_length:
            raise DeliveryError(
                f"the reply is {length} characters as Mastodon counts them;"
                f" {self.settings.instance} allows {self.limits.max_length}",
                permanent=True,
            )
        visibility = self.settings.visibility
        now = self.clock.now()
        if self._spent_until is not None and now < self._spent_until:
            raise DeliveryError(
                f"{self.source_id}: the rate-limit window is used up",
                retry_after=(self._spent_until - now).total_seconds(),
                transient=True,
            )
        try:
            original = await self.api.call(
                "GET",
                f"/api/v1/statuses/{quote(mention.external_id, safe='')}",
                headers=self._auth(),
            )
            theirs = original.data.get("visibility") if isinstance(original.data, dict) else None
            if theirs in VISIBILITIES and VISIBILITIES.index(theirs) > VISIBILITIES.index(
                visibility
            ):
                visibility = theirs  # never answer a private post in public
            answer = await self.api.call(
                "POST",
                "/api/v1/statuses",
                json_body={
                    "status": status_text,
                    "in_reply_to_id": mention.external_id,
                    "visibility": visibility,
                    **({"language": mention.language} if mention.language else {}),
                },
                headers={**self._auth(), "Idempotency-Key": key},
            )
        except PlatformError as exc:
            if exc.status == 429 and exc.retry_after:
                self._spent_until = self.clock.now() + timedelta(seconds=exc.retry_after)
            if exc.status == 404:
                raise DeliveryError(
                    f"the post {mention.url or mention.external_id} is gone (deleted or"
                    " hidden from this account)",
                    permanent=True,
                ) from None
            raise DeliveryError(
                str(exc), retry_after=exc.retry_after, permanent=not exc.transient
            ) from None
        if answer.remaining is not None and answer.remaining < 2:  # no room for another reply
            wait = answer.wait if answer.wait is not None else 60.0
            self._spent_until = self.clock.now() + timedelta(seconds=wait)
        try:
            posted = _Status.model_validate(answer.data)
        except ValidationError:
            # It was posted (2xx), but we cannot tell where; retrying would post it twice.
            log.warning(
                "%s: posted reply answer is not a status: %.200r", self.source_id, answer.data
            )
            return ExternalRef(id="", url="")
        return ExternalRef(id=posted.id, url=_web(posted.url) or _web(posted.uri))


def _words(text: str) -> str:
    """A status's words, to compare what we sent with the HTML Mastodon shows: tags gone,
    entities read, @mentions left out (shown as @user, sent as @user@host)."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>|</p>", "\n", text)))
    return " ".join(re.sub(r"(?<![\w])@[\w.@-]+", " ", plain).split())


def _prev_min_id(links: dict[str, str]) -> str | None:
    """The `min_id` of the Link header's newer page; only the id is used, never the host."""
    prev = links.get("prev")
    if not prev:
        return None
    value = yarl.URL(prev).query.get("min_id")
    return value if value and len(value) <= 100 else None


def _load_cursor(text: str | None, source_id: str) -> dict[str, str]:
    if not text:
        return {}
    try:
        data = json.loads(text)
        if isinstance(data, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            return data
    except ValueError:
        pass
    # Starting over re-reads the newest page of each stream; the store drops repeats.
    log.warning("%s: cursor %.80r is not readable; starting from the newest posts", source_id, text)
    return {}
