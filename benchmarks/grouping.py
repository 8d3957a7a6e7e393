"""Incident grouping and spike watching on one core: speed, precision and recall, calm day.

Run from the repository root:

    .venv/bin/python benchmarks/grouping.py [--count 10000] [--seeds 7 8 9]

For each family of phrasings (network, payments) and seed, a storm of `--count` posts
over ten minutes (benchmarks/storm_gen.py: 70% one outage written many ways with noise,
30% ordinary unrelated complaints) goes through the bot's own `Grouper` and `SpikeWatch`
(bot/domain/incidents.py, spikes.py), pure and in one thread. Printed per run: mentions a second,
the outage's precision and recall against the generator's labels, clusters that became
incidents, when the spike fired. Then a calm day (one ordinary mention a minute for 24
hours): incidents and spikes (both should be none).
A benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.storm_gen import calm_day, score, storm
from bot.domain.incidents import Grouper, Post
from bot.domain.spikes import SpikeSettings, SpikeWatch

START = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)


def run(posts: list, threshold: int) -> tuple[float, list[int], set[int], datetime | None]:
    """Group and watch every post; seconds taken, clusters, incidents, first spike."""
    grouper, watch = Grouper(), SpikeWatch(SpikeSettings())
    placed, incidents, fired = [], set(), None
    began = time.perf_counter()
    for i, p in enumerate(posts):
        where = grouper.add(Post(i, p.text, p.at, p.author, p.url))
        placed.append(where.cluster)
        if where.incident:
            incidents.add(where.cluster)
        spike = watch.observe("team", p.at, threshold=threshold)
        if spike is not None and fired is None:
            fired = p.at
    return time.perf_counter() - began, placed, incidents, fired


def main() -> None:
    """Parse the options, run, print."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[7, 8, 9])
    args = parser.parse_args()
    floor = SpikeSettings().floor
    for family, seed in [(f, s) for f in ("network", "payments") for s in args.seeds]:
        posts = storm(args.count, seed=seed, start=START, family=family)
        took, placed, incidents, fired = run(posts, floor)
        precision, recall = score([p.outage for p in posts], placed)
        spike = f"{(fired - START).total_seconds():.1f} s" if fired else "never"
        print(f"{family} seed {seed}: {len(posts) / took:,.0f} mentions/s;"
              f" precision {precision:.3f}, recall {recall:.3f}; {len(incidents)} incidents;"
              f" spike after {spike}")  # fmt: skip
    calm = calm_day(start=START)
    took, placed, incidents, fired = run(calm, floor)
    largest = max(placed.count(c) for c in set(placed))
    print(f"calm day: {len(calm):,} mentions, one a minute: {len(incidents)} incidents,"
          f" spike: {'at ' + str(fired) if fired else 'none'};"
          f" largest group {largest} mentions over the day")  # fmt: skip


if __name__ == "__main__":
    main()
