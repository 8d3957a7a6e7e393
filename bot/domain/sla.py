"""SLA arithmetic: working time between instants, and when each SLA step falls due. Pure.

Every instant passed in and returned is an aware datetime; arithmetic is done in UTC, so
that a day on which the clocks change is as long as it really is. Working hours are
wall-clock times in the team's time zone: 08:00 is 08:00 there in winter and in summer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Literal

from bot.domain.mentions import ACTIVE, UNCLAIMED, State

# Ten years of days: a calendar with no working day in it is refused rather than looped on.
MAX_DAYS = 3660
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = timedelta(days=1)
_UNKNOWN = object()

Ping = Literal["none", "here", "channel"]


@dataclass(frozen=True, slots=True)
class WorkingHours:
    """When a team is at work: its time zone, working weekdays (0 is Monday), hours, days off."""

    zone: tzinfo
    weekdays: frozenset[int]
    opens: time
    closes: time
    holidays: frozenset[date] = frozenset()

    # Days already worked out: a sweep asks about the same few weeks for every mention.
    _days: dict[date, tuple[datetime, datetime] | None] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def span(self, day: date) -> tuple[datetime, datetime] | None:
        """The working time of one local day as UTC instants, or None on a day off."""
        known = self._days.get(day, _UNKNOWN)
        if known is not _UNKNOWN:
            return known  # type: ignore[return-value]
        found = self._work_out(day)
        if len(self._days) < 4096:
            self._days[day] = found
        return found

    def _work_out(self, day: date) -> tuple[datetime, datetime] | None:
        if day.weekday() not in self.weekdays or day in self.holidays:
            return None
        start = datetime.combine(day, self.opens, tzinfo=self.zone).astimezone(UTC)
        end = datetime.combine(day, self.closes, tzinfo=self.zone).astimezone(UTC)
        # Opening and closing inside the hour the clocks skip can leave nothing.
        return (start, end) if end > start else None

    def local_day(self, at: datetime) -> date:
        """The date it is in the team's time zone at `at`."""
        return at.astimezone(self.zone).date()


def _spans(
    hours: WorkingHours, start: datetime, end: datetime
) -> Iterator[tuple[datetime, datetime]]:
    """The parts of [start, end) that are working time, in order."""
    day, last = hours.local_day(start), hours.local_day(end)
    while day <= last:
        span = hours.span(day)
        if span is not None:
            lo, hi = max(span[0], start), min(span[1], end)
            if hi > lo:
                yield lo, hi
        day += _DAY


def working_time(start: datetime, end: datetime, hours: WorkingHours | None) -> timedelta:
    """How much working time lies between two instants; all of it when `hours` is None."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return timedelta(0)
    if hours is None:
        return end - start
    return sum((hi - lo for lo, hi in _spans(hours, start, end)), timedelta(0))


def add_working_time(start: datetime, amount: timedelta, hours: WorkingHours | None) -> datetime:
    """The instant at which `amount` of working time has passed since `start`.

    ValueError when the hours hold no working time for ten years (every day a holiday).
    """
    start = start.astimezone(UTC)
    if hours is None or amount <= timedelta(0):
        return start + max(amount, timedelta(0))
    left = amount
    day = hours.local_day(start)
    for _ in range(MAX_DAYS):
        span = hours.span(day)
        if span is not None and span[1] > start:
            lo = max(span[0], start)
            if span[1] - lo >= left:
                return lo + left
            left -= span[1] - lo
        day += _DAY
    raise ValueError("these working hours have no working time in the next ten years")


def latest_start(now: datetime, amount: timedelta, hours: WorkingHours | None) -> datetime:
    """The latest instant from which `amount` of working time has passed by `now`.

    For any start: working_time(start, now) >= amount exactly when start <= this. It lets
    a database filter find what is due by comparing stored instants, without arithmetic
    per row.
    """
    now = now.astimezone(UTC)
    if hours is None:
        return now - amount
    left = amount
    day = hours.local_day(now)
    for _ in range(MAX_DAYS):
        span = hours.span(day)
        if span is not None and span[0] < now:
            hi = min(span[1], now)
            if hi - span[0] >= left:
                return hi - left
            left -= hi - span[0]
        day -= _DAY
    return EARLIEST  # not enough working time in ten years: nothing can be due


def is_open(at: datetime, hours: WorkingHours) -> bool:
    """Whether the team is at work at `at`."""
    span = hours.span(hours.local_day(at))
    return span is not None and span[0] <= at < span[1]


def next_open(at: datetime, hours: WorkingHours) -> datetime:
    """When the team is next at work: `at` itself if it is now (ValueError if never)."""
    at = at.astimezone(UTC)
    day = hours.local_day(at)
    for _ in range(MAX_DAYS):
        span = hours.span(day)
        if span is not None and span[1] > at:
            return max(span[0], at)
        day += _DAY
    raise ValueError("these working hours have no working time in the next ten years")


def last_close(at: datetime, hours: WorkingHours) -> datetime:
    """When the team last stopped work before `at` (EARLIEST if never in ten years)."""
    at = at.astimezone(UTC)
    day = hours.local_day(at)
    for _ in range(MAX_DAYS):
        span = hours.span(day)
        if span is not None and span[1] <= at:
            return span[1]
        day -= _DAY
    return EARLIEST


class Step(StrEnum):
    """What the SLA sweep does to a mention; each happens once per mention, anchor and round."""

    WAKE = "wake"  # the snooze is over: the card and its thread say so
    HOLD = "hold"  # out of hours: the public holding reply
    NUDGE = "nudge"  # unclaimed: a message in the card's thread
    ESCALATE = "escalate"  # no answer past escalate_after: the team's leads are told
    REMIND = "remind"  # claimed but unanswered: the claimer is reminded privately
    RELEASE = "release"  # a stale claim goes back to the team


# The order steps are taken in one sweep: a release last, as it changes the claim.
ORDER = (Step.WAKE, Step.HOLD, Step.NUDGE, Step.ESCALATE, Step.REMIND, Step.RELEASE)


@dataclass(frozen=True, slots=True)
class Policy:
    """A team's SLA as the sweep applies it.

    `counting` is the clock the promises are measured on (None: all the time); `hours`
    is when people are at work (None: always), outside of which nobody is reminded,
    escalated to or pinged.
    """

    claim_within: timedelta | None = None
    reply_within: timedelta | None = None
    escalate_after: timedelta | None = None
    renudge_every: timedelta | None = None
    release_claim_after: timedelta | None = None
    counting: WorkingHours | None = None
    hours: WorkingHours | None = None
    ping: Ping = "none"
    holding_reply: bool = False

    def quiet(self, now: datetime) -> bool:
        """Whether it is outside the team's hours, when people are left in peace."""
        return self.hours is not None and not is_open(now, self.hours)

    def tells_people(self, step: Step) -> bool:
        """Whether a step reaches a person (and so waits for working time)."""
        if step == Step.NUDGE:
            return self.ping != "none"
        return step in (Step.ESCALATE, Step.REMIND, Step.RELEASE)


