"""A Bluesky account's session from an app password: `createSession` once (it is rate
limited, so a refused or limited login is not retried before the platform's reset), then
`refreshSession` whenever a call answers `ExpiredToken`."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.clock import Clock
from connectors.jsonapi import JsonApi, PlatformError

log = logging.getLogger(__name__)

EXPIRED = frozenset({"ExpiredToken", "InvalidToken"})


@dataclass(frozen=True, slots=True)
class Session:
    """The tokens and identity `createSession` or `refreshSession` answered."""

    access: str
    refresh: str
    did: str
    handle: str


class AppPasswordSession:
    """Logs in with the app password once, and refreshes the session when it expires."""

    def __init__(
        self,
        api: JsonApi,
        *,
        identifier: str,
        app_password: str,
        service: str,
        source_id: str,
        clock: Clock,
    ):
        self.api = api
        self.identifier = identifier
        self.app_password = app_password
        self.service = service
        self.source_id = source_id
        self.clock = clock
        self._session: Session | None = None
        self._login_lock = asyncio.Lock()
        self._no_login_before: datetime | None = None
        self.logins = 0  # createSession calls, for the log and tests

    async def current(self) -> Session:
        """The session, logging in first if there is none."""
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
        self.logins += 1
        try:
            answer = await self.api.call(
                "POST",
                "/xrpc/com.atproto.server.createSession",
                json_body={"identifier": self.identifier, "password": self.app_password},
            )
        except PlatformError as exc:
            if exc.retry_after is not None:
                self._no_login_before = now + timedelta(seconds=exc.retry_after)
            elif exc.status in (400, 401):
                # Refused credentials stay refused: wait a while rather than hammer a
                # rate-limited endpoint; the source's own backoff grows on top of this.
                self._no_login_before = now + timedelta(minutes=5)
                raise PlatformError(
                    f"{self.identifier} could not log in: {exc}"
                    " (check identifier and app_password)",
                    status=exc.status,
                    code=exc.code,
                    transient=False,
                ) from None
            raise
        self._session = _read_session(answer.data, "createSession")
        log.info("%s: logged in to %s as %s", self.source_id, self.service, self._session.handle)

    async def refresh(self, stale: Session) -> None:
        """A fresh session in place of `stale` (a new login if the refresh token is dead)."""
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
                if exc.code in EXPIRED or exc.status in (400, 401):
                    log.info("%s: refresh token no longer valid; logging in again", self.source_id)
                    self._session = None
                    await self._login()
                    return
                raise
            self._session = _read_session(answer.data, "refreshSession")


def _read_session(data: Any, call: str) -> Session:
    if not isinstance(data, dict):
        raise PlatformError(f"{call} answered {type(data).__name__}, not a session")
    values = [data.get(k) for k in ("accessJwt", "refreshJwt", "did", "handle")]
    if not all(isinstance(v, str) and v for v in values):
        raise PlatformError(f"{call} answered without accessJwt, refreshJwt, did and handle")
    access, refresh, did, handle = values
    return Session(access=access, refresh=refresh, did=did, handle=handle)  # type: ignore[arg-type]
