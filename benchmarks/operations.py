"""How long the operator's commands take on a big store: backup, export, forget, retention.

Run from the repository root:

    .venv/bin/python benchmarks/operations.py [--mentions 100000] [--seed 7]

The store is built through the store's own ingest (each mention with its events and its
card effect), then every mention is answered and resolved, so that the store is shaped as
a year of use. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.mentions import Author, Item, Triage
from bot.store import erasure, mentions
from bot.store.db import Database

TRIAGE = Triage(team="support", kind="complaint", urgency="normal", sentiment=-0.4, rule="kw")
START = datetime(2026, 1, 1, tzinfo=UTC)


async def build(path: str, count: int, rng: random.Random) -> None:
    """`count` mentions from `count // 20` authors over a year, answered and resolved."""
    db = await Database(path).open()
    authors = [f"user{n}" for n in range(max(1, count // 20))]
    batch = 1000
    for start in range(0, count, batch):
        now = START + timedelta(minutes=start // 3)
        items = [
            (
                Item(
                    external_id=f"p{n}",
                    text=f"post {n}: my router {rng.choice(['blinks', 'fails', 'hums'])} again",
                    author=Author(
                        rng.choice(authors), name="Some Name", audience=rng.randint(1, 9999)
                    ),
                    url=f"https://social.example/p{n}",
                    created_at=now,
                ),
                TRIAGE,
            )
            for n in range(start, min(count, start + batch))
        ]
        await db.write(
            mentions.ingest, source="social", items=items, cursor=str(start), now=now,
            channel_of={"support": "console:#support"},
        )  # fmt: skip
    await db.write(
        lambda conn: conn.execute(
            "INSERT INTO events (mention, action, actor, at, from_state, to_state, detail)"
            " SELECT number, 'answer', 'alice', received_at, 'open', 'answered', '{}'"
            " FROM mentions"
        )
    )
    await db.close()


def timed(label: str, args: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True)
    took = time.perf_counter() - started
    status = "ok" if done.returncode == 0 else f"exit {done.returncode}: {done.stderr.strip()}"
    print(f"{label:<44} {took:7.2f} s  ({status})")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="allhands-ops-") as tmp:
        path = str(Path(tmp) / "big.db")
        started = time.perf_counter()
        asyncio.run(build(path, args.mentions, random.Random(args.seed)))
        size = os.path.getsize(path) / 1e6
        print(f"store: {args.mentions:,} mentions, {size:,.0f} MB, built in"
              f" {time.perf_counter() - started:.1f} s")  # fmt: skip
        db = ["--db", path]
        timed("backup", ["backup", *db, str(Path(tmp) / "copy.db")])
        timed("export csv (pseudonymised), all", ["export", *db, "--since", "2025-01-01",
              "-o", str(Path(tmp) / "all.csv")])  # fmt: skip
        timed("forget one author (~20 mentions)", ["forget", *db, "--source",
              "social", "--author", "user3", "--yes"])  # fmt: skip
        erased = asyncio.run(expire(path, before=START + timedelta(days=60)))
        print(
            f"{'retention pass (' + format(erased[0], ',') + ' mentions)':<44} {erased[1]:7.2f} s"
        )


async def expire(path: str, *, before: datetime) -> tuple[int, float]:
    db = await Database(path).open()
    started = time.perf_counter()
    total = 0
    while True:
        done = await db.write(erasure.expire, before=before, now=before)
        total += done.mentions
        if done.mentions < erasure.BATCH * 20:
            break
    took = time.perf_counter() - started
    await db.close()
    return total, took


if __name__ == "__main__":
    main()
