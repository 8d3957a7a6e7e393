"""Days that are over are kept as tallies and a week is summed from them: what the digest
says is still exactly what its whole history says, through corrections, late answers,
reopenings and erasures, and a change of SLA terms counts the days again."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta

import sqlite_utils

from bot.digests import compose, compose_counting, sla_terms
from bot.domain.digest import Report, SlaTerms, build_report
from bot.domain.digest_days import DayTally, terms_key
from bot.domain.digest_periods import Period, day_period, week_period
from bot.domain.mentions import Action
from bot.domain.sla import WorkingHours
from bot.playbooks import load_playbooks
from bot.store import corrections, day_figures, erasure, mentions
from tests import test_digest_delivery as delivery
from tests.digest_log import BERLIN, Seeder, local
from tests.test_digest_delivery import BOOK, Bot, _whole_histories

ZONE = "Europe/Berlin"
bot = delivery.bot  # the seeded bot of the delivery tests: three days of team support


def _kept_days(db: sqlite_utils.Database) -> list[str]:
    rows = db.execute(
        "SELECT day FROM digest_day_figures WHERE team = 'support' ORDER BY day"
    ).fetchall()
    return [r[0] for r in rows]


async def _whole(bot: Bot, period: Period) -> Report:
    """The report worked out from every mention's whole history (nothing kept, nothing
    fetched selectively): what the digest must say."""
    team = bot.app.playbooks.teams["support"]
    whole = await bot.app.database.read(_whole_histories, team="support", until=period.end)
    return build_report(
        team="support",
        team_name=team.name,
        period=period,
        histories=whole,
        sla=sla_terms(bot.app.playbooks, team),
    )


async def _composed(bot: Bot, period: Period) -> Report:
    team = bot.app.playbooks.teams["support"]
    return await bot.app.database.read(
        compose, playbooks=bot.app.playbooks, team=team, period=period
    )


async def _correct(bot: Bot, number: int, *, team: str | None = None, kind: str = "") -> None:
    def run(db: sqlite_utils.Database) -> None:
        mention = mentions.get(db, number=number)
        assert mention is not None
        now = bot.clock.now()
        if team:
            corrections.move(
                db, mention=mention, team=team, channel=f"console:#{team}", actor="dana", now=now
            )
        else:
            corrections.relabel(db, mention=mention, kind=kind, actor="dana", now=now)

    await bot.app.database.write(run)


async def test_a_week_summed_from_kept_days_says_what_its_whole_history_says(bot: Bot) -> None:
    seeder = Seeder(bot.app.database, bot.clock)
    for label in ("m2", "m7"):  # seeded by the fixture
        seeder.numbers[label] = await bot.app.database.read(_number, label=label)
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    # Thursday morning: a running bot made the daily digests of Monday to Wednesday.
    bot.at(local(8, 8, 0))
    for day in (5, 6, 7):
        await bot.app.digests.queue(playbooks, team, day_period(date(2026, 1, day), BERLIN))
    assert _kept_days_in(await bot.app.database.read(_kept_days), "2026-01-05", "2026-01-07")
    # Thursday: m9 is given to erin, m11 waits; both are unsettled when the day ends.
    m9 = await seeder.post("m9", local(8, 9, 0), team="support", audience=40)
    await seeder.do("m9", Action.ASSIGN, "erin", local(8, 9, 5))
    await seeder.post("m11", local(8, 10, 0), team="support", audience=2_000)
    bot.at(local(9, 8, 30))
    assert await bot.app.digests.send_due() == [("support", "day:2026-01-08")]
    # Friday: m7, waiting since Tuesday night (a kept day), is answered at last; m10 comes.
    await seeder.answer("m7", "dave", local(9, 10, 0))
    await seeder.post("m10", local(9, 11, 0), team="support", kind="praise")
    bot.at(local(10, 8, 30))
    await bot.app.digests.send_due()
    # Saturday: m10 is ignored unanswered; m2 (resolved on Tuesday) is reopened and
    # claimed; m11 is answered. Then corrections: m9 was billing's, m11 is a question.
    await seeder.do("m10", Action.IGNORE, "bob", local(10, 9, 0))
    await seeder.do("m2", Action.REOPEN, "alice", local(10, 9, 30))
    await seeder.do("m2", Action.CLAIM, "alice", local(10, 9, 35))
    await seeder.answer("m11", "carol", local(10, 10, 0))
    week = week_period(date(2026, 1, 11), BERLIN)
    before = await _whole(bot, week)
    await _correct(bot, m9, team="billing")
    await _correct(bot, seeder.numbers["m11"], kind="question")
    # The corrected mentions came in on Thursday: Thursday on is counted again, not before.
    kept = await bot.app.database.read(_kept_days)
    assert "2026-01-06" in kept and "2026-01-08" not in kept and "2026-01-09" not in kept
    bot.at(local(11, 8, 30))
    await bot.app.digests.send_due()
    # Sunday: m12 is answered within the hour.
    await seeder.post("m12", local(11, 14, 0), team="support", kind="question", source="blog")
    await seeder.answer("m12", "carol", local(11, 14, 30))
    bot.at(local(12, 8, 30))
    assert ("support", "week:2026-01-05..2026-01-11") in await bot.app.digests.send_due()
    assert _kept_days_in(await bot.app.database.read(_kept_days), "2026-01-05", "2026-01-11")

    whole = await _whole(bot, week)
    assert await _composed(bot, week) == whole
    # The corrections changed the week (so stale kept days would have shown).
    assert whole != before and whole.by_kind != before.by_kind
    assert m9 not in {i.mention.number for i in whole.open_items}
    # The figures are not empty: every kind of thing the week holds is in them.
    assert whole.mentions_in == 11 and whole.reopened == 2 and whole.ignored == 2
    assert whole.answered >= 8 and whole.breaches and whole.resolution.count
    # Tuesday was kept with m7 pending; Friday's tally says it was answered then.
    tuesday = await bot.app.database.read(_kept_tally, bot=bot, day=date(2026, 1, 6))
    assert seeder.numbers["m7"] in {number for number, _ in tuesday.pending}
    friday = await bot.app.database.read(_kept_tally, bot=bot, day=date(2026, 1, 9))
    assert (seeder.numbers["m7"], "answered") in {(n, how) for n, _, how in friday.settled}
    helpers = dict(whole.helpers)
    assert helpers["dave"] == 1 and helpers["carol"] == 3
    # Each day's digest, summed from kept days too, says what its history says.
    for day in range(5, 12):
        period = day_period(date(2026, 1, day), BERLIN)
        assert await _composed(bot, period) == await _whole(bot, period), day


def _number(db: sqlite_utils.Database, *, label: str) -> int:
    row = db.execute("SELECT number FROM mentions WHERE url LIKE ?", [f"%/{label}"]).fetchone()
    return int(row[0])


def _kept_days_in(kept: list[str], first: str, last: str) -> bool:
    wanted = {(date.fromisoformat(first) + timedelta(days=n)).isoformat() for n in range(7)}
    return {d for d in wanted if d <= last} <= set(kept)


def _kept_tally(db: sqlite_utils.Database, *, bot: Bot, day: date) -> DayTally:
    team = bot.app.playbooks.teams["support"]
    terms = terms_key(sla_terms(bot.app.playbooks, team))
    return day_figures.kept(db, team="support", zone=ZONE, terms=terms, first=day, last=day)[day]


async def test_kept_days_are_what_the_week_is_summed_from(bot: Bot) -> None:
    # Proof that the kept tallies are read rather than the history: a figure no history has.
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    bot.at(local(12, 8, 30))
    week = week_period(date(2026, 1, 11), BERLIN)
    await bot.app.digests.queue(playbooks, team, week)
    terms = terms_key(sla_terms(playbooks, team))

    def inflate(db: sqlite_utils.Database) -> None:
        tuesday = _kept_tally(db, bot=bot, day=date(2026, 1, 6))
        fake = replace(tuesday, kinds={"complaint": 4242})
        day_figures.keep(
            db,
            team="support",
            zone=ZONE,
            terms=terms,
            tallies=[fake],
            counted_after=day_figures.changes(db),
            now=local(12, 9, 0),
        )

    tuesday = await bot.app.database.read(_kept_tally, bot=bot, day=date(2026, 1, 6))
    assert tuesday.mentions_in == 7
    await bot.app.database.write(inflate)
    report = await _composed(bot, week)
    assert report.mentions_in == (await _whole(bot, week)).mentions_in - 7 + 4242
    # Unreadable, the day is counted again from its history.
    await bot.app.database.write(
        lambda db: db.execute(
            "UPDATE digest_day_figures SET figures = '{\"kinds\": 7' WHERE day = '2026-01-06'"
        )
    )
    assert await _composed(bot, week) == await _whole(bot, week)
    await bot.app.digests.queue(playbooks, team, week)  # the next digest keeps it again
    assert await bot.app.database.read(_kept_tally, bot=bot, day=date(2026, 1, 6))
    # Kept by other SLA terms, the day is counted again from its history.
    await bot.app.database.write(
        lambda db: db.execute("UPDATE digest_day_figures SET terms = 'v0|other'")
    )
    assert await _composed(bot, week) == await _whole(bot, week)


async def test_new_sla_terms_count_the_days_again(bot: Bot) -> None:
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    bot.at(local(12, 8, 30))
    week = week_period(date(2026, 1, 11), BERLIN)
    await bot.app.digests.queue(playbooks, team, week)
    breaches = (await _composed(bot, week)).breaches
    # The lead gives the team more time to claim: fewer breaches, as the history says.
    bot.book.write_text(BOOK.replace("claim_within: 30m", "claim_within: 8h"), encoding="utf-8")
    bot.app.playbooks = load_playbooks(bot.book)
    relaxed = await _composed(bot, week)
    assert relaxed == await _whole(bot, week)
    assert len(relaxed.breaches) < len(breaches)


async def test_an_erasure_forgets_the_kept_days(bot: Bot) -> None:
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    bot.at(local(12, 8, 30))
    week = week_period(date(2026, 1, 11), BERLIN)
    await bot.app.digests.queue(playbooks, team, week)
    assert await bot.app.database.read(_kept_days)
    await bot.app.database.write(
        lambda db: erasure.forget(
            db, source="mastodon", handle="author-m1", now=bot.clock.now(), requested_by="dana"
        )
    )
    assert await bot.app.database.read(_kept_days) == []
    assert await _composed(bot, week) == await _whole(bot, week)


async def test_days_counted_before_a_correction_are_not_kept(bot: Bot) -> None:
    playbooks = bot.app.playbooks
    team = playbooks.teams["support"]
    bot.at(local(12, 8, 30))
    week = week_period(date(2026, 1, 11), BERLIN)
    composed = await bot.app.database.read(
        compose_counting, playbooks=playbooks, team=team, period=week
    )
    assert {t.day for t in composed.counted} == {date(2026, 1, d) for d in range(5, 12)}
    # While the digest was being made, someone moved Tuesday's m3 to billing.
    await _correct(bot, await bot.app.database.read(_number, label="m3"), team="billing")

    def keep(db: sqlite_utils.Database) -> bool:
        return day_figures.keep(
            db,
            team="support",
            zone=ZONE,
            terms=terms_key(composed.report.sla),
            tallies=composed.counted,
            counted_after=composed.changes,
            now=bot.clock.now(),
        )

    assert await bot.app.database.write(keep) is False
    assert await bot.app.database.read(_kept_days) == []
    assert await _composed(bot, week) == await _whole(bot, week)


def test_the_sla_terms_name_is_the_same_in_every_process_and_tells_terms_apart() -> None:
    # Holidays are a frozenset of dates, whose order changes with Python's hash seed.
    days = [date(2026, 12, d) for d in (24, 25, 26, 31)]

    def terms(holidays: list[date], claim: int = 30) -> SlaTerms:
        hours = WorkingHours(
            zone=BERLIN,
            weekdays=frozenset(range(5)),
            opens=time(9),
            closes=time(17),
            holidays=frozenset(holidays),
        )
        return SlaTerms(timedelta(minutes=claim), timedelta(hours=1), hours)

    assert terms_key(terms(days)) == terms_key(terms(days[::-1]))
    assert terms_key(terms(days)) != terms_key(terms(days[:-1]))
    assert terms_key(terms(days)) != terms_key(terms(days, claim=45))
    assert terms_key(terms(days)) != terms_key(SlaTerms(timedelta(minutes=30), timedelta(hours=1)))
