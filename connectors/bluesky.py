"""Bluesky: mentions, replies and quotes of the account, and search terms; replies in thread.

The session comes from an app password (`bluesky_session`); the records as the lexicons
send them, the cursor and record keys are in `bluesky_records`. Notifications and search
results come newest first, so each stream remembers the newest time it handed over and
the posts seen at that edge, and pages back until it reaches them. Replies are
`app.bsky.feed.post` records whose `reply` holds strong references (uri + cid) to the
thread's root and the post answered, with link facets at UTF-8 byte offsets.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationError, field_validator

from bot.domain.mentions import Item, Mention
from bot.errors import DeliveryError, SourceError
from connectors.base import Batch, Connector, ConnectorConfig, ExternalRef, Limits, SearchTerms
from connectors.bluesky_records import (
    POST,
    Edge,
    Entry,
    PostRecord,
    StrongRef,
    entry_item,
    load_cursor,
    post_url,
    record_key,
    timestamp,
)
from connectors.bluesky_session import EXPIRED, AppPasswordSession, Session
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError, web_address
from connectors.richtext import graphemes, link_facets

log = logging.getLogger(__name__)

MAX_GRAPHEMES = 300
MAX_BYTES = 3000
SEEN_LIMIT = 500  # post uris remembered per stream, to skip repeats at the edge
PROFILES_PER_CALL = 25
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
        self.session = AppPasswordSession(
            self.api,
            identifier=config.identifier,
            app_password=config.app_password,
            service=config.service,
            source_id=self.source_id,
            clock=self.clock,
        )
        # Seconds until the rate-limit window resets, once a successful answer said no
        # calls are left (RateLimit-Remaining: 0): reading stops there until then.
        self._exhausted: float | None = None

    @property
    def settings(self) -> BlueskyConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, BlueskyConfig)
        return self.config

    async def _xrpc(
        self, method: str, nsid: str, *, params: Any = None, body: Any = None
    ) -> ApiResponse:
        """Call an XRPC method with the session; an expired token is refreshed once."""
        session = await self.session.current()
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
                if attempt == 2 or not (exc.code in EXPIRED or exc.status == 401):
                    raise
            await self.session.refresh(session)
            session = await self.session.current()
        raise AssertionError("unreachable")

    # Reading

    async def fetch(self, cursor: str | None) -> Batch:
        """Mentions, replies, quotes and search hits newer than `cursor`, oldest first."""
        edges = load_cursor(cursor, self.source_id)
        config = self.settings
        self._exhausted = None
        try:
            session = await self.session.current()
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
        self, key: str, nsid: str, params: list[tuple[str, str]], edge: Edge | None
    ) -> tuple[list[Entry], Edge | None]:
        config = self.settings
        seen = set(edge.seen) if edge else set()
        entries: list[Entry] = []
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
                    entry = Entry.model_validate(raw)
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
        return entries, Edge(at=newest, seen=tuple(kept[:SEEN_LIMIT]))

    def _item(self, entry: Entry, session: Session, *, notification: bool) -> Item | None:
        if entry.author.did == session.did:
            return None  # our own posts are not mentions
        if notification and entry.reason not in self.settings.reasons:
            return None
        return entry_item(entry, web_url=self.settings.web_url)

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
            session = await self.session.current()
            rkey = record_key(mention, key)
            earlier = await self._own_reply(session, rkey, mention, text)
            if earlier is not None:
                return earlier
            parent, root = await self._thread_of(mention)
            record: dict[str, Any] = {
                "$type": POST,
                "text": text,
                "createdAt": timestamp(self.clock.now()),
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
        return ExternalRef(
            id=uri, url=post_url(self.settings.web_url, session.handle, uri) if uri else ""
        )

    async def sent_before(self, mention: Mention, text: str, *, key: str) -> ExternalRef | None:
        """The answer with this `key` if an earlier try posted it, else None."""
        try:
            session = await self.session.current()
            return await self._own_reply(session, record_key(mention, key), mention, text)
        except PlatformError as exc:
            raise DeliveryError(str(exc), retry_after=exc.retry_after) from None

    async def _own_reply(
        self, session: Session, rkey: str, mention: Mention, text: str
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
        return ExternalRef(id=uri, url=post_url(self.settings.web_url, session.handle, uri))

    async def _thread_of(self, mention: Mention) -> tuple[StrongRef, StrongRef]:
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
            post = Entry.model_validate(posts[0])
            record = PostRecord.model_validate(post.record)
        except ValidationError as exc:
            raise PlatformError(f"getPosts answered a post we cannot read: {exc}") from None
        parent = StrongRef(uri=post.uri, cid=post.cid)
        return parent, record.reply.root if record.reply else parent
