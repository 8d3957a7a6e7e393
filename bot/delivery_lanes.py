"""Lanes of the outbox, delivered side by side: a busy destination never delays another.

A lane is one destination (a chat channel, a person's private chat, the source account
that posts public replies; `bot.store.outbox.lane_of`). Each lane with work due has one
task that takes its next effect (`bot.store.lanes.take_next`: the most urgent first),
sends it, and takes the next, so a lane sends one thing at a time at the pace its
platform allows (the chat adapter spaces messages per channel) while every other lane goes
on. A lane told to wait (a 429's Retry-After, a platform that is down) is paused on its
own. Stopping lets each send in flight finish and takes nothing more.

Replicas sharing a store deliver side by side: a lane is delivered by one replica at a
time (`bot.store.lanes.hold_lane`), so it keeps its order and its pace, and a rest a
platform asks for is kept in the store for all of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from bot.clock import Clock
from bot.store import lanes, outbox
from bot.store.db import Database

log = logging.getLogger(__name__)

IDLE_LOOK = 5.0  # seconds between looks for due work when nothing wakes the lanes
ELSEWHERE_LOOK = 1.0  # seconds before looking again at a lane another replica delivers


class Lanes:
    """One task per lane with work due, started and watched by a supervisor task."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        deliver: Callable[[outbox.Effect], Awaitable[None]],
        taker: str | None = None,
    ):
        self.database = database
        self.taker = taker  # the replica taking effects, where several share the store
        self.clock = clock
        self.deliver = deliver
        self._paused: dict[str, datetime] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._sending: dict[str, outbox.Effect] = {}
        self._wake = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        """Something was queued or settled: look for due lanes now."""
        self._wake.set()

    def pause(self, lane: str, seconds: float) -> None:
        """Send nothing more in `lane` for `seconds` (the platform asked, or is down)."""
        until = self.clock.now() + timedelta(seconds=seconds)
        if until > self._paused.get(lane, until - timedelta(seconds=1)):
            self._paused[lane] = until

    @property
    def running(self) -> bool:
        """Whether lanes are being delivered in the background."""
        return self._supervisor is not None or bool(self._tasks)

    def _ready_at(self, lane: str, due: datetime) -> datetime:
        paused = self._paused.get(lane)
        return max(due, paused) if paused is not None else due

    async def run_lane(self, lane: str, *, watch_stop: bool = False) -> int:
        """Deliver the lane's due effects one after another; how many were taken."""
        lock = self._locks.setdefault(lane, asyncio.Lock())
        taken = 0
        async with lock:
            while not (watch_stop and self._stopping):
                now = self.clock.now()
                paused = self._paused.get(lane)
                if paused is not None and paused > now:
                    break
                effect = await self.database.write(
                    lanes.take_next, lane=lane, now=now, taker=self.taker
                )
                if effect is None:
                    break
                taken += 1
                self._sending[lane] = effect
                try:
                    await self.deliver(effect)
                finally:
                    self._sending.pop(lane, None)
        return taken

    async def drain(self, *, rounds: int = 1000) -> None:
        """Deliver every lane until nothing more is due (later retries stay queued)."""
        for _ in range(rounds):
            pending = await self.database.read(lanes.pending_lanes)
            now = self.clock.now()
            due = [lane for lane, at in pending.items() if self._ready_at(lane, at) <= now]
            if not due:
                return
            taken = await asyncio.gather(*(self.run_lane(lane) for lane in due))
            if not any(taken):
                return

    def start(self) -> None:
        """Deliver in the background until `stop()`."""
        self._stopping = False
        self._supervisor = asyncio.create_task(self._supervise(), name="allhands-outbox")

    async def _supervise(self) -> None:
        while not self._stopping:
            self._wake.clear()
            wait = IDLE_LOOK
            try:
                pending = await self.database.read(lanes.pending_lanes)
            except Exception:
                log.exception("looking for due outbox lanes failed; trying again shortly")
                pending = {}
            now = self.clock.now()
            for lane, at in pending.items():
                ready = self._ready_at(lane, at)
                if ready > now:
                    wait = min(wait, (ready - now).total_seconds())
                elif lane not in self._tasks and not self._stopping:
                    self._start_lane(lane)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.02, wait))

    def _start_lane(self, lane: str) -> None:
        task = asyncio.create_task(self._lane(lane), name=f"allhands-lane-{lane}")
        self._tasks[lane] = task
        task.add_done_callback(lambda _: self._lane_ended(lane))

    def _lane_ended(self, lane: str) -> None:
        self._tasks.pop(lane, None)
        self._wake.set()  # what it settled may have released work in other lanes

    async def _lane(self, lane: str) -> None:
        try:
            taken = await self.run_lane(lane, watch_stop=True)
            if not taken and self.taker is not None:
                # Another replica delivers this lane now, or it rests: look again later.
                self.pause(lane, ELSEWHERE_LOOK)
        except Exception:
            log.exception("outbox lane %s failed; it rests a moment", lane)
            self.pause(lane, 2.0)

    async def stop(self, *, grace: float) -> None:
        """Take nothing more; let the sends in flight finish (up to `grace` s), then
        end. A send still running after that is cut off and settled at the next start."""
        self._stopping = True
        self._wake.set()
        if self._supervisor is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
            self._supervisor = None
        tasks = list(self._tasks.values())
        if tasks:
            _, running = await asyncio.wait(tasks, timeout=grace)
            for task in running:
                task.cancel()
            if running:
                log.warning(
                    "stopping: %d send(s) still running after %.1f s were cut off: %s",
                    len(running),
                    grace,
                    ", ".join(f"{e.kind.value} {e.id}" for e in self._sending.values()),
                )
                await asyncio.wait(running, timeout=1.0)
        self._tasks.clear()
