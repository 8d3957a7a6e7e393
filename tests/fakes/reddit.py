"""A fake of Reddit's OAuth API on 127.0.0.1, shaped from reddit.com/dev/api and its
OAuth2 wiki (one server stands for both www.reddit.com and oauth.reddit.com).

`POST /api/v1/access_token` (Basic client auth; `password` and `refresh_token` grants; a
wrong password is 200 with `{"error": "invalid_grant"}`), `GET /api/v1/me`, listings
(`/r/:sub/new`, `/r/:sub/comments`, `/search`, `/message/mentions`, `/user/:name/comments`:
newest first, `limit`, `after`, `raw_json`), and `POST /api/comment` (form, `api_type=json`;
errors in `json.errors`). Every answer carries `X-Ratelimit-Used`, `-Remaining` (a float)
and `-Reset` (seconds). Tests expire tokens, delete or lock posts, make answers fail.
"""

from __future__ import annotations

import asyncio
import base64
import html
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.failures import FailsOnRequest, Failure, injected
from tests.fakes.local import LocalServer

CLIENT_ID = "fake-reddit-app"
SECRET = "fake-reddit-secret"
PASSWORD = "hunter2"
ME = "acme_support"


@dataclass
class FakeReddit(FailsOnRequest, LocalServer):
    """Posts, comments and tokens in memory."""

    now: float = datetime(2026, 1, 5, 8, 0, tzinfo=UTC).timestamp()
    remaining: float = 600.0
    reset: int = 300
    things: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    locked: set[str] = field(default_factory=set)
    access: str = "token-0"
    requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    comment_errors: list[list[str]] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    delay_first_post: float = 0.0
    _ids: Any = field(default_factory=lambda: itertools.count(1000))
    _tokens: Any = field(default_factory=lambda: itertools.count(1))

    def _base(self, kind: str, author: str) -> dict[str, Any]:
        self.now += 1
        ident = format(next(self._ids), "x")
        return {"id": ident, "name": f"{kind}_{ident}", "author": author, "created_utc": self.now}

    def post(
        self, title: str, text: str = "", *, sub: str = "AcmeUsers", by: str = "ann"
    ) -> dict[str, Any]:
        """A post in `sub`."""
        thing = self._base("t3", by)
        thing.update(
            title=title,
            selftext=text,
            subreddit=sub,
            kind="t3",
            permalink=f"/r/{sub}/comments/{thing['id']}/post/",
        )
        self.things.append(thing)
        return thing

    def comment(
        self, text: str, *, on: dict[str, Any], by: str = "bob", mention: bool = False
    ) -> dict[str, Any]:
        """A comment answering a post or comment (`mention`: it names u/acme_support)."""
        post = (
            on if on["kind"] == "t3" else next(t for t in self.things if t["name"] == on["link_id"])
        )
        thing = self._base("t1", by)
        thing.update(
            body=text,
            subreddit=post["subreddit"],
            kind="t1",
            parent_id=on["name"],
            link_id=post["name"],
            link_title=post["title"],
            mention=mention,
            permalink=f"{post['permalink']}{thing['id']}/",
        )
        self.things.append(thing)
        return thing

    def delete(self, thing: dict[str, Any]) -> None:
        """The author deletes it: it stays in threads as [deleted]."""
        thing.update(author="[deleted]", body="[deleted]", selftext="[deleted]", deleted=True)

    def requests_to(self, path: str) -> list[dict[str, str]]:
        """Query or form of each request under `path`."""
        return [q for _, p, q, _ in self.requests if p.startswith(path)]

    def source_yaml(self) -> str:
        """The playbook's `sources:` entry that reads this fake."""
        return (
            f"  - id: reddit\n    kind: reddit\n    api: {self.address}\n"
            f"    auth_url: {self.address}\n    client_id: {CLIENT_ID}\n"
            f"    client_secret: {SECRET}\n    username: {ME}\n    password: {PASSWORD}\n"
            f"    subreddits: [AcmeUsers]\n"
        )

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def _headers(self) -> dict[str, str]:
        self.remaining = max(0.0, self.remaining - 1)
        return {
            "X-Ratelimit-Used": str(600 - int(self.remaining)),
            "X-Ratelimit-Remaining": f"{self.remaining:.1f}",
            "X-Ratelimit-Reset": str(self.reset),
        }

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = dict((await request.post()).items()) if request.method == "POST" else {}
        query = {**dict(request.query), **{k: str(v) for k, v in form.items()}}
        self.requests.append((request.method, request.path, query, dict(request.headers)))
        failed = injected(
            self.failures, request.path, lambda status: {"message": "error", "error": status}
        )
        if failed is not None:
            return failed
        if request.path == "/api/v1/access_token":
            return self._token(request, query)
        headers = self._headers()
        if request.headers.get("Authorization") != f"bearer {self.access}":
            return web.json_response(
                {"message": "Unauthorized", "error": 401}, status=401, headers=headers
            )
        if self.remaining <= 0:
            return web.json_response(
                {"message": "Too Many Requests", "error": 429}, status=429, headers=headers
            )
        path = request.path.rstrip("/")
        if path == "/api/v1/me":
            return web.json_response({"name": ME, "id": "abc"}, headers=headers)
        if path == "/api/comment":
            return await self._comment(query, headers)
        rows = self._rows(path, request.query)
        if rows is None:
            return web.json_response(
                {"message": "Not Found", "error": 404}, status=404, headers=headers
            )
        raw = request.query.get("raw_json") == "1"
        return web.json_response(self._listing(rows, request.query, raw), headers=headers)

    def _token(self, request: web.Request, form: dict[str, str]) -> web.Response:
        basic = request.headers.get("Authorization", "")
        if basic != "Basic " + base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode():
            return web.json_response({"message": "Unauthorized", "error": 401}, status=401)
        grant = form.get("grant_type")
        good = (
            grant == "password" and form.get("username") == ME and form.get("password") == PASSWORD
        ) or (grant == "refresh_token" and form.get("refresh_token") == "reddit-refresh")
        if not good:
            return web.json_response({"error": "invalid_grant"})
        self.access = f"token-{next(self._tokens)}"
        return web.json_response(
            {"access_token": self.access, "token_type": "bearer", "expires_in": 3600, "scope": "*"}
        )

    def _rows(self, path: str, query: Any) -> list[dict[str, Any]] | None:
        parts = path.split("/")
        if len(parts) == 4 and parts[1] == "r" and parts[3] in ("new", "comments"):
            kind = "t3" if parts[3] == "new" else "t1"
            return [
                t
                for t in self.things
                if t["kind"] == kind and t["subreddit"].lower() == parts[2].lower()
            ]
        if path == "/search":
            words = query.get("q", "").lower().split()
            return [
                t
                for t in self.things
                if t["kind"] == "t3"
                and all(w in (t["title"] + " " + t["selftext"]).lower() for w in words)
            ]
        if path == "/message/mentions":
            return [
                {**t, "was_comment": True, "context": t["permalink"] + "?context=3"}
                for t in self.things
                if t.get("mention")
            ]
        if len(parts) == 4 and parts[1] == "user" and parts[3] == "comments":
            return [t for t in self.things if t["kind"] == "t1" and t["author"] == parts[2]]
        return None

    def _listing(self, rows: list[dict[str, Any]], query: Any, raw: bool) -> dict[str, Any]:
        rows = list(reversed(rows))  # newest first
        after = query.get("after")
        if after:
            names = [r["name"] for r in rows]
            rows = rows[names.index(after) + 1 :] if after in names else []
        limit = int(query.get("limit", "25"))
        page = rows[:limit]
        children = []
        for row in page:
            data = {k: v for k, v in row.items() if k not in ("mention", "deleted")}
            if not raw:  # without raw_json=1, Reddit sends &, < and > as entities
                for key in ("body", "selftext", "title"):
                    if isinstance(data.get(key), str):
                        data[key] = html.escape(data[key], quote=False)
            children.append({"kind": row["kind"], "data": data})
        more = page[-1]["name"] if len(rows) > limit else None
        return {
            "kind": "Listing",
            "data": {"after": more, "before": None, "dist": len(page), "children": children},
        }

    async def _comment(self, form: dict[str, str], headers: dict[str, str]) -> web.Response:
        if self.comment_errors:
            return web.json_response(
                {"json": {"errors": [self.comment_errors.pop(0)]}}, headers=headers
            )
        parent = next((t for t in self.things if t["name"] == form.get("thing_id")), None)
        if parent is None or parent.get("deleted"):
            return web.json_response(
                {
                    "json": {
                        "errors": [["DELETED_COMMENT", "that comment has been deleted", "parent"]]
                    }
                },
                headers=headers,
            )
        if (parent.get("link_id") or parent["name"]) in self.locked:
            return web.json_response(
                {"json": {"errors": [["THREAD_LOCKED", "that thread is locked", "parent"]]}},
                headers=headers,
            )
        text = form.get("text", "")
        if len(text) > 10_000:
            return web.json_response(
                {"json": {"errors": [["TOO_LONG", "this is too long (max: 10000)", "text"]]}},
                headers=headers,
            )
        thing = self.comment(text, on=parent, by=ME)
        self.posted.append(thing)
        if self.delay_first_post and len(self.posted) == 1:
            await asyncio.sleep(self.delay_first_post)
        data = {k: v for k, v in thing.items() if k != "mention"}
        return web.json_response(
            {"json": {"errors": [], "data": {"things": [{"kind": "t1", "data": data}]}}},
            headers=headers,
        )
