"""An access token that renews itself: before it expires, or once when the platform
refuses it, with one renewal at a time however many calls are waiting.

How a token is renewed is the platform's business (a refresh token, a password grant, a
signed JWT); a connector passes that as `renew`, which gets the stale token (None at
first) and returns a fresh one. Used by the X, Reddit and Google Play connectors.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.clock import Clock
from connectors.jsonapi import ApiResponse, JsonApi, PlatformError

MARGIN = timedelta(seconds=60)  # renew this long before the platform's expiry


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token, when it stops working, and the refresh token that renews it."""

    value: str
    expires_at: datetime | None = None
    refresh: str = ""

    def fresh(self, now: datetime) -> bool:
        """Whether the token still works at `now` (with a margin)."""
        return self.expires_at is None or now + MARGIN < self.expires_at


def token_from_answer(data: Any, *, now: datetime, call: str, refresh: str = "") -> AccessToken:
    """An OAuth 2 token endpoint's answer (`access_token`, `expires_in`, `refresh_token`)."""
    if not isinstance(data, dict) or not isinstance(data.get("access_token"), str):
        raise PlatformError(f"{call} answered without an access_token", transient=False)
    lifetime = data.get("expires_in")
    expires = now + timedelta(seconds=lifetime) if isinstance(lifetime, int | float) else None
    new_refresh = data.get("refresh_token")
    return AccessToken(
        value=data["access_token"],
        expires_at=expires,
        refresh=new_refresh if isinstance(new_refresh, str) and new_refresh else refresh,
    )


class TokenKeeper:
    """Hands out a working access token, renewing it through `renew` when needed."""

    def __init__(
        self, renew: Callable[[AccessToken | None], Awaitable[AccessToken]], *, clock: Clock
    ):
        self._renew = renew
        self._clock = clock
        self._token: AccessToken | None = None
        self._lock = asyncio.Lock()
        self.renewals = 0  # for the log and tests

    async def current(self) -> AccessToken:
        """A token that has not expired (renewed first if it has, or if there is none)."""
        async with self._lock:
            if self._token is None or not self._token.fresh(self._clock.now()):
                await self._replace(self._token)
            assert self._token is not None
            return self._token

    async def refused(self, stale: AccessToken) -> AccessToken:
        """The platform refused `stale`: a renewed token (unless another call renewed it)."""
        async with self._lock:
            if self._token is None or self._token.value == stale.value:
                await self._replace(self._token)
            assert self._token is not None
            return self._token

    async def call(
        self,
        api: JsonApi,
        method: str,
        path: str,
        *,
        scheme: str = "Bearer",
        params: Any = None,
        json_body: Any = None,
        form: Any = None,
    ) -> ApiResponse:
        """Call `api` with the token as `Authorization: <scheme> …`; a 401 renews it once."""
        token = await self.current()
        for attempt in (1, 2):
            try:
                return await api.call(
                    method,
                    path,
                    params=params,
                    json_body=json_body,
                    form=form,
                    headers={"Authorization": f"{scheme} {token.value}"},
                )
            except PlatformError as exc:
                if attempt == 2 or exc.status != 401:
                    raise
            token = await self.refused(token)
        raise AssertionError("unreachable")

    async def _replace(self, stale: AccessToken | None) -> None:
        self.renewals += 1
        self._token = await self._renew(stale)


async def read_secret(text: str, file: str, what: str) -> str:
    """A key given inline, or as a file (read off the event loop); ValueError if unreadable."""
    if text.strip():
        return text
    try:
        return await asyncio.to_thread(Path(file).read_text, "utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {what} from {file}: {exc.strerror}") from None
