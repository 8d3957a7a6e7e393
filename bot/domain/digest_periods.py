"""The periods a digest covers (a local day, or a week of them) and when each is due. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Literal

_DAY = timedelta(days=1)


def local_midnight(day: date, zone: tzinfo) -> datetime:
    """The instant (in UTC) a local day starts in `zone`."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class Period:
    """The local days a digest covers, `first` to `last` inclusive, and their UTC bounds."""

    kind: Literal["day", "week"]
    first: date
    last: date
    zone: tzinfo
    start: datetime = field(init=False, compare=False)  # when the first day starts, in UTC
    end: datetime = field(init=False, compare=False)  # when the last day ends (exclusive)

    def __post_init__(self) -> None:
        # Worked out once: the numbers ask for the bounds for every event.
        object.__setattr__(self, "start", local_midnight(self.first, self.zone))
        object.__setattr__(self, "end", local_midnight(self.last + _DAY, self.zone))

    @property
    def key(self) -> str:
        """What makes a digest unique for a team: `day:2026-01-05`, `week:…..2026-01-11`."""
        if self.kind == "day":
            return f"day:{self.first.isoformat()}"
        return f"week:{self.first.isoformat()}..{self.last.isoformat()}"

    def contains(self, at: datetime) -> bool:
        """Whether an instant falls in the period."""
        return self.start <= at < self.end


def day_period(day: date, zone: tzinfo) -> Period:
    """One local day."""
    return Period("day", day, day, zone)


def week_period(last: date, zone: tzinfo) -> Period:
    """The seven local days ending with `last`."""
    return Period("week", last - 6 * _DAY, last, zone)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When a team's digest goes out: a local time each day, and a weekday for the weekly."""

    at: time
    zone: tzinfo
    weekly: int | None = None  # 0 is Monday


def due_periods(schedule: Schedule, now: datetime) -> list[Period]:
    """The periods whose digest is due at `now`: sent at the local time, or later that day.

    Yesterday's daily digest is due from the digest time until local midnight, so a bot
    that was down at the time sends it when it is back; on the weekly day, the last seven
    days' digest too. The caller sends each period once.
    """
    today = now.astimezone(schedule.zone).date()
    send_at = datetime.combine(today, schedule.at, tzinfo=schedule.zone).astimezone(UTC)
    if now < send_at:
        return []
    yesterday = today - _DAY
    due = [day_period(yesterday, schedule.zone)]
    if schedule.weekly is not None and today.weekday() == schedule.weekly:
        due.append(week_period(yesterday, schedule.zone))
    return due
