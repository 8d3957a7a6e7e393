"""The leads' digest in numbers, worked out from the event log. Pure.

Every number is computed from the events of each mention, as of the end of the period:
nothing after it is looked at, so the digest of a day is the same whenever it is made.

A mention's life is cut into episodes (`bot.domain.episodes`): one starts when it comes in,
and another each time it is reopened (by a person, or by the customer writing again after it
was resolved). Each episode needs its own first response, and ends when it is resolved or
ignored. The periods and when their digests are due are `bot.domain.digest_periods`.

- mentions in: mentions that came in during the period (reopenings are counted apart);
- response rate: of the episodes that started in the period, the share answered by its
  end; episodes ignored before any answer are left out (spam needs no answer);
- time to first response: for each first answer of an episode given in the period, the
  time from the episode's start (so an answer given just after midnight to a post from
  the evening before counts, with its true waiting time, in the day it was given);
- time to resolution: likewise, for each episode resolved in the period;
- SLA breaches: an episode not claimed within `claim_within` of its start, or not
  answered within `reply_within` of its first claim, counted in the period in which that
  deadline passed; a deadline counts working time only when the SLA runs on business hours;
- open and overdue: episodes not closed at the period's end, overdue when a deadline
  passed before it;
- who helped: answers given in the period, per person;
- small and large accounts: time to first response by the author's audience.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from bot.domain.digest_periods import Period, day_period
from bot.domain.episodes import Episode, History, episodes, state_at
from bot.domain.mentions import ACTIVE, Action, Mention, State
from bot.domain.sla import WorkingHours, add_working_time

_DAY = timedelta(days=1)
# Audience buckets for "served first for being well-connected": (label, lowest, highest).
AUDIENCE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("under 1,000", 0, 999),
    ("1,000 to 9,999", 1_000, 9_999),
    ("10,000 or more", 10_000, None),
)
UNKNOWN_AUDIENCE = "audience unknown"
CHART_DAYS = 7


@dataclass(frozen=True, slots=True)
class SlaTerms:
    """What the digest checks of a team's SLA."""

    claim_within: timedelta | None = None
    reply_within: timedelta | None = None
    hours: WorkingHours | None = None

    def deadline(self, start: datetime, amount: timedelta) -> datetime:
        """When `amount` of SLA time has passed since `start`."""
        return add_working_time(start, amount, self.hours)


def percentile(values: Sequence[timedelta], q: float) -> timedelta | None:
    """The q-th quantile (0..1) with linear interpolation between ranks; None when empty.

    The same as numpy's default and `statistics.median` for q = 0.5: for n values sorted,
    position (n - 1) * q, interpolated between its neighbours.
    """
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True, slots=True)
class Spread:
    """How long something took across several cases: how many, the median and the 90th."""

    count: int
    median: timedelta | None
    p90: timedelta | None


def spread(values: Sequence[timedelta]) -> Spread:
    """The count, median and 90th percentile of durations."""
    return Spread(len(values), percentile(values, 0.5), percentile(values, 0.9))


@dataclass(frozen=True, slots=True)
class Breach:
    """A deadline that passed in the period: `claim` or `reply`, for which mention."""

    number: int
    kind: Literal["claim", "reply"]
    due: datetime


@dataclass(frozen=True, slots=True)
class OpenItem:
    """A mention still needing someone at the period's end."""

    mention: Mention
    state: State
    since: datetime
    overdue: bool
    claimed_by: str | None


@dataclass(frozen=True, slots=True)
class AudienceRow:
    """First responses to authors of one audience size."""

    label: str
    first_response: Spread
    waiting: int


