"""Reply templates: placeholders filled plainly, and when a team is next at work."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from bot.domain.mentions import Author, Mention, State
from bot.domain.templates import fill, next_opening, values_for

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)  # a Monday


def test_placeholders_are_filled_and_nothing_else_is_interpreted() -> None:
    mention = Mention(
        number=7, source="social", external_id="x", url="https://social.example/x",
        author=Author(handle="ann", name=""), text="t", state=State.OPEN, team="billing",
        kind="question", urgency="normal", sentiment=0.0, created_at=NOW, received_at=NOW,
    )  # fmt: skip
    values = values_for(mention, agent="Dana", team="Billing", opens_at="now")
    text = "Hi {name} (@{author}), #{number}: {agent}/{team} {url} {opens_at} {{literal}}"
    assert fill(text, values) == (
        "Hi ann (@ann), #7: Dana/Billing https://social.example/x now {literal}"
    )
    # Values are inserted as they are, never read as format specs or placeholders.
    hostile = values_for(mention, agent="{url} {0} {author!r:>99999}", team="", opens_at="")
    assert fill("{agent}", hostile) == "{url} {0} {author!r:>99999}"
    assert fill("{unknown} {author:>5}", values) == "{unknown} {author:>5}"


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
