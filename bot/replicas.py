"""One replica of allhands among those sharing a store: its heartbeat and its leases.

Every replica answers the web endpoints and delivers the outbox; the scheduled jobs
(polling, the SLA sweep, digests, retention, outbox pruning, the nightly learn), Slack's
Socket Mode and the recovery of dead replicas' sends run on the one replica that holds
their lease. A replica beats every `BEAT_EVERY` seconds: its heartbeat, each free lease
taken and its own renewed (`LEASE_TTL`); then the dead dropped with their leases (taken
at once), and, holding `RECOVER`, what the dead left sending settled as after a crash. A
dead holder's leases expire with its heartbeat, and another replica's next beat takes
them: a job moves within `DEAD_AFTER + BEAT_EVERY` (25 s).

On SQLite the store has one replica (the run lock sees to it): starting, it drops every
other one as dead. On a shared store (PostgreSQL) a replica is dead when its heartbeat is
older than `DEAD_AFTER`, or at once when it ran on this host and its process is gone.

The heartbeat and the leases skip the writer's queue (`Database.heartbeat_write`: on
PostgreSQL a connection of their own, on SQLite the front of the queue): writes queued or
run again, a slow one or a long batch, never make a live replica look dead. The beat is
still driven from the event loop, so a replica whose loop is stuck stops beating.
Dropping the dead and settling their sends go through the writer, apart from the beat:
the next beat never waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime, timedelta
from importlib import metadata

from bot.clock import Clock
from bot.store import replicas, sql
from bot.store.db import Database
from bot.store.replicas import DEAD_AFTER, Lease, ReplicaRow

log = logging.getLogger(__name__)

BEAT_EVERY = 5.0  # seconds between heartbeats (and lease renewals)
LEASE_TTL = timedelta(seconds=20)
# A lease is used only while this much of it is left, so that a replica never runs a job
# in the last moments of a lease another may take next.
LEASE_MARGIN = timedelta(seconds=2)

POLL = "poll"
SLA_SWEEP = "sla-sweep"
DIGESTS = "digests"
RETENTION = "retention"
OUTBOX_PRUNE = "outbox-prune"
TRIAGE_LEARN = "triage-learn"
SLACK_SOCKET = "slack-socket"
RECOVER = "recover"
JOB_LEASES = (POLL, SLA_SWEEP, DIGESTS, RETENTION, OUTBOX_PRUNE, TRIAGE_LEARN, RECOVER)

Hook = Callable[[], Awaitable[None]]


def version() -> str:
    """The installed allhands version."""
    try:
        return metadata.version("allhands")
    except metadata.PackageNotFoundError:
        return "unknown"


def process_gone(pid: int) -> bool:
    """Whether no process `pid` runs on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, under another user
        return False
    return False


def dead(
    rows: Collection[ReplicaRow], *, me: str, host: str, now: datetime, exclusive: bool
) -> list[str]:
    """The replicas among `rows` that are dead, as seen by replica `me` on `host`."""
    return [
        row.id
        for row in rows
        if row.id != me
        and (
            exclusive
            or row.seen_at < now - DEAD_AFTER
            or (row.host == host and process_gone(row.pid))
        )
    ]