@dataclass(frozen=True, slots=True)
class DayPoint:
    """One day of the chart: mentions in, and the median time to first response."""

    day: date
    mentions_in: int
    median_first_response: timedelta | None


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the digest says about one team and one period."""

    team: str
    team_name: str
    period: Period
    mentions_in: int
    by_kind: dict[str, int]
    by_source: dict[str, int]
    reopened: int
    needing_answer: int
    answered: int
    ignored: int
    first_response: Spread
    resolution: Spread
    breaches: tuple[Breach, ...]
    open_items: tuple[OpenItem, ...]
    helpers: tuple[tuple[str, int], ...]
    audiences: tuple[AudienceRow, ...]
    days: tuple[DayPoint, ...]
    sla: SlaTerms = field(default_factory=SlaTerms)

    @property
    def response_rate(self) -> float | None:
        """Answered ÷ needing an answer, or None when nothing needed one."""
        return self.answered / self.needing_answer if self.needing_answer else None


def audience_verdict(rows: Sequence[AudienceRow]) -> str:
    """Whether answers favour big accounts: the smallest and largest answered buckets'
    median first responses compared ('' when fewer than two buckets were answered)."""
    known = [r for r in rows if r.label != UNKNOWN_AUDIENCE and r.first_response.median]
    if len(known) < 2:
        return ""
    small, big = known[0], known[-1]
    assert small.first_response.median is not None and big.first_response.median is not None
    ratio = small.first_response.median / max(big.first_response.median, timedelta(seconds=1))
    if ratio >= 2:
        return f"big accounts are answered {ratio:.1f}x faster than small ones"
    if ratio <= 0.5:
        return f"small accounts are answered {1 / ratio:.1f}x faster than big ones"
    return "no account size is answered much faster than another"


def audience_bucket(audience: int | None) -> str:
    """The label of the bucket an audience size falls in."""
    if audience is None:
        return UNKNOWN_AUDIENCE
    for label, lowest, highest in AUDIENCE_BUCKETS:
        if audience >= lowest and (highest is None or audience <= highest):
            return label
    return UNKNOWN_AUDIENCE


def breaches_of(episode: Episode, sla: SlaTerms, period: Period) -> list[Breach]:
    """The episode's deadlines that passed, unmet, in the period."""
    # A deadline is never before the same amount of wall-clock time has passed, so what was
    # done by then was done in time, without working the deadline out (most episodes).
    found = []
    if sla.claim_within is not None:
        taken = episode.taken_at
        if taken is None or taken > episode.start + sla.claim_within:
            due = sla.deadline(episode.start, sla.claim_within)
            if period.contains(due) and (taken is None or taken > due):
                found.append(Breach(episode.mention.number, "claim", due))
    if sla.reply_within is not None and episode.claimed_at is not None:
        done = min((t for t in (episode.answered_at, episode.closed_at) if t), default=None)
        if done is None or done > episode.claimed_at + sla.reply_within:
            due = sla.deadline(episode.claimed_at, sla.reply_within)
            if period.contains(due) and (done is None or done > due):
                found.append(Breach(episode.mention.number, "reply", due))
    return found


def _overdue(episode: Episode, sla: SlaTerms, at: datetime) -> bool:
    if episode.taken_at is None:
        return sla.claim_within is not None and sla.deadline(episode.start, sla.claim_within) <= at
    if episode.answered_at is None and episode.claimed_at is not None:
        return (
            sla.reply_within is not None
            and sla.deadline(episode.claimed_at, sla.reply_within) <= at
        )
    return False


def _first_responses(all_episodes: Iterable[Episode], lo: datetime, hi: datetime) -> list[Episode]:
    return [e for e in all_episodes if e.answered_at is not None and lo <= e.answered_at < hi]


def build_report(
    *,
    team: str,
    team_name: str,
    period: Period,
    histories: Iterable[History],
    sla: SlaTerms | None = None,
    chart_days: int = CHART_DAYS,
    known_days: Mapping[date, DayPoint] | None = None,
) -> Report:
    """Work out a team's digest for `period` from its mentions' histories.

    `histories` may hold other teams' mentions and mentions that played no part in the
    period: they are left out here, so the store can fetch generously. `known_days` are
    chart points of days before the period worked out by earlier digests (a day that is
    over never changes); with all of them, `histories` need only reach back to the period.
    """
    sla = sla or SlaTerms()
    end = period.end
    mine = [h for h in histories if h.mention.team == team and h.mention.root_number is None]
    by_mention = {h.mention.number: (h, episodes(h, until=end)) for h in mine}
    every = [e for _, eps in by_mention.values() for e in eps]

    arrived = [
        h.mention
        for h in mine
        if any(e.action == Action.INGEST and period.contains(e.at) for e in h.events)
    ]
    started = [e for e in every if period.contains(e.start)]
    needing = [e for e in started if not e.ignored_unanswered]
    answered = [e for e in needing if e.answered_at is not None]
    first = _first_responses(every, period.start, end)
    resolved = [
        e
        for e in every
        if e.closed_by == Action.RESOLVE and e.closed_at and period.contains(e.closed_at)
    ]
    breaches = sorted(
        (b for e in every for b in breaches_of(e, sla, period)), key=lambda b: (b.due, b.number)
    )

    open_items = open_items_at(by_mention.values(), sla, end)
    helpers = Counter(
        e.actor
        for h in mine
        for e in h.events
        if e.action == Action.ANSWER and period.contains(e.at)
    )
    arrivals = [e.at for h in mine for e in h.events if e.action == Action.INGEST and e.at < end]
    return Report(
        team=team,
        team_name=team_name,
        period=period,
        mentions_in=len(arrived),
        by_kind=ranked(Counter(m.kind for m in arrived)),
        by_source=ranked(Counter(m.source for m in arrived)),
        reopened=sum(1 for e in started if e.reopened),
        needing_answer=len(needing),
        answered=len(answered),
        ignored=len(started) - len(needing),
        first_response=spread(
            [e.answered_at - e.start for e in first if e.answered_at is not None]
        ),
        resolution=spread([e.closed_at - e.start for e in resolved if e.closed_at is not None]),
        breaches=tuple(breaches),
        open_items=tuple(open_items),
        helpers=tuple(sorted(helpers.items(), key=lambda kv: (-kv[1], kv[0]))),
        audiences=_audience_rows(first, open_items),
        days=_chart_points(arrivals, every, period, chart_days, known_days or {}),
        sla=sla,
    )


