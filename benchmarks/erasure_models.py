"""What erasure costs now that it reaches the kept complaint models' team examples and
weights, on SQLite and on PostgreSQL side by side.

Run from the repository root, PostgreSQL beside it:

    scripts/with_postgres.sh .venv/bin/python benchmarks/erasure_models.py [--mentions 3000]

(without ALLHANDS_TEST_POSTGRES only SQLite is measured). Each store is fresh: `--mentions`
posts from as many authors as a tenth of them (so each wrote about ten, each post and the
author's name holding a made-up word of theirs), 500 of them moved to 10 teams, one post of
every fifth author corrected (`kind`), and 5 kept models: the shipped one with 50 of those
moved posts per team as its examples (the most `triage learn` keeps) and, as if learned
from them, the made-up words of the authors with moved or corrected posts as features.

- forget (examples): `erasure.forget` of an author with posts among every model's
  examples, one write transaction (the median of `--runs`, each on another author);
- forget (weights): the same for an author with a corrected post and none moved: the
  features of their word leave every model's weights;
- forget (none): the same for an author none of whose posts were moved or corrected;
- clean (no change): `complaint_models.clean_models` alone finding nothing to change
  (reading and unzipping the 5 bodies), which forget always pays;
- expire (moved / none): one retention pass of 300 old mentions, with and without moved
  posts among them (without, the models are not read at all);
- rows kept, and the highest model id after the runs (each cleaning writes the models
  from the oldest changed one on again).

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Awaitable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.both_stores import measure_both, print_side_by_side
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.store import complaint_models, corrections, erasure, mentions
from bot.store.db import Database
from bot.triage_model import encode, load_model

TEAMS = [f"team{t}" for t in range(10)]
LETTERS = "abcdefghijklmnopqrstuvwxyz"
TRIAGE = Triage(kind="complaint", sentiment=-0.4, urgency="low", team="support", rule="b")
MOVED = 500
EXPIRED = 300


def word(author: int) -> str:
    """The author's made-up word, in no public post."""
    return "zq" + "".join(LETTERS[int(d)] for d in str(author))


def post(n: int, authors: int) -> str:
    said = f"@shop order {n} arrived late and the box was crushed, refund please "
    return said * 3 + word(n % authors)


def person(author: int) -> tuple[str, str]:
    """An author's handle and name."""
    return f"author{author}", f"Pat {word(author).title()}"


async def build(db: Database, clock: FakeClock, count: int) -> None:
    """The store described in the docstring: EXPIRED posts some moved, EXPIRED posts none
    moved a day later, the rest a week later."""
    authors = max(count // 10, 1)
    groups = [(0, EXPIRED), (EXPIRED, 2 * EXPIRED), (2 * EXPIRED, count)]
    for (first, end), gap in zip(groups, (0, 1, 7), strict=True):
        clock.advance(timedelta(days=gap))
        for start in range(first, end, 500):
            items = [
                (Item(f"p{n}", post(n, authors), Author(*person(n % authors))), TRIAGE)
                for n in range(start, min(start + 500, end))
            ]
            await db.write(
                mentions.ingest,
                source="s",
                items=items,
                cursor=None,
                now=clock.now(),
                channel_of={},
            )
    # Moved: every fifth post outside the second group, to the teams in turn.
    numbers = [n for n in range(1, count + 1, 5) if not EXPIRED < n <= 2 * EXPIRED][:MOVED]
    for i, number in enumerate(numbers):
        mention = await db.read(mentions.get, number=number)
        assert mention is not None
        team = TEAMS[i % len(TEAMS)]
        await db.write(
            corrections.move,
            mention=mention,
            team=team,
            channel=f"console:#{team}",
            actor="b",
            now=clock.now(),
        )
    # Corrected: the latest post of each author k with k % 5 == 1 (none of them moved).
    for author in range(1, authors, 5):
        number = count - (count - 1 - author) % authors
        mention = await db.read(mentions.get, number=number)
        assert mention is not None
        await db.write(
            corrections.relabel, mention=mention, kind="question", actor="b", now=clock.now()
        )
    moved = await db.read(corrections.latest, field="team")
    examples: dict[str, list[str]] = {}
    for c in moved:  # the oldest first: the examples include the old posts retention takes
        texts = examples.setdefault(c.new, [])
        if len(texts) < 50:
            texts.append(c.text[:500])
    shipped = load_model()
    learned = {f"w {word(a)}": 0.5 for a in range(authors) if a % 5 in (0, 1)}
    learned.update({f"b please {w[2:]}": 0.2 for w in list(learned)})
    for n in range(complaint_models.KEEP):
        model = replace(
            shipped,
            weights={**shipped.weights, **learned},
            trained_on=f"run {n}",
            team_examples={t: tuple(x) for t, x in examples.items()},
        )
        await db.write(
            complaint_models.install,
            body=encode(model),
            trained_on=model.trained_on,
            figures={},
            now=clock.now(),
            over=await db.read(complaint_models.newest_id),
        )


async def timed(work: Awaitable[object]) -> float:
    began = time.perf_counter()
    await work
    return (time.perf_counter() - began) * 1000


async def measure(target: str, *, count: int, runs: int) -> dict[str, float]:
    """Milliseconds for each step on the store at `target`."""
    clock = FakeClock()
    db = await Database(target).open()
    try:
        start = clock.now()
        await build(db, clock, count)
        now = clock.now()
        clean_ms = [
            await timed(db.write(complaint_models.clean_models, clean=lambda t: t))
            for _ in range(runs)
        ]
        # Retention: the first group (some moved), then the second (none moved).
        old = await timed(db.write(erasure.expire, before=start + timedelta(hours=12), now=now))
        plain = await timed(db.write(erasure.expire, before=start + timedelta(days=2), now=now))
        # Author k wrote posts k + 1, k + 1 + authors, ...; the moved posts are numbers
        # 1, 6, 11, ... (authors 0, 5, 10, ... when authors is a multiple of 5).
        authors = max(count // 10, 1)
        with_moved = [a for a in range(authors) if a % 5 == 0][-runs:]
        corrected = [a for a in range(authors) if a % 5 == 1][-runs:]
        without = [a for a in range(authors) if a % 5 == 2][-runs:]

        def forget(author: int) -> Awaitable[object]:
            return db.write(
                erasure.forget, source="s", handle=f"author{author}", now=now, requested_by="b"
            )

        with_ms = [await timed(forget(a)) for a in with_moved]
        weights_ms = [await timed(forget(a)) for a in corrected]
        without_ms = [await timed(forget(a)) for a in without]
        kept = await db.read(complaint_models.every)
    finally:
        await db.close()
    return {
        "forget, examples (ms)": statistics.median(with_ms),
        "forget, weights (ms)": statistics.median(weights_ms),
        "forget, none (ms)": statistics.median(without_ms),
        "clean, no change (ms)": statistics.median(clean_ms),
        "expire, moved (ms)": old,
        "expire, none (ms)": plain,
        "rows kept": float(len(kept)),
        "newest model id": float(kept[0].id),
    }


def main(argv: list[str] | None = None) -> int:
    """Measure both stores and print the figures side by side."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=3000, help="posts in the store (3000)")
    parser.add_argument("--runs", type=int, default=5, help="forgets of each kind (5)")
    args = parser.parse_args(argv)
    sqlite, postgres, why = measure_both(measure, count=args.mentions, runs=args.runs)
    print(f"{args.mentions} mentions, {MOVED} moved, 5 kept models (medians of {args.runs})")
    print_side_by_side(sqlite, postgres, why)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