class Replica:
    """This process among the replicas: registered, beating, holding leases."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        exclusive: bool,
        recover: Callable[[Collection[str]], Awaitable[None]],
        host: str | None = None,
        id: str | None = None,
    ):
        self.database = database
        self.clock = clock
        self.exclusive = exclusive  # the store has this one replica (SQLite)
        self.recover = recover  # settles sends left by replicas not among those live
        self.host = host or socket.gethostname()
        self.pid = os.getpid()
        self.id = id or f"{self.host}-{self.pid}-{uuid.uuid4().hex[:6]}"
        self.wanted: list[str] = list(JOB_LEASES)
        self.held: dict[str, datetime] = {}
        self._gained: dict[str, Hook] = {}
        self._lost: dict[str, Hook] = {}
        self._active: set[str] = set()  # leases this replica acts on (their hooks ran)
        self._task: asyncio.Task[None] | None = None
        self._tending: asyncio.Task[None] | None = None
        self._changing = asyncio.Lock()  # lease hooks run for one change at a time
        self.joined = False

    def on_lease(self, name: str, *, gained: Hook, lost: Hook) -> None:
        """Want lease `name` too: `gained` runs when this replica takes it, `lost` when not."""
        if name not in self.wanted:
            self.wanted.append(name)
        self._gained[name] = gained
        self._lost[name] = lost

    async def join(self) -> None:
        """Register, drop the dead (on SQLite every other one), and take the leases."""
        await self._register(self.clock.now())
        self.joined = True
        log.info("replica %s (pid %d) joined", self.id, self.pid)
        await self.beat()  # on SQLite, whoever ran here before is gone, leases and all

    async def _register(self, now: datetime) -> None:
        await self.database.heartbeat_write(
            replicas.register,
            id=self.id,
            host=self.host,
            pid=self.pid,
            version=version(),
            now=now,
        )

    def holds(self, name: str) -> bool:
        """Whether this replica holds lease `name`, with time to spare."""
        until = self.held.get(name)
        return until is not None and until - LEASE_MARGIN > self.clock.now()

    async def hold(self, name: str) -> bool:
        """Take or renew lease `name` now; whether this replica holds it."""
        now = self.clock.now()
        try:
            lease = await self.database.heartbeat_write(
                replicas.take_lease, name=name, holder=self.id, now=now, ttl=LEASE_TTL
            )
        except sql.ERRORS as exc:  # a row locked too long, the store out of reach
            log.info("replica %s could not renew lease %s: %s", self.id, name, exc)
            return self.holds(name)  # what it took before holds until it expires
        self._took(lease)
        return self.holds(name)

    def _took(self, lease: Lease) -> None:
        if lease.holder == self.id:
            self.held[lease.name] = lease.expires_at
        else:
            self.held.pop(lease.name, None)

    async def beat(self) -> None:
        """Heartbeat and leases taken or renewed (`pulse`); then the dead dropped, their
        leases taken, and, holding RECOVER, what they left sending settled (`tend`)."""
        await self.pulse()
        await self.tend()

    async def pulse(self) -> None:
        """Heartbeat, and every wanted lease taken or renewed, in one transaction that does
        not wait in the writer's queue."""
        now, names = self.clock.now(), list(self.wanted)
        write = self.database.heartbeat_write
        leases = await write(replicas.pulse, id=self.id, names=names, now=now, ttl=LEASE_TTL)
        if leases is None:
            log.warning("replica %s was taken for dead; registering again", self.id)
            await self._register(now)
            leases = await write(replicas.pulse, id=self.id, names=names, now=now, ttl=LEASE_TTL)
        for lease in leases or []:
            self._took(lease)
        await self._changed()

    async def tend(self) -> None:
        """Drop the dead with their leases, take those, and settle what the dead left sending."""
        live, gone = await self._drop_dead()
        if gone:  # their leases are free now: taken at once, not at the next beat
            for name in self.wanted:
                if not self.holds(name):
                    await self.hold(name)
            await self._changed()
        if self.holds(RECOVER):
            await self.recover(live)

    async def sweep(self) -> list[str]:
        """Drop the dead replicas and settle what they left sending; their ids."""
        live, gone = await self._drop_dead()
        await self.recover(live)
        return sorted(gone)

    async def _drop_dead(self) -> tuple[list[str], list[str]]:
        """Forget the dead replicas, with their leases and lanes; the live ones' ids and
        the dead ones'."""
        rows = await self.database.read(replicas.every)
        gone = dead(
            rows, me=self.id, host=self.host, now=self.clock.now(), exclusive=self.exclusive
        )
        if gone:
            seen = {row.id: row.seen_at for row in rows}
            gone = await self.database.write(replicas.drop, ids=gone, seen=seen)
        if gone:
            log.warning("replica(s) %s stopped beating; their work moves on", ", ".join(gone))
        live = [row.id for row in rows if row.id not in gone]
        return (live if self.id in live else [*live, self.id]), gone

    async def _changed(self, *, leaving: bool = False) -> None:
        """Run the hooks of leases taken or lost since the last look."""
        async with self._changing:  # the beat and the tending may both look
            now_held = {name for name in self.wanted if self.holds(name)}
            gained, lost = now_held - self._active, self._active - now_held
            self._active = now_held
            for name in sorted(gained):
                log.info("replica %s holds %s", self.id, name)
                await _run_hook(self._gained.get(name), name)
            for name in sorted(lost):
                log.log(
                    logging.INFO if leaving else logging.WARNING,
                    "replica %s lets go of %s",
                    self.id,
                    name,
                )
                await _run_hook(self._lost.get(name), name)

    def start(self, *, every: float = BEAT_EVERY) -> None:
        """Beat every `every` seconds in the background until `leave()`."""
        self._task = asyncio.create_task(self._beating(every), name="allhands-replica")

    async def _beating(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)  # real time: a cadence, not a reading of the clock
            try:
                await self.pulse()
            except sql.ERRORS as exc:
                log.warning(
                    "replica %s could not beat (%s); trying again in %.0f s", self.id, exc, every
                )
                await self._changed()  # leases not renewed lapse here as they do for the others
            except Exception:
                log.exception("replica heartbeat failed; trying again in %.0f s", every)
                await self._changed()
            # The writer's work, apart: a busy writer delays it, never the next beat.
            if self._tending is None or self._tending.done():
                self._tending = asyncio.create_task(self._tend(), name="allhands-replica-tend")

    async def _tend(self) -> None:
        try:
            await self.tend()
        except Exception:
            log.exception("dropping the dead replicas failed; trying again after the next beat")

    async def leave(self) -> None:
        """Stop beating, let go of every lease and leave the registry (a clean stop)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._tending is not None:
            self._tending.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tending
            self._tending = None
        if not self.joined:
            return
        self.held.clear()
        await self._changed(leaving=True)
        with contextlib.suppress(Exception):
            await self.database.write(replicas.release_leases, holder=self.id)
            await self.database.write(replicas.drop, ids=[self.id])
        self.joined = False
        log.info("replica %s left", self.id)


async def _run_hook(hook: Hook | None, name: str) -> None:
    if hook is None:
        return
    try:
        await hook()
    except Exception:
        log.exception("acting on a change of lease %s failed", name)
