"""A local feed host on 127.0.0.1 for connector tests: serves documents, records requests.

Each path answers what the test set with `serve`: a body with an ETag and Last-Modified
(honoured the way real servers honour them, with 304 Not Modified), an error status, a
delay before answering, or a body that never ends.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path

from aiohttp import web

from tests.fakes.local import LocalServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"


def fixture(name: str) -> bytes:
    """The bytes of a feed file under tests/fixtures/feeds."""
    return (FIXTURES / name).read_bytes()


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@dataclass
class FeedRoute:
    """What one path answers."""

    body: bytes = b""
    status: int = 200
    content_type: str = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    endless: bool = False  # stream `body` over and over, without a Content-Length


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server received it."""

    path: str
    headers: dict[str, str]
    status: int


@dataclass
class FeedServer(LocalServer):
    """An aiohttp server on a random port of 127.0.0.1 that hosts feeds set by the test."""

    handler_cancellation = True  # an endless body stops when the client gives up

    routes: dict[str, FeedRoute] = field(default_factory=dict)
    requests: list[SeenRequest] = field(default_factory=list)

    def serve(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        content_type: str = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        delay: float = 0.0,
        endless: bool = False,
    ) -> str:
        """Answer `path` with `body` from now on; returns its full URL."""
        self.routes[path] = FeedRoute(
            body, status, content_type, etag, last_modified, delay=delay, endless=endless
        )
        return self.url(path)

    def url(self, path: str) -> str:
        """The full address of `path` on this server."""
        return f"http://127.0.0.1:{self._port}{path}"

    def requests_to(self, path: str) -> list[SeenRequest]:
        """The requests received for `path`, in order."""
        return [r for r in self.requests if r.path == path]

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("GET", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        route = self.routes.get(request.path)
        status = self._status(request, route)
        self.requests.append(SeenRequest(request.path, dict(request.headers), status))
        if route is None:
            return web.Response(status=404, text="no such feed")
        if route.delay:
            await asyncio.sleep(route.delay)
        headers = {}
        if route.etag:
            headers["ETag"] = route.etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if status == 304:
            return web.Response(status=304, headers=headers)
        if route.endless:
            return await self._stream_forever(request, route)
        return web.Response(
            status=status, body=route.body, headers={**headers, "Content-Type": route.content_type}
        )

    @staticmethod
    def _status(request: web.Request, route: FeedRoute | None) -> int:
        """304 when the client's validators match the route's, as HTTP caches decide."""
        if route is None:
            return 404
        if route.status != 200:
            return route.status
        if route.etag and request.headers.get("If-None-Match"):
            tags = [t.strip() for t in request.headers["If-None-Match"].split(",")]
            return 304 if route.etag in tags or "*" in tags else 200
        since = request.headers.get("If-Modified-Since")
        if route.last_modified and since:
            try:
                unchanged = parsedate_to_datetime(route.last_modified) <= parsedate_to_datetime(
                    since
                )
            except (TypeError, ValueError):
                return 200
            return 304 if unchanged else 200
        return 200

    @staticmethod
    async def _stream_forever(request: web.Request, route: FeedRoute) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": route.content_type})
        response.enable_chunked_encoding()
        await response.prepare(request)
        chunk = route.body or b"x" * 65536
        try:
            while True:
                await response.write(chunk)
        except ConnectionError:
            pass  # the client hung up, which is what a size cap is for
        return response
