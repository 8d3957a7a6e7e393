"""A fake of the Hacker News search API (hn.algolia.com/api/v1) on 127.0.0.1.

`GET /search_by_date` as Algolia documents it for HN: `query` matched against titles and
texts, `tags` (`story`, `comment`, or `(story,comment)`), `numericFilters` on
`created_at_i` (comma means AND), `hitsPerPage` and `page` (from 0); hits newest first,
with `nbHits`, `nbPages`, `page` and `hitsPerPage`. Tests add stories and comments, make
the next answers fail (429 with Retry-After, 5xx, garbage) and read every request.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from tests.fakes.local import LocalServer

_FILTER = re.compile(r"created_at_i(>=|<=|>|<|=)(\d+)")


@dataclass
class FakeHackerNews(LocalServer):
    """Stories and comments in memory; `start()` it and point a source's `api` at `url`."""

    now: int = int(datetime(2026, 1, 5, 8, 0, tzinfo=UTC).timestamp())  # before the clock
    hits: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)
    failures: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    _next: int = 40_000_000

    @property
    def url(self) -> str:
        """The API's base address."""
        return f"{self.address}/api/v1"

    def story(
        self,
        title: str,
        *,
        author: str = "pat",
        text: str | None = None,
        url: str | None = "https://blog.example/post",
        at: int | None = None,
    ) -> dict[str, Any]:
        """A story, `at` (Unix time) or a second after the last item."""
        hit = {"title": title, "url": url, "story_text": text, "author": author}
        return self._add(hit, ["story", f"author_{author}"], at)

    def comment(
        self,
        text: str,
        *,
        story: dict[str, Any],
        author: str = "kim",
        parent: dict[str, Any] | None = None,
        at: int | None = None,
    ) -> dict[str, Any]:
        """A comment under `story` (answering `parent`, else the story)."""
        hit = {
            "comment_text": text,
            "author": author,
            "story_id": int(story["objectID"]),
            "story_title": story.get("title"),
            "story_url": story.get("url"),
            "parent_id": int((parent or story)["objectID"]),
        }
        return self._add(hit, ["comment", f"author_{author}"], at)

    def _add(self, hit: dict[str, Any], tags: list[str], at: int | None) -> dict[str, Any]:
        self._next += 1
        hit["_tags"] = tags
        self.now = at if at is not None else self.now + 1
        when = datetime.fromtimestamp(self.now, tz=UTC)
        hit.update(
            objectID=str(self._next),
            created_at=when.isoformat().replace("+00:00", ".000Z"),
            created_at_i=self.now,
            points=1,
        )
        self.hits.append(hit)
        return hit

    def fail(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        """Make the next request answer `status` (body text if a str, else JSON)."""
        self.failures.append((status, body, headers or {}))

    def source_yaml(self) -> str:
        """The playbook's `sources:` entry that reads this fake."""
        return f"  - id: hn\n    kind: hackernews\n    api: {self.url}\n    search: [acme]\n"

    def add_routes(self, app: web.Application) -> None:
        """The one endpoint the connector uses."""
        app.router.add_get("/api/v1/search_by_date", self._search)

    async def _search(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        self.requests.append(query)
        if self.failures:
            status, body, headers = self.failures.pop(0)
            if isinstance(body, str):
                return web.Response(status=status, text=body, headers=headers)
            return web.json_response(body or {"message": "error"}, status=status, headers=headers)
        words = query.get("query", "").lower().split()
        tags = query.get("tags", "").strip("()").split(",")
        bounds = _FILTER.findall(query.get("numericFilters", ""))
        size = int(query.get("hitsPerPage", "20"))
        page = int(query.get("page", "0"))

        def keep(hit: dict[str, Any]) -> bool:
            text = " ".join(str(hit.get(k) or "") for k in ("title", "story_text", "comment_text"))
            if not all(w in text.lower() for w in words):
                return False
            if tags != [""] and not set(tags) & set(hit["_tags"]):
                return False
            return all(_holds(hit["created_at_i"], op, int(v)) for op, v in bounds)

        found = sorted((h for h in self.hits if keep(h)), key=lambda h: -h["created_at_i"])
        shown = [{k: v for k, v in h.items()} for h in found[page * size : (page + 1) * size]]
        return web.json_response(
            {
                "hits": shown,
                "nbHits": len(found),
                "page": page,
                "hitsPerPage": size,
                "nbPages": math.ceil(len(found) / size),
                "query": query.get("query", ""),
            }
        )


def _holds(value: int, op: str, bound: int) -> bool:
    return {
        ">=": value >= bound,
        "<=": value <= bound,
        ">": value > bound,
        "<": value < bound,
        "=": value == bound,
    }[op]
