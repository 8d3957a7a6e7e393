"""A fake Bluesky PDS (with its app view) on 127.0.0.1, shaped from the atproto lexicons.

It serves the XRPC methods allhands calls: `com.atproto.server.createSession` and
`refreshSession`, `app.bsky.notification.listNotifications`, `app.bsky.feed.searchPosts`,
`app.bsky.actor.getProfiles`, `app.bsky.feed.getPosts`, `com.atproto.repo.createRecord`
(with an optional `rkey`, refused when taken), `getRecord` and `listRecords`. Errors are
XRPC's `{"error": Name, "message": ...}`. Tests can expire the access or refresh tokens
(`400 ExpiredToken`), rate-limit `createSession` (`429` with `RateLimit-*` headers),
count every call against a rate-limit window (`rate_remaining`: `RateLimit-*` headers on
each answer, 429 once none is left), make calls fail, and read every request and every
record created. `createRecord` checks what the real one checks for a reply: the text's
length, the byte ranges of facets, and that root and parent are strong references (uri
and cid) to posts that exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import regex
from aiohttp import web

from tests.fakes.local import LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "bluesky"
HANDLE = "lumo.bsky.social"
DID = "did:plc:lumo000000000000000000"
PASSWORD = "abcd-efgh-ijkl-mnop"


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture under tests/fixtures/bluesky, as a fresh dict."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def stamp(when: datetime) -> str:
    """An atproto datetime."""
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class SeenRequest:
    """One request as the fake received it."""

    method: str
    nsid: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any


@dataclass
class FakeBluesky(LocalServer):
    """The fake service; `start()` it and point a source's `service` at `url`."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    logins_allowed: int = 30  # createSession calls before it answers 429
    delay_first_create: float = 0.0  # the first createRecord answers this late (after posting)
    latency: float = 0.0  # seconds every answer takes, after the call has taken effect
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)  # uri -> post view
    notifications: list[dict[str, Any]] = field(default_factory=list)
    followers: dict[str, int] = field(default_factory=dict)  # handle -> followers
    created: list[dict[str, Any]] = field(default_factory=list)  # createRecord inputs accepted
    requests: list[SeenRequest] = field(default_factory=list)
    failures: dict[str, list[int]] = field(default_factory=dict)  # nsid -> statuses to answer
    access: dict[str, bool] = field(default_factory=dict)  # token -> still valid
    refresh: dict[str, bool] = field(default_factory=dict)
    logins: int = 0
    refreshes: int = 0
    # Calls left in the rate-limit window (None: no RateLimit-* headers on answers). Every
    # answer then says what is left; a call made with none left gets 429.
    rate_remaining: int | None = None
    rate_reset: timedelta = timedelta(minutes=5)
    _tokens: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _clock: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def url(self) -> str:
        """The service's base address."""
        return f"http://127.0.0.1:{self._port}"

    def _tid(self) -> str:
        n = next(self._clock)
        return f"3l{n:011d}"

    def _at(self) -> str:
        self.now += timedelta(seconds=1)
        return stamp(self.now)

    def post(
        self,
        text: str,
        *,
        handle: str = "ann.bsky.social",
        reply_to: str | None = None,
        reason: str | None = "mention",
        langs: tuple[str, ...] = ("en",),
        followers: int = 10,
    ) -> dict[str, Any]:
        """A post by someone; it notifies the account for `reason` (None: it does not)."""
        did = (
            DID if handle == HANDLE else "did:plc:" + hashlib.sha1(handle.encode()).hexdigest()[:24]
        )
        uri = f"at://{did}/app.bsky.feed.post/{self._tid()}"
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": stamp(self.now),
            "langs": list(langs),
        }
        if reply_to is not None:
            parent = self.posts[reply_to]
            root = parent["record"].get("reply", {}).get("root") or {
                "uri": parent["uri"],
                "cid": parent["cid"],
            }
            record["reply"] = {"root": root, "parent": {"uri": parent["uri"], "cid": parent["cid"]}}
        return self._store(did, handle, uri, record, reason=reason, followers=followers)

    def _store(
        self,
        did: str,
        handle: str,
        uri: str,
        record: dict[str, Any],
        *,
        reason: str | None,
        followers: int = 10,
    ) -> dict[str, Any]:
        view = fixture("post_view.json")
        view.update(
            uri=uri,
            cid="bafyrei"
            + hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:52],
            record=record,
            indexedAt=self._at(),
        )
        view["author"].update(did=did, handle=handle, displayName=handle.split(".")[0].title())
        self.posts[uri] = view
        self.followers.setdefault(handle, followers)
        if reason is not None:
            notification = fixture("notification.json")
            notification.update(
                uri=uri,
                cid=view["cid"],
                author=view["author"],
                reason=reason,
                record=record,
                indexedAt=view["indexedAt"],
            )
            self.notifications.append(notification)
        return view

    def expire_access(self) -> None:
        """Every access token issued so far has expired."""
        self.access = dict.fromkeys(self.access, False)

    def expire_refresh(self) -> None:
        """Every refresh token issued so far has expired (and access tokens too)."""
        self.expire_access()
        self.refresh = dict.fromkeys(self.refresh, False)

    def fail(self, nsid: str, *statuses: int) -> None:
        """The next calls of `nsid` answer these statuses, in order."""
        self.failures.setdefault(nsid, []).extend(statuses)

    def calls(self, nsid: str) -> list[SeenRequest]:
        """The requests received for one method."""
        return [r for r in self.requests if r.nsid == nsid]

    # Server

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("*", "/xrpc/{nsid}", self._handle)

    def _json(self, data: Any, status: int = 200, **headers: str) -> web.Response:
        return web.json_response(
            data, status=status, headers={"Date": format_datetime(self.now, usegmt=True), **headers}
        )

    def _error(self, status: int, name: str, message: str, **headers: str) -> web.Response:
        return self._json({"error": name, "message": message}, status=status, **headers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        nsid = request.match_info["nsid"]
        body = await request.json() if request.can_read_body else None
        self.requests.append(
            SeenRequest(
                request.method, nsid, list(request.query.items()), dict(request.headers), body
            )
        )
        pending = self.failures.get(nsid)
        if pending:
            status = pending.pop(0)
            return self._error(status, "InternalServerError", "Internal Server Error")
        if nsid == "com.atproto.server.createSession":
            return self._create_session(body or {})
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if nsid == "com.atproto.server.refreshSession":
            if not self.refresh.get(bearer):
                message = (
                    "Token has expired" if bearer in self.refresh else "Token could not be verified"
                )
                name = "ExpiredToken" if bearer in self.refresh else "InvalidToken"
                return self._error(400, name, message)
            self.refreshes += 1
            self.refresh[bearer] = False  # refresh tokens are single-use
            return self._json(self._session())
        if bearer not in self.access:
            return self._error(401, "AuthenticationRequired", "Authentication Required")
        limits: dict[str, str] = {}
        if self.rate_remaining is not None:
            reset = str(int((self.now + self.rate_reset).timestamp()))
            if self.rate_remaining <= 0:
                return self._error(
                    429, "RateLimitExceeded", "Rate Limit Exceeded",
                    **{"RateLimit-Limit": "3000", "RateLimit-Remaining": "0",
                       "RateLimit-Reset": reset},
                )  # fmt: skip
            self.rate_remaining -= 1
            limits = {
                "RateLimit-Limit": "3000",
                "RateLimit-Remaining": str(self.rate_remaining),
                "RateLimit-Reset": reset,
            }
        if not self.access[bearer]:
            return self._error(400, "ExpiredToken", "Token has expired")
        handler = {
            "app.bsky.notification.listNotifications": self._list_notifications,
            "app.bsky.feed.searchPosts": self._search,
            "app.bsky.actor.getProfiles": self._profiles,
            "app.bsky.feed.getPosts": self._get_posts,
            "com.atproto.repo.createRecord": self._create_record,
            "com.atproto.repo.listRecords": self._list_records,
            "com.atproto.repo.getRecord": self._get_record,
        }.get(nsid)
        if handler is None:
            return self._error(501, "MethodNotImplemented", f"Method Not Implemented: {nsid}")
        answer = handler(request, body)
        answer.headers.update(limits)
        if nsid == "com.atproto.repo.createRecord" and len(self.created) == 1:
            await asyncio.sleep(self.delay_first_create)  # posted, but answered too late
        if self.latency:
            await asyncio.sleep(self.latency)
        return answer

    def _session(self) -> dict[str, Any]:
        session = fixture("session.json")
        access, refresh = f"access-{next(self._tokens)}", f"refresh-{next(self._tokens)}"
        self.access[access] = True
        self.refresh[refresh] = True
        session.update(accessJwt=access, refreshJwt=refresh, handle=HANDLE, did=DID)
        return session

    def _create_session(self, body: dict[str, Any]) -> web.Response:
        self.logins += 1
        if self.logins > self.logins_allowed:
            reset = int((self.now + timedelta(minutes=5)).timestamp())
            return self._error(
                429,
                "RateLimitExceeded",
                "Rate Limit Exceeded",
                **{
                    "RateLimit-Limit": "30",
                    "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(reset),
                },
            )
        if body.get("identifier") not in (HANDLE, DID) or body.get("password") != PASSWORD:
            return self._error(401, "AuthenticationRequired", "Invalid identifier or password")
        return self._json(self._session())

    def _newest_first(
        self, request: web.Request, entries: list[dict[str, Any]], key: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """A page of entries newest first; the cursor is the last one's time (exclusive)."""
        limit = min(int(request.query.get("limit", 50)), 100)
        ordered = sorted(entries, key=lambda e: str(e.get("indexedAt", "")), reverse=True)
        cursor = request.query.get("cursor")
        if cursor:
            ordered = [e for e in ordered if str(e.get("indexedAt", "")) < cursor]
        page = ordered[:limit]
        more = len(ordered) > limit
        return page, (str(page[-1].get("indexedAt", "")) if page and more else None)

    def _list_notifications(self, request: web.Request, body: Any) -> web.Response:
        reasons = request.query.getall("reasons", [])
        entries = [n for n in self.notifications if not reasons or n.get("reason") in reasons]
        page, cursor = self._newest_first(request, entries, "notifications")
        return self._json({"notifications": page, **({"cursor": cursor} if cursor else {})})

    def _search(self, request: web.Request, body: Any) -> web.Response:
        words = request.query.get("q", "").lower()
        entries = [p for p in self.posts.values() if words in p["record"]["text"].lower()]
        page, cursor = self._newest_first(request, entries, "posts")
        return self._json({"posts": page, **({"cursor": cursor} if cursor else {})})

    def _profiles(self, request: web.Request, body: Any) -> web.Response:
        actors = request.query.getall("actors", [])
        if len(actors) > 25:
            return self._error(400, "InvalidRequest", "actors must not have more than 25 elements")
        profiles = []
        for handle in actors:
            if handle in self.followers:
                profile = fixture("profile.json")
                profile.update(handle=handle, followersCount=self.followers[handle])
                profiles.append(profile)
        return self._json({"profiles": profiles})

    def _get_posts(self, request: web.Request, body: Any) -> web.Response:
        uris = request.query.getall("uris", [])
        return self._json({"posts": [self.posts[u] for u in uris if u in self.posts]})

    def _create_record(self, request: web.Request, body: Any) -> web.Response:
        if not isinstance(body, dict) or body.get("repo") != DID:
            return self._error(400, "InvalidRequest", "repo must be the session's DID")
        record = body.get("record")
        if body.get("collection") != "app.bsky.feed.post" or not isinstance(record, dict):
            return self._error(400, "InvalidRequest", "Invalid collection or record")
        text = record.get("text", "")
        if record.get("$type") != "app.bsky.feed.post" or not record.get("createdAt"):
            return self._error(400, "InvalidRequest", "Record/$type and createdAt are required")
        if len(regex.findall(r"\X", text)) > 300 or len(text.encode("utf-8")) > 3000:
            return self._error(
                400,
                "InvalidRequest",
                "Invalid app.bsky.feed.post record: Record/text must not be longer than"
                " 300 graphemes",
            )
        raw = text.encode("utf-8")
        for facet in record.get("facets", []):
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            if not 0 <= start < end <= len(raw):
                return self._error(400, "InvalidRequest", "facet byte range outside the text")
        reply = record.get("reply")
        if reply is not None:
            for part in ("root", "parent"):
                ref = reply.get(part) or {}
                known = self.posts.get(ref.get("uri", ""))
                if known is None or known["cid"] != ref.get("cid"):
                    return self._error(
                        400, "InvalidRequest", f"reply {part} is not a strong ref to a post"
                    )
        rkey = body.get("rkey")
        if rkey is not None and not re.fullmatch(r"[234567abcdefghij][2-7a-z]{12}", str(rkey)):
            return self._error(400, "InvalidRequest", "Invalid record key: must be a TID")
        uri = f"at://{DID}/app.bsky.feed.post/{rkey or self._tid()}"
        if uri in self.posts:
            # What the PDS says when a record with that key is in the repo already.
            return self._error(400, "InvalidRequest", f"Record already exists: {uri}")
        view = self._store(DID, HANDLE, uri, record, reason=None)
        self.created.append(body)
        return self._json(
            {
                "uri": uri,
                "cid": view["cid"],
                "commit": {"cid": "bafyreicommit", "rev": self._tid()},
                "validationStatus": "valid",
            }
        )

    def _get_record(self, request: web.Request, body: Any) -> web.Response:
        repo, collection = request.query.get("repo"), request.query.get("collection")
        uri = f"at://{repo}/{collection}/{request.query.get('rkey')}"
        post = self.posts.get(uri)
        if post is None or repo != DID:
            return self._error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return self._json({"uri": uri, "cid": post["cid"], "value": post["record"]})

    def _list_records(self, request: web.Request, body: Any) -> web.Response:
        repo = request.query.get("repo")
        mine = [p for p in self.posts.values() if p["author"]["did"] == repo]
        mine.sort(key=lambda p: p["uri"], reverse=True)
        limit = int(request.query.get("limit", 50))
        return self._json(
            {
                "records": [
                    {"uri": p["uri"], "cid": p["cid"], "value": p["record"]} for p in mine[:limit]
                ]
            }
        )
