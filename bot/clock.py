"""The one place time is read; tests pass a FakeClock and move it by hand."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Tells the current time as an aware UTC datetime, and waits for time to pass."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real time."""

    def now(self) -> datetime:
        """The current UTC time."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of real time."""
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

    def now(self) -> datetime:
        """The time the test has set."""
        return self._now

    async def sleep(self, seconds: float) -> None:
        """Let time reach `seconds` from now at once (and let other tasks run).

        Sleepers overlapping in time move the clock to the latest of their ends, not by
        the sum of their waits.
        """
        end = self._now + timedelta(seconds=max(0.0, seconds))
        self._now = max(self._now, end)
        await asyncio.sleep(0)

    def advance(self, delta: timedelta) -> None:
        """Move time forward."""
        self._now += delta
