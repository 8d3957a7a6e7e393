"""X (API v2): the account's mentions timeline and recent searches; replies in thread.

The bot acts as its own account with OAuth 2.0 user context: an access token and the
refresh token that renews it (scopes `tweet.read tweet.write users.read offline.access`).
X rotates the refresh token at every renewal, so the newest pair is kept in the store and
used after a restart. Each stream (mentions, each search) reads newest first from its
`since_id`; when more pages wait than `max_pages`, the cursor keeps the page token and the
next poll goes on from there before moving `since_id`, so nothing is skipped or repeated.
`x-rate-limit-remaining` and `-reset` are honoured. Replies go through `POST /2/tweets`
with `reply.in_reply_to_tweet_id`, counted as X counts (twitter-text's weighted length).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import Field, ValidationError, field_validator, model_validator

from bot.domain.mentions import Item, Mention
from bot.errors import DeliveryError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError, web_address
from connectors.oauth import TokenKeeper
from connectors.reply_ledger import ReplyLedger
from connectors.richtext import X_MAX_LENGTH, x_length
from connectors.x_posts import TWEET_FIELDS, USER_FIELDS, Tweet, User, id_order, read_page
from connectors.x_tokens import UserTokens, oauth1_header

log = logging.getLogger(__name__)

_LINK = re.compile(r"https?://\S+")


class XConfig(ConnectorConfig):
    """Settings of an X source."""

    client_id: str = Field(default="", description="the app's OAuth 2.0 client id")
    client_secret: str = Field(default="", description="for a confidential client (write ${VAR})")
    refresh_token: str = Field(default="", description="from authorising the account once")
    access_token: str = Field(default="", description="the current access token")
    consumer_key: str = Field(default="", description="OAuth 1.0a: the app's API key")
    consumer_secret: str = Field(default="", description="OAuth 1.0a: the API key's secret")
    access_token_secret: str = Field(default="", description="OAuth 1.0a: the token's secret")
    mentions: bool = True
    search: list[str] = Field(default_factory=list)
    api: str = "https://api.x.com"
    web_url: str = "https://x.com"
    page_size: int = Field(default=100, ge=10, le=100)
    max_pages: int = Field(default=5, ge=1, le=100)
    rate_limit_reserve: int = Field(default=1, ge=0, le=100)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+x)", min_length=1)

    @field_validator("api", "web_url")
    @classmethod
    def _address(cls, value: str) -> str:
        return web_address(value)

    @field_validator("search")
    @classmethod
    def _queries(cls, value: list[str]) -> list[str]:
        if any(not query.strip() or len(query) > 512 for query in value):
            raise ValueError("a search query must have 1 to 512 characters")
        return [query.strip() for query in value]

    @model_validator(mode="after")
    def _signs_in(self) -> XConfig:
        oauth1 = (self.consumer_key, self.consumer_secret, self.access_token_secret)
        if any(oauth1):
            if not (all(oauth1) and self.access_token):
                raise ValueError(
                    "OAuth 1.0a needs consumer_key, consumer_secret, access_token and"
                    " access_token_secret"
                )
        elif not (self.client_id and self.refresh_token):
            raise ValueError(
                "X needs client_id and refresh_token (OAuth 2.0), or consumer_key,"
                " consumer_secret, access_token and access_token_secret (OAuth 1.0a)"
            )
        return self

    @property
    def oauth1(self) -> bool:
        """Whether requests are signed with OAuth 1.0a rather than a bearer token."""
        return bool(self.access_token_secret)


@dataclass
class _Place:
    """A stream's cursor: tweets after `since` are wanted; `token` is the page to go on from
    and `top` the newest id of the run in progress."""

    since: str | None = None
    token: str | None = None
    top: str | None = None
    wait: float | None = field(default=None, compare=False)


class XConnector(Connector):
    """Reads mentions of the account and recent searches on X; answers in thread."""

    kind: ClassVar[str] = "x"
    Config: ClassVar[type[ConnectorConfig]] = XConfig
    can_reply: ClassVar[bool] = True
    limits = Limits(max_length=X_MAX_LENGTH, count=x_length)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        config = self.settings
        self.api = JsonApi.of(self.http, config, clock=self.clock)
        self.user_tokens = UserTokens(
            self.api,
            client_id=config.client_id,
            client_secret=config.client_secret,
            refresh_token=config.refresh_token,
            access_token=config.access_token,
            store=self.tokens,
            source_id=self.source_id,
            clock=self.clock,
        )
        self.keeper = TokenKeeper(self.user_tokens.renew, clock=self.clock)
        self._me: User | None = None
        self.replies = ReplyLedger()

    @property
    def settings(self) -> XConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, XConfig)
        return self.config

    async def _call(
        self, method: str, path: str, *, params: Any = None, body: Any = None
    ) -> ApiResponse:
        """Call the API as the account; a refused token is renewed once."""
        config = self.settings
        if config.oauth1:
            signed = oauth1_header(
                method,
                self.api.url(path),
                list(params or []),
                consumer=(config.consumer_key, config.consumer_secret),
                token=(config.access_token, config.access_token_secret),
                now=self.clock.now(),
            )
            return await self.api.call(
                method, path, params=params, json_body=body, headers={"Authorization": signed}
            )
        return await self.keeper.call(self.api, method, path, params=params, json_body=body)

    async def _account(self) -> User:
        if self._me is None:
            answer = await self._call("GET", "/2/users/me")
            data = answer.data.get("data") if isinstance(answer.data, dict) else None
            try:
                self._me = User.model_validate(data)
            except ValidationError:
                raise PlatformError("/2/users/me answered something that is not a user") from None
        return self._me

    # Reading

    async def fetch(self, cursor: str | None) -> Batch:
        """Mentions and search results newer than `cursor`, oldest first."""
        places = _load_cursor(cursor, self.source_id)
        config = self.settings
        found: dict[str, Item] = {}
        wait = None
        try:
            me = await self._account()
            streams: list[tuple[str, str, list[tuple[str, str]]]] = []
            if config.mentions:
                streams.append(("mentions", f"/2/users/{quote(me.id, safe='')}/mentions", []))
            for query in config.search:
                streams.append((f"search:{query}", "/2/tweets/search/recent", [("query", query)]))
            for key, path, params in streams:
                place = places.get(key) or _Place()
                items, places[key] = await self._read(key, path, params, place, me)
                for item in items:
                    found.setdefault(item.external_id, item)
                if places[key].wait is not None:
                    wait = places[key].wait
                    break  # the rest waits for the window to reset
        except PlatformError as exc:
            raise exc.source_error(self.source_id) from None
        items = sorted(found.values(), key=lambda item: id_order(item.external_id))
        text = json.dumps(
            {k: {"since": p.since, "token": p.token, "top": p.top} for k, p in places.items()},
            sort_keys=True,
        )
        return Batch(items=items, cursor=text, retry_after=wait)

    async def _read(
        self, key: str, path: str, params: list[tuple[str, str]], place: _Place, me: User
    ) -> tuple[list[Item], _Place]:
        config = self.settings
        page_param = "pagination_token" if key == "mentions" else "next_token"
        items: list[Item] = []
        token, top = place.token, place.top
        for _ in range(config.max_pages if place.since else 1):
            query = [
                *params,
                ("max_results", str(config.page_size)),
                ("tweet.fields", TWEET_FIELDS),
                ("expansions", "author_id"),
                ("user.fields", USER_FIELDS),
            ]
            if place.since:
                query.append(("since_id", place.since))
            if token:
                query.append((page_param, token))
            try:
                answer = await self._call("GET", path, params=query)
            except PlatformError as exc:
                if exc.status != 400 or not (token or place.since):
                    raise
                if token:
                    # A page token X no longer takes: start the run again from `since`
                    # (the store drops what was handed over already).
                    log.warning("%s: page token of %s refused (%s)", self.source_id, key, exc)
                    return items, _Place(place.since, None, None)
                # Recent search refuses a since_id older than its seven days (a source that
                # was off for a week): what lies between is out of reach; start anew.
                log.warning(
                    "%s: since_id of %s refused (%s); reading anew", self.source_id, key, exc
                )
                return items, _Place(None, None, None)
            page = read_page(answer.data, me_id=me.id, key=key, web_url=config.web_url)
            page_items, newest, token = page.items, page.newest, page.next_token
            for problem in page.problems:
                log.info("%s: %s", self.source_id, problem)
            items.extend(page_items)
            if id_order(newest) > id_order(top):
                top = newest
            if answer.remaining is not None and answer.remaining <= config.rate_limit_reserve:
                wait = answer.wait if answer.wait is not None else 900.0
                log.info("%s: %s rate limit nearly used; waiting %.0f s", self.source_id, key, wait)
                if token and place.since:
                    return items, _Place(place.since, token, top, wait=wait)
                return items, _Place(top or place.since, None, None, wait=wait)
            if not token or not place.since:
                break  # the first poll takes the newest page only
        if token and place.since:
            return items, _Place(place.since, token, top)  # more pages: go on next time
        return items, _Place(top or place.since, None, None)

    # Answering

    def posting_as(self) -> str:
        """The account the source signs in as."""
        if self._me is not None:
            return f"@{self._me.username} on X (source {self.source_id!r})"
        return f"the account source {self.source_id!r} signs in as on X"

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Post the answer under the customer's post, at most once per `key`."""
        if (done := self.replies.sent(key)) is not None:
            return done
        length = x_length(text)
        if length > X_MAX_LENGTH:
            raise DeliveryError(
                f"the reply is {length} characters as X counts them; X allows {X_MAX_LENGTH}",
                permanent=True,
            )
        try:
            me = await self._account()
            earlier = await self.replies.earlier(
                key, lambda: self._posted_before(me, mention.external_id, text)
            )
            if earlier is not None:
                return earlier
            answer = await self._call(
                "POST",
                "/2/tweets",
                body={"text": text, "reply": {"in_reply_to_tweet_id": mention.external_id}},
            )
        except PlatformError as exc:
            if exc.status in (403, 404) or (exc.status == 400 and "deleted" in str(exc)):
                raise DeliveryError(
                    f"X did not take the reply to {mention.url or mention.external_id}: {exc}"
                    " (the post may be deleted, or its author limits who can reply)",
                    permanent=True,
                ) from None
            raise exc.delivery_error() from None
        data = answer.data.get("data") if isinstance(answer.data, dict) else None
        posted = data.get("id") if isinstance(data, dict) else None
        if not isinstance(posted, str):
            log.warning("%s: POST /2/tweets answered without an id: %.200r", self.source_id, data)
            return ExternalRef(id="")
        ref = ExternalRef(id=posted, url=f"{self.settings.web_url}/{me.username}/status/{posted}")
        return self.replies.posted(key, ref)

    async def _posted_before(self, me: User, parent: str, text: str) -> ExternalRef | None:
        """Our reply to `parent` with this text, if an earlier try did post it."""
        answer = await self._call(
            "GET",
            f"/2/users/{quote(me.id, safe='')}/tweets",
            params=[("max_results", "20"), ("tweet.fields", TWEET_FIELDS)],
        )
        tweets = answer.data.get("data") if isinstance(answer.data, dict) else None
        wanted = _LINK.sub("<link>", text)
        for raw in tweets if isinstance(tweets, list) else []:
            try:
                tweet = Tweet.model_validate(raw)
            except ValidationError:
                continue
            answers = any(
                r.type == "replied_to" and r.id == parent for r in tweet.referenced_tweets
            )
            # X shows links as t.co links, so texts are compared with links blanked.
            if answers and _LINK.sub("<link>", tweet.text) == wanted:
                log.info("%s: reply to %s was posted by an earlier try", self.source_id, parent)
                url = f"{self.settings.web_url}/{me.username}/status/{tweet.id}"
                return ExternalRef(id=tweet.id, url=url)
        return None


def _load_cursor(text: str | None, source_id: str) -> dict[str, _Place]:
    if not text:
        return {}
    try:
        data = json.loads(text)
        places = {}
        for key, value in data.items():
            parts = [value.get(k) for k in ("since", "token", "top")]
            if not all(p is None or isinstance(p, str) for p in parts):
                raise ValueError("bad types")
            places[str(key)] = _Place(*parts)
        return places
    except (ValueError, TypeError, AttributeError):
        log.warning(
            "%s: cursor %.80r is not readable; starting from the newest posts", source_id, text
        )
        return {}
