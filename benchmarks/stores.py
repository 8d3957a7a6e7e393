"""Ingest and command throughput on SQLite and on PostgreSQL, side by side.

Run from the repository root, PostgreSQL beside it:

    scripts/with_postgres.sh .venv/bin/python benchmarks/stores.py [--count 3000]

(`scripts/with_postgres.sh` starts a throw-away PostgreSQL and sets
ALLHANDS_TEST_POSTGRES; without it only SQLite is measured, and the PostgreSQL column says
why.) Each store is fresh: a SQLite file in a temporary folder, a new PostgreSQL database.

- ingest: synthetic posts (benchmarks/pipeline.py's) through the bot's own path,
  `bot.ingest.store_batch` (normalise, triage, dedupe, store, queue the card), in batches
  of 100 as a poll brings them, and one at a time as webhooks bring them;
- commands: `claim`, `release`, `claim`, `resolve` on each mention through the workflow,
  as people type them in chat (each a conditional update, an event and a card update
  queued in one transaction), one after another and 8 at a time.

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.both_stores import measure_both, print_side_by_side
from benchmarks.pipeline import CHANNEL_OF, PLAYBOOKS, SOURCE, START, synthetic_items
from bot.app import App, build_triager
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Item
from bot.ingest import store_batch
from bot.settings import Settings
from bot.workflow import Context
from connectors.base import Batch

VERBS = ("claim", "release", "claim", "resolve")


async def timed(work: Callable[[], Awaitable[object]]) -> float:
    """Seconds `work()` takes."""
    started = time.perf_counter()
    await work()
    return time.perf_counter() - started


async def measure(target: str, *, count: int) -> dict[str, float]:
    """Per-second figures on the store at `target`."""
    clock = FakeClock(START)
    app = App(
        settings=Settings(db_path=target),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=PLAYBOOKS,
    )
    await app.start()
    triager = build_triager(PLAYBOOKS, SentimentIntensityAnalyzer())
    polled = synthetic_items(count, seed=7)
    pushed = synthetic_items(count // 10, seed=8)
    pushed = [replace(item, external_id=f"w{item.external_id}") for item in pushed]
    figures: dict[str, float] = {}
    try:

        async def ingest(items: list[Item], size: int, prefix: str) -> None:
            for n in range(0, len(items), size):
                await store_batch(
                    Batch(items=items[n : n + size], cursor=f"{prefix}{n}"),
                    source=SOURCE,
                    database=app.database,
                    triager=triager,
                    channel_of=CHANNEL_OF,
                    clock=clock,
                )

        figures["ingest, batches of 100 (mentions/s)"] = count / await timed(
            lambda: ingest(polled, 100, "p")
        )
        figures["ingest, one at a time (mentions/s)"] = len(pushed) / await timed(
            lambda: ingest(pushed, 1, "w")
        )
        numbers = list(range(1, count // 2 + 1))

        async def say(verb: str, number: int) -> None:
            await app.workflow.handle(f"{verb} {number}", Context(actor=f"u{number % 50}"))

        async def serial() -> None:
            for number in numbers[: len(numbers) // 2]:
                for verb in VERBS:
                    await say(verb, number)

        async def eight_at_a_time() -> None:
            rest = numbers[len(numbers) // 2 :]
            for n in range(0, len(rest), 8):
                for verb in VERBS:
                    await asyncio.gather(*(say(verb, number) for number in rest[n : n + 8]))

        half = len(numbers) // 2 * len(VERBS)
        figures["commands, one after another (per s)"] = half / await timed(serial)
        rest = (len(numbers) - len(numbers) // 2) * len(VERBS)
        figures["commands, 8 at a time (per s)"] = rest / await timed(eight_at_a_time)
    finally:
        await app.stop()
    return figures


def main(argv: list[str] | None = None) -> int:
    """Measure both stores and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000, help="mentions polled (default 3000)")
    args = parser.parse_args(argv)
    sqlite, postgres, why = measure_both(measure, count=args.count)
    print(f"{args.count} mentions polled, {args.count // 10} pushed, on this machine")
    print_side_by_side(sqlite, postgres, why, decimals=0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
