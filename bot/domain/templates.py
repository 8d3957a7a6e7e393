"""Reply templates: placeholders filled from the mention, and when a team is next at work."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain.mentions import Mention

_FIELD = re.compile(r"\{\{|\}\}|\{([a-z_]+)\}")
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with `{name}` replaced by its value and `{{`/`}}` by braces.

    A plain substitution rather than str.format: no format specs or attribute access,
    and an unknown placeholder is left as written.
    """

    def replace(found: re.Match[str]) -> str:
        whole = found.group(0)
        if whole in ("{{", "}}"):
            return whole[0]
        return values.get(found.group(1), whole)

    return _FIELD.sub(replace, template)


def values_for(mention: Mention, *, agent: str, team: str, opens_at: str) -> dict[str, str]:
    """What each placeholder means for this mention, answered by `agent`."""
    return {
        "author": mention.author.handle,
        "name": mention.author.name or mention.author.handle,
        "number": str(mention.number),
        "team": team,
        "agent": agent,
        "url": mention.url,
        "opens_at": opens_at,
    }


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