@dataclass(frozen=True, slots=True)
class Waiting:
    """What the sweep reads of a mention that may need a step."""

    number: int
    state: State
    team: str
    since: datetime  # when the customer started waiting: arrival, or the last reopening
    unclaimed_since: datetime | None = None  # since, or the last time a claim was released
    claimed_by: str | None = None
    claimer_name: str = ""  # how chat shows the claimer, where the people directory knows
    claimed_at: datetime | None = None
    snoozed_until: datetime | None = None
    source: str = ""
    url: str = ""
    author: str = ""
    name: str = ""
    received_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Due:
    """A step that is due: its key (mention, step, anchor, round) and its timing."""

    number: int
    step: Step
    anchor: datetime  # what the step counts from; a new anchor starts the steps afresh
    round: int
    due_at: datetime
    next_due: datetime | None  # when the next round falls due, if the step repeats


def _rounds(
    number: int,
    step: Step,
    anchor: datetime,
    first: timedelta,
    every: timedelta | None,
    counting: WorkingHours | None,
    now: datetime,
) -> Due | None:
    elapsed = working_time(anchor, now, counting)
    if elapsed < first:
        return None
    n = 0 if every is None else (elapsed - first) // every
    step_every = every or timedelta(0)
    return Due(
        number=number,
        step=step,
        anchor=anchor,
        round=n,
        due_at=add_working_time(anchor, first + n * step_every, counting),
        next_due=(
            add_working_time(anchor, first + (n + 1) * step_every, counting)
            if every is not None
            else None
        ),
    )


def plan_step(step: Step, waiting: Waiting, policy: Policy, now: datetime) -> Due | None:
    """The step due for this mention at `now`, or None.

    Repeating steps (nudges, reminders) are numbered in rounds of `renudge_every` from
    their first due time; only the current round is returned, so a mention that was
    snoozed or deferred through several rounds is nudged once, not once per round missed.
    """
    number, state, counting = waiting.number, waiting.state, policy.counting
    if state not in ACTIVE:
        return None
    if step == Step.WAKE:
        until = waiting.snoozed_until
        if until is None or until > now:
            return None
        return Due(number, step, anchor=until, round=0, due_at=until, next_due=None)
    if waiting.snoozed_until is not None and waiting.snoozed_until > now:
        return None
    if policy.tells_people(step) and policy.quiet(now):
        return None
    if step == Step.HOLD:
        hours = policy.hours
        if not policy.holding_reply or hours is None or state not in UNCLAIMED:
            return None
        if is_open(now, hours) or waiting.since < last_close(now, hours):
            return None
        received = waiting.received_at or waiting.since
        return Due(number, step, anchor=received, round=0, due_at=waiting.since, next_due=None)
    if step == Step.NUDGE and state in UNCLAIMED and policy.claim_within is not None:
        # A released claim gives the team claim_within to pick the mention up again.
        return _rounds(
            number,
            step,
            waiting.unclaimed_since or waiting.since,
            policy.claim_within,
            policy.renudge_every,
            counting,
            now,
        )
    if step == Step.ESCALATE and policy.escalate_after is not None:
        if state not in UNCLAIMED and state != State.CLAIMED:
            return None
        return _rounds(number, step, waiting.since, policy.escalate_after, None, counting, now)
    claimed_at = waiting.claimed_at
    if state != State.CLAIMED or claimed_at is None:
        return None
    release = policy.release_claim_after
    if step == Step.RELEASE and release is not None:
        return _rounds(number, step, claimed_at, release, None, counting, now)
    if step == Step.REMIND and policy.reply_within is not None:
        if release is not None and working_time(claimed_at, now, counting) >= release:
            return None  # the claim is being released; a reminder would contradict it
        return _rounds(
            number, step, claimed_at, policy.reply_within, policy.renudge_every, counting, now
        )
    return None
