"""Digests go out at the team's time, to its leads, once, through the outbox, with a chart."""

from __future__ import annotations

import io
import shutil
import tempfile
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bot.app import App
from bot.chat.chart import RESPONSE_LABEL, VOLUME_LABEL, build_chart, chart_png
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.digests import chart_title, compose, sla_terms
from bot.domain.digest import DayPoint, build_report
from bot.domain.digest_periods import day_period, week_period
from bot.domain.episodes import History
from bot.playbooks import load_playbooks
from bot.scheduler import build_scheduler
from bot.settings import Settings
from bot.store import digests, mentions, outbox
from bot.store.mention_rows import query_rows, row_to_mention
from bot.workflow import assign
from tests.digest_log import BERLIN, Seeder, local, seed_support

BOOK = """\
teams:
  support:
    name: Customer support
    channel: console:#support
    leads: [dana]
    sla:
      claim_within: 30m
      reply_within: 1h
    digest:
      timezone: Europe/Berlin
      weekly: mon
  billing:
    channel: console:#billing
  quiet:
    channel: console:#quiet
    leads: [quinn]
    digest:
      enabled: false
default_team: support
"""


class Bot:
    """An App on the console with a seeded log; restartable on the same files."""

    def __init__(self, tmp_path: Path, clock: FakeClock, book: str = BOOK, store: str = ""):
        self.tmp_path = tmp_path
        self.store = store or str(tmp_path / "bot.db")
        self.clock = clock
        self.book = tmp_path / "book.yaml"
        self.book.write_text(book, encoding="utf-8")
        self.out = io.StringIO()
        self.reports = tmp_path / "reports"
        self.app = self._new_app()

    def _new_app(self) -> App:
        console = ConsoleAdapter(self.out, reports_dir=self.reports)
        return App(
            settings=Settings(db_path=self.store, playbooks=str(self.book)),
            adapters={"console": console},
            clock=self.clock,
            playbooks=load_playbooks(self.book),
        )

    async def restart(self) -> None:
        await self.app.stop()
        self.app = self._new_app()
        await self.app.start()

    def at(self, when: object) -> None:
        from datetime import datetime

        assert isinstance(when, datetime)
        self.clock.advance(when - self.clock.now())

    def output(self) -> str:
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text


@pytest.fixture
async def bot(tmp_path: Path, clock: FakeClock, store_url: str) -> AsyncIterator[Bot]:
    clock.advance(local(5, 0, 0) - clock.now())
    bot = Bot(tmp_path, clock, store=store_url)
    await bot.app.start()
    seeder = Seeder(bot.app.database, clock)
    await seed_support(seeder)
    await bot.app.outbox.drain()
    bot.output()
    yield bot
    await bot.app.stop()


async def test_digest_goes_to_the_leads_at_the_teams_time_once_across_restarts(bot: Bot) -> None:
    # 08:29 Wednesday in Berlin: not yet. Billing (UTC, no leads) is not due either.
    bot.at(local(7, 8, 29))
    assert await bot.app.digests.send_due() == []
    bot.at(local(7, 8, 30))
    assert await bot.app.digests.send_due() == [("support", "day:2026-01-06")]
    await bot.app.outbox.drain()
    printed = bot.output()
    assert "(only dana sees this)" in printed
    assert "Daily digest · Customer support · Tue 6 Jan 2026 (Europe/Berlin)" in printed
    assert "Response rate: 71% (5 of 7 answered by the end of the day; 1 ignored)" in printed
    chart = bot.reports / "digest-support-day-2026-01-06.png"
    assert f"Chart: {chart}" in printed
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    # A minute later, and after a restart, nothing is made or sent again.
    bot.at(local(7, 8, 31))
    assert await bot.app.digests.send_due() == []
    await bot.restart()
    assert await bot.app.digests.send_due() == []
    await bot.app.outbox.drain()
    assert "digest" not in bot.output().lower()
    assert await bot.app.database.read(_report_rows) == [("dana", "done")]


async def test_a_team_with_no_leads_gets_it_in_its_channel_and_a_switched_off_team_none(
    bot: Bot,
) -> None:
    # Billing has no digest section and no leads: the defaults (08:30, UTC) and its channel.
    bot.at(local(7, 9, 30))  # 08:30 UTC
    queued = await bot.app.digests.send_due()
    assert ("billing", "day:2026-01-06") in queued
    assert not [q for q in queued if q[0] == "quiet"]
    await bot.app.outbox.drain()
    printed = bot.output()
    # Billing's day is UTC: b1 came at 09:30 UTC Tuesday and dave answered it 15m later.
    assert "#billing  Daily digest · billing · Tue 6 Jan 2026 (UTC)" in printed
    assert "Who helped (answers): dave 1" in printed
    # In a channel as in private, the chart comes with it (saved by the console).
    assert "digest-billing-day-2026-01-06.png" in printed.split("#billing  Daily digest")[1]


