"""Reddit: new posts and comments of chosen subreddits, searches, and mentions of the
account's username; replies as comments in the thread.

OAuth2 as Reddit documents it: a script app signs in with the account's password, or any
app uses a refresh token (scopes `identity read submit privatemessages history`); the
hour-long access token is renewed when it runs out or is refused. Every call carries the
descriptive User-Agent Reddit requires, and `X-Ratelimit-Remaining` / `-Reset` are
honoured. Listings come newest first; each stream remembers the newest time handed over
and the names seen at that edge (not a `before` name, which stops working when that post
is deleted), and pages back with `after` until it reaches them. Replies are
`POST /api/comment` with the text escaped as Reddit markdown (at most 10,000 characters).
"""

from __future__ import annotations

import base64
import logging
import re
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import DeliveryError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits, SearchTerms
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError, web_address
from connectors.newest_first import Edge, EdgeWalk, dump_edges, load_edges
from connectors.oauth import AccessToken, TokenKeeper, token_from_answer
from connectors.reddit_answers import comment_result, listing
from connectors.reply_ledger import ReplyLedger
from connectors.richtext import escape_markdown

log = logging.getLogger(__name__)

MAX_LENGTH = 10_000
GONE = frozenset({"[deleted]", "[removed]"})
_SUBREDDIT = re.compile(r"[A-Za-z0-9_]{2,21}")


class RedditConfig(ConnectorConfig):
    """Settings of a Reddit source."""

    client_id: str = Field(min_length=1, description="the app's client id")
    client_secret: str = Field(
        default="", description="the app's secret (empty for installed apps)"
    )
    username: str = Field(default="", description="the account, for a script app")
    password: str = Field(default="", description="its password, for a script app")
    refresh_token: str = Field(default="", description="or a refresh token from authorising")
    subreddits: list[str] = Field(default_factory=list)
    posts: bool = True
    comments: bool = True
    search: SearchTerms = Field(default_factory=list)
    mentions: bool = True
    user_agent: str = Field(default="", description="Reddit's required descriptive User-Agent")
    api: str = "https://oauth.reddit.com"
    auth_url: str = "https://www.reddit.com"
    web_url: str = "https://www.reddit.com"
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=5, ge=1, le=10)
    rate_limit_reserve: int = Field(default=5, ge=0, le=600)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)

    @field_validator("api", "auth_url", "web_url")
    @classmethod
    def _address(cls, value: str) -> str:
        return web_address(value)

    @field_validator("subreddits")
    @classmethod
    def _subreddits(cls, value: list[str]) -> list[str]:
        names = [name.strip().removeprefix("/").removeprefix("r/") for name in value]
        for name in names:
            if not _SUBREDDIT.fullmatch(name):
                raise ValueError(f"{name!r} is not a subreddit name; write it like AcmeUsers")
        return names

    @model_validator(mode="after")
    def _signs_in(self) -> RedditConfig:
        if not self.refresh_token and not (self.username and self.password):
            raise ValueError("Reddit needs username and password (a script app) or a refresh_token")
        if not (
            self.mentions or self.search or (self.subreddits and (self.posts or self.comments))
        ):
            raise ValueError("nothing to read: set subreddits, search or mentions: true")
        return self

    def agent(self) -> str:
        """The User-Agent: as configured, else in the form Reddit asks for."""
        by = f" (by /u/{self.username})" if self.username else ""
        return self.user_agent or f"server:allhands-{self.client_id}:0.1{by}"


