"""The digest's numbers, from a seeded event log, against figures worked out by hand.

The log is `tests/digest_log.seed_support` (times are Berlin wall-clock, UTC+1):

  Mon 5   m1 (120 followers) in 23:40
  Tue 6   m1 claimed 00:05, answered 00:20, resolved 00:30 (alice)
          m2 (50) in 09:00, answered 09:10, resolved 09:30 (bob)
          m3 (25,000, bluesky) in 10:00, claimed 10:01, answered 10:05, resolved 10:20 (carol)
          b1 is team billing's (answered by dave): never counted for support
          m4 (800) in 11:00, claimed 12:00, answered 13:30 (alice), left answered
          m5 (unknown, praise, bluesky) in 12:00, ignored 12:05 (bob)
          m6 (5,000, question) in 13:00, answered 13:20, resolved 13:25 (bob);
             the customer writes again 15:00 (reopened), alice claims 15:10,
             answers 15:40, resolves 16:00
          m7 (300) in 22:00, nobody takes it
          m8 (unknown, question, blog) in 23:50
  Wed 7   m8 claimed 01:00, answered 01:30 (bob)

Support's SLA: claim_within 30m, reply_within 1h, on the always clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.clock import FakeClock
from bot.digests import compose, team_zone
from bot.domain.digest import Report
from bot.domain.digest_periods import Period, day_period, week_period
from bot.domain.mentions import Action, State
from bot.playbooks import Playbooks, load_playbooks
from bot.store.db import Database
from tests.digest_log import BERLIN, NEW_YORK, Seeder, local, seed_support

BOOK = """\
business_hours:
  office:
    timezone: Europe/Lisbon
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
    sla:
      claim_within: 2h
      clock: business_hours
      hours: office
  east:
    channel: console:#east
    digest:
      timezone: Europe/Berlin
  west:
    channel: console:#west
    digest:
      timezone: America/New_York