async def test_the_weekly_digest_comes_on_its_day(bot: Bot) -> None:
    bot.at(local(12, 8, 30))  # Monday
    queued = await bot.app.digests.send_due()
    assert [p for t, p in queued if t == "support"] == [
        "day:2026-01-11",
        "week:2026-01-05..2026-01-11",
    ]
    await bot.app.outbox.drain()
    printed = bot.output()
    assert "Weekly digest · Customer support · Mon 5 Jan to Sun 11 Jan 2026" in printed
    assert "Mentions in: 8 (and 1 reopened)" in printed


async def test_a_bot_that_was_down_at_the_time_sends_it_later_that_day(bot: Bot) -> None:
    bot.at(local(7, 23, 59))
    assert ("support", "day:2026-01-06") in await bot.app.digests.send_due()


async def test_a_digest_missed_for_a_whole_day_is_not_sent_the_next(bot: Bot) -> None:
    # Down all Wednesday: at 00:01 Thursday nothing is due until Thursday's 08:30.
    bot.at(local(8, 0, 1))
    assert [q for q in await bot.app.digests.send_due() if q[0] == "support"] == []
    bot.at(local(8, 8, 30))
    assert ("support", "day:2026-01-07") in await bot.app.digests.send_due()


async def test_the_scheduler_runs_digests_and_follows_reloaded_playbooks(
    bot: Bot, tmp_path: Path
) -> None:
    scheduler = build_scheduler(bot.app, poll_now=False, reload=False)
    job = scheduler.get_job("digests")
    assert job is not None and job.func.__wrapped__ == bot.app.digests.send_due
    assert job.trigger.interval.total_seconds() == 60
    # An edit moves support's digest to 10:00: at 09:00 it is not due any more.
    edited = tmp_path / "edited.yaml"
    edited.write_text(BOOK.replace("weekly: mon", 'weekly: mon\n      time: "10:00"'), "utf-8")
    await bot.app.apply_playbooks(load_playbooks(edited))
    assert scheduler.get_job("digests") is not None
    bot.at(local(7, 9, 0))
    assert [q for q in await bot.app.digests.send_due() if q[0] == "support"] == []
    bot.at(local(7, 10, 0))
    assert ("support", "day:2026-01-06") in await bot.app.digests.send_due()


async def test_strangers_text_in_a_digest_cannot_steer_the_terminal(
    tmp_path: Path, clock: FakeClock
) -> None:
    clock.advance(local(5, 0, 0) - clock.now())
    bot = Bot(tmp_path, clock)
    await bot.app.start()
    try:
        seeder = Seeder(bot.app.database, clock)
        await seeder.post(
            "evil", local(6, 10, 0), team="support", handle="x\x1b[2J\u202eevil",
            text="\x1b]0;owned\x07 @channel <!here> click\u202e",
        )  # fmt: skip
        bot.at(local(7, 8, 30))
        await bot.app.digests.send_due()
        await bot.app.outbox.drain()
        printed = bot.output()
        assert "\x1b" not in printed and "\x07" not in printed and "\u202e" not in printed
        assert "<U+202E>" in printed
    finally:
        await bot.app.stop()


async def test_the_store_records_each_team_and_period_once(bot: Bot) -> None:
    period = day_period(date(2026, 1, 6), BERLIN)
    kwargs = dict(
        team="support", period=period, text="t", chart_text="c", chart=b"png",
        recipients=["dana", "felix"], platform="console", channel="#support",
        now=bot.clock.now(),
    )  # fmt: skip
    first = await bot.app.database.write(digests.record, **kwargs)
    again = await bot.app.database.write(digests.record, **kwargs)
    assert first is not None and again is None
    counts = await bot.app.database.read(outbox.counts)
    assert counts.get("pending") == 2  # one report per recipient, queued once
    assert await bot.app.database.read(digests.is_recorded, team="support", period=period.key)


async def test_the_chart_is_a_labelled_png_worth_looking_at(bot: Bot, tmp_path: Path) -> None:
    playbooks = bot.app.playbooks
    report = await bot.app.database.read(
        compose,
        playbooks=playbooks,
        team=playbooks.teams["support"],
        period=day_period(date(2026, 1, 6), BERLIN),
    )
    figure = build_chart(report.days, title=chart_title(report), zone="Europe/Berlin")
    volume, speed = figure.axes
    assert volume.get_xlabel() == "day (Europe/Berlin)"
    assert volume.get_ylabel() == VOLUME_LABEL
    assert speed.get_ylabel() == RESPONSE_LABEL
    assert volume.get_title() == "Customer support: the 7 days to Tue 6 Jan 2026"
    ticks = [t.get_text() for t in volume.get_xticklabels()]
    assert ticks[0] == "Wed 31 Dec" and ticks[-1] == "Tue 6 Jan"
    png = chart_png(figure)
    path = tmp_path / "digest-chart.png"
    path.write_bytes(png)
    kept = Path(tempfile.gettempdir()) / "allhands-test-output" / "digest-chart.png"
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, kept)
    print(f"digest chart written to {kept}")

    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size == (800, 400)
        colours = {rgb: n for n, rgb in image.convert("RGB").getcolors(800 * 400)}
    assert len(colours) > 100  # text, bars, a line, anti-aliased: not a flat image
    assert 1 - colours.get((255, 255, 255), 0) / (800 * 400) > 0.05
    assert colours.get((0x4C, 0x78, 0xA8), 0) > 2000  # the two bars (Mon 1, Tue 7)
    assert colours.get((0xE4, 0x57, 0x56), 0) > 20  # the median's marker


