"""Business hours: when a team is next at work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from bot.domain.hours import next_opening

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def test_next_opening_follows_weekdays_hours_holidays_and_zone() -> None:
    hours = dict(timezone="Europe/Lisbon", weekdays=("mon", "tue", "wed", "thu", "fri"),
                 opens=time(8, 0), closes=time(18, 0))  # fmt: skip
    assert next_opening(now=NOW, **hours) == NOW  # Monday 09:00 in Lisbon: open
    friday_night = datetime(2026, 1, 9, 19, 0, tzinfo=UTC)
    monday = next_opening(now=friday_night, **hours)
    assert monday is not None and monday.isoformat() == "2026-01-12T08:00:00+00:00"
    holiday = next_opening(now=friday_night, holidays=(date(2026, 1, 12),), **hours)
    assert holiday is not None and holiday.date() == date(2026, 1, 13)
    summer = next_opening(now=datetime(2026, 7, 6, 5, 0, tzinfo=UTC), **hours)
    assert summer is not None and summer.isoformat() == "2026-07-06T08:00:00+01:00"
    assert next_opening(now=NOW, **{**hours, "weekdays": ()}) is None
