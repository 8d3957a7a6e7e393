"""One storm split across several replicas on one store: incidents, re-runs, grouping cost.

Run from the repository root, with a PostgreSQL server (scripts/with_postgres.sh starts a
throw-away one and names it in ALLHANDS_TEST_POSTGRES):

    scripts/with_postgres.sh .venv/bin/python benchmarks/storm_replicas.py \
        [--replicas 2] [--count 1000] [--batch 50] [--pause 0.05] [--seed 7] [--store sqlite]

The storm (benchmarks/storm_gen.py: 70% one outage written many ways) is cut into batches
of `--batch`, dealt in turn to `--replicas` allhands instances, each its own App with its
own writer thread on one fresh database, ingesting at once (each pausing `--pause` real
seconds between its batches) through the bot's own ingest and
incident desk. Simulated time moves a little with each batch, so the whole storm stays in
the grouping window. `--store sqlite` uses one SQLite file instead (one replica only: SQLite
has a single process).

Printed: the incidents opened, grouping precision and recall against the generator's
labels, how many writes PostgreSQL refused and ran again, the time the incident desk
took per mention inside the ingest transactions (its catch-up with the other replicas'
mentions included, and every re-run), and the spike alerts and cards sent between all the
replicas (one chat budget and one alert per cooldown in all). A benchmark, not a test: it
asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from benchmarks.storm_gen import score, storm  # noqa: E402
from bot.app import App  # noqa: E402
from bot.chat.console import ConsoleAdapter  # noqa: E402
from bot.clock import FakeClock  # noqa: E402
from bot.domain.mentions import Author, Item  # noqa: E402
from bot.playbooks import load_playbooks  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import sql  # noqa: E402
from bot.store.db import WRITE_PATIENCE  # noqa: E402
from connectors.base import Batch  # noqa: E402
from tests.stores import with_database  # noqa: E402

START = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
PLAYBOOK = """\
teams:
  network:
    channel: console:#network
default_team: network
"""


class Reruns(logging.Handler):
    """Counts the writes the store ran again."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count one."""
        if "ran into another" in record.getMessage():
            self.count += 1


async def run(args: argparse.Namespace, store: str, book: Path) -> None:
    """Feed the storm through the replicas at once, then count."""
    posts = storm(args.count, seed=args.seed, start=START, span=timedelta(minutes=2))
    batches = [
        list(range(i, min(i + args.batch, len(posts)))) for i in range(0, len(posts), args.batch)
    ]
    apps = []
    for _ in range(args.replicas):
        app = App(
            settings=Settings(db_path=store),
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=FakeClock(START),
            playbooks=load_playbooks(book),
        )
        await app.start()
        apps.append(app)
    placing = [0.0] * len(apps)
    refused = [0] * len(apps)

    async def feed(k: int) -> None:
        app = apps[k]
        place = app.incidents.place

        def timed_place(*a: Any, **kw: Any) -> None:
            began = time.perf_counter()
            place(*a, **kw)
            placing[k] += time.perf_counter() - began

        for batch in batches[k :: len(apps)]:
            clock = app.clock
            assert isinstance(clock, FakeClock)
            clock.advance(max(timedelta(0), posts[batch[-1]].at - clock.now()))
            items = [
                Item(external_id=f"s{i}", text=posts[i].text, author=Author(handle=posts[i].author))
                for i in batch
            ]
            while True:  # a batch still refused after WRITE_PATIENCE is fed again
                try:
                    await app.store(
                        Batch(items=items, cursor=None), source="social", after_store=timed_place
                    )
                    break
                except psycopg.errors.SerializationFailure:
                    refused[k] += 1
            await asyncio.sleep(args.pause)

    began = time.perf_counter()
    try:
        await asyncio.gather(*(feed(k) for k in range(len(apps))))
    finally:
        wall = time.perf_counter() - began
        for app in apps:
            await app.stop()
    with sql.read_only(store) as db:
        members = dict(
            db.execute(
                "SELECT m.external_id, im.incident FROM mentions m"
                " LEFT JOIN incident_members im ON im.mention = m.number"
            ).fetchall()
        )
        incidents = db.execute(
            "SELECT number, why, state FROM incidents ORDER BY number"
        ).fetchall()
        alerts = [w or "" for (w,) in db.execute("SELECT watch FROM spike_alerts").fetchall()]
        cards = [
            r or ""
            for (r,) in db.execute("SELECT result FROM outbox WHERE kind = 'card_post'").fetchall()
        ]
    groups = [members.get(f"s{i}") for i in range(len(posts))]
    precision, recall = score([p.outage for p in posts], groups)
    kind = "PostgreSQL" if sql.is_postgres(store) else "SQLite"
    print(f"{len(posts):,} mentions in batches of {args.batch} over {len(apps)} replica(s)"
          f" on {kind}: stored {len(members):,}, in {wall:.1f} s")  # fmt: skip
    opened = [i for i in incidents if i[2] != "merged"]
    print(f"incidents: {len(opened)} (and {len(incidents) - len(opened)} merged away);"
          f" grouping precision {precision:.3f}, recall {recall:.3f}")  # fmt: skip
    for number, why, state in incidents[:3]:
        print(f"  I{number} [{state}] {why}: {sum(1 for g in groups if g == number):,} members")
    total = sum(placing)
    print(f"writes run again: {args.reruns.count}; batches refused for {WRITE_PATIENCE:.0f} s (fed"
          f" again): {sum(refused)}")  # fmt: skip
    print(f"incident desk: {total / len(posts) * 1e6:.0f}"
          f" µs per mention in the ingest transactions (re-runs included)")  # fmt: skip
    rolled, sent = sum("rolled up" in r for r in cards), sum("skipped" not in r for r in cards)
    print(f"spike alerts, all replicas: {sum(w.startswith('team:') for w in alerts)} for the team,"
          f" {sum(w.startswith('incident:') for w in alerts)} for an incident; cards the budget"
          f" let through: {sent}, rolled up: {rolled}")  # fmt: skip


def main() -> None:
    """Parse the options, make a fresh store, run, and drop the store."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--count", type=int, default=1_000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between batches")
    parser.add_argument("--store", default="postgresql", choices=("postgresql", "sqlite"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    args.reruns = Reruns()
    logging.getLogger("bot.store.db").setLevel(logging.INFO)
    logging.getLogger("bot.store.db").addHandler(args.reruns)
    logging.getLogger("bot.store.db").propagate = False
    with tempfile.TemporaryDirectory(prefix="allhands-replicas-") as tmp:
        book = Path(tmp) / "storm.yaml"
        book.write_text(PLAYBOOK, encoding="utf-8")
        if args.store == "sqlite":
            if args.replicas != 1:
                sys.exit("storm_replicas: SQLite has one process; use --replicas 1")
            asyncio.run(run(args, str(Path(tmp) / "storm.db"), book))
            return
        server = os.environ.get("ALLHANDS_TEST_POSTGRES", "")
        if not server:
            sys.exit("storm_replicas: no PostgreSQL (run through scripts/with_postgres.sh)")
        name = f"allhands_bench_{os.getpid()}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {name}")
        try:
            asyncio.run(run(args, with_database(server, name), book))
        finally:
            with psycopg.connect(server, autocommit=True) as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
