"""What a person or a probe waits for, on stores of 10k, 100k and 1M mentions.

Run from the repository root:

    .venv/bin/python benchmarks/history.py [--sizes 10k,100k,1m] [--days 90] [--runs 5]
        [--rebuild | --reuse] [--live-days 3] [--cache /tmp/allhands-history]
        [--postgres postgresql://user@host:port/db]

Builds (or reuses from `--cache`, default /tmp/allhands-history) one store per size: that
many conversations over 90 days, three teams, each with a realistic life (card posted,
claimed, answered in public or by hand, resolved; some ignored, snoozed, followed up and
reopened), every outbox effect delivered as the worker would, and the outbox pruned each
day when the code prunes it (`history_build.py`, `history_bulk.py`). The last
`--live-days` days go through the store's own functions; older days are written in bulk
with the very same rows (each build first writes one day both ways and stops if any row
differs). A store is cached under a digest of the code, so a change to `bot/` builds a
new one. Then it runs the bot on each store and prints, per size, the median of `--runs`
warm runs of:

- `GET /healthz` and `GET /metrics` over HTTP;
- `list`, `list all` and `list mine` through the workflow until the answer is back;
- an SLA sweep a minute after the previous one (the steady state);
- `allhands stats`' own work (read and render);
- `allhands digest --preview` for one team's yesterday (the store part, then in all),
  after the bot has made that team's daily digests of the week before, as a running bot
  does (they keep their days' figures); and the weekly preview (store part, in all), which
  sums the six days kept and counts yesterday from its history;
- a person's count of earlier answers (`replies.count_given`, run on the writer for every
  `reply`);
- the file's bytes per mention and outbox rows per mention.

`--days` takes one span per size: `--sizes 10k,100k,1m --days 90,900,9000` builds stores of
the same traffic a day with 10x and 100x the history, where what people wait for must stay
flat (at 90 days for every size, the traffic a day grows tenfold with each size instead).
`--reuse` measures on a cached store of the same shape built by other code, to compare two
versions of the code on the very same store.

`--postgres URL` measures the same figures on PostgreSQL too: each SQLite store, once
measured (and so migrated), is copied into a new database on that server with `allhands
store copy`'s code (`history_pg.py`; the copy's seconds are printed), measured there the
same way, and the database dropped. The two stores' figures are printed side by side.

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import inspect
import io
import os
import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import history_build as hb
import history_bulk as bulk
import history_pg
from aiohttp.test_utils import TestClient, TestServer

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.digests import compose, preview_digest, preview_period
from bot.domain.digest_periods import day_period, week_period
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.stats_report import read_store, render
from bot.store import replies, sql
from bot.store.db import Database
from bot.web import build_web_app
from bot.workflow import Context

ROOT = Path(__file__).resolve().parent.parent
DIGEST_TEAM = "support"
SIZES = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}


def _code_key() -> str:
    """A digest of the code that shapes a store, so a cached store is rebuilt when it changes."""
    digest = hashlib.sha1()
    for path in sorted([*ROOT.glob("bot/**/*.py"), *ROOT.glob("benchmarks/history_b*.py")]):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


async def build(path: Path, *, size: int, seed: int, live_days: int, days: int) -> float:
    """Fill a store of `size` conversations; the seconds it took."""
    started = time.perf_counter()
    closing_ends_snooze = bulk.check_bulk(path.parent)
    tmp = path.with_suffix(".building")
    for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
        leftover.unlink(missing_ok=True)
    database = await Database(str(tmp)).open()
    rng = random.Random(seed)
    first = 1
    try:
        spread = bulk.days_of(size, days)
        for index, (start, count) in enumerate(spread):
            plans = hb.plan_day(rng, day_start=start, count=count)
            await database.write(
                bulk.write_day,
                plans=plans,
                first_number=first,
                live=index >= len(spread) - live_days,
                closing_ends_snooze=closing_ends_snooze,
            )
            first += count
    finally:
        await database.close()
    conn = sqlite3.connect(tmp)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    tmp.rename(path)
    return time.perf_counter() - started


def store_for(
    size: int,
    *,
    cache: Path,
    seed: int,
    rebuild: bool,
    live_days: int,
    days: int,
    reuse: bool = False,
) -> Path:
    """The store of this size for the current code, built if not cached; with `reuse`, the
    newest cached store of this shape whatever code built it."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"history-{size}-{days}d-{seed}-{live_days}-{_code_key()}.db"
    if rebuild:
        path.unlink(missing_ok=True)
    elif reuse and not path.exists():
        built = sorted(
            cache.glob(f"history-{size}-{days}d-{seed}-{live_days}-*.db"),
            key=lambda p: p.stat().st_mtime,
        )
        if built:
            print(f"reusing {built[-1]} (built by other code; the bot migrates it)", flush=True)
            return built[-1]
    if not path.exists():
        print(f"building {size:,} conversations in {path} ...", flush=True)
        took = asyncio.run(build(path, size=size, seed=seed, live_days=live_days, days=days))
        print(f"  built in {took:.0f}s", flush=True)
    return path


