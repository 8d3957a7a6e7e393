"""A replica's heartbeat and leases never wait in the store's writer queue: on PostgreSQL
they have a connection of their own, on SQLite they go first. Yet the beat is driven by the
event loop, so a frozen loop stops it."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from datetime import datetime, timedelta
from typing import TypeVar
from urllib.parse import urlsplit

import pytest

from bot.clock import Clock, FakeClock, SystemClock
from bot.replicas import BEAT_EVERY, JOB_LEASES, LEASE_TTL, SLA_SWEEP, Replica
from bot.store import replicas as registry
from bot.store import sql
from bot.store.db import BEAT_TIMEOUT, Database
from bot.store.sql import Conn
from tests.stores import rows, with_database

T = TypeVar("T")


async def settle_nothing(live: Collection[str]) -> None:
    """A replica's recovery with nothing left to settle."""


def replica(database: Database, clock: Clock, name: str) -> Replica:
    """Replica `name` of a store shared with others (not the only one, as on SQLite)."""
    return Replica(database=database, clock=clock, exclusive=False, recover=settle_nothing, id=name)


class BusyWriter:
    """A write that holds the writer thread until released: the body waits, then writes.

    With `lock_lease`, it first writes that lease's row, holding it until released."""

    def __init__(self, database: Database, *, lock_lease: str = ""):
        self.database = database
        self.lock_lease = lock_lease
        self.started = threading.Event()
        self.released = threading.Event()
        self.write: asyncio.Future[None] | None = None

    def body(self, db: Conn) -> None:
        if self.lock_lease:
            db.execute("UPDATE leases SET holder = holder WHERE name = ?", [self.lock_lease])
        self.started.set()
        self.released.wait(30)
        registry.release_leases(db, holder="nobody")

    async def __aenter__(self) -> BusyWriter:
        self.write = asyncio.ensure_future(self.database.write(self.body))
        assert await asyncio.to_thread(self.started.wait, 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.released.set()
        assert self.write is not None
        await self.write


async def seen_at(database: Database, name: str) -> datetime:
    (row,) = [r for r in await database.read(registry.every) if r.id == name]
    return row.seen_at


@pytest.fixture
async def pg_database(pg_url: str) -> AsyncIterator[Database]:
    """An opened PostgreSQL store (where the heartbeat has a connection of its own)."""
    database = await Database(pg_url).open()
    yield database
    await database.close()


async def test_the_heartbeat_goes_before_every_write_waiting_in_the_queue(
    database: Database, clock: FakeClock
) -> None:
    a = replica(database, clock, "a")
    await a.join()
    saw: list[datetime] = []

    def queued(db: Conn) -> None:  # an ingest batch, say: what replica a's heartbeat says
        saw.append(registry.every(db)[0].seen_at)
        registry.release_leases(db, holder="nobody")

    async with BusyWriter(database):
        waiting = [asyncio.ensure_future(database.write(queued)) for _ in range(20)]
        await asyncio.sleep(0.05)  # they are queued
        clock.advance(timedelta(seconds=5))
        beat = asyncio.ensure_future(a.beat())
        await asyncio.sleep(0.05)  # it is on its way
    await asyncio.wait_for(beat, timeout=BEAT_EVERY)
    await asyncio.gather(*waiting)
    assert saw == [clock.now()] * 20
    assert all(a.holds(name) for name in JOB_LEASES)


async def test_a_busy_writer_does_not_hold_up_the_heartbeat_or_the_leases(
    pg_database: Database, clock: FakeClock
) -> None:
    """On PostgreSQL not even a write under way: a slow statement, a write run again."""
    database = pg_database
    a = replica(database, clock, "a")
    await a.join()
    async with BusyWriter(database):
        clock.advance(timedelta(seconds=5))
        await asyncio.wait_for(a.beat(), timeout=BEAT_EVERY)  # within a beat
        assert await seen_at(database, "a") == clock.now()
        leases = await database.read(registry.leases)
        assert {(lease.name, lease.holder, lease.expires_at) for lease in leases} == {
            (name, "a", clock.now() + LEASE_TTL) for name in JOB_LEASES
        }
        # A scheduled job asking for its lease does not wait either.
        clock.advance(timedelta(seconds=1))
        assert await asyncio.wait_for(a.hold(SLA_SWEEP), timeout=BEAT_EVERY)


async def test_a_lease_locked_by_a_write_under_way_is_judged_by_what_was_taken(
    pg_database: Database, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A beat write gives up after BEAT_TIMEOUT; the lease is its holder's until it expires."""
    database = pg_database
    a = replica(database, clock, "a")
    await a.join()
    async with BusyWriter(database, lock_lease=SLA_SWEEP):
        clock.advance(timedelta(seconds=5))
        started = time.monotonic()
        with caplog.at_level(logging.INFO, logger="bot.replicas"):
            assert await a.hold(SLA_SWEEP)  # taken 5 s ago for 20: its job may run
        assert BEAT_TIMEOUT <= time.monotonic() - started < BEAT_TIMEOUT + 5  # gave up
        assert f"replica a could not renew lease {SLA_SWEEP}: " in caplog.text
        clock.advance(LEASE_TTL - timedelta(seconds=6))
        assert not a.holds(SLA_SWEEP)  # within LEASE_MARGIN of its end: no job starts
    assert await a.hold(SLA_SWEEP)


async def test_the_beat_goes_on_while_dropping_the_dead_waits_for_the_writer(
    pg_database: Database, clock: FakeClock
) -> None:
    database = pg_database
    await database.write(
        registry.register, id="z", host="elsewhere", pid=1, version="0", now=clock.now()
    )
    a = replica(database, clock, "a")
    await a.join()
    clock.advance(timedelta(seconds=21))  # z stopped beating: a drops it, through the writer
    a.start(every=0.01)
    try:
        async with BusyWriter(database):
            for _ in range(3):  # beat after beat, while the dropping waits in the queue
                clock.advance(timedelta(seconds=5))
                await until(lambda: seen_at(database, "a"), clock.now())
            assert await registry_ids(database) == {"a", "z"}
        await until(lambda: registry_ids(database), {"a"})  # the writer free, z is dropped
    finally:
        await a.leave()


async def registry_ids(database: Database) -> set[str]:
    return {r.id for r in await database.read(registry.every)}


async def until(read: Callable[[], Awaitable[T]], expected: T, *, within: float = 5.0) -> None:
    """Wait until `await read()` gives `expected` (the beat runs on its own time)."""
    deadline = time.monotonic() + within
    while (got := await read()) != expected:
        assert time.monotonic() < deadline, f"still {got!r}, not {expected!r}"
        await asyncio.sleep(0.005)


async def test_a_heartbeat_connection_the_server_dropped_is_opened_again_and_closed_on_stop(
    pg_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    admin = with_database(pg_url, "postgres")
    name = urlsplit(pg_url).path.lstrip("/")
    database = await Database(pg_url).open()
    try:
        a = replica(database, clock, "a")
        await a.join()
        backend = await database.heartbeat_write(backend_pid)
        rows(admin, "SELECT pg_terminate_backend(?)", [backend])  # a fail-over, say
        clock.advance(timedelta(seconds=5))
        with caplog.at_level(logging.WARNING, logger="bot.store.db"):
            await asyncio.wait_for(a.pulse(), timeout=BEAT_EVERY)
        assert await seen_at(database, "a") == clock.now()
        (lost,) = [r.getMessage() for r in caplog.records if r.name == "bot.store.db"]
        assert lost.startswith("the heartbeat's connection to the store was lost (terminating")
        assert await database.heartbeat_write(backend_pid) != backend
        await a.leave()
    finally:
        await database.close()
    # Closing the store closes every connection, the heartbeat's included.
    deadline = time.monotonic() + 5
    query = "SELECT count(*) FROM pg_stat_activity WHERE datname = ?"
    while rows(admin, query, [name]) != [(0,)]:
        assert time.monotonic() < deadline, "a connection was left open"
        await asyncio.sleep(0.01)


def backend_pid(db: Conn) -> int:
    """The server process serving this connection."""
    return int(db.execute("SELECT pg_backend_pid()").fetchone()[0])


async def test_a_frozen_event_loop_stops_the_heartbeat(database: Database) -> None:
    """Only the beat's write leaves the loop: a replica whose loop is stuck looks dead."""
    a = replica(database, SystemClock(), "a")
    await a.join()
    a.start(every=0.01)
    seen: list[tuple[float, datetime]] = []
    watching = threading.Event()

    def watch() -> None:  # what another replica sees, from outside this loop
        conn = sql.connect(database.path)
        try:
            while watching.is_set():
                (row,) = [r for r in registry.every(conn) if r.id == "a"]
                seen.append((time.monotonic(), row.seen_at))
                time.sleep(0.005)
        finally:
            conn.close()

    watching.set()
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        await asyncio.sleep(0.2)
        frozen_at = time.monotonic()
        time.sleep(0.8)  # noqa: ASYNC251 - the loop is stuck: nothing on it runs
        thawed_at = time.monotonic()
        await asyncio.sleep(0.3)
    finally:
        watching.clear()
        watcher.join()
        await a.leave()
    before = {at for t, at in seen if t < frozen_at}
    # A beat already on its way when the loop stuck may land a little later (a busy machine).
    during = {at for t, at in seen if frozen_at + 0.3 < t < thawed_at}
    after = {at for t, at in seen if t > thawed_at + 0.1}
    assert len(before) >= 2  # it was beating
    assert len(during) == 1  # not once while the loop was stuck
    assert len(after) >= 2 and min(after) > max(during)  # and beats again once it runs
