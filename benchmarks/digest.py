"""How long a digest takes to make: the store query, the numbers, the text and the chart.

Run from the repository root:

    .venv/bin/python benchmarks/digest.py [--per-day 1000] [--days 30] [--teams 3] [--seed 7]

Seeds a SQLite file in a temporary directory through the store's own functions
(`mentions.ingest`, the workflow's `act` and the reply path's `submit`): `--per-day`
mentions a day for `--days` days spread over `--teams` teams; most are answered and
resolved after a random wait, some ignored, some reopened, about 5% left open. Then it
times, for one team and the last full day (and the week to it), the history query, the
pure numbers, the text and the chart, as the bot makes a digest. A benchmark, not a
test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.chat.chart import render_chart
from bot.chat.digest import render_day_table, render_digest
from bot.domain.approval_rules import ApprovalRules
from bot.domain.digest import CHART_DAYS, SlaTerms, build_report
from bot.domain.digest_periods import day_period, week_period
from bot.domain.guardrails import Verdict
from bot.domain.mentions import Action, Author, Item, Triage
from bot.store import digests, mentions, sql
from bot.store.db import Database
from bot.submitting import submit
from bot.workflow import act

ZONE = ZoneInfo("Europe/Berlin")
FIRST_DAY = date(2026, 1, 5)
KINDS = ["complaint", "question", "praise", "other"]
SOURCES = ["mastodon", "bluesky", "blog", "webhook"]
PEOPLE = [f"agent{i}" for i in range(25)]


def _day_batch(
    db: sql.Conn, *, rng: random.Random, day: date, count: int, teams: list[str]
) -> None:
    """One day's mentions and what people did to them, in one transaction."""
    start = datetime.combine(day, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
    arrivals = sorted(start + timedelta(seconds=rng.uniform(0, 86_400)) for _ in range(count))
    for i, at in enumerate(arrivals):
        team = rng.choice(teams)
        item = Item(
            external_id=f"{day}-{i}",
            text=f"post {i} on {day}",
            author=Author(handle=f"user{rng.randrange(10**6)}", audience=_audience(rng)),
            url=f"https://example.social/{day}/{i}",
        )
        triage = Triage(
            kind=rng.choice(KINDS), sentiment=0.0, urgency="normal", team=team, rule="bench"
        )
        stored = mentions.ingest(
            db,
            source=rng.choice(SOURCES),
            items=[(item, triage)],
            cursor=None,
            now=at,
            channel_of={team: f"console:#{team}"},
        )
        number = stored[0].number
        assert number is not None
        mention = mentions.get(db, number=number)
        assert mention is not None
        mentions.transition(db, mention=mention, action=Action.ANNOUNCE, actor="allhands", now=at)
        _handle(db, rng=rng, number=number, at=at)


def _audience(rng: random.Random) -> int | None:
    if rng.random() < 0.1:
        return None
    return int(rng.lognormvariate(6, 2))


def _handle(db: sql.Conn, *, rng: random.Random, number: int, at: datetime) -> None:
    fate = rng.random()
    if fate < 0.05:
        return  # left open
    person = rng.choice(PEOPLE)
    at += timedelta(minutes=rng.expovariate(1 / 40))
    if fate < 0.10:
        act(db, number=number, action=Action.IGNORE, actor=person, now=at)
        return
    submit(  # the reply path itself, with a text that passed every check
        db, number=number, actor=person, text="Thanks!", verdict=Verdict(),
        rules=ApprovalRules(), leads=(), team="", platform="console",
        lead_platform="console", can_reply=False, now=at,
    )  # fmt: skip
    if fate < 0.25:
        return  # answered, not resolved
    at += timedelta(minutes=rng.expovariate(1 / 90))
    act(db, number=number, action=Action.RESOLVE, actor=person, now=at)
    if fate < 0.28:
        at += timedelta(hours=rng.uniform(1, 20))
        act(db, number=number, action=Action.REOPEN, actor="customer", now=at)


def _timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median seconds of `runs` calls, and the last result."""
    times, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times), result


async def seed(path: str, *, per_day: int, days: int, teams: list[str], seed: int) -> float:
    """Fill the store; the seconds it took."""
    database = await Database(path).open()
    rng = random.Random(seed)
    started = time.perf_counter()
    try:
        for offset in range(days):
            await database.write(
                _day_batch,
                rng=rng,
                day=FIRST_DAY + timedelta(days=offset),
                count=per_day,
                teams=teams,
            )
    finally:
        await database.close()
    return time.perf_counter() - started


def measure(path: str, *, days: int, team: str, runs: int) -> None:
    """Time each stage of one team's daily and weekly digest for the last seeded day."""
    db = sql.connect_sqlite(path)
    sla = SlaTerms(claim_within=timedelta(minutes=30), reply_within=timedelta(hours=1))
    last = FIRST_DAY + timedelta(days=days - 1)
    rows = [f"{'stage':<56} {'ms':>9}"]
    chart_start = day_period(last - timedelta(days=CHART_DAYS - 1), ZONE).start
    for period in (day_period(last, ZONE), week_period(last, ZONE)):
        seconds, histories = _timed(
            lambda p=period: digests.histories(
                db, team=team, since=min(p.start, chart_start), until=p.end
            ),
            runs,
        )
        events = sum(len(h.events) for h in histories)
        rows.append(
            f"{period.kind}: history query ({len(histories):,} mentions, {events:,} events)"
        )
        rows[-1] = f"{rows[-1]:<56} {seconds * 1000:>9.1f}"
        seconds, report = _timed(
            lambda p=period, h=histories: build_report(
                team=team, team_name=team, period=p, histories=h, sla=sla
            ),
            runs,
        )
        rows.append(f"{period.kind + ': numbers (build_report)':<56} {seconds * 1000:>9.1f}")
        seconds, _ = _timed(lambda r=report: (render_digest(r), render_day_table(r.days)), runs)
        rows.append(f"{period.kind + ': text':<56} {seconds * 1000:>9.1f}")
        seconds, png = _timed(
            lambda r=report: render_chart(r.days, title="bench", zone=str(ZONE)), runs
        )
        rows.append(
            f"{period.kind + f': chart PNG ({len(png):,} bytes)':<56} {seconds * 1000:>9.1f}"
        )
        rows.append(
            f"  ({report.mentions_in:,} in, {len(report.open_items):,} open,"
            f" {len(report.breaches):,} breaches)"
        )
    db.close()
    print("\n".join(rows))


def main(argv: list[str] | None = None) -> int:
    """Seed a store and time the digest of its last day."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--teams", type=int, default=3)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    teams = [f"team{i}" for i in range(args.teams)]
    with tempfile.TemporaryDirectory(prefix="allhands-bench-") as tmp:
        path = str(Path(tmp) / "digest.db")
        took = asyncio.run(
            seed(path, per_day=args.per_day, days=args.days, teams=teams, seed=args.seed)
        )
        total = args.per_day * args.days
        print(
            f"seeded {total:,} mentions over {args.days} days and {args.teams} teams"
            f" in {took:.1f}s; timing team0, median of {args.runs} runs"
        )
        measure(path, days=args.days, team=teams[0], runs=args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
