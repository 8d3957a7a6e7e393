"""SLA arithmetic: working time by a team's clock, across weekends, holidays and summer time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.mentions import State
from bot.domain.sla import (
    EARLIEST,
    Policy,
    Step,
    Waiting,
    WorkingHours,
    add_working_time,
    is_open,
    last_close,
    latest_start,
    next_open,
    plan_step,
    working_time,
)

LISBON = ZoneInfo("Europe/Lisbon")
BERLIN = ZoneInfo("Europe/Berlin")
# Lisbon: Mon-Fri 08:00-18:00, Good-Friday-like holiday on Friday 27 March 2026. The clocks
# go forward on Sunday 29 March 2026 (01:00 WET -> 02:00 WEST).
OFFICE = WorkingHours(
    zone=LISBON,
    weekdays=frozenset(range(5)),
    opens=time(8),
    closes=time(18),
    holidays=frozenset({date(2026, 3, 27)}),
)


def lisbon(*args: int) -> datetime:
    return datetime(*args, tzinfo=LISBON)  # type: ignore[misc]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_working_time_skips_the_night_the_holiday_the_weekend_and_follows_summer_time() -> None:
    # Thursday 17:40 -> Monday 09:00 (summer time): 20 minutes on Thursday, one hour on Monday.
    assert working_time(lisbon(2026, 3, 26, 17, 40), lisbon(2026, 3, 30, 9, 0), OFFICE) == (
        timedelta(hours=1, minutes=20)
    )
    # Monday opens at 08:00 local, which is 07:00 UTC once summer time has begun.
    assert add_working_time(lisbon(2026, 3, 26, 17, 40), timedelta(minutes=30), OFFICE) == (
        utc(2026, 3, 30, 7, 10)
    )
    assert add_working_time(lisbon(2026, 3, 26, 17, 40), timedelta(minutes=30), None) == (
        utc(2026, 3, 26, 18, 10)
    )
    # The same wall-clock interval on the Monday before is an hour later in UTC.
    assert add_working_time(lisbon(2026, 3, 20, 17, 40), timedelta(minutes=30), OFFICE) == (
        utc(2026, 3, 23, 8, 10)
    )


def test_a_day_on_which_the_clocks_change_is_as_long_as_it_really_is() -> None:
    nights = WorkingHours(zone=LISBON, weekdays=frozenset(range(7)), opens=time(0), closes=time(5))
    spring = working_time(lisbon(2026, 3, 28, 12), lisbon(2026, 3, 29, 12), nights)
    autumn = working_time(lisbon(2026, 10, 24, 12), lisbon(2026, 10, 25, 12), nights)
    assert (spring, autumn) == (timedelta(hours=4), timedelta(hours=6))
    # 01:00-01:59 does not exist on 29 March: those hours move forward with the clocks, to
    # 02:00-02:59 summer time (01:00-01:59 UTC), as on the days around it.
    skipped = WorkingHours(
        zone=LISBON, weekdays=frozenset(range(7)), opens=time(1, 0), closes=time(1, 59)
    )
    assert skipped.span(date(2026, 3, 29)) == (utc(2026, 3, 29, 1), utc(2026, 3, 29, 1, 59))
    assert skipped.span(date(2026, 3, 30)) == (utc(2026, 3, 30, 0), utc(2026, 3, 30, 0, 59))


def test_always_counts_everything() -> None:
    start, end = utc(2026, 3, 28, 22), utc(2026, 3, 29, 3)
    assert working_time(start, end, None) == timedelta(hours=5)
    assert working_time(end, start, None) == timedelta(0)
    assert latest_start(end, timedelta(hours=2), None) == utc(2026, 3, 29, 1)


def test_open_next_open_and_last_close() -> None:
    assert is_open(lisbon(2026, 3, 26, 17, 59), OFFICE)
    assert not is_open(lisbon(2026, 3, 26, 18, 0), OFFICE)
    assert not is_open(lisbon(2026, 3, 27, 10), OFFICE)  # the holiday
    assert not is_open(lisbon(2026, 3, 29, 10), OFFICE)  # Sunday
    assert next_open(lisbon(2026, 3, 26, 19), OFFICE) == lisbon(2026, 3, 30, 8)
    assert next_open(lisbon(2026, 3, 30, 9), OFFICE) == lisbon(2026, 3, 30, 9)
    assert last_close(lisbon(2026, 3, 29, 3), OFFICE) == lisbon(2026, 3, 26, 18)
    assert last_close(lisbon(2026, 3, 30, 7), OFFICE) == lisbon(2026, 3, 26, 18)


def test_berlin_office_across_the_change() -> None:
    berlin = WorkingHours(zone=BERLIN, weekdays=frozenset(range(5)), opens=time(9), closes=time(17))
    # Friday 16:00 CET (15:00 UTC) + 2h of work = Monday 10:00 CEST (08:00 UTC).
    start = datetime(2026, 3, 27, 16, tzinfo=BERLIN)
    assert add_working_time(start, timedelta(hours=2), berlin) == utc(2026, 3, 30, 8)


def test_hours_without_working_time_are_refused_not_looped_on() -> None:
    mondays = frozenset(date(2015, 1, 5) + timedelta(weeks=w) for w in range(1300))
    never = WorkingHours(
        zone=LISBON, weekdays=frozenset({0}), opens=time(9), closes=time(17), holidays=mondays
    )
    with pytest.raises(ValueError, match="no working time"):
        add_working_time(utc(2026, 1, 5), timedelta(hours=1), never)
    with pytest.raises(ValueError, match="no working time"):
        next_open(utc(2026, 1, 5), never)
    assert latest_start(utc(2026, 1, 5), timedelta(hours=1), never) == EARLIEST


zones = st.sampled_from([LISBON, BERLIN, ZoneInfo("America/New_York"), ZoneInfo("Asia/Kolkata")])
instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@st.composite
def working_hours(draw: st.DrawFn) -> WorkingHours:
    # At least an hour a working day, so that the amounts below fit in ten years.
    opens = draw(st.integers(0, 22 * 60))
    closes = draw(st.integers(opens + 60, 24 * 60 - 1))
    days = draw(st.frozensets(st.integers(0, 6), min_size=1))
    holidays = draw(
        st.frozensets(st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31)))
    )
    return WorkingHours(
        zone=draw(zones),
        weekdays=days,
        opens=time(opens // 60, opens % 60),
        closes=time(closes // 60, closes % 60),
        holidays=holidays,
    )


@settings(max_examples=300, deadline=None)
@given(
    hours=working_hours(),
    start=instants,
    now=instants,
    minutes=st.integers(1, 60 * 24 * 5),
)
def test_latest_start_is_exactly_when_enough_working_time_has_passed(
    hours: WorkingHours, start: datetime, now: datetime, minutes: int
) -> None:
    amount = timedelta(minutes=minutes)
    cutoff = latest_start(now, amount, hours)
    assert (working_time(start, now, hours) >= amount) == (start <= cutoff)


@settings(max_examples=300, deadline=None)
@given(hours=working_hours(), start=instants, minutes=st.integers(1, 60 * 24 * 5))
def test_adding_working_time_then_measuring_it_gives_it_back(
    hours: WorkingHours, start: datetime, minutes: int
) -> None:
    amount = timedelta(minutes=minutes)
    due = add_working_time(start, amount, hours)
    assert working_time(start, due, hours) == amount
    # and no earlier instant would do: a minute before, less has passed
    assert working_time(start, due - timedelta(minutes=1), hours) < amount


POLICY = Policy(
    claim_within=timedelta(minutes=30),
    reply_within=timedelta(hours=1),
    escalate_after=timedelta(hours=3),
    renudge_every=timedelta(hours=1),
    release_claim_after=timedelta(hours=2),
    counting=OFFICE,
    hours=OFFICE,
)


def waiting(**changes: object) -> Waiting:
    base: dict[str, object] = {
        "number": 7,
        "state": State.OPEN,
        "team": "support",
        "since": lisbon(2026, 3, 23, 9),
    }
    return Waiting(**{**base, **changes})  # type: ignore[arg-type]


def test_nudges_come_in_rounds_and_only_the_current_round_is_due() -> None:
    w = waiting()
    assert plan_step(Step.NUDGE, w, POLICY, lisbon(2026, 3, 23, 9, 29)) is None
    first = plan_step(Step.NUDGE, w, POLICY, lisbon(2026, 3, 23, 9, 30))
    assert first is not None and (first.round, first.due_at) == (0, lisbon(2026, 3, 23, 9, 30))
    assert first.next_due == lisbon(2026, 3, 23, 10, 30)
    # Snoozed, then woken the next afternoon: one nudge for the round it is in, not six.
    later = plan_step(Step.NUDGE, w, POLICY, lisbon(2026, 3, 24, 9, 45))
    assert later is not None and later.round == 10 and later.due_at == lisbon(2026, 3, 24, 9, 30)


def test_snoozed_mentions_are_left_alone_until_they_wake() -> None:
    w = waiting(snoozed_until=lisbon(2026, 3, 24, 10))
    now = lisbon(2026, 3, 23, 15)
    assert [plan_step(s, w, POLICY, now) for s in Step] == [None] * len(Step)
    woken = plan_step(Step.WAKE, w, POLICY, lisbon(2026, 3, 24, 10))
    assert woken is not None and woken.anchor == lisbon(2026, 3, 24, 10)
    assert plan_step(Step.WAKE, waiting(state=State.RESOLVED), POLICY, now) is None


def test_people_are_not_reminded_at_night_but_a_silent_nudge_may_go_to_the_thread() -> None:
    always = Policy(
        claim_within=timedelta(minutes=20),
        escalate_after=timedelta(hours=1),
        reply_within=timedelta(minutes=30),
        hours=OFFICE,
    )
    w = waiting(since=lisbon(2026, 3, 24, 21))
    night = lisbon(2026, 3, 24, 23)
    assert plan_step(Step.NUDGE, w, always, night) is not None
    assert plan_step(Step.ESCALATE, w, always, night) is None
    pinging = Policy(claim_within=timedelta(minutes=20), hours=OFFICE, ping="here")
    assert plan_step(Step.NUDGE, w, pinging, night) is None
    morning = lisbon(2026, 3, 25, 8)
    assert plan_step(Step.NUDGE, w, pinging, morning) is not None
    assert plan_step(Step.ESCALATE, w, always, morning) is not None
    claimed = waiting(state=State.CLAIMED, claimed_by="ann", claimed_at=lisbon(2026, 3, 24, 21))
    assert plan_step(Step.REMIND, claimed, always, night) is None
    assert plan_step(Step.REMIND, claimed, always, morning) is not None


def test_a_release_replaces_the_reminder_that_would_fall_at_the_same_time() -> None:
    claimed = waiting(state=State.CLAIMED, claimed_by="ann", claimed_at=lisbon(2026, 3, 23, 10))
    remind = plan_step(Step.REMIND, claimed, POLICY, lisbon(2026, 3, 23, 11))
    assert remind is not None and remind.anchor == lisbon(2026, 3, 23, 10)
    at_two_hours = lisbon(2026, 3, 23, 12)
    assert plan_step(Step.REMIND, claimed, POLICY, at_two_hours) is None
    assert plan_step(Step.RELEASE, claimed, POLICY, at_two_hours) is not None
    answered = waiting(state=State.ANSWERED, claimed_by="ann", claimed_at=lisbon(2026, 3, 23, 10))
    assert [plan_step(s, answered, POLICY, at_two_hours) for s in Step] == [None] * len(Step)


def test_a_holding_reply_is_for_a_wait_that_began_out_of_hours() -> None:
    holding = Policy(hours=OFFICE, holding_reply=True)
    saturday = lisbon(2026, 3, 28, 10)
    assert plan_step(Step.HOLD, waiting(since=saturday), holding, saturday) is not None
    # It began before closing time: the team saw it come in.
    before_close = waiting(since=lisbon(2026, 3, 26, 17, 55))
    assert plan_step(Step.HOLD, before_close, holding, saturday) is None
    # Back in hours, the team answers itself.
    assert plan_step(Step.HOLD, waiting(since=saturday), holding, lisbon(2026, 3, 30, 8)) is None
    assert plan_step(Step.HOLD, waiting(since=saturday), Policy(hours=OFFICE), saturday) is None
