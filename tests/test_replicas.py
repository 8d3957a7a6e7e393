"""Several replicas on one store: one holder per job, takeover when a holder dies, lanes
delivered by one replica at a time, and only dead replicas' sends settled."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import Collection
from datetime import timedelta

import pytest
import sqlite_utils

from bot import stats_report
from bot.chat import MessageRef
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.delivery import OutboxWorker
from bot.replicas import JOB_LEASES, LEASE_TTL, RECOVER, SLA_SWEEP, Replica
from bot.scheduler import RunningJobs
from bot.store import lanes, outbox
from bot.store import replicas as registry
from bot.store.db import Database

K = outbox.Kind


def replica(database: Database, clock: FakeClock, name: str, settled: list[str]) -> Replica:
    """A replica of a shared store (not the only one, as on SQLite) named `name`."""

    async def recover(live: Collection[str]) -> None:
        settled.append(f"{name} sees {sorted(live)} live")

    return Replica(database=database, clock=clock, exclusive=False, recover=recover, id=name)


async def joined(database: Database, clock: FakeClock) -> tuple[Replica, Replica, list[str]]:
    """Replicas a and b, joined in that order, and the list their recoveries write to."""
    settled: list[str] = []
    a, b = replica(database, clock, "a", settled), replica(database, clock, "b", settled)
    await a.join()
    await b.join()
    return a, b, settled


def held(leases: list[registry.Lease]) -> dict[str, str]:
    return {lease.name: lease.holder for lease in leases}


async def test_one_holder_renewal_keeps_it_and_a_dead_holders_jobs_move(
    database: Database, clock: FakeClock
) -> None:
    a, b, settled = await joined(database, clock)
    assert held(await database.read(registry.leases)) == {name: "a" for name in JOB_LEASES}
    assert all(a.holds(name) for name in JOB_LEASES)
    assert not any(b.holds(name) for name in JOB_LEASES)
    # Renewed every beat, the lease outlives its first term; b beating meanwhile gets none.
    for _ in range(6):
        clock.advance(timedelta(seconds=5))
        await a.beat()
        await b.beat()
    assert held(await database.read(registry.leases)) == {name: "a" for name in JOB_LEASES}
    # A job runs where its lease is held, and is skipped elsewhere.
    ran: list[str] = []
    jobs = RunningJobs()

    async def sweep(where: str) -> str:
        ran.append(where)
        return where

    assert await jobs.tracked(sweep, only_if=lambda: b.hold(SLA_SWEEP))("b") is None
    assert await jobs.tracked(sweep, only_if=lambda: a.hold(SLA_SWEEP))("a") == "a"
    assert ran == ["a"]
    # a stops beating (killed): within one lease term and a beat, b holds every job.
    clock.advance(timedelta(seconds=5))
    await b.beat()
    assert not any(b.holds(name) for name in JOB_LEASES)
    clock.advance(LEASE_TTL)
    await b.beat()
    assert held(await database.read(registry.leases)) == {name: "b" for name in JOB_LEASES}
    assert [r.id for r in await database.read(registry.every)] == ["b"]  # a dropped as dead
    assert settled[-1] == "b sees ['b'] live"
    # a comes back from a long pause: it registers again and holds nothing.
    await a.beat()
    assert not any(a.holds(name) for name in JOB_LEASES)
    assert {r.id for r in await database.read(registry.every)} == {"a", "b"}


async def test_a_replica_that_beat_after_it_was_judged_dead_is_kept(
    database: Database, clock: FakeClock
) -> None:
    a, _b, _settled = await joined(database, clock)
    clock.advance(LEASE_TTL)
    stale = {row.id: row.seen_at for row in await database.read(registry.every)}
    await a.beat()  # a beats between b's reading (a silent for 20 s) and b's drop
    dropped = await database.write(registry.drop, ids=["a"], seen=stale)
    assert dropped == []
    assert {r.id for r in await database.read(registry.every)} == {"a", "b"}
    assert held(await database.read(registry.leases)) == {name: "a" for name in JOB_LEASES}
    # Still silent at the next reading: dropped with its leases.
    clock.advance(LEASE_TTL)
    seen = {row.id: row.seen_at for row in await database.read(registry.every)}
    assert await database.write(registry.drop, ids=["a"], seen=seen) == ["a"]
    assert await database.read(registry.leases) == []


async def test_a_clean_stop_hands_the_jobs_over_at_the_next_beat(
    database: Database, clock: FakeClock
) -> None:
    a, b, _settled = await joined(database, clock)
    await a.leave()
    await b.beat()
    assert held(await database.read(registry.leases)) == {name: "b" for name in JOB_LEASES}
    assert [r.id for r in await database.read(registry.every)] == ["b"]


async def test_on_sqlite_a_starting_replica_takes_over_at_once(
    database: Database, clock: FakeClock
) -> None:
    """One replica per SQLite file (the run lock): any other registered one is dead."""
    settled: list[str] = []
    await replica(database, clock, "old", settled).join()  # killed, its heartbeat fresh
    new = Replica(
        database=database, clock=clock, exclusive=True, recover=lambda live: asyncio.sleep(0)
    )
    await new.join()
    assert all(new.holds(name) for name in JOB_LEASES)
    assert [r.id for r in await database.read(registry.every)] == [new.id]


async def test_a_replica_whose_process_is_gone_from_this_host_is_dead_at_once(
    database: Database, clock: FakeClock
) -> None:
    """A replica restarted on its machine need not wait for its predecessor's heartbeat."""
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()  # its pid is free now
    await database.write(
        registry.register,
        id="old",
        host="web-1",
        pid=ended.pid,
        version="0",
        now=clock.now(),
    )
    await database.write(
        registry.register, id="elsewhere", host="web-2", pid=ended.pid, version="0",
        now=clock.now(),
    )  # fmt: skip
    new = Replica(
        database=database, clock=clock, exclusive=False, host="web-1", id="new",
        recover=lambda live: asyncio.sleep(0),
    )  # fmt: skip
    await new.join()
    # The one on another host may be alive for all this one can tell: its heartbeat is fresh.
    assert {r.id for r in await database.read(registry.every)} == {"elsewhere", "new"}


