"""The complaint model kept in the store: what installing it, checking for a newer one and
loading it cost, on SQLite and on PostgreSQL side by side.

Run from the repository root, PostgreSQL beside it:

    scripts/with_postgres.sh .venv/bin/python benchmarks/model_store.py [--installs 20]

(without ALLHANDS_TEST_POSTGRES only SQLite is measured). Each store is fresh: a SQLite
file in a temporary folder, a new PostgreSQL database. The model is the shipped one.

- encode: the model as the gzipped JSON the store keeps (on a worker thread);
- install: write it through the store's writer, with the pruning that keeps the last 5
  (the median of `--installs`);
- check: the query each replica makes once a minute for a newer model (newest id), the
  median of 1,000 through a reader;
- switch: a replica finding a newer model: the check, reading its row, decoding it;
- start: a replica starting: reading every kept row, decoding the newest;
- rows kept after the installs, and the model's size in the store.

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.both_stores import measure_both, print_side_by_side
from bot.clock import FakeClock
from bot.store import complaint_models
from bot.store.db import Database
from bot.triage_model import InstalledModels, encode, load_model


async def measure(target: str, *, installs: int) -> dict[str, float]:
    """Milliseconds for each step on the store at `target` (and the rows and bytes kept)."""
    clock = FakeClock()
    shipped = load_model()
    database = await Database(target).open()
    watcher = await Database(target).open()  # another replica
    try:
        models = InstalledModels(watcher)
        await models.start()
        encode_ms, install_ms, switch_ms = [], [], []
        for n in range(installs):
            model = replace(shipped, trained_on=f"run {n}")
            began = time.perf_counter()
            body = await asyncio.to_thread(encode, model)
            encode_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            over = await database.read(complaint_models.newest_id)
            await database.write(
                complaint_models.install,
                body=body,
                trained_on=model.trained_on,
                figures=model.figures,
                now=clock.now(),
                over=over,
            )
            install_ms.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            assert await models.refresh()
            switch_ms.append((time.perf_counter() - began) * 1000)
        check_ms = []
        for _ in range(1000):
            began = time.perf_counter()
            assert not await models.refresh()
            check_ms.append((time.perf_counter() - began) * 1000)
        start_ms = []
        for _ in range(5):
            began = time.perf_counter()
            await InstalledModels(watcher).start()
            start_ms.append((time.perf_counter() - began) * 1000)
        kept = await database.read(complaint_models.every)
        size = len(await asyncio.to_thread(encode, shipped))
    finally:
        await watcher.close()
        await database.close()
    return {
        "encode (ms)": statistics.median(encode_ms),
        "install (ms)": statistics.median(install_ms),
        "check (ms)": statistics.median(check_ms),
        "switch (ms)": statistics.median(switch_ms),
        "start (ms)": statistics.median(start_ms),
        "rows kept": float(len(kept)),
        "model body (KB)": size / 1024,
    }


def main(argv: list[str] | None = None) -> int:
    """Measure both stores and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--installs", type=int, default=20, help="models installed (20)")
    args = parser.parse_args(argv)
    sqlite, postgres, why = measure_both(measure, installs=args.installs)
    print(f"{args.installs} installs of the shipped model, on this machine (medians)")
    print_side_by_side(sqlite, postgres, why)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
