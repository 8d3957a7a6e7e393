"""A fake Mastodon instance on 127.0.0.1, shaped from docs.joinmastodon.org.

It keeps statuses and notifications in memory and serves the methods allhands calls:
`GET /api/v2/instance`, `GET /api/v1/accounts/verify_credentials`,
`GET /api/v1/notifications` (with `types[]`), `GET /api/v1/timelines/tag/:hashtag`,
`GET /api/v2/search`, `GET /api/v1/statuses/:id` and `POST /api/v1/statuses` (with
`Idempotency-Key`). Lists page the way Mastodon pages them (`max_id`, `since_id`,
`min_id`, `limit`, and a `Link` header with `next` and `prev`), and every answer carries
`X-RateLimit-*` headers counted down from `rate_limit`. Tests can make the next answers
fail, answer garbage, or delay the first post past the client's timeout (after
recording it), and read every request received.
"""

from __future__ import annotations

import asyncio
import copy
import html
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import regex
from aiohttp import web

from tests.fakes.local import LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "mastodon"
TOKEN = "fake-mastodon-token"
_URL = regex.compile(r"https?://\S+")


def fixture(name: str) -> dict[str, Any]:
    """A JSON fixture under tests/fixtures/mastodon, as a fresh dict."""
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def counted_length(text: str, per_url: int = 23) -> int:
    """Mastodon's count, done independently of allhands' own: URLs as 23, graphemes."""
    text = _URL.sub("x" * per_url, text)
    text = regex.sub(r"@(\w+)@[\w.-]+\w", r"@\1", text)
    return len(regex.findall(r"\X", text))