async def channel_notes(database: Database, clock: FakeClock, lanes_: int, each: int) -> None:
    def queue(db: sqlite_utils.Database) -> None:
        for n in range(each):
            for lane in range(lanes_):
                outbox.enqueue(
                    db,
                    kind=K.CHANNEL_NOTE,
                    target=f"console:#c{lane}",
                    payload={"text": f"c{lane} {n}"},
                    now=clock.now(),
                )

    await database.write(queue)


async def test_only_a_dead_replicas_sends_are_settled_and_its_lane_waits_for_them(
    database: Database, clock: FakeClock
) -> None:
    await channel_notes(database, clock, lanes_=1, each=2)
    settled: list[str] = []
    a, b = replica(database, clock, "a", settled), replica(database, clock, "b", settled)
    worker = OutboxWorker(database=database, clock=clock, adapters={}, connectors=dict, taker="b")
    b.recover = lambda live: worker.recover(live=live)
    await a.join()
    await b.join()
    first = await database.write(lanes.take_next, lane="console:#c0", now=clock.now(), taker="a")
    assert first is not None and first.payload["text"] == "c0 0"
    # b may not take the lane's next note while a delivers the lane, nor once a's hold
    # ends while a's send is unsettled: the second note would overtake the first.
    assert (
        await database.write(lanes.take_next, lane="console:#c0", now=clock.now(), taker="b")
        is None
    )
    clock.advance(lanes.LANE_HOLD + timedelta(seconds=1))
    await a.beat()
    await b.sweep()  # a is alive: its send is its own
    assert [e.id for e in await database.read(outbox.interrupted)] == [first.id]
    assert (
        await database.write(lanes.take_next, lane="console:#c0", now=clock.now(), taker="b")
        is None
    )
    # a dies; b finds it dead, settles its send (queued again), then takes the lane in order.
    clock.advance(timedelta(seconds=21))
    assert await b.sweep() == ["a"]
    assert await database.read(outbox.interrupted) == []
    texts = []
    while effect := await database.write(
        lanes.take_next, lane="console:#c0", now=clock.now(), taker="b"
    ):
        texts.append(effect.payload["text"])
        await database.write(outbox.finish, id=effect.id, now=clock.now())
    assert texts == ["c0 0", "c0 1"]