default_team: support
"""


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


@pytest.fixture
def playbooks(tmp_path: Path) -> Playbooks:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    return load_playbooks(book)


@pytest.fixture
async def seeded(database: Database, clock: FakeClock) -> Seeder:
    seeder = Seeder(database, clock)
    clock.advance(local(5, 0, 0) - clock.now())
    await seed_support(seeder)
    return seeder


async def report(database: Database, playbooks: Playbooks, team: str, period: Period) -> Report:
    return await database.read(
        compose, playbooks=playbooks, team=playbooks.teams[team], period=period
    )


def numbers(seeder: Seeder, *labels: str) -> list[int]:
    return [seeder.numbers[label] for label in labels]


async def test_tuesday_worked_out_by_hand(
    database: Database, playbooks: Playbooks, seeded: Seeder
) -> None:
    r = await report(database, playbooks, "support", day_period(date(2026, 1, 6), BERLIN))
    # In on Tuesday: m2..m8 = 7 (m1 came Monday, the follow-up joins m6, b1 is billing's).
    assert r.mentions_in == 7
    # complaint: m3 m4 m7; question: m2 m6 m8; praise: m5.
    assert r.by_kind == {"complaint": 3, "question": 3, "praise": 1}
    # mastodon: m2 m4 m6 m7; bluesky: m3 m5; blog: m8.
    assert r.by_source == {"mastodon": 4, "bluesky": 2, "blog": 1}
    assert r.reopened == 1  # m6, by the customer's follow-up
    # Episodes started Tuesday: m2 m3 m4 m5 m6 m6(reopened) m7 m8 = 8; m5 was ignored
    # unanswered, so 7 needed an answer; answered by midnight: m2 m3 m4 m6 m6 = 5.
    assert (r.needing_answer, r.answered, r.ignored) == (7, 5, 1)
    assert r.response_rate == pytest.approx(5 / 7)
    # First answers given Tuesday, from arrival (or reopening):
    #   m1 23:40->00:20 = 40, m2 10, m3 5, m4 11:00->13:30 = 150, m6 20, m6 15:00->15:40 = 40
    #   sorted 5 10 20 40 40 150; median at (6-1)*0.5 = 2.5: (20+40)/2 = 30
    #   90th at (6-1)*0.9 = 4.5: 40 + 0.5*(150-40) = 95
    assert (r.first_response.count, r.first_response.median, r.first_response.p90) == (
        6, m(30), m(95),
    )  # fmt: skip
    # Resolved Tuesday: m1 23:40->00:30 = 50, m2 30, m3 20, m6 25, m6 15:00->16:00 = 60
    #   sorted 20 25 30 50 60; median 30; 90th at 4*0.9 = 3.6: 50 + 0.6*(60-50) = 56
    assert (r.resolution.count, r.resolution.median, r.resolution.p90) == (5, m(30), m(56))
    # Breaches with their deadline on Tuesday:
    #   m4 claim due 11:30 (claimed 12:00); m4 reply due 12:00+1h = 13:00 (answered 13:30);
    #   m7 claim due 22:30 (never). m8's claim is due 00:20 Wednesday: not Tuesday's.
    assert [(b.number, b.kind, b.due) for b in r.breaches] == [
        (seeded.numbers["m4"], "claim", local(6, 11, 30)),
        (seeded.numbers["m4"], "reply", local(6, 13, 0)),
        (seeded.numbers["m7"], "claim", local(6, 22, 30)),
    ]
    # Open at midnight: m7 (overdue), m8 (due 00:20, not yet), then m4 (answered).
    assert [(i.mention.number, i.state, i.overdue, i.claimed_by) for i in r.open_items] == [
        (seeded.numbers["m7"], State.OPEN, True, None),
        (seeded.numbers["m8"], State.OPEN, False, None),
        (seeded.numbers["m4"], State.ANSWERED, False, "alice"),
    ]
    # Answers given Tuesday: alice m1 m4 m6 = 3, bob m2 m6 = 2, carol m3 = 1 (dave is billing's).
    assert r.helpers == (("alice", 3), ("bob", 2), ("carol", 1))
    # By audience, first answers Tuesday: under 1,000: m1 40, m2 10, m4 150 -> median 40;
    # 1,000-9,999: m6 20 and 40 -> 30; 10,000+: m3 5. Still waiting: m7 (300), m8 (unknown).
    rows = {row.label: (row.first_response.count, row.first_response.median, row.waiting)
            for row in r.audiences}  # fmt: skip
    assert rows == {
        "under 1,000": (3, m(40), 1),
        "1,000 to 9,999": (2, m(30), 0),
        "10,000 or more": (1, m(5), 0),
        "audience unknown": (0, None, 1),
    }
    # The chart's seven days, Wed 31 Dec to Tue 6 Jan: in 0 0 0 0 0 1 7; medians only Tue.
    assert [(p.day.day, p.mentions_in, p.median_first_response) for p in r.days] == [
        (31, 0, None), (1, 0, None), (2, 0, None), (3, 0, None), (4, 0, None),
        (5, 1, None), (6, 7, m(30)),
    ]  # fmt: skip


async def test_monday_counts_the_mention_left_open_across_midnight(
    database: Database, playbooks: Playbooks, seeded: Seeder
) -> None:
    r = await report(database, playbooks, "support", day_period(date(2026, 1, 5), BERLIN))
    assert r.mentions_in == 1
    # m1 needed an answer and had none by midnight (it came at 00:20): 0 of 1.
    assert (r.needing_answer, r.answered) == (1, 0)
    assert r.response_rate == 0
    assert r.first_response.count == 0 and r.first_response.median is None
    # Its claim deadline is 00:10 Tuesday, so Monday has no breach and it is not overdue.
    assert r.breaches == ()
    assert [(i.mention.number, i.state, i.overdue) for i in r.open_items] == [
        (seeded.numbers["m1"], State.OPEN, False)
    ]
    assert r.helpers == ()


async def test_wednesday_a_quiet_day_with_a_late_claim(
    database: Database, playbooks: Playbooks, seeded: Seeder
) -> None:
    r = await report(database, playbooks, "support", day_period(date(2026, 1, 7), BERLIN))
    assert r.mentions_in == 0
    assert r.response_rate is None  # nothing started Wednesday
    # m8: 23:50 -> 01:30 = 100 minutes, counted on the day it was answered.
    assert (r.first_response.count, r.first_response.median) == (1, m(100))
    # m8's claim was due 00:20 and came 01:00.
    assert [(b.number, b.kind) for b in r.breaches] == [(seeded.numbers["m8"], "claim")]
    # Still open at Wednesday's end: m7 (overdue since Tuesday), m8 and m4 answered.
    assert [(i.mention.number, i.overdue) for i in r.open_items] == [
        (seeded.numbers["m7"], True),
        (seeded.numbers["m4"], False),
        (seeded.numbers["m8"], False),
    ]
    assert r.helpers == (("bob", 1),)


async def test_an_empty_day_has_no_numbers_and_no_errors(
    database: Database, playbooks: Playbooks, seeded: Seeder
) -> None:
    # Sunday 4 Jan: before anything came in.
    r = await report(database, playbooks, "support", day_period(date(2026, 1, 4), BERLIN))
    assert (r.mentions_in, r.needing_answer, r.answered, r.reopened) == (0, 0, 0, 0)
    assert r.response_rate is None
    assert r.first_response.count == 0 and r.first_response.p90 is None
    assert r.resolution.median is None
    assert (r.breaches, r.open_items, r.helpers) == ((), (), ())
    assert all(row.first_response.count == 0 and row.waiting == 0 for row in r.audiences)
    assert [p.mentions_in for p in r.days] == [0] * 7
    # A team that never had a mention: the same, for a day with activity elsewhere.
    r = await report(database, playbooks, "east", day_period(date(2026, 1, 6), BERLIN))
    assert (r.mentions_in, r.first_response.count, r.open_items) == (0, 0, ())


async def test_the_week_to_wednesday(
    database: Database, playbooks: Playbooks, seeded: Seeder
) -> None:
    r = await report(database, playbooks, "support", week_period(date(2026, 1, 7), BERLIN))
    assert (r.period.first, r.period.last) == (date(2026, 1, 1), date(2026, 1, 7))
    assert r.mentions_in == 8  # m1..m8
    # Episodes: m1..m8 and m6 reopened = 9, minus m5 ignored = 8 needing; all but m7 answered.
    assert (r.needing_answer, r.answered) == (8, 7)
    # First answers: Tuesday's 5 10 20 40 40 150 and Wednesday's 100:
    #   sorted 5 10 20 40 40 100 150; median (index 3) 40; 90th at 6*0.9 = 5.4:
    #   100 + 0.4*(150-100) = 120
    assert (r.first_response.count, r.first_response.median, r.first_response.p90) == (
        7, m(40), m(120),
    )  # fmt: skip
    assert len(r.breaches) == 4  # Tuesday's three and Wednesday's one
    assert r.helpers == (("alice", 3), ("bob", 3), ("carol", 1))


async def test_a_reopened_mention_is_two_episodes(
    database: Database, playbooks: Playbooks, seeded: Seeder
) -> None:
    from bot.domain.episodes import episodes
    from bot.store import digests

    histories = await database.read(
        digests.histories, team="support", since=local(6, 0, 0), until=local(7, 0, 0)
    )
    m6 = next(h for h in histories if h.mention.number == seeded.numbers["m6"])
    found = episodes(m6, until=local(7, 0, 0))
    assert [(e.start, e.reopened, e.answered_at, e.closed_at) for e in found] == [
        (local(6, 13, 0), False, local(6, 13, 20), local(6, 13, 25)),
        (local(6, 15, 0), True, local(6, 15, 40), local(6, 16, 0)),
    ]
    # The follow-up post is not a mention of its own in any count.
    assert seeded.numbers["m6-again"] not in [h.mention.number for h in histories]


async def test_the_day_boundary_is_the_teams_own(
    database: Database, playbooks: Playbooks, clock: FakeClock
) -> None:
    # The same three instants for a team in Berlin and one in New York:
    #   A 04:30 UTC Tue = 05:30 Tue in Berlin, 23:30 Mon in New York
    #   B 15:00 UTC Tue = 16:00 Tue in Berlin, 10:00 Tue in New York
    #   C 03:00 UTC Wed = 04:00 Wed in Berlin, 22:00 Tue in New York
    seeder = Seeder(database, clock)
    for label, at in (
        ("A", datetime(2026, 1, 6, 4, 30, tzinfo=UTC)),
        ("B", datetime(2026, 1, 6, 15, 0, tzinfo=UTC)),
        ("C", datetime(2026, 1, 7, 3, 0, tzinfo=UTC)),
    ):
        await seeder.post(f"east-{label}", at, team="east")
        await seeder.post(f"west-{label}", at, team="west")
    assert team_zone(playbooks, playbooks.teams["west"]) == "America/New_York"
    tuesday = date(2026, 1, 6)
    east = await report(database, playbooks, "east", day_period(tuesday, BERLIN))
    west = await report(database, playbooks, "west", day_period(tuesday, NEW_YORK))
    west_monday = await report(database, playbooks, "west", day_period(date(2026, 1, 5), NEW_YORK))
    opened = [i.mention.number for i in east.open_items]
    assert east.mentions_in == 2 and opened == numbers(seeder, "east-A", "east-B")
    assert west.mentions_in == 2
    assert [i.mention.number for i in west.open_items] == numbers(
        seeder, "west-A", "west-B", "west-C"
    )
    assert west_monday.mentions_in == 1
    # Berlin's Tuesday is 23:00 Mon to 23:00 Tue UTC; New York's is 05:00 Tue to 05:00 Wed.
    assert east.period.start.isoformat() == "2026-01-05T23:00:00+00:00"
    assert west.period.start.isoformat() == "2026-01-06T05:00:00+00:00"


async def test_business_hours_deadlines_count_working_time_only(
    database: Database, playbooks: Playbooks, clock: FakeClock
) -> None:
    # Billing: claim within 2h of working time, Lisbon office hours 09:00-17:00 Mon-Fri
    # (Lisbon is UTC+0 in January). A post at 16:00 Friday 9 Jan is due at 10:00 Monday
    # 12 Jan: 1h on Friday and 1h on Monday. Claimed at 09:45 Monday: no breach.
    # A second post at 16:30 Friday is due 10:30 Monday and is claimed at 11:00: a breach.
    zone = ZoneInfo(playbooks.business_hours["office"].timezone)
    seeder = Seeder(database, clock)
    await seeder.post("f1", local(9, 16, 0, zone), team="billing")
    await seeder.post("f2", local(9, 16, 30, zone), team="billing")
    await seeder.do("f1", Action.CLAIM, "erin", local(12, 9, 45, zone))
    await seeder.do("f2", Action.CLAIM, "erin", local(12, 11, 0, zone))
    friday = await report(database, playbooks, "billing", day_period(date(2026, 1, 9), zone))
    monday = await report(database, playbooks, "billing", day_period(date(2026, 1, 12), zone))
    assert friday.breaches == ()
    assert [i.overdue for i in friday.open_items] == [False, False]  # the weekend is not late
    assert [(b.number, b.kind, b.due) for b in monday.breaches] == [
        (seeder.numbers["f2"], "claim", local(12, 10, 30, zone))
    ]
