"""Calls to Slack's Web API: pacing per channel, and every failure classified for the outbox.

A 429 carries Slack's Retry-After (and holds the key back for that long), 5xx answers,
timeouts and broken connections are transient (retried with backoff for as long as Slack
is down), and a request Slack will never accept (bad blocks, a deleted message) is
permanent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from typing import TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.clock import Clock
from bot.errors import DeliveryError

# Slack errors that no retry can fix.
_PERMANENT = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "user_not_found",
        "user_not_in_channel",
    }
)
# Slack errors that mean Slack itself is in trouble: retried without using up attempts.
_OUTAGE = frozenset({"ratelimited", "fatal_error", "internal_error", "service_unavailable"})
_DEFAULT_RETRY_AFTER = 5.0

T = TypeVar("T")

PLATFORM = "slack"  # how allhands records Slack: people, messages, who acted where


class ChannelPacer:
    """Spaces messages to one channel (Slack allows about one a second per channel).

    Each call reserves the channel's next free slot and waits for it, so concurrent
    senders to one channel queue up instead of all waking at once; a 429 pushes the
    key's next slot back by Slack's Retry-After. Keys are channel ids, or a method's
    name for limits Slack sets per workspace.
    """

    def __init__(self, *, clock: Clock, per_second: float = 1.0):
        self.clock = clock
        self.interval = timedelta()
        self.set_rate(per_second)
        self._free: dict[str, datetime] = {}

    def set_rate(self, per_second: float) -> None:
        """Allow `per_second` messages a second per channel (5% under, for clock jitter)."""
        self.interval = timedelta(seconds=1.05 / per_second)

    async def wait(self, key: str, *, reserve: bool = True) -> None:
        """Wait until `key` may take another message; without `reserve`, only wait out
        a hold (a 429), taking no slot."""
        now = self.clock.now()
        slot = max(now, self._free.get(key, now))
        if reserve:
            self._free[key] = slot + self.interval
        delay = (slot - now).total_seconds()
        if delay > 0:
            await self.clock.sleep(delay)
        if reserve:
            # Woken late (a busy event loop): the next message keeps its distance from
            # this one as sent, not as planned, or Slack would see two too close together.
            self._free[key] = max(self._free[key], self.clock.now() + self.interval)

    def hold(self, key: str, seconds: float) -> None:
        """Send nothing more to `key` for `seconds` (Slack said so)."""
        until = self.clock.now() + timedelta(seconds=seconds)
        if until > self._free.get(key, until - self.interval):
            self._free[key] = until


def _status_of(exc: SlackApiError) -> int | None:
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None)
    return int(status) if status is not None else None


def slack_error(exc: SlackApiError) -> str:
    """Slack's error code in a failed call's answer (`missing_scope`), or ""."""
    try:
        return str(exc.response.get("error") or "")
    except (AttributeError, TypeError):
        return ""


def retry_after_header(headers: Mapping[str, str] | None) -> float:
    """The seconds a 429's Retry-After header asks for (at least one; a default if absent)."""
    value = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
    try:
        return max(1.0, float(value)) if value is not None else _DEFAULT_RETRY_AFTER
    except ValueError:
        return _DEFAULT_RETRY_AFTER


def delivery_error(exc: BaseException, method: str) -> DeliveryError:
    """The DeliveryError for a failed Web API call, classified for the outbox."""
    if isinstance(exc, SlackApiError):
        status = _status_of(exc)
        error = slack_error(exc) or f"HTTP {status}"
        if status == 429 or error == "ratelimited":
            wait = retry_after_header(getattr(exc.response, "headers", None))
            return DeliveryError(
                f"Slack {method}: rate limited; retry after {wait:g}s",
                retry_after=wait,
                transient=True,
            )
        if (status is not None and status >= 500) or error in _OUTAGE:
            return DeliveryError(f"Slack {method}: {error} (HTTP {status})", transient=True)
        hint = ""
        if error == "not_in_channel":
            hint = ": invite @allhands to the channel (/invite @allhands)"
        elif error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
            hint = ": check SLACK_BOT_TOKEN"
        return DeliveryError(f"Slack {method}: {error}{hint}", permanent=error in _PERMANENT)
    if isinstance(exc, TimeoutError):
        return DeliveryError(f"Slack {method}: timed out", transient=True)
    return DeliveryError(f"Slack {method}: {type(exc).__name__}: {exc}", transient=True)


async def call_slack(method: str, call: Callable[[], Awaitable[T]]) -> T:
    """Run one Web API call; any failure comes out as a classified DeliveryError."""
    try:
        return await call()
    except (SlackApiError, TimeoutError, aiohttp.ClientError) as exc:
        raise delivery_error(exc, method) from exc