async def test_a_lanes_rest_holds_for_every_replica(database: Database, clock: FakeClock) -> None:
    await channel_notes(database, clock, lanes_=1, each=1)
    until = clock.now() + timedelta(seconds=30)  # Slack's Retry-After, seen by replica a
    await database.write(lanes.pause_lane, lane="console:#c0", until=until)
    clock.advance(timedelta(seconds=29))
    for taker in ("a", "b"):
        assert (
            await database.write(lanes.take_next, lane="console:#c0", now=clock.now(), taker=taker)
            is None
        )
    clock.advance(timedelta(seconds=1))
    assert await database.write(lanes.take_next, lane="console:#c0", now=clock.now(), taker="b")


class Recording(ConsoleAdapter):
    """The console, keeping what each replica sent where, in order, sending slowly."""

    def __init__(self, name: str, sent: list[tuple[str, str, str]]):
        super().__init__(io.StringIO())
        self.name = name
        self.sent = sent

    async def post_message(self, channel: str, text: str) -> MessageRef:
        await asyncio.sleep(0.001)  # let the other replica's worker run meanwhile
        self.sent.append((self.name, channel, text))
        return MessageRef("console", channel, str(len(self.sent)))


@pytest.mark.parametrize("lanes_", [1, 6])
async def test_two_deliverers_never_take_one_effect_and_keep_each_lanes_order(
    database: Database, clock: FakeClock, lanes_: int
) -> None:
    await channel_notes(database, clock, lanes_=lanes_, each=20)
    sent: list[tuple[str, str, str]] = []
    workers = [
        OutboxWorker(
            database=database,
            clock=clock,
            adapters={"console": Recording(name, sent)},
            connectors=dict,
            taker=name,
        )
        for name in ("a", "b")
    ]
    await asyncio.gather(*(worker.drain() for worker in workers))
    assert len(sent) == lanes_ * 20
    for lane in range(lanes_):
        in_lane = [(who, text) for who, channel, text in sent if channel == f"#c{lane}"]
        assert [text for _, text in in_lane] == [f"c{lane} {n}" for n in range(20)]
        assert len({who for who, _ in in_lane}) == 1  # one replica delivers a lane at a time
    assert (await database.read(outbox.counts)) == {"done": lanes_ * 20}


async def test_stats_show_the_replicas_and_who_holds_each_job(
    database: Database, clock: FakeClock
) -> None:
    settled: list[str] = []
    a, b = replica(database, clock, "web-1", settled), replica(database, clock, "web-2", settled)
    await a.join()
    clock.advance(timedelta(seconds=3))
    await b.join()
    clock.advance(timedelta(seconds=4))
    figures = await database.read(stats_report.read, since=clock.now(), now=clock.now())
    lines = stats_report.render(figures).splitlines()
    at = lines.index("Replicas: 2")
    assert lines[at + 1].startswith(f"  web-1: host {a.host}, pid {a.pid}, version ")
    assert lines[at + 1].endswith("up since 2026-01-05 09:00:00 UTC, last seen 7 s ago")
    assert lines[at + 2].endswith("up since 2026-01-05 09:00:03 UTC, last seen 4 s ago")
    assert lines[at + 3] == "Jobs, and the replica that runs each (holds its lease):"
    assert f"  {RECOVER.ljust(12)}  web-1 until 09:00:20 UTC, renewed while it runs" in lines
    clock.advance(timedelta(seconds=30))  # web-1 died
    figures = await database.read(stats_report.read, since=clock.now(), now=clock.now())
    text = stats_report.render(figures)
    assert "last seen 37 s ago (not beating: taken for dead)" in text
    assert "free (held by web-1 until 09:00:20 UTC)" in text
