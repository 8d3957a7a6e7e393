"""A digest summed from its days: what each local day adds, kept once the day is over. Pure.

Most of a digest's numbers belong to one day: a mention came in, an episode started, an
answer or a resolution was given, a deadline passed on that day. Such facts never change
once the day is over, so a day's `DayTally` can be kept and a week summed from seven of
them. What does change is the fate of an episode that started on the day and was neither
answered nor closed by its end (it may be answered, or ignored, later): the tally names
those `pending` episodes, and the tally of the day on which each is settled (first
answered, or closed) says how, which is itself a fact of that day. Only what is open at
the report's end is read from the history. The result is exactly `build_report`'s.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo

from bot.domain.digest import (
    Breach,
    DayPoint,
    Report,
    SlaTerms,
    audience_bucket,
    audience_rows,
    breaches_of,
    open_items_at,
    percentile,
    ranked,
    spread,
)
from bot.domain.digest_periods import Period, day_period
from bot.domain.episodes import Episode, History, episodes
from bot.domain.mentions import Action

_DAY = timedelta(days=1)
# How an episode left pending at the end of its first day was settled later.
ANSWERED, IGNORED, CLOSED = "answered", "ignored", "closed"


@dataclass(frozen=True, slots=True)
class DayTally:
    """What one local day adds to a team's digest.

    `needing`, `answered` and `ignored` count the episodes that started that day and were
    settled (answered, or closed) by its end; `pending` are the others, as (mention,
    episode start); `settled` are the episodes of earlier days settled that day, as
    (mention, episode start, how: ANSWERED, IGNORED or CLOSED). `first_responses` are
    (audience bucket, wait) of the first answers given that day.
    """

    day: date
    kinds: Mapping[str, int] = field(default_factory=dict)
    sources: Mapping[str, int] = field(default_factory=dict)
    reopened: int = 0
    needing: int = 0
    answered: int = 0
    ignored: int = 0
    pending: tuple[tuple[int, datetime], ...] = ()
    settled: tuple[tuple[int, datetime, str], ...] = ()
    first_responses: tuple[tuple[str, timedelta], ...] = ()
    resolutions: tuple[timedelta, ...] = ()
    breaches: tuple[Breach, ...] = ()
    helpers: Mapping[str, int] = field(default_factory=dict)

    @property
    def mentions_in(self) -> int:
        """Mentions that came in that day."""
        return sum(self.kinds.values())

    def point(self) -> DayPoint:
        """The day's chart point."""
        waits = [wait for _, wait in self.first_responses]
        return DayPoint(self.day, self.mentions_in, percentile(waits, 0.5))


@dataclass
class _Day:
    """A tally being added up."""

    end: datetime
    kinds: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)
    reopened: int = 0
    needing: int = 0
    answered: int = 0
    ignored: int = 0
    pending: list[tuple[int, datetime]] = field(default_factory=list)
    settled: list[tuple[int, datetime, str]] = field(default_factory=list)
    first_responses: list[tuple[str, timedelta]] = field(default_factory=list)
    resolutions: list[timedelta] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)
    helpers: Counter[str] = field(default_factory=Counter)


# A team's conversations by number, each with its episodes (see `cut`).
Conversations = Mapping[int, tuple[History, list[Episode]]]


def cut(
    histories: Iterable[History], *, team: str, until: datetime
) -> dict[int, tuple[History, list[Episode]]]:
    """The team's conversations (first mentions) among `histories`, by number, each with
    its episodes before `until`: worked out once for the tallies and the report."""
    return {
        h.mention.number: (h, episodes(h, until=until))
        for h in histories
        if h.mention.team == team and h.mention.root_number is None
    }


