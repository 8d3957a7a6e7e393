"""How long one SLA sweep takes over 100,000 open mentions, and what it does.

Run from the repository root:

    .venv/bin/python benchmarks/sla_sweep.py [--count 100000] [--days 14] [--seed 7]

Fills a SQLite file in a temporary directory with `--count` active mentions of the three
teams of `playbooks/` (network: always on; billing and support: Lisbon office hours),
received over the last `--days` days, each with the events the bot would have logged:
mostly open, some claimed, answered, reopened or snoozed; most from a source that can be
answered, the rest from a feed. Then it times the bot's own `SlaSweeper.sweep()` on a
Tuesday at 10:00 in Lisbon:

1. the first sweep, when every step is overdue and none has been taken yet (the worst
   case: it writes a step and its outbox rows for most mentions);
2. a sweep a minute later, when almost everything has been taken (the steady state);
3. a sweep at 03:00 the next night, when the office teams are out of hours (after one at
   02:59 that takes what came due since the morning, as the sweeps in between would have).

For each it prints the seconds spent finding what is due (the store's queries and the
planning) and taking the steps (writes), and the steps taken. A benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import sqlite_utils

from bot.clock import FakeClock
from bot.playbooks import Playbooks, load_playbooks
from bot.sla import SlaSweeper, SweepReport
from bot.store.db import Database
from connectors.base import Connector
from connectors.registry import connector_class

ROOT = Path(__file__).resolve().parent.parent
LISBON = ZoneInfo("Europe/Lisbon")
NOW = datetime(2026, 3, 31, 10, 0, tzinfo=LISBON).astimezone(UTC)  # a Tuesday morning
TEAMS = ("network", "billing", "support")
PEOPLE = ("ann", "bo", "cy", "dee", "eli", "fay", "gus", "hal")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def _populate(db: sqlite_utils.Database, *, count: int, days: int, seed: int) -> dict[str, int]:
    """Insert `count` active mentions with their events; how many of each state."""
    rng = random.Random(seed)
    span = days * 86400
    mentions: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    states: dict[str, int] = {}
    # Mention numbers grow with arrival, as they do when the bot stores them.
    arrivals = sorted(NOW - timedelta(seconds=rng.randrange(60, span)) for _ in range(count))
    for n, received in enumerate(arrivals, start=1):
        roll = rng.random()
        state, claimed_by, claimed_at, snoozed = "open", None, None, None
        log: list[tuple[str, str, datetime, str | None, str]] = [
            ("ingest", "allhands", received, None, "new"),
            ("announce", "allhands", received + timedelta(seconds=2), "new", "open"),
        ]
        if roll < 0.25 or 0.35 <= roll < 0.40:
            claimed_by = rng.choice(PEOPLE)
            claimed_at = received + (NOW - received) * rng.random()
            log.append(("claim", claimed_by, claimed_at, "open", "claimed"))
            state = "claimed"
            if roll >= 0.35:  # answered
                at = claimed_at + (NOW - claimed_at) * rng.random()
                log.append(("answer", claimed_by, at, "claimed", "answered"))
                state = "answered"
        elif roll < 0.30:  # resolved once, then the customer wrote again
            middle = received + (NOW - received) / 2
            log.append(("resolve", "bo", middle, "open", "resolved"))
            log.append(("follow_up", "demo:x", middle + (NOW - middle) / 2, "resolved", "reopened"))
            state = "reopened"
        elif roll < 0.35:  # snoozed: half of them still asleep
            snoozed = NOW + timedelta(hours=rng.choice([-30, -2, 2, 30]))
            log.append(("snooze", "cy", received + timedelta(minutes=5), "open", "open"))
        states[state] = states.get(state, 0) + 1
        source = "demo" if rng.random() < 0.7 else "status-page"
        mentions.append(
            (
                n,
                source,
                f"p{n}",
                f"https://social.example/@u{n}/p{n}",
                f"u{n}",
                "a customer post",
                _iso(received),
                _iso(received),
                state,
                rng.choice(TEAMS),
                "question",
                "normal",
                0.0,
                claimed_by,
                _iso(claimed_at) if claimed_at else None,
                _iso(snoozed) if snoozed else None,
                _iso(log[-1][2]),
            )
        )
        events.extend((n, a, who, _iso(at), f, t) for a, who, at, f, t in log)
    db.conn.executemany(
        "INSERT INTO mentions (number, source, external_id, url, author_handle, text,"
        " created_at, received_at, state, team, kind, urgency, sentiment, claimed_by,"
        " claimed_at, snoozed_until, updated_at) VALUES"
        " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        mentions,
    )
    db.conn.executemany(
        "INSERT INTO events (mention, action, actor, at, from_state, to_state)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        events,
    )
    return states


@dataclass(frozen=True, slots=True)
class Timed:
    """One sweep: seconds to find what is due, seconds to take it, and what was done."""

    label: str
    find: float
    act: float
    report: SweepReport


async def _timed_sweep(label: str, sweeper: SlaSweeper, clock: FakeClock) -> Timed:
    now = clock.now()
    started = time.perf_counter()
    planned = await sweeper.find_due(now)
    found = time.perf_counter()
    report = await sweeper.act(planned, now)
    return Timed(label, found - started, time.perf_counter() - found, report)


async def run(count: int, days: int, seed: int, path: str) -> tuple[dict[str, int], list[Timed]]:
    """Fill the store, then time three sweeps."""
    playbooks: Playbooks = load_playbooks(ROOT / "playbooks")
    database = await Database(path).open()
    clock = FakeClock(NOW)
    async with aiohttp.ClientSession() as http:
        connectors: dict[str, Connector] = {
            s.id: connector_class(s.kind)(source_id=s.id, config=s.config, http=http)
            for s in playbooks.sources
        }
        sweeper = SlaSweeper(
            database=database,
            clock=clock,
            playbooks=lambda: playbooks,
            connectors=lambda: connectors,
        )
        try:
            states = await database.write(_populate, count=count, days=days, seed=seed)
            timings = [await _timed_sweep("first sweep, nothing taken yet", sweeper, clock)]
            clock.advance(timedelta(minutes=1))
            timings.append(await _timed_sweep("a minute later (steady state)", sweeper, clock))
            # Sweeps run every minute; one at 02:59 takes what came due in the afternoon.
            clock.advance(timedelta(hours=16, minutes=59))
            timings.append(await _timed_sweep("02:59 next night, catching up", sweeper, clock))
            clock.advance(timedelta(minutes=1))
            timings.append(await _timed_sweep("03:00 (out of office hours)", sweeper, clock))
        finally:
            await database.close()
    return states, timings


def report(states: dict[str, int], timings: list[Timed], *, count: int, days: int) -> None:
    """Print the figures."""
    mix = ", ".join(f"{n:,} {state}" for state, n in sorted(states.items()))
    print(f"mentions: {count:,} active over {days} days ({mix})")
    print(f"{'sweep':<34} {'find s':>7} {'act s':>7} {'total s':>8}  steps taken")
    for t in timings:
        steps = ", ".join(f"{n:,} {s.value}" for s, n in sorted(t.report.done.items())) or "none"
        total = t.find + t.act
        print(f"{t.label:<34} {t.find:>7.2f} {t.act:>7.2f} {total:>8.2f}  {steps}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="active mentions")
    parser.add_argument("--days", type=int, default=14, help="received over this many days")
    parser.add_argument("--seed", type=int, default=7, help="seed for the synthetic store")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="allhands-sla-") as tmp:
        states, timings = asyncio.run(
            run(args.count, args.days, args.seed, str(Path(tmp) / "sla.db"))
        )
    report(states, timings, count=args.count, days=args.days)
    return 0


if __name__ == "__main__":
    sys.exit(main())
