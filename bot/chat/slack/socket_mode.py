"""Socket Mode, watched: one connection to Slack kept up, and opened again when it fails.

slack_sdk's own Socket Mode client retries on a fixed real-time sleep, for ever, with a
traceback each time, and cannot be given allhands' Clock. So the connection is kept
here, on aiohttp's websocket client, while each envelope goes to bolt as bolt's Socket
Mode adapter sends it (slack_sdk's `SocketModeRequest` in, an `AsyncBoltRequest` to the
app, its response as the envelope's acknowledgement).

- Connecting: apps.connections.open (with the app-level token) gives a one-time wss URL;
  Slack's first message on it is `hello`.
- Slack sends `disconnect` (`refresh_requested`, `warning`) before it closes a
  connection: another is opened first, and the old one let go once what it carried is
  acknowledged, so that nothing arrives in a gap.
- A failed attempt, or a connection that drops within `STABLE` of opening, is tried
  again after 1, 2, 4 ... seconds (at most `MAX_BACKOFF`), waited on the Clock; a drop
  after a longer life reconnects at once. Pings (aiohttp's heartbeat) find a connection
  that died without closing.
- Every connect, drop and failed attempt is logged; `stop` closes everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.calls import call_slack
from bot.clock import Clock
from bot.errors import AllhandsError, DeliveryError

log = logging.getLogger(__name__)

MAX_BACKOFF = 120.0  # seconds between attempts at most
STABLE = timedelta(minutes=1)  # a connection that lived this long was not a failure
HEARTBEAT = 30.0  # seconds between pings; no pong within half of it drops the connection
HELLO_WITHIN = 10.0  # seconds Slack has to say hello on a new connection
ACK_GRACE = 3.0  # seconds a connection let go has to send its last acknowledgements


def backoff(failures: int) -> float:
    """Seconds to wait after `failures` failures in a row: 1, 2, 4 ... at most MAX_BACKOFF."""
    if failures <= 0:
        return 0.0
    return min(MAX_BACKOFF, 2.0 ** min(failures - 1, 16))


class SocketModeError(AllhandsError):
    """A Socket Mode connection Slack did not open as it should."""


@dataclass(eq=False)
class _Link:
    """One websocket to Slack, its reader, and the envelopes it is still answering."""

    number: int
    ws: aiohttp.ClientWebSocketResponse
    opened_at: datetime
    refresh: asyncio.Event = field(default_factory=asyncio.Event)
    inflight: set[asyncio.Task[None]] = field(default_factory=set)
    reader: asyncio.Task[None] | None = None


def _why(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, DeliveryError):
        # call_slack's hint names the bot token; apps.connections.open takes the app token.
        return text.replace(
            "check SLACK_BOT_TOKEN", "check SLACK_APP_TOKEN (xapp-, scope connections:write)"
        )
    if isinstance(exc, aiohttp.WSServerHandshakeError):
        return f"the websocket was refused (HTTP {exc.status})"
    return text


class SlackSocket:
    """Keeps allhands connected to Slack by Socket Mode until stopped."""

    def __init__(self, *, bolt: AsyncApp, client: AsyncWebClient, app_token: str, clock: Clock):
        self.bolt = bolt
        self.client = client
        self.app_token = app_token
        self.clock = clock
        self._http: aiohttp.ClientSession | None = None
        self._task: asyncio.Task[None] | None = None
        self._links: set[_Link] = set()
        self._letting_go: set[asyncio.Task[None]] = set()
        self._numbers = itertools.count(1)

    def start(self) -> None:
        """Start connecting, in the background."""
        # The handshake is bounded; a connection, once open, lives as long as Slack keeps it.
        timeout = aiohttp.ClientTimeout(total=None, connect=HELLO_WITHIN, sock_connect=HELLO_WITHIN)
        self._http = aiohttp.ClientSession(timeout=timeout)
        self._task = asyncio.create_task(self._run(), name="slack: Socket Mode")

    async def stop(self) -> None:
        """Stop reconnecting and close every connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._letting_go):
            task.cancel()
        await asyncio.gather(*self._letting_go, return_exceptions=True)
        for link in list(self._links):
            await self._close(link, grace=ACK_GRACE)
        if self._http is not None:
            await self._http.close()
            self._http = None
        log.info("Slack Socket Mode: closed")

    # ---- the watch

    async def _run(self) -> None:
        failures = 0
        retiring: _Link | None = None
        while True:
            try:
                link = await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                delay = backoff(failures)
                if isinstance(exc, DeliveryError) and exc.retry_after is not None:
                    delay = max(delay, exc.retry_after)
                log.warning(
                    "Slack Socket Mode: could not connect (%s); trying again in %gs (attempt %d)",
                    _why(exc),
                    delay,
                    failures,
                    exc_info=not isinstance(
                        exc, (AllhandsError, aiohttp.ClientError, OSError, TimeoutError)
                    ),
                )
                await self.clock.sleep(delay)
                continue
            log.info("Slack Socket Mode: connected (connection %d)", link.number)
            if retiring is not None:
                self._let_go(retiring)
                retiring = None
            if await self._ends_or_refreshes(link) == "refresh":
                retiring, failures = link, 0  # keep it until the next one is up
                continue
            await link.ws.close()  # ended by Slack or the network, or its reader failed
            self._links.discard(link)
            lasted = self.clock.now() - link.opened_at
            failures = 0 if lasted >= STABLE else failures + 1
            delay = backoff(failures)
            log.warning(
                "Slack Socket Mode: connection %d dropped (%s); reconnecting %s",
                link.number,
                self._closed_how(link),
                f"in {delay:g}s" if delay else "now",
            )
            await self.clock.sleep(delay)

    async def _open(self) -> _Link:
        """A new connection on which Slack has said hello."""
        assert self._http is not None, "start() first"
        opened = await call_slack(
            "apps.connections.open",
            lambda: self.client.apps_connections_open(app_token=self.app_token),
        )
        url = str(opened.get("url") or "")
        if not url.startswith(("wss://", "ws://")):
            raise SocketModeError(f"apps.connections.open gave no websocket URL ({url[:80]!r})")
        ws = await self._http.ws_connect(url, heartbeat=HEARTBEAT, autoping=True)
        try:
            first = await ws.receive(timeout=HELLO_WITHIN)
            hello = json.loads(first.data) if first.type == aiohttp.WSMsgType.TEXT else {}
        except (TimeoutError, ValueError):
            hello = {}
        if not isinstance(hello, dict) or hello.get("type") != "hello":
            await ws.close()
            raise SocketModeError("Slack did not say hello on the new connection")
        link = _Link(next(self._numbers), ws, self.clock.now())
        link.reader = asyncio.create_task(self._read(link), name=f"slack: socket {link.number}")
        self._links.add(link)
        return link

    async def _ends_or_refreshes(self, link: _Link) -> str:
        """Wait until the connection ends ("ended") or Slack asks for another ("refresh")."""
        assert link.reader is not None
        refresh = asyncio.create_task(link.refresh.wait())
        try:
            await asyncio.wait({link.reader, refresh}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            refresh.cancel()
        return "ended" if link.reader.done() else "refresh"

    @staticmethod
    def _closed_how(link: _Link) -> str:
        code = link.ws.close_code
        problem = link.ws.exception()
        if link.reader is not None and not link.reader.cancelled():
            problem = link.reader.exception() or problem
        if problem is not None:
            return f"{type(problem).__name__}: {problem}"
        return f"closed by Slack, code {code}" if code is not None else "closed"

    def _let_go(self, link: _Link) -> None:
        """Close an old connection once it has acknowledged what it carries."""
        task = asyncio.create_task(self._close(link, grace=ACK_GRACE))
        self._letting_go.add(task)
        task.add_done_callback(self._letting_go.discard)

    async def _close(self, link: _Link, *, grace: float) -> None:
        if link.inflight:
            await asyncio.wait(list(link.inflight), timeout=grace)
        await link.ws.close()
        if link.reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await link.reader
        self._links.discard(link)
        log.info("Slack Socket Mode: connection %d closed", link.number)

    # ---- one connection

    async def _read(self, link: _Link) -> None:
        async for message in link.ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                try:
                    self._received(link, message.data)
                except Exception:  # one bad message must not end the connection
                    log.exception("Slack Socket Mode: a message could not be read")
            elif message.type == aiohttp.WSMsgType.ERROR:
                break

    def _received(self, link: _Link, data: str) -> None:
        try:
            message = json.loads(data)
        except ValueError:
            log.warning("Slack Socket Mode: a message that is not JSON was ignored")
            return
        if not isinstance(message, dict):
            return
        kind = message.get("type")
        if kind == "hello":
            return
        if kind == "disconnect":
            reason = str(message.get("reason", ""))[:80]
            log.info(
                "Slack Socket Mode: Slack will close connection %d (%s); opening another",
                link.number,
                reason,
            )
            link.refresh.set()
            return
        try:
            request = SocketModeRequest.from_dict(message)
        except (ValueError, TypeError):
            # A payload neither an object nor text: slack_sdk refuses it (with a TypeError
            # for some, as its `type` argument shadows the builtin).
            request = None
        if request is None:
            log.info("Slack Socket Mode: a %r message was ignored", str(kind)[:40])
            return
        task = asyncio.create_task(self._answer(link, request))
        link.inflight.add(task)
        task.add_done_callback(link.inflight.discard)

    async def _answer(self, link: _Link, request: SocketModeRequest) -> None:
        """Hand an envelope to bolt; acknowledge it with bolt's response."""
        headers: dict[str, str | Sequence[str]] = {}
        if request.retry_attempt is not None:  # as HTTP mode's retry headers say it
            headers["x-slack-retry-num"] = str(request.retry_attempt)
        if request.retry_reason is not None:
            headers["x-slack-retry-reason"] = str(request.retry_reason)
        try:
            response = await self.bolt.async_dispatch(
                AsyncBoltRequest(mode="socket_mode", body=request.payload, headers=headers or None)
            )
        except Exception:
            log.exception("Slack Socket Mode: envelope %s failed", request.envelope_id)
            return
        if response.status != 200:
            # Not acknowledged: Slack sends an event again, as it would over HTTP.
            log.info(
                "Slack Socket Mode: envelope %s answered %d",
                request.envelope_id,
                response.status,
            )
            return
        ack: dict[str, Any] = {"envelope_id": request.envelope_id}
        if response.body:
            content_type = (response.headers.get("content-type") or [""])[0]
            if content_type.startswith("application/json"):
                ack["payload"] = json.loads(response.body)
            else:
                ack["payload"] = {"text": response.body}
        try:
            await link.ws.send_json(ack)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            log.warning(
                "Slack Socket Mode: could not acknowledge %s (%s); Slack will send it again",
                request.envelope_id,
                exc,
            )
