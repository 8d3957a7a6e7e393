"""A fake of X API v2 on 127.0.0.1, shaped from docs.x.com.

Serves `POST /2/oauth2/token` (refresh_token grant; the refresh token rotates and the
old one stops working), `GET /2/users/me`, `GET /2/users/:id/mentions` and
`GET /2/tweets/search/recent` (newest first, `since_id`, `max_results`, page tokens,
`expansions=author_id` with `public_metrics`), `GET /2/users/:id/tweets` and
`POST /2/tweets` (with `reply.in_reply_to_tweet_id`). Every answer carries
`x-rate-limit-limit`, `-remaining` and `-reset` (Unix seconds) per endpoint; a spent window
answers 429. Tests expire the access token, delete posts, make answers fail, and read
every request.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

import regex
from aiohttp import web

from tests.fakes.failures import FailsOnRequest, Failure, injected
from tests.fakes.local import LocalServer

CLIENT_ID = "fake-client-id"
REFRESH = "refresh-0"
# Code points twitter-text's v3 config weighs 1 (the rest weigh 2).
LIGHT = frozenset([*range(0, 4352), *range(8192, 8206), *range(8208, 8224), *range(8242, 8248)])
CONSUMER = ("fake-consumer-key", "fake-consumer-secret")
OAUTH1 = ("1000-fake-access-token", "fake-access-token-secret")
ME = {"id": "1000", "username": "acme", "name": "Acme"}


def weighted(text: str) -> int:
    """X's count, done independently: links 23, emoji 2, code points by twitter-text's ranges."""
    text = regex.sub(r"https?://\S+", "x" * 23, text)
    total = 0
    for grapheme in regex.findall(r"\X", text):
        if regex.search(r"\p{Extended_Pictographic}|\p{Regional_Indicator}", grapheme):
            total += 2
        else:
            total += sum(1 if ord(c) in LIGHT else 2 for c in grapheme)
    return total


@dataclass
class FakeX(FailsOnRequest, LocalServer):
    """Posts, users and tokens in memory; point a source's `api` at `address`."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    window: int = 75  # calls per endpoint per 15 minutes
    remaining: dict[str, int] = field(default_factory=dict)
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    access: str = "access-0"
    refresh: str = REFRESH
    requests: list[tuple[str, str, dict[str, str], Any]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    delay_first_post: float = 0.0
    nonces: set[str] = field(default_factory=set)
    _ids: Any = field(default_factory=lambda: itertools.count(1_800_000_000_000_000_000, 1000))
    _tokens: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self.users[ME["id"]] = {**ME, "public_metrics": {"followers_count": 9000}}

    def user(self, username: str, followers: int = 10) -> dict[str, Any]:
        """A user (made once per name)."""
        for user in self.users.values():
            if user["username"] == username:
                return user
        user = {
            "id": str(5000 + len(self.users)),
            "username": username,
            "name": username.title(),
            "public_metrics": {"followers_count": followers},
        }
        self.users[user["id"]] = user
        return user

    def post(
        self,
        text: str,
        *,
        by: str = "ann",
        followers: int = 10,
        reply_to: dict[str, Any] | None = None,
        retweet: bool = False,
    ) -> dict[str, Any]:
        """A post by `by` (a mention of @acme when the text names it)."""
        author = self.user(by, followers)
        tweet_id = str(next(self._ids))
        self.now += timedelta(seconds=1)
        refs = []
        if reply_to:
            refs.append({"type": "replied_to", "id": reply_to["id"]})
        if retweet:
            refs.append({"type": "retweeted", "id": "1"})
        tweet = {
            "id": tweet_id,
            "text": text,
            "author_id": author["id"],
            "lang": "en",
            "created_at": self.now.isoformat().replace("+00:00", ".000Z"),
            "conversation_id": (reply_to or {}).get("conversation_id", tweet_id),
            "referenced_tweets": refs,
            "edit_history_tweet_ids": [tweet_id],
        }
        self.tweets[tweet_id] = tweet
        return tweet

    def delete(self, tweet: dict[str, Any]) -> None:
        """The author deletes the post."""
        self.tweets.pop(tweet["id"], None)

    def expire(self) -> None:
        """The access token stops working (its two hours are up)."""
        self.access = f"expired-{self.access}"

    def requests_to(self, path: str, method: str = "GET") -> list[dict[str, str]]:
        """Query (or form) of each request to a path starting with `path`."""
        return [q for m, p, q, _ in self.requests if p.startswith(path) and m == method]

    def source_yaml(self) -> str:
        """The playbook's `sources:` entry that reads this fake."""
        return (
            f"  - id: x\n    kind: x\n    api: {self.address}\n    client_id: {CLIENT_ID}\n"
            f"    refresh_token: {REFRESH}\n"
        )

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def _limits(self, path: str) -> tuple[dict[str, str], bool]:
        """This endpoint's rate-limit headers, and whether its window is spent."""
        endpoint = "mentions" if path.endswith("/mentions") else path
        left = self.remaining.setdefault(endpoint, self.window)
        self.remaining[endpoint] = max(0, left - 1)
        reset = int((self.now + timedelta(minutes=15)).timestamp())
        headers = {
            "x-rate-limit-limit": str(self.window),
            "x-rate-limit-remaining": str(max(0, left - 1)),
            "x-rate-limit-reset": str(reset),
            "Date": self.now.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        }
        return headers, left == 0

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        body: Any = None
        if request.method == "POST":
            raw = await request.read()
            if request.content_type == "application/x-www-form-urlencoded":
                body = dict((await request.post()).items())
            else:
                body = json.loads(raw or b"null")
        query = (
            dict(request.query)
            if request.method == "GET"
            else (body if isinstance(body, dict) else {})
        )
        self.requests.append((request.method, path, query, dict(request.headers)))
        failed = injected(self.failures, path, lambda status: {"title": "Error", "status": status})
        if failed is not None:
            return failed
        if path == "/2/oauth2/token":
            return self._token(request, body or {})
        headers, spent = self._limits(path)
        signed = request.headers.get("Authorization", "").startswith("OAuth ")
        bearer = request.headers.get("Authorization") == f"Bearer {self.access}"
        if not (self._oauth1_valid(request) if signed else bearer):
            return web.json_response(
                {
                    "title": "Unauthorized",
                    "type": "about:blank",
                    "status": 401,
                    "detail": "Unauthorized",
                },
                status=401,
                headers=headers,
            )
        if spent:
            return web.json_response(
                {
                    "title": "Too Many Requests",
                    "detail": "Too Many Requests",
                    "type": "about:blank",
                    "status": 429,
                },
                status=429,
                headers=headers,
            )
        if path == "/2/users/me":
            return web.json_response({"data": ME}, headers=headers)
        if path == "/2/tweets" and request.method == "POST":
            return await self._post(body, headers)
        if path.endswith("/mentions"):
            found = [t for t in self.tweets.values() if "@acme" in t["text"].lower()]
            return self._page(found, request.query, "pagination_token", headers)
        if path == "/2/tweets/search/recent":
            words = request.query.get("query", "").lower().split()
            found = [
                t
                for t in self.tweets.values()
                if all(w in t["text"].lower() for w in words if not w.startswith("-"))
            ]
            return self._page(found, request.query, "next_token", headers)
        if path.startswith("/2/users/") and path.endswith("/tweets"):
            found = [t for t in self.tweets.values() if t["author_id"] == ME["id"]]
            return self._page(found, request.query, "pagination_token", headers)
        return web.json_response({"title": "Not Found Error", "status": 404}, status=404)

    def _oauth1_valid(self, request: web.Request) -> bool:
        """Checks an OAuth 1.0a signature the way RFC 5849 builds it; a nonce works once."""
        header = dict(
            (k, unquote(v))
            for k, v in re.findall(r'(\w+)="([^"]*)"', request.headers["Authorization"])
        )
        if (
            header.get("oauth_consumer_key") != CONSUMER[0]
            or header.get("oauth_token") != OAUTH1[0]
        ):
            return False
        if header.get("oauth_nonce") in self.nonces:
            return False
        self.nonces.add(header.get("oauth_nonce", ""))
        given = header.pop("oauth_signature", "")
        enc = lambda text: quote(text, safe="~")  # noqa: E731
        params = sorted((enc(k), enc(v)) for k, v in [*request.query.items(), *header.items()])
        base = "&".join(
            [
                request.method,
                enc(f"{request.url.scheme}://{request.url.host}:{request.url.port}{request.path}"),
                enc("&".join(f"{k}={v}" for k, v in params)),
            ]
        )
        key = f"{enc(CONSUMER[1])}&{enc(OAUTH1[1])}".encode()
        expected = base64.b64encode(hmac.new(key, base.encode(), hashlib.sha1).digest()).decode()
        return hmac.compare_digest(expected, given)

    def _token(self, request: web.Request, form: dict[str, str]) -> web.Response:
        client = form.get("client_id")
        basic = request.headers.get("Authorization", "")
        if basic.startswith("Basic "):
            client = base64.b64decode(basic[6:]).decode().split(":")[0]
        if form.get("grant_type") != "refresh_token" or client != CLIENT_ID:
            return web.json_response(
                {"error": "invalid_request", "error_description": "Missing required parameter"},
                status=400,
            )
        if form.get("refresh_token") != self.refresh:
            return web.json_response(
                {
                    "error": "invalid_request",
                    "error_description": "Value passed for the token was invalid.",
                },
                status=400,
            )
        number = next(self._tokens)
        self.access, self.refresh = f"access-{number}", f"refresh-{number}"
        return web.json_response(
            {
                "token_type": "bearer",
                "expires_in": 7200,
                "access_token": self.access,
                "scope": "tweet.read tweet.write users.read offline.access",
                "refresh_token": self.refresh,
            }
        )

    def _page(
        self, found: list[dict[str, Any]], query: Any, token_name: str, headers: dict[str, str]
    ) -> web.Response:
        since = query.get("since_id")
        until = query.get(token_name)
        size = int(query.get("max_results", "10"))
        key = lambda t: (len(t["id"]), t["id"])  # noqa: E731
        rows = sorted(found, key=key, reverse=True)
        if since:
            rows = [t for t in rows if key(t) > (len(since), since)]
        if until:  # the fake's page token is the id the next page starts below
            start = base64.urlsafe_b64decode(until.encode()).decode()
            rows = [t for t in rows if key(t) < (len(start), start)]
        page, rest = rows[:size], rows[size:]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta.update(newest_id=page[0]["id"], oldest_id=page[-1]["id"])
        if rest:
            meta["next_token"] = base64.urlsafe_b64encode(page[-1]["id"].encode()).decode()
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            authors = {t["author_id"] for t in page}
            body["includes"] = {"users": [self.users[a] for a in authors if a in self.users]}
        return web.json_response(body, headers=headers)

    async def _post(self, body: Any, headers: dict[str, str]) -> web.Response:
        text = body.get("text", "") if isinstance(body, dict) else ""
        target = ((body or {}).get("reply") or {}).get("in_reply_to_tweet_id")
        if weighted(text) > 280:
            return web.json_response(
                {
                    "errors": [{"message": "Tweet text is too long"}],
                    "title": "Invalid Request",
                    "status": 400,
                    "detail": "One or more parameters to your request was invalid.",
                },
                status=400,
                headers=headers,
            )
        if target not in self.tweets:
            return web.json_response(
                {
                    "title": "Forbidden",
                    "status": 403,
                    "type": "about:blank",
                    "detail": "You attempted to reply to a Tweet that is deleted"
                    " or not visible to you.",
                },
                status=403,
                headers=headers,
            )
        tweet = self.post(text, by=ME["username"], reply_to=self.tweets[target])
        self.posted.append(tweet)
        if self.delay_first_post and len(self.posted) == 1:
            await asyncio.sleep(self.delay_first_post)
        return web.json_response(
            {"data": {"id": tweet["id"], "text": text, "edit_history_tweet_ids": [tweet["id"]]}},
            status=201,
            headers=headers,
        )
