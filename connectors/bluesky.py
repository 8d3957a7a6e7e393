"""Bluesky: mentions, replies and quotes of the account, and search terms; replies in thread.

The session comes from an app password: `createSession` once (it is rate limited, so a
refused or limited login is not retried before the platform's reset), then
`refreshSession` whenever a call answers `ExpiredToken`. Notifications and search results
come newest first, so each stream remembers the newest time it handed over and the posts
seen at that edge, and pages back until it reaches them. Replies are `app.bsky.feed.post`
records whose `reply` holds strong references (uri + cid) to the thread's root and the
post answered, with link facets at UTF-8 byte offsets.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import DeliveryError, SourceError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits, SearchTerms
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError, web_address
from connectors.richtext import graphemes, link_facets

log = logging.getLogger(__name__)

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
SEEN_LIMIT = 500  # post uris remembered per stream, to skip repeats at the edge
PROFILES_PER_CALL = 25
POST = "app.bsky.feed.post"
WEB_SCHEMES = frozenset({"http", "https"})
_EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})
Reason = Literal["mention", "reply", "quote"]
REASONS: tuple[Reason, ...] = ("mention", "reply", "quote")


class BlueskyConfig(ConnectorConfig):
    """Settings of a Bluesky source."""

    service: str = Field(default="https://bsky.social", description="the account's PDS")
    identifier: str = Field(min_length=1, description="the account's handle or DID")
    app_password: str = Field(min_length=1, description="an app password (write ${VAR})")
    mentions: bool = True
    reasons: list[Reason] = Field(default_factory=lambda: list(REASONS))
    search: SearchTerms = Field(default_factory=list)
    web_url: str = "https://bsky.app"
    page_size: int = Field(default=50, ge=1, le=100)
    max_pages: int = Field(default=10, ge=1, le=100)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+bluesky)", min_length=1)

    @field_validator("service", "web_url")
    @classmethod
    def _address(cls, value: str) -> str:
        return web_address(value)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class _Profile(_Model):
    did: str = Field(min_length=1, max_length=2048)
    handle: str = Field(min_length=1, max_length=253)
    displayName: str = ""  # the lexicon's names


class _StrongRef(_Model):
    uri: str = Field(min_length=1, max_length=8192)
    cid: str = Field(min_length=1, max_length=512)


class _ReplyRef(_Model):
    root: _StrongRef
    parent: _StrongRef


class _PostRecord(_Model):
    type: str = Field(alias="$type")
    text: str = ""
    createdAt: datetime | None = None
    reply: _ReplyRef | None = None
    langs: list[str] = []


class _Entry(_Model):
    """A notification or a post view: both carry these."""

    uri: str = Field(min_length=1, max_length=8192)
    cid: str = Field(min_length=1, max_length=512)
    author: _Profile
    record: dict[str, Any]
    indexedAt: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class _Session:
    access: str
    refresh: str
    did: str
    handle: str


@dataclass(frozen=True, slots=True)
class _Edge:
    """Where a newest-first stream was left: the newest time handed over and recent uris."""

    at: datetime
    seen: tuple[str, ...]

    def dump(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "seen": list(self.seen)}


class BlueskyConnector(Connector):
    """Reads mentions, replies, quotes and search results for one account; answers them."""

    kind: ClassVar[str] = "bluesky"
    platform: ClassVar[str] = "Bluesky"
    Config: ClassVar[type[ConnectorConfig]] = BlueskyConfig
    can_reply: ClassVar[bool] = True
    finds_replies: ClassVar[bool] = True
    limits = Limits(max_length=MAX_GRAPHEMES, count=graphemes, max_bytes=MAX_BYTES)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        config = self.settings
        self.api = JsonApi(
            self.http,
            base_url=config.service,
            clock=self.clock,
            timeout=config.timeout,
            max_bytes=config.max_bytes,
            user_agent=config.user_agent,
        )
        self._session: _Session | None = None
        self._login_lock = asyncio.Lock()
        self._no_login_before: datetime | None = None
        self.logins = 0  # createSession calls, for the log and tests
        # Seconds until the rate-limit window resets, once a successful answer said no
        # calls are left (RateLimit-Remaining: 0): reading stops there until then.
        self._exhausted: float | None = None

    @property
    def settings(self) -> BlueskyConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, BlueskyConfig)
        return self.config

    # Session

    async def _current_session(self) -> _Session:
        async with self._login_lock:
            if self._session is None:
                await self._login()
            assert self._session is not None
            return self._session

    async def _login(self) -> None:
        now = self.clock.now()
        if self._no_login_before is not None and now < self._no_login_before:
            wait = (self._no_login_before - now).total_seconds()
            raise PlatformError(
                f"createSession is rate limited; not trying again for {wait:.0f} s",
                retry_after=wait,
            )
        config = self.settings
        self.logins += 1
        try:
            answer = await self.api.call(
                "POST",
                "/xrpc/com.atproto.server.createSession",
                json_body={"identifier": config.identifier, "password": config.app_password},
            )
        except PlatformError as exc:
            if exc.retry_after is not None:
                self._no_login_before = now + timedelta(seconds=exc.retry_after)
            elif exc.status in (400, 401):
                # Refused credentials stay refused: wait a while rather than hammer a
                # rate-limited endpoint; the source's own backoff grows on top of this.
                self._no_login_before = now + timedelta(minutes=5)
                raise PlatformError(
                    f"{config.identifier} could not log in: {exc}"
                    " (check identifier and app_password)",
                    status=exc.status,
                    code=exc.code,
                    transient=False,
                ) from None
            raise
        self._session = self._read_session(answer.data, "createSession")
        log.info("%s: logged in to %s as %s", self.source_id, config.service, self._session.handle)

    async def _refresh(self, stale: _Session) -> None:
        async with self._login_lock:
            if self._session is not None and self._session.access != stale.access:
                return  # another call refreshed it already
            try:
                answer = await self.api.call(
                    "POST",
                    "/xrpc/com.atproto.server.refreshSession",
                    headers={"Authorization": f"Bearer {stale.refresh}"},
                )
            except PlatformError as exc:
                if exc.code in _EXPIRED or exc.status in (400, 401):
                    log.info("%s: refresh token no longer valid; logging in again", self.source_id)
                    self._session = None
                    await self._login()
                    return
                raise
            self._session = self._read_session(answer.data, "refreshSession")

    def _read_session(self, data: Any, call: str) -> _Session:
        if not isinstance(data, dict):
            raise PlatformError(f"{call} answered {type(data).__name__}, not a session")
        values = [data.get(k) for k in ("accessJwt", "refreshJwt", "did", "handle")]
        if not all(isinstance(v, str) and v for v in values):
            raise PlatformError(f"{call} answered without accessJwt, refreshJwt, did and handle")
        access, refresh, did, handle = values
        return _Session(access=access, refresh=refresh, did=did, handle=handle)  # type: ignore[arg-type]

    async def _xrpc(
        self, method: str, nsid: str, *, params: Any = None, body: Any = None
    ) -> ApiResponse:
        """Call an XRPC method with the session; an expired token is refreshed once."""
        session = await self._current_session()
        for attempt in (1, 2):
            try:
                answer = await self.api.call(
                    method,
                    f"/xrpc/{nsid}",
                    params=params,
                    json_body=body,
                    headers={"Authorization": f"Bearer {session.access}"},
                )
                if answer.remaining is not None and answer.remaining <= 0:
                    self._exhausted = answer.wait if answer.wait is not None else 60.0
                return answer
            except PlatformError as exc:
                if attempt == 2 or not (exc.code in _EXPIRED or exc.status == 401):
                    raise
            await self._refresh(session)
            session = await self._current_session()
        raise AssertionError("unreachable")

    # Reading

    async def fetch(self, cursor: str | None) -> Batch:
        """Mentions, replies, quotes and search hits newer than `cursor`, oldest first."""
        edges = _load_cursor(cursor, self.source_id)
        config = self.settings
        self._exhausted = None
        try:
            session = await self._current_session()
            found: dict[str, tuple[datetime, Item]] = {}
            streams: list[tuple[str, str, list[tuple[str, str]]]] = []
            if config.mentions:
                reasons = [("reasons", str(r)) for r in config.reasons]
                streams.append(
                    ("notifications", "app.bsky.notification.listNotifications", reasons)
                )
            for term in config.search:
                query = [("q", term), ("sort", "latest")]
                streams.append((f"search:{term}", "app.bsky.feed.searchPosts", query))
            for key, nsid, params in streams:
                entries, edge = await self._read(key, nsid, params, edges.get(key))
                if edge is not None:
                    edges[key] = edge
                for entry in entries:
                    item = self._item(entry, session, notification=key == "notifications")
                    if item is not None and item.external_id not in found:
                        found[item.external_id] = (entry.indexedAt, item)
                if self._exhausted is not None:
                    break  # the other streams wait for the next window
            items = [item for _, item in sorted(found.values(), key=lambda pair: pair[0])]
            if self._exhausted is None:
                items = await self._with_audience(items)
        except PlatformError as exc:
            raise SourceError(self.source_id, str(exc), retry_after=exc.retry_after) from None
        text = json.dumps({k: e.dump() for k, e in edges.items()}, sort_keys=True)
        wait = self._exhausted
        if wait is not None:
            log.info(
                "%s: no calls left in the rate-limit window; resting %.0f s", self.source_id, wait
            )
        return Batch(items=items, cursor=text, retry_after=wait)

    async def _read(
        self, key: str, nsid: str, params: list[tuple[str, str]], edge: _Edge | None
    ) -> tuple[list[_Entry], _Edge | None]:
        config = self.settings
        seen = set(edge.seen) if edge else set()
        entries: list[_Entry] = []
        page_cursor: str | None = None
        reached = edge is None
        for _ in range(config.max_pages):
            query = [*params, ("limit", str(config.page_size))]
            if page_cursor:
                query.append(("cursor", page_cursor))
            answer = await self._xrpc("GET", nsid, params=query)
            data = answer.data
            listed = (
                data.get("notifications" if key == "notifications" else "posts")
                if isinstance(data, dict)
                else None
            )
            if not isinstance(listed, list):
                raise PlatformError(
                    f"{nsid} answered {type(data).__name__} without a list of posts"
                )
            older = False
            for raw in listed:
                try:
                    entry = _Entry.model_validate(raw)
                except ValidationError as exc:
                    log.warning(
                        "%s: skipped an entry of %s: %s",
                        self.source_id,
                        key,
                        exc.errors()[0]["msg"],
                    )
                    continue
                if edge is not None and entry.indexedAt < edge.at:
                    older = True
                    break
                if entry.uri in seen:
                    # The edge of the last poll: no page after this one is needed, but
                    # posts of the very same instant may follow on this page.
                    older = older or (edge is not None and entry.indexedAt <= edge.at)
                    continue
                entries.append(entry)
            next_cursor = data.get("cursor")
            if self._exhausted is not None and not older and edge is not None:
                # No calls left before the pages in between are read: keep the old edge,
                # so the next poll reads them (what is read now is not stored twice).
                return entries, edge
            if older:
                reached = True
                break
            if edge is None or not listed or not isinstance(next_cursor, str) or not next_cursor:
                reached = True
                break  # the first poll takes the newest page; no cursor means no more
            page_cursor = next_cursor
        if not reached:
            log.warning(
                "%s: more than %d pages of new %s since the last poll; older ones skipped",
                self.source_id,
                config.max_pages,
                key,
            )
        if not entries:
            return entries, edge
        newest = max(entry.indexedAt for entry in entries)
        if edge is not None and edge.at > newest:
            newest = edge.at
        recent = [e.uri for e in sorted(entries, key=lambda e: e.indexedAt, reverse=True)]
        kept = recent + [uri for uri in (edge.seen if edge else ()) if uri not in set(recent)]
        return entries, _Edge(at=newest, seen=tuple(kept[:SEEN_LIMIT]))

    def _item(self, entry: _Entry, session: _Session, *, notification: bool) -> Item | None:
        if entry.author.did == session.did:
            return None  # our own posts are not mentions
        if notification and entry.reason not in self.settings.reasons:
            return None
        try:
            record = _PostRecord.model_validate(entry.record)
        except ValidationError:
            return None
        if record.type != POST:
            return None
        return Item(
            external_id=entry.uri,
            text=record.text,
            author=Author(
                handle=entry.author.handle,
                name=entry.author.displayName,
                url=f"{self.settings.web_url}/profile/{quote(entry.author.handle, safe='')}",
            ),
            url=self._post_url(entry.author.handle, entry.uri),
            created_at=record.createdAt or entry.indexedAt,
            language=record.langs[0] if record.langs else None,
            parent_id=record.reply.parent.uri if record.reply else None,
        )

    def _post_url(self, handle: str, uri: str) -> str:
        rkey = uri.rsplit("/", 1)[-1]
        return (
            f"{self.settings.web_url}/profile/{quote(handle, safe='')}/post/{quote(rkey, safe='')}"
        )

    async def _with_audience(self, items: list[Item]) -> list[Item]:
        """The items with their authors' follower counts (getProfiles, 25 at a time)."""
        handles = sorted({item.author.handle for item in items})
        followers: dict[str, int] = {}
        for start in range(0, len(handles), PROFILES_PER_CALL):
            chunk = handles[start : start + PROFILES_PER_CALL]
            try:
                answer = await self._xrpc(
                    "GET", "app.bsky.actor.getProfiles", params=[("actors", h) for h in chunk]
                )
            except PlatformError as exc:
                # Audience only orders the work; the mentions matter more than the counts.
                log.warning("%s: follower counts unavailable: %s", self.source_id, exc)
                break
            profiles = answer.data.get("profiles") if isinstance(answer.data, dict) else None
            for profile in profiles if isinstance(profiles, list) else []:
                if not isinstance(profile, dict):
                    continue
                handle, count = profile.get("handle"), profile.get("followersCount")
                if isinstance(handle, str) and isinstance(count, int) and count >= 0:
                    followers[handle] = count
        return [
            replace(item, author=replace(item.author, audience=followers.get(item.author.handle)))
            if item.author.handle in followers
            else item
            for item in items
        ]

    # Answering

    def posting_as(self) -> str:
        """The Bluesky account this source signs in as."""
        handle = self.settings.identifier.removeprefix("@")
        return f"@{handle} on Bluesky ({self.settings.service})"

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Post the answer in the customer's thread (root and parent), with link facets.

        The record's key (rkey) is derived from `key`, so a second try of the same answer,
        in this process or after a restart, finds the first in the repository instead of
        posting it again.
        """
        count, size = graphemes(text), len(text.encode("utf-8"))
        if count > MAX_GRAPHEMES or size > MAX_BYTES:
            raise DeliveryError(
                f"the reply is {count} characters ({size} bytes); Bluesky allows"
                f" {MAX_GRAPHEMES} characters and {MAX_BYTES} bytes",
                permanent=True,
            )
        try:
            session = await self._current_session()
            rkey = record_key(mention, key)
            earlier = await self._own_reply(session, rkey, mention, text)
            if earlier is not None:
                return earlier
            parent, root = await self._thread_of(mention)
            record: dict[str, Any] = {
                "$type": POST,
                "text": text,
                "createdAt": _timestamp(self.clock.now()),
                "reply": {"root": root.model_dump(), "parent": parent.model_dump()},
            }
            facets = link_facets(text)
            if facets:
                record["facets"] = facets
            if mention.language:
                record["langs"] = [mention.language]
            body = {"repo": session.did, "collection": POST, "rkey": rkey, "record": record}
            try:
                answer = await self._xrpc("POST", "com.atproto.repo.createRecord", body=body)
            except PlatformError as exc:
                if exc.transient:
                    raise
                earlier = await self._own_reply(session, rkey, mention, text)
                if earlier is not None:
                    return earlier  # posted by a try we did not hear back from
                if "already exists" not in str(exc):
                    raise
                # Another answer holds this key (a store started afresh): a new key.
                body["rkey"] = record_key(mention, f"{key}|{self.clock.now().isoformat()}")
                answer = await self._xrpc("POST", "com.atproto.repo.createRecord", body=body)
        except PlatformError as exc:
            raise DeliveryError(
                str(exc), retry_after=exc.retry_after, permanent=not exc.transient
            ) from None
        uri = answer.data.get("uri") if isinstance(answer.data, dict) else None
        if not isinstance(uri, str):
            log.warning(
                "%s: createRecord answered without a uri: %.200r", self.source_id, answer.data
            )
            uri = ""
        return ExternalRef(id=uri, url=self._post_url(session.handle, uri) if uri else "")

    async def sent_before(self, mention: Mention, text: str, *, key: str) -> ExternalRef | None:
        """The answer with this `key` if an earlier try posted it, else None."""
        try:
            session = await self._current_session()
            return await self._own_reply(session, record_key(mention, key), mention, text)
        except PlatformError as exc:
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from None

    async def _own_reply(
        self, session: _Session, rkey: str, mention: Mention, text: str
    ) -> ExternalRef | None:
        """Our post under `rkey` if it is this answer to this mention, else None."""
        try:
            answer = await self._xrpc(
                "GET",
                "com.atproto.repo.getRecord",
                params=[("repo", session.did), ("collection", POST), ("rkey", rkey)],
            )
        except PlatformError as exc:
            if exc.code == "RecordNotFound" or (exc.status == 400 and "not" in str(exc).lower()):
                return None
            raise
        value = answer.data.get("value") if isinstance(answer.data, dict) else None
        uri = answer.data.get("uri") if isinstance(answer.data, dict) else None
        if not isinstance(value, dict) or not isinstance(uri, str):
            return None
        reply = value.get("reply")
        parent = reply.get("parent", {}).get("uri") if isinstance(reply, dict) else None
        if parent != mention.external_id or value.get("text") != text:
            return None
        log.info("%s: the reply to %s was posted by an earlier try", self.source_id, parent)
        return ExternalRef(id=uri, url=self._post_url(session.handle, uri))

    async def _thread_of(self, mention: Mention) -> tuple[_StrongRef, _StrongRef]:
        """Strong references to the post answered and to its thread's root."""
        answer = await self._xrpc(
            "GET", "app.bsky.feed.getPosts", params=[("uris", mention.external_id)]
        )
        posts = answer.data.get("posts") if isinstance(answer.data, dict) else None
        if not isinstance(posts, list) or not posts:
            raise PlatformError(
                f"the post {mention.url or mention.external_id} is gone (deleted or blocked)",
                transient=False,
            )
        try:
            post = _Entry.model_validate(posts[0])
            record = _PostRecord.model_validate(post.record)
        except ValidationError as exc:
            raise PlatformError(f"getPosts answered a post we cannot read: {exc}") from None
        parent = _StrongRef(uri=post.uri, cid=post.cid)
        return parent, record.reply.root if record.reply else parent


