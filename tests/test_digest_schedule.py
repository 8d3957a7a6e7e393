"""When digests fall due, what a day is in a time zone, percentiles, and the playbook keys."""

from __future__ import annotations

import statistics
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.chat.digest import render_digest
from bot.digests import recipients_of, team_zone
from bot.domain.digest import build_report, percentile
from bot.domain.digest_periods import Schedule, day_period, due_periods, week_period
from bot.errors import ConfigError
from bot.playbooks import load_playbooks
from tests.digest_log import BERLIN, NEW_YORK, local


def test_a_day_is_midnight_to_midnight_in_the_zone_even_when_clocks_change() -> None:
    tuesday = day_period(date(2026, 1, 6), NEW_YORK)
    assert (tuesday.start, tuesday.end) == (
        datetime(2026, 1, 6, 5, 0, tzinfo=UTC),
        datetime(2026, 1, 7, 5, 0, tzinfo=UTC),
    )
    assert tuesday.key == "day:2026-01-06"
    # Berlin moves its clocks forward on 29 March 2026 and back on 25 October.
    assert day_period(date(2026, 3, 29), BERLIN).end - day_period(
        date(2026, 3, 29), BERLIN
    ).start == timedelta(hours=23)
    october = day_period(date(2026, 10, 25), BERLIN)
    assert october.end - october.start == timedelta(hours=25)
    week = week_period(date(2026, 1, 11), BERLIN)
    assert week.key == "week:2026-01-05..2026-01-11"
    assert week.end - week.start == timedelta(days=7)


def test_due_at_the_local_time_for_yesterday_and_weekly_on_its_day() -> None:
    berlin = Schedule(at=time(8, 30), zone=BERLIN, weekly=0)
    assert due_periods(berlin, local(7, 8, 29)) == []
    assert [p.key for p in due_periods(berlin, local(7, 8, 30))] == ["day:2026-01-06"]
    assert [p.key for p in due_periods(berlin, local(7, 23, 59))] == ["day:2026-01-06"]
    assert [p.key for p in due_periods(berlin, local(12, 9, 0))] == [
        "day:2026-01-11",
        "week:2026-01-05..2026-01-11",
    ]
    # 07:45 UTC is 08:45 in Berlin but 02:45 in New York.
    instant = datetime(2026, 1, 7, 7, 45, tzinfo=UTC)
    new_york = Schedule(at=time(8, 30), zone=NEW_YORK)
    assert [p.key for p in due_periods(berlin, instant)] == ["day:2026-01-06"]
    assert due_periods(new_york, instant) == []
    later = datetime(2026, 1, 7, 13, 30, tzinfo=UTC)  # 08:30 in New York
    assert [p.key for p in due_periods(new_york, later)] == ["day:2026-01-06"]


def test_a_digest_time_the_clocks_skip_still_comes_that_day() -> None:
    # 02:30 does not exist in Berlin on 29 March 2026; the digest still goes out that day.
    night = Schedule(at=time(2, 30), zone=BERLIN)
    sunday_noon = datetime(2026, 3, 29, 10, 0, tzinfo=UTC)
    assert [p.key for p in due_periods(night, sunday_noon)] == ["day:2026-03-28"]


def m(minutes: float) -> timedelta:
    return timedelta(minutes=minutes)


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([], 0.5) is None
    assert percentile([m(7)], 0.9) == m(7)
    # 4 values: median at 1.5 -> (10+20)/2; 90th at 2.7 -> 20 + 0.7*(100-20) = 76.
    values = [m(100), m(10), m(0), m(20)]
    assert percentile(values, 0.5) == m(15)
    assert percentile(values, 0.9) == m(76)


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=50))
def test_the_median_is_the_statistics_modules(seconds: list[int]) -> None:
    values = [timedelta(seconds=s) for s in seconds]
    expected = timedelta(seconds=statistics.median(seconds))
    assert abs(percentile(values, 0.5) - expected) <= timedelta(microseconds=1)  # type: ignore[operator]


BOOK = """\
business_hours:
  office:
    timezone: Europe/Lisbon
teams:
  own:
    channel: console:#own
    leads: [a, b]
    sla: {clock: business_hours, hours: office}
    digest: {timezone: America/New_York, recipients: [c, a, c]}
  by_hours:
    channel: console:#hours
    sla: {clock: business_hours, hours: office}
  plain:
    channel: console:#plain
    leads: [lee]
"""


def test_the_teams_time_zone_and_recipients(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    playbooks = load_playbooks(book)
    zones = {t: team_zone(playbooks, playbooks.teams[t]) for t in ("own", "by_hours", "plain")}
    assert zones == {"own": "America/New_York", "by_hours": "Europe/Lisbon", "plain": "UTC"}
    assert recipients_of(playbooks.teams["own"]) == ["c", "a"]
    assert recipients_of(playbooks.teams["plain"]) == ["lee"]
    assert recipients_of(playbooks.teams["by_hours"]) == []


@pytest.mark.parametrize(
    ("digest", "message"),
    [
        (
            "{timezone: Europe/Berln}",
            "teams.t.digest.timezone: unknown time zone 'Europe/Berln';"
            " did you mean 'Europe/Berlin'?",
        ),
        ("{weekly: monday}", "teams.t.digest.weekly:"),
        ("{time: '8.30'}", "teams.t.digest.time: '8.30' is not a time of day"),
        ("{recipients: ['']}", "teams.t.digest.recipients[0]: should not be empty"),
        ("{when: daily}", "teams.t.digest.when: unknown key (known keys: time, weekly,"),
    ],
)
def test_bad_digest_settings_are_refused_with_the_key(
    tmp_path: Path, digest: str, message: str
) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(f"teams:\n  t:\n    channel: console:#t\n    digest: {digest}\n", "utf-8")
    with pytest.raises(ConfigError) as caught:
        load_playbooks(book)
    assert any(message in str(p) for p in caught.value.problems), caught.value.problems


def test_an_empty_report_reads_well() -> None:
    period = day_period(date(2026, 1, 4), BERLIN)
    text = render_digest(build_report(team="t", team_name="Team", period=period, histories=[]))
    assert text.splitlines()[0] == "Daily digest · Team · Sun 4 Jan 2026 (Europe/Berlin)"
    assert "Mentions in: 0" in text
    assert "Response rate: – (nothing came in that needed an answer)" in text
    assert "First response: none answered" in text
    assert "SLA breaches: – (the team has no claim_within or reply_within)" in text
    assert "Nothing was left open at the end of Sun 4 Jan." in text
    assert "Who helped: nobody answered this day." in text
