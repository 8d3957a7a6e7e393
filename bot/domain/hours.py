"""Business hours: when a team is next at work (for the `{opens_at}` of reply templates)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def next_opening(
    *,
    now: datetime,
    timezone: str,
    weekdays: Collection[str],
    opens: time,
    closes: time,
    holidays: Collection[date] = (),
) -> datetime | None:
    """When business hours next begin (`now` if they are on), in their time zone."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    for offset in range(0, 366):
        day = local.date() + timedelta(days=offset)
        if _WEEKDAYS[day.weekday()] not in weekdays or day in holidays:
            continue
        start = datetime.combine(day, opens, tzinfo=zone)
        end = datetime.combine(day, closes, tzinfo=zone)
        if offset == 0 and start <= local < end:
            return local
        if start > local:
            return start
    return None
