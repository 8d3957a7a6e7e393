"""How long a replica's heartbeat takes while the store's writer is busy: written through
the writer's queue (as it was) and skipping it (as it is now).

Run from the repository root, PostgreSQL beside it:

    scripts/with_postgres.sh .venv/bin/python benchmarks/heartbeat.py [--seconds 20]
        [--writers 4] [--every 0.5]

On a fresh SQLite file, then (when ALLHANDS_TEST_POSTGRES names a server) a fresh
PostgreSQL database, `--writers` tasks ingest synthetic posts (benchmarks/pipeline.py's)
in batches of 100 through `bot.ingest.store_batch` for `--seconds`, so that the writer's
queue never empties. On PostgreSQL two replicas (two store handles, as two processes)
ingest the same posts into the same source, so their writes collide and are run again, as
when replicas race. Meanwhile replica `a` beats every `--every` seconds, both ways at once:

- queued: its heartbeat written through the writer (`Database.write`), the way it was;
- skipping it: `Replica.pulse`, its heartbeat and its 8 leases in one transaction through
  `Database.heartbeat_write` (on PostgreSQL the heartbeat's own connection, on SQLite the
  front of the writer's queue), the way it is now.

Printed per store: beats, median, 95th percentile and worst in milliseconds, how many
took longer than a beat (5 s) and than DEAD_AFTER (20 s, when others take it for dead).
A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Collection, Iterator
from datetime import timedelta
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.both_stores import postgres_target
from benchmarks.pipeline import CHANNEL_OF, PLAYBOOKS, SOURCE, START, synthetic_items
from bot.app import build_triager
from bot.clock import FakeClock
from bot.domain.mentions import Item
from bot.ingest import store_batch
from bot.replicas import BEAT_EVERY, Replica
from bot.store import replicas as registry
from bot.store.db import Database
from bot.store.replicas import DEAD_AFTER
from connectors.base import Batch

BATCH = 100


async def settle_nothing(live: Collection[str]) -> None:
    """No sends to settle in this drill."""


async def timed(work: Awaitable[object], into: list[float]) -> None:
    """Append the seconds `work` takes to `into`."""
    started = time.perf_counter()
    await work
    into.append(time.perf_counter() - started)


async def measure(
    target: str, *, replicas: int, seconds: float, writers: int, every: float
) -> dict[str, list[float]]:
    """Heartbeat times, queued and on their own connection, under an ingest load."""
    clock = FakeClock(START)
    databases = [await Database(target).open() for _ in range(replicas)]
    triager = build_triager(PLAYBOOKS, SentimentIntensityAnalyzer())
    items = synthetic_items(int(seconds * 2000), seed=7)
    a = Replica(database=databases[0], clock=clock, exclusive=False, recover=settle_nothing, id="a")
    await a.join()
    stop = time.monotonic() + seconds
    batches_of = {id(db): batches(items) for db in databases}  # each replica the same posts

    async def ingest(database: Database) -> None:
        for n, chunk in batches_of[id(database)]:
            if time.monotonic() > stop:
                return
            await store_batch(
                Batch(items=chunk, cursor=f"c{n}"),
                source=SOURCE,
                database=database,
                triager=triager,
                channel_of=CHANNEL_OF,
                clock=clock,
            )

    queued: list[float] = []
    own: list[float] = []
    waiting: list[asyncio.Task[None]] = []
    load = [asyncio.create_task(ingest(db)) for db in databases for _ in range(writers)]
    try:
        while time.monotonic() < stop:
            await asyncio.sleep(every)
            clock.advance(timedelta(seconds=BEAT_EVERY))
            waiting.append(
                asyncio.create_task(
                    timed(databases[0].write(registry.heartbeat, id="a", now=clock.now()), queued)
                )
            )
            await timed(a.pulse(), own)
        await asyncio.gather(*load)
        await asyncio.gather(*waiting)
        await a.leave()
    finally:
        for db in databases:
            await db.close()
    return {"queued": queued, "skipping it": own}


def batches(items: list[Item]) -> Iterator[tuple[int, list[Item]]]:
    """The posts in batches of BATCH, numbered."""
    for n in itertools.count():
        chunk = items[n * BATCH : (n + 1) * BATCH]
        if not chunk:
            return
        yield n, chunk


def row(store: str, way: str, times: list[float]) -> str:
    """One printed line of figures."""
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    late = sum(1 for t in times if t > BEAT_EVERY)
    dead = sum(1 for t in times if t > DEAD_AFTER.total_seconds())
    return (
        f"{store:<11} {way:<15} {len(ms):>5} {statistics.median(ms):>9.1f} {p95:>9.1f}"
        f" {ms[-1]:>9.1f} {late:>6} {dead:>6}"
    )


def main(argv: list[str] | None = None) -> int:
    """Measure on SQLite, then on PostgreSQL if there is one, and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="load per store (20)")
    parser.add_argument("--writers", type=int, default=4, help="ingest tasks per replica (4)")
    parser.add_argument("--every", type=float, default=0.5, help="seconds between beats (0.5)")
    args = parser.parse_args(argv)
    load = {"seconds": args.seconds, "writers": args.writers, "every": args.every}
    results: list[tuple[str, dict[str, list[float]]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = asyncio.run(measure(str(Path(tmp) / "bench.db"), replicas=1, **load))
    results.append(("SQLite", sqlite))
    target, why = postgres_target()
    if target:
        results.append(("PostgreSQL", asyncio.run(measure(target, replicas=2, **load))))
    print(
        f"{args.writers} ingest tasks per replica (batches of {BATCH}) for {args.seconds:.0f} s,"
        f" a beat every {args.every} s; times in ms"
    )
    print(f"{'store':<11} {'heartbeat':<15} {'beats':>5} {'median':>9} {'p95':>9} {'worst':>9}"
          f" {'>5 s':>6} {'>20 s':>6}")  # fmt: skip
    for store, figures in results:
        for way, times in figures.items():
            print(row(store, way, times))
    if why:
        print(f"PostgreSQL: {why}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
