"""Mastodon: mentions of the company account, hashtags and search terms; replies in thread.

Each stream (mentions, each hashtag, each search term) keeps its own place in the cursor
(the newest id handed over) and is read forward from it with `min_id`, following the
`Link: rel="prev"` page, so nothing between two polls is skipped. The first poll of a
stream takes only its newest page. Paging stops early when the account's rate limit is
nearly used up (`X-RateLimit-Remaining`), keeping room for replies, and the poller waits
until `X-RateLimit-Reset`. Replies carry an `Idempotency-Key`, so a retried send after a
timeout returns the status already posted instead of posting twice. The settings and the
streams they ask for are in `mastodon_config`; statuses as the API sends them, in
`mastodon_statuses`.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import ValidationError

from bot.domain.mentions import Item, Mention
from bot.errors import DeliveryError, SourceError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError
from connectors.mastodon_config import MastodonConfig, Stream, streams_of
from connectors.mastodon_statuses import (
    Account,
    Notification,
    Status,
    id_order,
    load_cursor,
    prev_min_id,
    status_item,
    web,
    words,
)
from connectors.richtext import MASTODON_URL_LENGTH, mastodon_length

log = logging.getLogger(__name__)

DEFAULT_MAX_CHARACTERS = 500  # until the instance says otherwise
# Narrowest last: a reply is never more public than the post it answers.
VISIBILITIES = ("public", "unlisted", "private", "direct")
_ACCT = re.compile(r"[\w.-]+(?:@[\w.-]+)?", re.ASCII)


@dataclass
class _StreamRead:
    items: list[Item]
    newest: str | None
    wait: float | None = None  # the rate limit is nearly used: wait this long


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

    async def _learn_me(self) -> None:
        if self.settings.token and self._me is None:
            answer = await self._get("/api/v1/accounts/verify_credentials", ())
            try:
                self._me = Account.model_validate(answer.data).id
            except ValidationError:
                raise SourceError(
                    self.source_id, "verify_credentials answered something that is not an account"
                ) from None

    async def fetch(self, cursor: str | None) -> Batch:
        """Posts newer than each stream's place in `cursor`, oldest first."""
        places = load_cursor(cursor, self.source_id)
        await self._learn_instance()
        await self._learn_me()
        found: dict[str, Item] = {}
        wait = None
        for stream in streams_of(self.settings):
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

    async def _read(self, stream: Stream, since: str | None) -> _StreamRead:
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
                min_id = prev_min_id(answer.links) or page_newest
        return _StreamRead(items, newest)

    def _status(self, entry: Any, stream: Stream) -> tuple[Item | None, str | None]:
        """The item in one entry (None to skip it) and the id that orders the stream."""
        try:
            if stream.notifications:
                notification = Notification.model_validate(entry)
                if notification.type != "mention" or notification.status is None:
                    return None, notification.id
                return status_item(notification.status, me=self._me), notification.id
            status = Status.model_validate(entry)
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
        return status_item(status, me=self._me), status.id

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
        wanted = words(self.reply_text(mention, text))
        for raw in below if isinstance(below, list) else []:
            try:
                status = Status.model_validate(raw)
            except ValidationError:
                continue
            if (
                status.account.id == self._me
                and status.in_reply_to_id == mention.external_id
                and words(status.content) == wanted
            ):
                log.info(
                    "%s: the reply to %s was posted by an earlier try",
                    self.source_id,
                    status.in_reply_to_id,
                )
                return ExternalRef(id=status.id, url=web(status.url) or web(status.uri))
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
            posted = Status.model_validate(answer.data)
        except ValidationError:
            # It was posted (2xx), but we cannot tell where; retrying would post it twice.
            log.warning(
                "%s: posted reply answer is not a status: %.200r", self.source_id, answer.data
            )
            return ExternalRef(id="", url="")
        return ExternalRef(id=posted.id, url=web(posted.url) or web(posted.uri))