class _Thing(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    name: str = Field(pattern=r"^t[134]_[0-9a-z]{1,20}$")
    created_utc: float
    author: str | None = None
    title: str | None = None
    selftext: str = ""
    body: str | None = None
    permalink: str = ""
    context: str = ""
    link_id: str | None = None
    link_title: str | None = None
    parent_id: str | None = None
    was_comment: bool = True


class RedditConnector(Connector):
    """Reads subreddits, searches and username mentions; answers in the thread."""

    kind: ClassVar[str] = "reddit"
    Config: ClassVar[type[ConnectorConfig]] = RedditConfig
    can_reply: ClassVar[bool] = True
    limits = Limits(max_length=MAX_LENGTH)  # measured on `reply_text`, the escaped text

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        config = self.settings
        common = {"clock": self.clock, "timeout": config.timeout, "max_bytes": config.max_bytes}
        agent = config.agent()
        self.api = JsonApi(self.http, base_url=config.api, user_agent=agent, **common)  # type: ignore[arg-type]
        self.auth = JsonApi(self.http, base_url=config.auth_url, user_agent=agent, **common)  # type: ignore[arg-type]
        self.keeper = TokenKeeper(self._renew, clock=self.clock)
        self._me: str | None = None
        self.replies = ReplyLedger()

    @property
    def settings(self) -> RedditConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, RedditConfig)
        return self.config

    async def _renew(self, stale: AccessToken | None) -> AccessToken:
        config = self.settings
        if config.refresh_token:
            form = {"grant_type": "refresh_token", "refresh_token": config.refresh_token}
        else:
            form = {
                "grant_type": "password",
                "username": config.username,
                "password": config.password,
            }
        basic = base64.b64encode(f"{config.client_id}:{config.client_secret}".encode()).decode()
        try:
            answer = await self.auth.call(
                "POST",
                "/api/v1/access_token",
                form=form,
                headers={"Authorization": f"Basic {basic}"},
            )
        except PlatformError as exc:
            if exc.status in (400, 401, 403):
                raise exc.final(
                    f"Reddit refused the app's credentials ({exc});"
                    " check client_id and client_secret"
                ) from None
            raise
        if isinstance(answer.data, dict) and answer.data.get("error"):
            # Reddit answers a wrong password or a revoked refresh token with 200 and an error.
            raise PlatformError(
                f"Reddit refused the sign-in: {answer.data['error']} (check username and password,"
                " or authorise again for a new refresh_token)",
                transient=False,
            )
        return token_from_answer(answer.data, now=self.clock.now(), call="access_token")

    async def _call(
        self, method: str, path: str, *, params: Any = None, form: Any = None
    ) -> ApiResponse:
        return await self.keeper.call(
            self.api, method, path, scheme="bearer", params=params, form=form
        )

    async def _account(self) -> str:
        if self._me is None:
            answer = await self._call("GET", "/api/v1/me", params=[("raw_json", "1")])
            name = answer.data.get("name") if isinstance(answer.data, dict) else None
            if not isinstance(name, str) or not name:
                raise PlatformError("/api/v1/me answered without the account's name")
            self._me = name
        return self._me

    # Reading

    def _streams(self) -> list[tuple[str, str, list[tuple[str, str]]]]:
        config = self.settings
        streams: list[tuple[str, str, list[tuple[str, str]]]] = []
        for sub in config.subreddits:
            if config.posts:
                streams.append((f"posts:{sub.lower()}", f"/r/{sub}/new", []))
            if config.comments:
                streams.append((f"comments:{sub.lower()}", f"/r/{sub}/comments", []))
        for term in config.search:
            streams.append(
                (f"search:{term}", "/search", [("q", term), ("sort", "new"), ("type", "link")])
            )
        if config.mentions:
            streams.append(("mentions", "/message/mentions", []))
        return streams

    async def fetch(self, cursor: str | None) -> Batch:
        """New posts, comments, search hits and mentions since `cursor`, oldest first."""
        edges = load_edges(cursor, self.source_id)
        found: dict[str, tuple[float, Item]] = {}
        wait = None
        try:
            me = await self._account()
            for key, path, params in self._streams():
                things, edge, wait = await self._read(key, path, params, edges.get(key))
                if edge is not None:
                    edges[key] = edge
                for thing in things:
                    item = self._item(thing, me)
                    if item is not None:
                        found.setdefault(item.external_id, (thing.created_utc, item))
                if wait is not None:
                    break  # the rest waits for the rate-limit window
        except PlatformError as exc:
            raise exc.source_error(self.source_id) from None
        items = [item for _, item in sorted(found.values(), key=lambda p: p[0])]
        return Batch(items=items, cursor=dump_edges(edges), retry_after=wait)

    async def _read(
        self, key: str, path: str, params: list[tuple[str, str]], edge: Edge | None
    ) -> tuple[list[_Thing], Edge | None, float | None]:
        config = self.settings
        walk = EdgeWalk(edge)
        things: list[_Thing] = []
        after: str | None = None
        wait = None
        for _ in range(config.max_pages):
            query = [*params, ("limit", str(config.page_size)), ("raw_json", "1")]
            if after:
                query.append(("after", after))
            answer = await self._call("GET", path, params=query)
            children, after = listing(answer.data, path)
            for child in children:
                try:
                    thing = _Thing.model_validate(
                        child.get("data") if isinstance(child, dict) else None
                    )
                except ValidationError as exc:
                    log.warning(
                        "%s: skipped an entry of %s: %s",
                        self.source_id,
                        key,
                        exc.errors()[0]["msg"],
                    )
                    continue
                if walk.take(thing.name, datetime.fromtimestamp(thing.created_utc, tz=UTC)):
                    things.append(thing)
                elif walk.past:
                    break
            if answer.remaining is not None and answer.remaining <= config.rate_limit_reserve:
                wait = answer.wait if answer.wait is not None else 60.0
                log.info(
                    "%s: %s calls left; waiting %.0f s", self.source_id, answer.remaining, wait
                )
                break
            if walk.reached or not after:
                break
        if not walk.reached:
            log.warning(
                "%s: more than %d pages of %s since the last poll; older ones skipped",
                self.source_id,
                config.max_pages,
                key,
            )
        return things, walk.next_edge(), wait

    def _item(self, thing: _Thing, me: str) -> Item | None:
        author = thing.author
        comment = thing.name.startswith(("t1_", "t4_"))
        text = (thing.body or "") if comment else thing.selftext
        if not author or author in GONE or author.lower() == me.lower() or text in GONE:
            return None  # deleted, removed, or our own
        if thing.name.startswith("t4_") or not thing.was_comment:
            return None  # a private message is not a public mention
        web = self.settings.web_url
        title = f"Re: {thing.link_title}" if comment and thing.link_title else (thing.title or "")
        link = thing.permalink or thing.context
        return Item(
            external_id=thing.name,
            text=text,
            title=title,
            author=Author(handle=author, url=f"{web}/user/{quote(author, safe='')}"),
            url=f"{web}{link}" if link.startswith("/") else "",
            created_at=datetime.fromtimestamp(thing.created_utc, tz=UTC),
            parent_id=thing.parent_id if comment else None,
            conversation_id=thing.link_id if comment else thing.name,
        )

    # Answering

    def posting_as(self) -> str:
        """The Reddit account the source signs in as."""
        who = (
            f"u/{self._me or self.settings.username}"
            if (self._me or self.settings.username)
            else "the account"
        )
        return f"{who} on Reddit (source {self.source_id!r})"

    def reply_text(self, mention: Mention, text: str) -> str:
        """The text as Reddit markdown, escaped so it shows as typed."""
        return escape_markdown(text)

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Comment under the customer's post or comment, at most once per `key`."""
        if (done := self.replies.sent(key)) is not None:
            return done
        body = escape_markdown(text)
        if len(body) > MAX_LENGTH:
            raise DeliveryError(
                f"the reply is {len(body):,} characters as Reddit markdown;"
                f" Reddit allows {MAX_LENGTH:,}",
                permanent=True,
            )
        try:
            me = await self._account()
            earlier = await self.replies.earlier(
                key, lambda: self._posted_before(me, mention.external_id, body)
            )
            if earlier is not None:
                return earlier
            answer = await self._call(
                "POST",
                "/api/comment",
                form={"api_type": "json", "thing_id": mention.external_id, "text": body},
            )
        except PlatformError as exc:
            if exc.status in (403, 404):
                raise DeliveryError(
                    f"Reddit did not take the reply ({exc}): the account may be banned there,"
                    " or the post is gone",
                    permanent=True,
                ) from None
            raise exc.delivery_error() from None
        return self._posted(answer.data, key)

    def _posted(self, data: Any, key: str) -> ExternalRef:
        name, permalink = comment_result(data)
        if not name:
            log.warning(
                "%s: /api/comment answered without the comment: %.200r", self.source_id, data
            )
            return ExternalRef(id="")
        url = f"{self.settings.web_url}{permalink}" if permalink.startswith("/") else ""
        ref = ExternalRef(id=name, url=url)
        return self.replies.posted(key, ref)

    async def _posted_before(self, me: str, parent: str, body: str) -> ExternalRef | None:
        """Our comment under `parent` with this text, if an earlier try did post it."""
        answer = await self._call(
            "GET",
            f"/user/{quote(me, safe='')}/comments",
            params=[("limit", "25"), ("raw_json", "1")],
        )
        children, _ = listing(answer.data, "/user/comments")
        for child in children:
            data = child.get("data") if isinstance(child, dict) else None
            if (
                isinstance(data, dict)
                and data.get("parent_id") == parent
                and data.get("body") == body
            ):
                log.info("%s: reply to %s was posted by an earlier try", self.source_id, parent)
                link = str(data.get("permalink") or "")
                return ExternalRef(
                    id=str(data.get("name")), url=f"{self.settings.web_url}{link}" if link else ""
                )
        return None