_TID_DIGITS = "234567abcdefghijklmnopqrstuvwxyz"


def record_key(mention: Mention, key: str) -> str:
    """A record key (a TID, as post keys must be) that is the same for every try of one
    answer: the mention's time, plus a part of a second and a clock id from `key`."""
    digest = int.from_bytes(hashlib.sha256(f"{mention.external_id}|{key}".encode()).digest()[:8])
    when = mention.created_at or mention.received_at
    micros = int(when.timestamp() * 1_000_000) + digest % 1_000_000
    value = ((micros & ((1 << 53) - 1)) << 10) | (digest >> 54)
    return "".join(_TID_DIGITS[(value >> (60 - 5 * i)) & 31] for i in range(13))


def _timestamp(when: datetime) -> str:
    """An atproto datetime: UTC with milliseconds and a Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _load_cursor(text: str | None, source_id: str) -> dict[str, _Edge]:
    if not text:
        return {}
    try:
        data = json.loads(text)
        edges = {}
        for key, value in data.items():
            seen = value["seen"]
            if not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
                raise ValueError("seen is not a list of uris")
            edges[str(key)] = _Edge(at=datetime.fromisoformat(value["at"]), seen=tuple(seen))
        return edges
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning(
            "%s: cursor %.80r is not readable; starting from the newest posts", source_id, text
        )
        return {}
