"""Calling a platform's JSON API over the shared aiohttp session: capped reads, clear
errors, and the platform's rate-limit headers read into "how long to wait".

Mastodon sends `X-RateLimit-Remaining` and `X-RateLimit-Reset` (an ISO 8601 time);
Bluesky sends `RateLimit-Remaining` and `RateLimit-Reset` (Unix seconds); either may
send `Retry-After`. Reset times are compared with the server's own `Date` header when
it has one, so a skewed local clock cannot make us wait for hours or not at all.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

import aiohttp

from bot.clock import Clock
from bot.errors import AllhandsError, DeliveryError, SourceError
from connectors.base import WEB_SCHEMES

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
MAX_WAIT = 3600.0  # never believe a platform that asks us to wait longer than an hour
PARSE_INLINE = 64 * 1024  # larger bodies are parsed on a worker thread


def web_address(value: str, *, what: str = "an address", example: str = "https://…") -> str:
    """A configured http(s) address with a host, without the trailing slash; else ValueError
    saying it is not `what` and to write something like `example`."""
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.netloc:
        raise ValueError(f"{value!r} is not {what}; write {example}")
    return value.strip().rstrip("/")


class ApiSettings(Protocol):
    """The settings a source's API is called with."""

    @property
    def api(self) -> str: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_bytes(self) -> int: ...
    @property
    def user_agent(self) -> str: ...


class PlatformError(AllhandsError):
    """A platform's API could not be reached, refused a call, or answered garbage.

    `transient` is true when trying again later may work (timeouts, 5xx, 429, garbage);
    `code` is the platform's own error name when it gave one (e.g. `ExpiredToken`).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        retry_after: float | None = None,
        transient: bool = True,
    ):
        self.status = status
        self.code = code
        self.retry_after = retry_after
        self.transient = transient
        super().__init__(message)

    def final(self, message: str) -> PlatformError:
        """The same refusal told as `message`, and marked as one trying again cannot mend."""
        return PlatformError(message, status=self.status, transient=False)

    def source_error(self, source_id: str) -> SourceError:
        """This error as a failed poll of `source_id`, with the platform's wait."""
        return SourceError(source_id, str(self), retry_after=self.retry_after)

    def delivery_error(self) -> DeliveryError:
        """This error as a failed reply: retried later unless trying again cannot help."""
        return DeliveryError(str(self), retry_after=self.retry_after, permanent=not self.transient)


@dataclass(frozen=True, slots=True)
class ApiResponse:
    """A successful answer: its parsed JSON, headers and Link relations."""

    status: int
    data: Any
    headers: Mapping[str, str]
    links: dict[str, str] = field(default_factory=dict)
    remaining: int | None = None  # calls left in the rate-limit window, when said
    wait: float | None = None  # seconds until the window resets, when said


def _number(text: str | None) -> float | None:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None


def _server_now(headers: Mapping[str, str], fallback: datetime) -> datetime:
    date = headers.get("Date")
    if date:
        try:
            parsed = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return fallback
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return fallback


def wait_from_headers(headers: Mapping[str, str], now: datetime) -> float | None:
    """Seconds until the platform's rate-limit window resets, from its headers, or None."""
    server_now = _server_now(headers, now)
    retry_after = headers.get("Retry-After")
    if retry_after:
        seconds = _number(retry_after)
        if seconds is None:
            try:
                seconds = (parsedate_to_datetime(retry_after) - server_now).total_seconds()
            except (TypeError, ValueError):
                seconds = None
        if seconds is not None:
            return min(MAX_WAIT, max(0.0, seconds))
    reset = (
        headers.get("X-RateLimit-Reset")
        or headers.get("RateLimit-Reset")
        or headers.get("x-rate-limit-reset")  # X
    )
    if not reset:
        return None
    value = _number(reset)
    if value is None:
        try:
            when = datetime.fromisoformat(reset.strip())
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - server_now).total_seconds()
    elif value > 1e9:  # a Unix time
        seconds = value - server_now.timestamp()
    else:  # seconds from now, as the IETF RateLimit draft has it
        seconds = value
    return min(MAX_WAIT, max(0.0, seconds))


def remaining_from_headers(headers: Mapping[str, str]) -> int | None:
    """How many calls the rate-limit window still allows, or None when not said."""
    value = _number(
        headers.get("X-RateLimit-Remaining")
        or headers.get("RateLimit-Remaining")
        or headers.get("x-rate-limit-remaining")  # X
    )
    return int(value) if value is not None else None