@dataclass(frozen=True)
class SeenRequest:
    """One request as the fake received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Failure:
    """The next `times` requests under `path` answer `status` with `body` (or garbage)."""

    path: str
    status: int
    times: int
    body: Any = None
    raw: bytes | None = None


@dataclass
class FakeMastodon(LocalServer):
    """The fake instance; `start()` it, point a source's `instance` at `url`."""

    max_characters: int = 500
    rate_limit: int = 300
    remaining: int = 300
    reset_in: timedelta = timedelta(minutes=5)
    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 9, 0, tzinfo=UTC))
    delay_first_post: float = 0.0
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    requests: list[SeenRequest] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    idempotency: dict[str, str] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)  # statuses made through the API
    me: dict[str, Any] = field(default_factory=dict)
    _next_id: int = 110_000_000_000_000_000
    _posts_seen: int = 0

    def __post_init__(self) -> None:
        self.me = self.account("lumo", followers=5000, id="1", display_name="Lumo")

    @property
    def url(self) -> str:
        """The instance's base address."""
        return f"http://127.0.0.1:{self._port}"

    def _id(self) -> str:
        self._next_id += 1_000
        return str(self._next_id)

    def account(
        self, acct: str, *, followers: int = 10, id: str | None = None, display_name: str = ""
    ) -> dict[str, Any]:
        """An Account entity from the fixture."""
        account = fixture("account.json")
        username = acct.split("@")[0]
        domain = acct.split("@")[1] if "@" in acct else "mastodon.example"
        account.update(
            id=id or str(abs(hash(acct)) % 10**9 + 100),
            username=username,
            acct=acct,
            display_name=display_name or username.title(),
            url=f"https://{domain}/@{username}",
            followers_count=followers,
        )
        return account

    def post(
        self,
        text: str = "",
        *,
        acct: str = "ann@other.example",
        followers: int = 10,
        content: str | None = None,
        tags: tuple[str, ...] = (),
        mention: bool = True,
        in_reply_to: str | None = None,
        visibility: str = "public",
        spoiler_text: str = "",
        language: str | None = "en",
        account: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A status written by someone (a notification too, when it mentions the account)."""
        status = fixture("status.json")
        status_id = self._id()
        who = account or self.account(acct, followers=followers)
        body = content if content is not None else f"<p>{html.escape(text)}</p>"
        status.update(
            id=status_id,
            created_at=self._time(),
            content=body,
            spoiler_text=spoiler_text,
            visibility=visibility,
            language=language,
            in_reply_to_id=in_reply_to,
            account=who,
            uri=f"https://mastodon.example/users/{who['username']}/statuses/{status_id}",
            url=f"https://mastodon.example/@{who['username']}/{status_id}",
            tags=[{"name": t.lower(), "url": f"https://mastodon.example/tags/{t}"} for t in tags],
            mentions=[{"id": "1", "username": "lumo", "acct": "lumo", "url": self.me["url"]}]
            if mention
            else [],
        )
        self.statuses[status_id] = status
        if mention:
            notification = fixture("notification.json")
            notification.update(
                id=self._id(), created_at=status["created_at"], account=who, status=status
            )
            self.notifications.append(notification)
        return status

    def notify(self, kind: str, *, acct: str = "fan@other.example") -> dict[str, Any]:
        """A notification of another kind (favourite, follow…), which is not a mention."""
        notification = fixture("notification.json")
        who = self.account(acct)
        notification.update(
            id=self._id(),
            type=kind,
            account=who,
            status=None if kind == "follow" else next(iter(self.statuses.values()), None),
        )
        self.notifications.append(notification)
        return notification

    def fail(
        self, path: str, status: int, *, times: int = 1, body: Any = None, raw: bytes | None = None
    ) -> None:
        """Make the next `times` requests whose path starts with `path` fail."""
        self.failures.append(Failure(path, status, times, body, raw))

    def requests_to(self, path: str, method: str = "GET") -> list[SeenRequest]:
        """The requests received for paths starting with `path`."""
        return [r for r in self.requests if r.path.startswith(path) and r.method == method]

    def _time(self) -> str:
        self.now += timedelta(seconds=1)
        return self.now.isoformat(timespec="milliseconds").replace("+00:00", "Z")

    # Server

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def _headers(self) -> dict[str, str]:
        reset = self.now + self.reset_in
        return {
            "Date": format_datetime(self.now, usegmt=True),
            "X-RateLimit-Limit": str(self.rate_limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": reset.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }

    def _json(self, data: Any, status: int = 200, **headers: str) -> web.Response:
        return web.json_response(data, status=status, headers={**self._headers(), **headers})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            if request.content_type == "application/json":
                body = json.loads(raw)
            else:
                body = dict((await request.post()) or {}) if raw else None
        self.requests.append(
            SeenRequest(
                request.method,
                request.path,
                list(request.query.items()),
                dict(request.headers),
                body,
            )
        )
        self.remaining -= 1
        if self.remaining < 0:
            return self._json({"error": "Too many requests"}, status=429)
        for failure in self.failures:
            if failure.times > 0 and request.path.startswith(failure.path):
                failure.times -= 1
                if failure.raw is not None:
                    return web.Response(
                        status=failure.status, body=failure.raw, headers=self._headers()
                    )
                return self._json(failure.body or {"error": "Something went wrong"}, failure.status)
        route = (request.method, request.path)
        if route == ("GET", "/api/v2/instance"):
            instance = fixture("instance.json")
            instance["configuration"]["statuses"]["max_characters"] = self.max_characters
            return self._json(instance)
        authorised = request.headers.get("Authorization") == f"Bearer {TOKEN}"
        if request.path.startswith("/api/v1/timelines/tag/"):
            return self._tag(request, request.path.rsplit("/", 1)[-1])
        if route == ("GET", "/api/v2/search"):
            return self._search(request, authorised)
        if not authorised:
            return self._json({"error": "The access token is invalid"}, status=401)
        if route == ("GET", "/api/v1/accounts/verify_credentials"):
            return self._json(self.me)
        if route == ("GET", "/api/v1/notifications"):
            return self._notifications(request)
        if route == ("POST", "/api/v1/statuses"):
            return await self._create(request, body or {})
        if request.method == "GET" and request.path.endswith("/context"):
            return self._context(request.path.split("/")[-2])
        if request.method == "GET" and request.path.startswith("/api/v1/statuses/"):
            status = self.statuses.get(request.path.rsplit("/", 1)[-1])
            if status is None:
                return self._json({"error": "Record not found"}, status=404)
            return self._json(status)
        return self._json({"error": "Record not found"}, status=404)

    def _page(
        self, request: web.Request, entries: list[dict[str, Any]], default: int, most: int
    ) -> web.Response:
        """One page as Mastodon's paginate_by_id gives it, newest first, with a Link header."""
        query = request.query
        limit = min(int(query.get("limit", default)), most)

        def key(entry: dict[str, Any]) -> tuple[int, str]:
            return (len(entry["id"]), entry["id"])

        def bound(name: str) -> tuple[int, str] | None:
            return (len(query[name]), query[name]) if name in query else None

        chosen = sorted(entries, key=key)
        if (high := bound("max_id")) is not None:
            chosen = [e for e in chosen if key(e) < high]
        if (low := bound("since_id")) is not None:
            chosen = [e for e in chosen if key(e) > low]
        if (low := bound("min_id")) is not None:
            chosen = [e for e in chosen if key(e) > low][:limit]  # immediately newer
        else:
            chosen = chosen[-limit:]
        page = list(reversed(chosen))
        headers = {}
        if page:
            kept = [(k, v) for k, v in query.items() if k not in ("max_id", "min_id", "since_id")]
            base = request.url.with_query(kept)
            older = base.update_query(max_id=page[-1]["id"])
            newer = base.update_query(min_id=page[0]["id"])
            headers["Link"] = f'<{older}>; rel="next", <{newer}>; rel="prev"'
        return self._json(page, **headers)

    def _notifications(self, request: web.Request) -> web.Response:
        types = request.query.getall("types[]", [])
        entries = [n for n in self.notifications if not types or n.get("type") in types]
        return self._page(request, entries, default=40, most=80)

    def _tag(self, request: web.Request, tag: str) -> web.Response:
        entries = [
            s
            for s in self.statuses.values()
            if any(t["name"] == tag.lower() for t in s["tags"]) and s["visibility"] == "public"
        ]
        if not entries:
            return self._json({"error": "Record not found"}, status=404)
        return self._page(request, entries, default=20, most=40)

    def _search(self, request: web.Request, authorised: bool) -> web.Response:
        query = request.query
        if ("offset" in query or query.get("resolve") == "true") and not authorised:
            return self._json({"error": "The access token is invalid"}, status=401)
        words = query.get("q", "").lower()
        found = sorted(
            (
                s
                for s in self.statuses.values()
                if words in html.unescape(s["content"]).lower() and s["visibility"] == "public"
            ),
            key=lambda s: (len(s["id"]), s["id"]),
            reverse=True,
        )
        if "min_id" in query:
            low = (len(query["min_id"]), query["min_id"])
            found = [s for s in found if (len(s["id"]), s["id"]) > low]
        offset = int(query.get("offset", 0))
        limit = min(int(query.get("limit", 20)), 40)
        return self._json(
            {"accounts": [], "statuses": found[offset : offset + limit], "hashtags": []}
        )

    def _context(self, status_id: str) -> web.Response:
        """GET /api/v1/statuses/:id/context: the thread above and below a status."""
        if status_id not in self.statuses:
            return self._json({"error": "Record not found"}, status=404)
        ancestors, parent = [], self.statuses[status_id].get("in_reply_to_id")
        while parent in self.statuses:
            ancestors.insert(0, self.statuses[parent])
            parent = self.statuses[parent].get("in_reply_to_id")
        below, frontier = [], {status_id}
        while frontier:
            found = [s for s in self.statuses.values() if s.get("in_reply_to_id") in frontier]
            below += found
            frontier = {s["id"] for s in found}
        return self._json({"ancestors": ancestors, "descendants": below})

    async def _create(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        if key and key in self.idempotency:
            return self._json(self.statuses[self.idempotency[key]])
        text = str(body.get("status", ""))
        if not text.strip():
            return self._json({"error": "Validation failed: Text can't be blank"}, status=422)
        if counted_length(text) > self.max_characters:
            return self._json(
                {
                    "error": "Validation failed: Text character limit of"
                    f" {self.max_characters} exceeded"
                },
                status=422,
            )
        parent = body.get("in_reply_to_id")
        if parent is not None and parent not in self.statuses:
            return self._json({"error": "Record not found"}, status=404)
        status = self.post(
            content=f"<p>{html.escape(text)}</p>",
            account=copy.deepcopy(self.me),
            mention=False,
            in_reply_to=parent,
            visibility=str(body.get("visibility", "public")),
            language=body.get("language"),
        )
        status["in_reply_to_account_id"] = (
            self.statuses[parent]["account"]["id"] if parent else None
        )
        status["text"] = text
        self.posted.append(status)
        if key:
            self.idempotency[key] = status["id"]
        self._posts_seen += 1
        if self._posts_seen == 1 and self.delay_first_post:
            # Recorded, but the answer comes after the client has given up.
            await asyncio.sleep(self.delay_first_post)
        return self._json(status)