def tally_days(
    mine: Conversations,
    *,
    days: Sequence[date],
    zone: tzinfo,
    until: datetime,
    sla: SlaTerms,
) -> dict[date, DayTally]:
    """The tallies of consecutive local `days` (in `zone`) from the team's conversations.

    `mine` must hold every mention that may count from the first day on (what
    `digests.histories` gives from its start), cut at `until`, which must not be before
    the last day's end.
    """
    periods = [day_period(d, zone) for d in days]
    if not periods:
        return {}
    starts = [p.start for p in periods]
    lo, hi = periods[0].start, periods[-1].end
    span = Period("week", periods[0].first, periods[-1].last, zone)
    adding = [_Day(end=p.end) for p in periods]

    def day_of(at: datetime) -> _Day | None:
        if lo <= at < hi:
            return adding[bisect_right(starts, at) - 1]
        return None

    for history, found in mine.values():
        mention = history.mention
        for event in history.events:
            if event.action not in (Action.INGEST, Action.ANSWER):
                continue
            tally = day_of(event.at) if event.at < until else None
            if tally is None:
                continue
            if event.action == Action.INGEST:
                tally.kinds[mention.kind] += 1
                tally.sources[mention.source] += 1
            else:
                tally.helpers[event.actor] += 1
        for episode in found:
            started = day_of(episode.start)
            if started is not None:
                _settle(started, mention.number, episode)
            settled = episode.answered_at or episode.closed_at
            if settled is not None and (later := day_of(settled)) and later is not started:
                how = ANSWERED if episode.answered_at else CLOSED
                if how == CLOSED and episode.closed_by == Action.IGNORE:
                    how = IGNORED
                later.settled.append((mention.number, episode.start, how))
            if episode.answered_at is not None and (answered := day_of(episode.answered_at)):
                bucket = audience_bucket(mention.author.audience)
                answered.first_responses.append((bucket, episode.answered_at - episode.start))
            closed = episode.closed_at
            if episode.closed_by == Action.RESOLVE and closed and (resolved := day_of(closed)):
                resolved.resolutions.append(closed - episode.start)
            for breach in breaches_of(episode, sla, span):
                due = day_of(breach.due)
                assert due is not None  # breaches_of keeps those due in the span
                due.breaches.append(breach)
    return {
        p.first: DayTally(
            day=p.first,
            kinds=dict(t.kinds),
            sources=dict(t.sources),
            reopened=t.reopened,
            needing=t.needing,
            answered=t.answered,
            ignored=t.ignored,
            pending=tuple(t.pending),
            settled=tuple(t.settled),
            first_responses=tuple(t.first_responses),
            resolutions=tuple(t.resolutions),
            breaches=tuple(t.breaches),
            helpers=dict(t.helpers),
        )
        for p, t in zip(periods, adding, strict=True)
    }


def _settle(tally: _Day, number: int, episode: Episode) -> None:
    """Count an episode that started on the tally's day as it stood at the day's end."""
    if episode.reopened:
        tally.reopened += 1
    closed = episode.closed_at is not None and episode.closed_at < tally.end
    answered = episode.answered_at is not None and episode.answered_at < tally.end
    if closed and episode.ignored_unanswered:
        tally.ignored += 1
    elif closed or answered:
        tally.needing += 1
        tally.answered += answered
    else:
        tally.pending.append((number, episode.start))


def report_of_days(
    *,
    team: str,
    team_name: str,
    period: Period,
    tallies: Mapping[date, DayTally],
    mine: Conversations,
    sla: SlaTerms,
    chart: Sequence[DayPoint],
) -> Report:
    """The team's report for `period` from the tallies of all its days.

    `mine` (see `cut`, at the period's end) must hold every conversation active at the
    period's end; `chart` are the chart's points of days before the period.
    """
    end = period.end
    days = [tallies[period.first + n * _DAY] for n in range((period.last - period.first).days + 1)]
    needing = sum(t.needing for t in days)
    answered = sum(t.answered for t in days)
    ignored = sum(t.ignored for t in days)
    settled = {(n, start): how for t in days for n, start, how in t.settled}
    for number, start in (p for t in days for p in t.pending):
        how = settled.get((number, start))  # None: still unsettled at the period's end
        if how == IGNORED:
            ignored += 1
        else:
            needing += 1
            answered += how == ANSWERED
    kinds: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    helpers: Counter[str] = Counter()
    times: dict[str, list[timedelta]] = {}
    for tally in days:
        kinds.update(tally.kinds)
        sources.update(tally.sources)
        helpers.update(tally.helpers)
        for bucket, wait in tally.first_responses:
            times.setdefault(bucket, []).append(wait)
    open_items = open_items_at(mine.values(), sla, end)
    return Report(
        team=team,
        team_name=team_name,
        period=period,
        mentions_in=sum(t.mentions_in for t in days),
        by_kind=ranked(kinds),
        by_source=ranked(sources),
        reopened=sum(t.reopened for t in days),
        needing_answer=needing,
        answered=answered,
        ignored=ignored,
        first_response=spread([w for waits in times.values() for w in waits]),
        resolution=spread([r for t in days for r in t.resolutions]),
        breaches=tuple(sorted((b for t in days for b in t.breaches), key=_breach_order)),
        open_items=open_items,
        helpers=tuple(sorted(helpers.items(), key=lambda kv: (-kv[1], kv[0]))),
        audiences=audience_rows(times, open_items),
        days=(*chart, *(t.point() for t in days)),
        sla=sla,
    )


def _breach_order(breach: Breach) -> tuple[datetime, int]:
    return breach.due, breach.number


# Counted differently in a later version: kept tallies of the old way are not used.
TALLY_VERSION = 3


def terms_key(sla: SlaTerms) -> str:
    """A stable name for the SLA terms a tally was counted by (and the way of counting)."""
    parts = [f"v{TALLY_VERSION}", str(sla.claim_within), str(sla.reply_within)]
    hours = sla.hours
    if hours is not None:
        parts += [
            str(hours.zone),
            ",".join(str(d) for d in sorted(hours.weekdays)),
            hours.opens.isoformat(),
            hours.closes.isoformat(),
            ",".join(sorted(d.isoformat() for d in hours.holidays)),
        ]
    return "|".join(parts)