class JsonApi:
    """One platform's API under `base_url`, called through the app's shared session."""

    def __init__(
        self,
        http: aiohttp.ClientSession,
        *,
        base_url: str,
        clock: Clock,
        timeout: float,
        max_bytes: int = 5_000_000,
        user_agent: str = "allhands/0.1",
    ):
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.user_agent = user_agent

    @classmethod
    def of(cls, http: aiohttp.ClientSession, settings: ApiSettings, *, clock: Clock) -> JsonApi:
        """The API at `settings.api`, with the source's timeout, size cap and User-Agent."""
        return cls(
            http,
            base_url=settings.api,
            clock=clock,
            timeout=settings.timeout,
            max_bytes=settings.max_bytes,
            user_agent=settings.user_agent,
        )

    def url(self, path: str) -> str:
        """The full address of an API path."""
        return f"{self.base_url}{path}"

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: Any = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> ApiResponse:
        """Call `path` (with a JSON body or a form); the parsed answer, or PlatformError."""
        url = self.url(path)
        sent = {"User-Agent": self.user_agent, "Accept": "application/json", **(headers or {})}
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        where = f"{method} {self.base_url}{path}"
        try:
            async with self.http.request(
                method,
                url,
                params=params,
                json=json_body,
                data=form,
                headers=sent,
                timeout=timeout,
            ) as resp:
                body = await self._read_capped(resp, where)
                links = {
                    str(rel): str(link.get("url", ""))
                    for rel, link in resp.links.items()
                    if link.get("url")
                }
                answer_headers = resp.headers
                status = resp.status
                reason = resp.reason or ""
        except TimeoutError:
            raise PlatformError(f"no answer from {where} within {self.timeout:g} s") from None
        except aiohttp.ClientConnectionError as exc:
            raise PlatformError(f"cannot reach {where}: {exc}") from None
        except aiohttp.ClientError as exc:
            raise PlatformError(f"{where} failed: {exc}") from None
        data = await self._parse(body)
        wait = wait_from_headers(answer_headers, self.clock.now())
        if not 200 <= status < 300:
            raise self._refusal(where, status, reason, data, wait)
        if data is _NOT_JSON:
            raise PlatformError(f"{where} answered something that is not JSON", status=status)
        return ApiResponse(
            status=status,
            data=data,
            headers=answer_headers,
            links=links,
            remaining=remaining_from_headers(answer_headers),
            wait=wait,
        )

    async def _read_capped(self, resp: aiohttp.ClientResponse, where: str) -> bytes:
        too_big = f"{where} sent more than {self.max_bytes:,} bytes"
        if resp.content_length is not None and resp.content_length > self.max_bytes:
            raise PlatformError(too_big, status=resp.status)
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(CHUNK):
            size += len(chunk)
            if size > self.max_bytes:
                raise PlatformError(too_big, status=resp.status)
            chunks.append(chunk)
        return b"".join(chunks)

    @staticmethod
    async def _parse(body: bytes) -> Any:
        if not body.strip():
            return None
        try:
            if len(body) > PARSE_INLINE:
                return await asyncio.to_thread(json.loads, body)
            return json.loads(body)
        except (ValueError, RecursionError):
            return _NOT_JSON

    @staticmethod
    def _refusal(
        where: str, status: int, reason: str, data: Any, wait: float | None
    ) -> PlatformError:
        code, detail = "", ""
        if isinstance(data, dict):
            # Mastodon: {"error": "text"}; XRPC: {"error": "Name", "message": "text"}.
            error, message = data.get("error"), data.get("message")
            # OAuth 2: {"error": "invalid_grant", "error_description": "text"};
            # X: {"title": "Forbidden", "detail": "text"}.
            message = message or data.get("error_description") or data.get("detail")
            # Google: {"error": {"message": "text", "status": "NAME"}};
            # Apple: {"errors": [{"code": "NAME", "detail": "text"}]}.
            if isinstance(error, dict):
                message, error = message or error.get("message"), error.get("status")
            errors = data.get("errors")
            if isinstance(errors, list) and errors and isinstance(errors[0], dict):
                message = message or errors[0].get("detail") or errors[0].get("title")
                error = error or errors[0].get("code")
            code = error if isinstance(error, str) else ""
            detail = message if isinstance(message, str) else code
        text = f"{where} answered HTTP {status}{f' {reason}' if reason else ''}"
        if detail:
            text += f": {detail[:300]}"
        if status == 429:
            return PlatformError(text, status=status, code=code, retry_after=wait or 60.0)
        transient = status >= 500 or status in (408, 425)
        return PlatformError(text, status=status, code=code, transient=transient)


class _NotJson:
    def __repr__(self) -> str:
        return "<not JSON>"


_NOT_JSON: Any = _NotJson()