async def _median_ms(fn: Callable[[], Awaitable[Any]], runs: int) -> float:
    await fn()  # warm up: the figures are for a bot that has been running
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _sync_median_ms(fn: Callable[[], Any], runs: int) -> float:
    async def call() -> Any:
        return fn()

    return asyncio.run(_median_ms(call, runs))


async def _bot_figures(path: Path | str, runs: int) -> dict[str, float]:
    clock = FakeClock(hb.NOW)
    app = App(
        settings=Settings(db_path=str(path), playbooks=str(ROOT / "playbooks")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
    )
    await app.start()
    figures: dict[str, float] = {}
    try:
        async with TestClient(TestServer(build_web_app(app))) as client:
            for route in ("/healthz", "/metrics"):

                async def get(route: str = route) -> None:
                    response = await client.get(route)
                    assert response.status == 200, await response.text()
                    await response.read()

                figures[route] = await _median_ms(get, runs)
        ctx = Context(actor=hb.PEOPLE[0])
        for line in ("list", "list all", "list mine"):

            async def typed(line: str = line) -> None:
                answer = await app.workflow.handle(line, ctx)
                assert answer.ok, answer.text

            figures[line] = await _median_ms(typed, runs)
        # A running bot has made the team's daily digests of the week before.
        team = app.playbooks.teams[DIGEST_TEAM]
        yesterday = preview_period(app.playbooks, team, day=None, weekly=False, now=hb.NOW)
        for back in range(7, 0, -1):
            period = day_period(yesterday.first - timedelta(days=back), yesterday.zone)
            await app.digests.queue(app.playbooks, team, period)
        await app.sla.sweep()  # takes what is overdue at NOW; later sweeps are the steady state

        async def sweep() -> None:
            clock.advance(timedelta(minutes=1))
            await app.sla.sweep()

        figures["sla sweep"] = await _median_ms(sweep, runs)
        busiest = await app.database.read(
            lambda db: db.execute(
                "SELECT actor FROM replies GROUP BY actor ORDER BY count(*) DESC LIMIT 1"
            ).fetchone()[0]
        )
        # As `reply` asks it: up to the playbook's `first_replies` where the code caps it.
        capped = "at_most" in inspect.signature(replies.count_given).parameters
        limit = {"at_most": 3} if capped else {}
        figures["answer count"] = await _median_ms(
            lambda: app.database.write(replies.count_given, actor=busiest, **limit), runs
        )
    finally:
        await app.stop()
    return figures


def _digest_figures(path: Path | str, runs: int) -> dict[str, float]:
    playbooks = load_playbooks(ROOT / "playbooks")
    clock = FakeClock(hb.NOW)
    team = playbooks.teams[DIGEST_TEAM]
    period = preview_period(playbooks, team, day=None, weekly=False, now=hb.NOW)
    with sql.read_only(str(path)) as db:
        store = _sync_median_ms(
            lambda: compose(db, playbooks=playbooks, team=team, period=period), runs
        )
        week = week_period(period.last, period.zone)
        weekly_store = _sync_median_ms(
            lambda: compose(db, playbooks=playbooks, team=team, period=week), max(1, runs // 2)
        )
    whole = _sync_median_ms(
        lambda: preview_digest(
            playbooks, team_id=DIGEST_TEAM, day=None, weekly=False, db_path=str(path), clock=clock
        ),
        runs,
    )
    weekly = _sync_median_ms(
        lambda: preview_digest(
            playbooks, team_id=DIGEST_TEAM, day=None, weekly=True, db_path=str(path), clock=clock
        ),
        max(1, runs // 2),
    )
    stats = _sync_median_ms(lambda: render(read_store(str(path), now=hb.NOW) or _none()), runs)
    return {
        "digest store part": store,
        "digest preview": whole,
        "weekly digest preview": weekly,
        "weekly digest store part": weekly_store,
        "stats": stats,
    }


def _postgres_figures(server: str, path: Path, size: int, runs: int) -> dict[str, float]:
    """The same figures on a copy of the store at `path` in a new database on `server`."""
    url = history_pg.fresh_database(server, size)
    try:
        print(f"copying {path.name} into PostgreSQL ...", flush=True)
        copied = history_pg.copy_into(path, url)
        print(f"  {copied.rows:,} rows in {copied.seconds:.1f}s", flush=True)
        figures = asyncio.run(_bot_figures(url, runs))
        figures |= _digest_figures(url, runs)
        figures |= history_pg.size_figures(url)
        figures["copy seconds"] = copied.seconds
    finally:
        history_pg.drop_database(server, url)
    return figures


def _none() -> Any:
    raise SystemExit("the store vanished")


def _size_figures(path: Path) -> dict[str, float]:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count = conn.execute("SELECT count(*) FROM mentions").fetchone()[0]
    effects = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
    pages, free, page = (
        conn.execute(f"PRAGMA {p}").fetchone()[0]
        for p in ("page_count", "freelist_count", "page_size")
    )
    conn.close()
    return {
        "mentions": count,
        "bytes per mention": os.path.getsize(path) / count,
        "live bytes per mention": (pages - free) * page / count,
        "outbox rows per mention": effects / count,
    }


ROWS = (
    ("/healthz", "GET /healthz, ms"),
    ("/metrics", "GET /metrics, ms"),
    ("list", "`list`, ms"),
    ("list all", "`list all`, ms"),
    ("list mine", "`list mine`, ms"),
    ("sla sweep", "SLA sweep, steady state, ms"),
    ("stats", "`allhands stats` own work, ms"),
    ("digest store part", "digest preview: store part, ms"),
    ("digest preview", "digest preview in all, ms"),
    ("weekly digest store part", "weekly digest preview: store part, ms"),
    ("weekly digest preview", "weekly digest preview in all, ms"),
    ("answer count", "a person's answer count (writer), ms"),
    ("bytes per mention", "file bytes per mention"),
    ("live bytes per mention", "bytes in use per mention"),
    ("outbox rows per mention", "outbox rows per mention"),
    ("mentions", "mention rows (with follow-ups)"),
    ("copy seconds", "`store copy` into PostgreSQL, s"),
)


def main(argv: list[str] | None = None) -> int:
    """Build or reuse the stores, measure, print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10k,100k,1m", help="comma-separated: 10k,100k,1m")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/allhands-history"))
    parser.add_argument("--rebuild", action="store_true", help="build even if cached")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="measure on a cached store of the same shape built by other code (to compare"
        " two versions of the code on the very same store)",
    )
    parser.add_argument(
        "--days",
        default=str(hb.DAYS),
        help="days the history spans: one number, or one per size (90,900: the same traffic a day)",
    )
    parser.add_argument(
        "--live-days",
        type=int,
        default=hb.LIVE_DAYS,
        help="recent days written through the store's functions (the rest in bulk)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        default=None,
        help="also measure on PostgreSQL: each store is copied into a new database on this"
        " server (its user may create databases), which is dropped afterwards",
    )
    args = parser.parse_args(argv)
    if args.postgres is not None and not sql.is_postgres(args.postgres):
        parser.error(f"--postgres {args.postgres!r}: give a postgresql:// URL")
    try:
        sizes = [SIZES[s.strip().lower()] for s in args.sizes.split(",") if s.strip()]
    except KeyError as exc:
        parser.error(f"unknown size {exc.args[0]!r}; choose from {', '.join(SIZES)}")
    try:
        spans = [int(d) for d in args.days.split(",") if d.strip()]
    except ValueError:
        parser.error(f"--days {args.days!r}: write whole numbers of days, e.g. 90 or 90,900")
    if len(spans) == 1:
        spans *= len(sizes)
    if len(spans) != len(sizes) or min(spans) < args.live_days or min(spans) < 1:
        parser.error("--days: one number of days, or one per size, each at least --live-days")
    columns: dict[tuple[int, int, str], dict[str, float]] = {}
    for size, days in zip(sizes, spans, strict=True):
        path = store_for(
            size,
            cache=args.cache,
            seed=args.seed,
            rebuild=args.rebuild,
            live_days=args.live_days,
            days=days,
            reuse=args.reuse,
        )
        figures = asyncio.run(_bot_figures(path, args.runs))
        figures |= _digest_figures(path, args.runs)
        figures |= _size_figures(path)
        columns[(size, days, "sqlite")] = figures
        if args.postgres is not None:
            columns[(size, days, "postgresql")] = _postgres_figures(
                args.postgres, path, size, args.runs
            )
    print(f"{'conversations':<40}" + "".join(f"{size:>12,}" for size, _, _ in columns))
    print(f"{'over days':<40}" + "".join(f"{days:>12,}" for _, days, _ in columns))
    print(f"{'conversations a day':<40}" + "".join(f"{s // d:>12,}" for s, d, _ in columns))
    print(f"{'store':<40}" + "".join(f"{store:>12}" for _, _, store in columns))
    for key, label in ROWS:
        cells = (f"{c[key]:>12,.1f}" if key in c else f"{'':>12}" for c in columns.values())
        print(f"{label:<40}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