def _report_rows(db: object) -> list[tuple[str, str]]:
    import json

    from bot.store.sql import Conn

    assert isinstance(db, Conn)
    rows = db.execute("SELECT payload, state FROM outbox WHERE kind = 'report' ORDER BY id")
    return [(json.loads(payload)["person"], state) for payload, state in rows.fetchall()]


async def test_chart_days_already_counted_are_read_back_and_give_the_same_digest(bot: Bot) -> None:
    # Sending Tuesday's digest keeps its chart's days, all over by then.
    bot.at(local(7, 8, 30))
    assert await bot.app.digests.send_due() == [("support", "day:2026-01-06")]
    zone = "Europe/Berlin"
    days = [date(2025, 12, 31), *(date(2026, 1, d) for d in range(1, 7))]
    kept = await bot.app.database.read(digests.day_points, team="support", zone=zone, days=days)
    assert sorted(kept) == days
    # Wednesday's digest reads Tuesday and the days before from there, its own day from the
    # history, and says exactly what reading the whole week's history says.
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    wednesday = day_period(date(2026, 1, 7), BERLIN)
    bot.at(local(8, 8, 30))
    with_kept = await bot.app.database.read(
        compose, playbooks=playbooks, team=team, period=wednesday
    )
    await bot.app.database.write(lambda db: db.execute("DELETE FROM digest_days"))
    from_history = await bot.app.database.read(
        compose, playbooks=playbooks, team=team, period=wednesday
    )
    assert with_kept == from_history
    assert with_kept.days[0].day == date(2026, 1, 1)
    assert any(p.mentions_in for p in with_kept.days[:-1])


async def test_a_kept_chart_day_is_what_the_chart_shows(bot: Bot) -> None:
    # Proof that the kept figure is used rather than the history: a figure no history has.
    monday = date(2026, 1, 5)
    point = DayPoint(monday, 4242, timedelta(minutes=7))
    days = [monday - timedelta(days=n) for n in range(1, 6)]
    filler = [DayPoint(d, 0, None) for d in days]
    await bot.app.database.write(
        digests.keep_day_points, team="support", zone="Europe/Berlin", points=[point, *filler]
    )
    playbooks = bot.app.playbooks
    report = await bot.app.database.read(
        compose,
        playbooks=playbooks,
        team=playbooks.teams["support"],
        period=day_period(date(2026, 1, 6), BERLIN),
    )
    assert point in report.days


def _whole_histories(db: object, *, team: str, until: datetime) -> list[History]:
    """Every mention of the team with all its events before `until`, details and all."""
    from bot.store.sql import Conn

    assert isinstance(db, Conn)
    rows = query_rows(db, "SELECT * FROM mentions WHERE team = ? ORDER BY number", [team])
    return [
        History(
            row_to_mention(r),
            tuple(e for e in mentions.events(db, number=r["number"]) if e.at < until),
        )
        for r in rows
    ]


async def test_the_weekly_digest_says_what_the_whole_history_says(bot: Bot) -> None:
    # Thursday: m9 is given to erin (who holds it from an assignment's detail) and stays open.
    seeder = Seeder(bot.app.database, bot.clock)
    number = await seeder.post("m9", local(8, 9, 0), team="support", audience=40)
    bot.at(local(8, 9, 5))
    await bot.app.database.write(
        assign, number=number, actor="dana", person="erin", platform="console", now=bot.clock.now()
    )
    # Monday: the daily digests of the days before were made, and keep their chart days.
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    for day in range(5, 12):
        bot.at(local(day + 1, 8, 30))
        await bot.app.digests.send_due()
    assert ("support", "week:2026-01-05..2026-01-11") in await bot.app.database.read(_digest_keys)
    week = week_period(date(2026, 1, 11), BERLIN)
    with_kept = await bot.app.database.read(compose, playbooks=playbooks, team=team, period=week)
    whole = await bot.app.database.read(_whole_histories, team="support", until=week.end)
    assert with_kept == build_report(
        team="support",
        team_name=team.name,
        period=week,
        histories=whole,
        sla=sla_terms(playbooks, team),
    )
    await bot.app.database.write(lambda db: db.execute("DELETE FROM digest_days"))
    assert with_kept == await bot.app.database.read(
        compose, playbooks=playbooks, team=team, period=week
    )
    # The numbers are not empty: the week has its mentions, breaches and erin's open item.
    assert with_kept.mentions_in == 9 and with_kept.breaches
    held = {i.mention.number: i.claimed_by for i in with_kept.open_items}
    assert held[number] == "erin"


def _digest_keys(db: object) -> list[tuple[str, str]]:
    from bot.store.sql import Conn

    assert isinstance(db, Conn)
    return [(t, p) for t, p in db.execute("SELECT team, period FROM digests").fetchall()]