def open_items_at(
    mentions: Iterable[tuple[History, list[Episode]]], sla: SlaTerms, end: datetime
) -> tuple[OpenItem, ...]:
    """What is active at `end`: unanswered before answered, overdue first, oldest first."""
    found = []
    for history, eps in mentions:
        if not eps or eps[-1].closed_at is not None:  # first: it spares reading the events
            continue
        state = state_at(history, end)
        if state not in ACTIVE:
            continue
        held = state in (State.CLAIMED, State.ANSWERED)
        found.append(
            OpenItem(
                mention=history.mention,
                state=state,
                since=eps[-1].start,
                overdue=_overdue(eps[-1], sla, end),
                claimed_by=_claimer_at(history, end) if held else None,
            )
        )
    found.sort(key=lambda i: (i.state == State.ANSWERED, not i.overdue, i.since))
    return tuple(found)


def _audience_rows(
    first: list[Episode], open_items: tuple[OpenItem, ...]
) -> tuple[AudienceRow, ...]:
    """First-response times and the still waiting, per audience bucket."""
    times: dict[str, list[timedelta]] = {}
    for e in first:
        if e.answered_at is not None:
            bucket = audience_bucket(e.mention.author.audience)
            times.setdefault(bucket, []).append(e.answered_at - e.start)
    return audience_rows(times, open_items)


def audience_rows(
    times: Mapping[str, Sequence[timedelta]], open_items: Sequence[OpenItem]
) -> tuple[AudienceRow, ...]:
    """The audience rows from first-response times by bucket and what is still waiting."""
    waiting = Counter(
        audience_bucket(i.mention.author.audience) for i in open_items if i.state != State.ANSWERED
    )
    return tuple(
        AudienceRow(label, spread(times.get(label, [])), waiting.get(label, 0))
        for label in [*(b[0] for b in AUDIENCE_BUCKETS), UNKNOWN_AUDIENCE]
    )


def chart_days_before(period: Period, chart_days: int = CHART_DAYS) -> list[date]:
    """The chart's days that come before the period, oldest first."""
    last = period.last
    return [d for d in (last - n * _DAY for n in range(chart_days - 1, -1, -1)) if d < period.first]


def _chart_points(
    arrivals: list[datetime],
    every: list[Episode],
    period: Period,
    chart_days: int,
    known: Mapping[date, DayPoint],
) -> tuple[DayPoint, ...]:
    """Mentions in and the median first response for each of the days up to the period's end."""
    points = []
    for offset in range(chart_days - 1, -1, -1):
        first = period.last - offset * _DAY
        if first < period.first and first in known:
            points.append(known[first])
            continue
        day = day_period(first, period.zone)
        day_first = [
            e.answered_at - e.start
            for e in _first_responses(every, day.start, day.end)
            if e.answered_at is not None
        ]
        day_in = sum(1 for at in arrivals if day.contains(at))
        points.append(DayPoint(day.first, day_in, percentile(day_first, 0.5)))
    return tuple(points)


def _claimer_at(history: History, at: datetime) -> str | None:
    """Who held the mention just before `at`, from its claim, assign and release events."""
    holder = None
    for event in history.events:
        if event.at >= at:
            break
        if event.action == Action.CLAIM:
            holder = event.actor
        elif event.action == Action.ASSIGN:
            holder = str(event.detail.get("to", event.actor))
        elif event.action == Action.RELEASE:
            holder = None
    return holder


def ranked(counts: Counter[str]) -> dict[str, int]:
    """Counts, largest first, then by name."""
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
