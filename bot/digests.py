"""Sending the leads' digests: when each is due, what it says, and queuing it once.

The numbers come from `bot.domain.digest`, the text from `bot.chat.digest`, the chart
from `bot.chat.chart`; this module reads the playbooks, the store and the clock, and
queues the result in the outbox with a record that makes it once per team and period.
"""

from __future__ import annotations

import asyncio
import logging
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from functools import cache

from bot.chat.chart import render_chart
from bot.chat.digest import people_in, render_day_table, render_digest
from bot.clock import Clock, SystemClock
from bot.domain.digest import CHART_DAYS, DayPoint, Report, SlaTerms, chart_days_before
from bot.domain.digest_days import DayTally, cut, report_of_days, tally_days, terms_key
from bot.domain.digest_periods import (
    Period,
    Schedule,
    day_period,
    due_periods,
    local_midnight,
    week_period,
)
from bot.errors import AllhandsError
from bot.incident_commands import digest_section
from bot.playbooks import Playbooks, TeamSpec
from bot.playbooks.reader import did_you_mean
from bot.playbooks.schema import WEEKDAYS, Digest
from bot.sla import working_hours
from bot.store import day_figures, digests, people, sql
from bot.store.db import Database
from bot.store.sql import Conn

log = logging.getLogger(__name__)


@cache
def zone(name: str) -> zoneinfo.ZoneInfo:
    """The time zone of this IANA name (loaded once)."""
    return zoneinfo.ZoneInfo(name)


def digest_settings(team: TeamSpec) -> Digest:
    """The team's `digest` section, or the defaults when it has none."""
    return team.digest if isinstance(team.digest, Digest) else Digest()


def team_zone(playbooks: Playbooks, team: TeamSpec) -> str:
    """The time zone a team's days are counted in.

    The digest's own `timezone`, else that of the business hours the team's SLA names,
    else UTC.
    """
    settings = digest_settings(team)
    if settings.timezone:
        return settings.timezone
    hours_id = getattr(team.sla, "hours", None)
    if hours_id and hours_id in playbooks.business_hours:
        return playbooks.business_hours[hours_id].timezone
    return "UTC"


def sla_terms(playbooks: Playbooks, team: TeamSpec) -> SlaTerms:
    """What the digest checks breaches against: the team's claim and reply deadlines."""
    sla = team.sla
    if sla is None:
        return SlaTerms()
    hours = None
    if sla.clock == "business_hours" and sla.hours in playbooks.business_hours:
        hours = working_hours(playbooks.business_hours[sla.hours])
    return SlaTerms(claim_within=sla.claim_within, reply_within=sla.reply_within, hours=hours)


def schedule_of(playbooks: Playbooks, team: TeamSpec) -> Schedule | None:
    """When the team's digest goes out, or None when it is switched off."""
    settings = digest_settings(team)
    if not settings.enabled:
        return None
    weekly = WEEKDAYS.index(settings.weekly) if settings.weekly else None
    return Schedule(at=settings.time, zone=zone(team_zone(playbooks, team)), weekly=weekly)


def recipients_of(team: TeamSpec) -> list[str]:
    """Who gets the digest: its `recipients`, else the team's leads (maybe nobody)."""
    settings = digest_settings(team)
    return list(dict.fromkeys(settings.recipients or team.leads))


def compose(db: Conn, *, playbooks: Playbooks, team: TeamSpec, period: Period) -> Report:
    """The team's report for a period, from the store (runs on a reader connection)."""
    return compose_counting(db, playbooks=playbooks, team=team, period=period).report


@dataclass(frozen=True, slots=True)
class Composed:
    """A report, the tallies of the days it counted from history, and `day_figures.changes`
    as it was before they were counted."""

    report: Report
    counted: list[DayTally]
    changes: int


def compose_counting(db: Conn, *, playbooks: Playbooks, team: TeamSpec, period: Period) -> Composed:
    """The team's report for a period, and the tallies of the days it counted from history.

    The period's days kept by earlier digests are read back (and the chart's points of the
    days before it); history is read only from the first day not kept to the period's end,
    and for what is open at the end.
    """
    changes = day_figures.changes(db)
    sla = sla_terms(playbooks, team)
    terms = terms_key(sla)
    zone_name = str(period.zone)
    earlier = chart_days_before(period)
    days = [
        *earlier,
        *(period.first + timedelta(days=n) for n in range((period.last - period.first).days + 1)),
    ]
    kept = day_figures.kept(
        db, team=team.id, zone=zone_name, terms=terms, first=period.first, last=period.last
    )
    # Of the chart's days before the period only the points are needed: kept apart, small.
    points = digests.day_points(db, team=team.id, zone=zone_name, days=earlier)
    missing = [d for d in days if d not in kept and d not in points]
    counted = [d for d in days if missing and d >= missing[0]]
    since = local_midnight(counted[0], period.zone) if counted else period.end
    histories = digests.histories(db, team=team.id, since=since, until=period.end)
    mine = cut(histories, team=team.id, until=period.end)
    fresh = tally_days(mine, days=counted, zone=period.zone, until=period.end, sla=sla)
    tallies = {**kept, **fresh}
    report = report_of_days(
        team=team.id,
        team_name=team.name,
        period=period,
        tallies=tallies,
        mine=mine,
        sla=sla,
        chart=[tallies[d].point() if d in tallies else points[d] for d in earlier],
    )
    return Composed(report, list(fresh.values()), changes)


def is_over(day: date, zone: tzinfo, now: datetime) -> bool:
    """Whether the local day is over at `now`."""
    return local_midnight(day + timedelta(days=1), zone) <= now


def days_over(report: Report, now: datetime) -> list[DayPoint]:
    """The report's chart points of days that are over at `now` (they never change)."""
    return [p for p in report.days if is_over(p.day, report.period.zone, now)]


@dataclass(frozen=True, slots=True)
class Made:
    """A digest ready to send: the numbers, the text, the chart and its table."""

    report: Report
    text: str
    chart_text: str
    chart: bytes


def chart_title(report: Report) -> str:
    """The chart's title."""
    last = report.period.last
    return f"{report.team_name}: the {CHART_DAYS} days to {last:%a} {last.day} {last:%b %Y}"


def make(report: Report, names: Mapping[str, str] | None = None) -> Made:
    """Text, table and chart for a report, people shown by `names` (blocking: the chart is
    drawn here)."""
    return Made(
        report=report,
        text=render_digest(report, names),
        chart_text=render_day_table(report.days),
        chart=render_chart(report.days, title=chart_title(report), zone=str(report.period.zone)),
    )


class DigestSender:
    """Queues each team's digests when they are due; call `send_due()` every minute."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        on_queued: Callable[[], None] = lambda: None,
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.on_queued = on_queued

    async def send_due(self) -> list[tuple[str, str]]:
        """Queue every digest due now and not made before; the (team, period) pairs queued."""
        now = self.clock.now()
        playbooks = self.playbooks()
        queued = []
        for team in playbooks.teams.values():
            schedule = schedule_of(playbooks, team)
            if schedule is None:
                continue
            for period in due_periods(schedule, now):
                if await self.database.read(digests.is_recorded, team=team.id, period=period.key):
                    continue
                try:
                    if await self.queue(playbooks, team, period):
                        queued.append((team.id, period.key))
                except Exception:
                    # One team's failure must not hold up the others; the next tick retries.
                    log.exception(
                        "the %s digest of team %s failed",
                        period.key,
                        team.id,
                        extra={"team": team.id},
                    )
        if queued:
            self.on_queued()
        return queued

    async def queue(self, playbooks: Playbooks, team: TeamSpec, period: Period) -> bool:
        """Make one digest and queue it, unless it was made already; whether it was queued."""
        composed = await self.database.read(
            compose_counting, playbooks=playbooks, team=team, period=period
        )
        report = composed.report
        names = await self.database.read(people.shown, ids=people_in(report))
        made = await asyncio.to_thread(make, report, names)
        incidents = await self.database.read(
            digest_section, team=team.id, start=period.start, end=period.end
        )
        digest_id = await self.database.write(
            digests.record,
            team=team.id,
            period=period,
            text=made.text + incidents,
            chart_text=made.chart_text,
            chart=made.chart,
            recipients=recipients_of(team),
            platform=team.channel.platform,
            channel=team.channel.channel,
            now=self.clock.now(),
        )
        await self.database.write(
            digests.keep_day_points,
            team=team.id,
            zone=str(period.zone),
            points=days_over(report, self.clock.now()),
        )
        await self.database.write(
            day_figures.keep,
            team=team.id,
            zone=str(period.zone),
            terms=terms_key(report.sla),
            tallies=[t for t in composed.counted if is_over(t.day, period.zone, self.clock.now())],
            counted_after=composed.changes,
            now=self.clock.now(),
        )
        if digest_id is not None:
            log.info("digest %s for team %s queued", period.key, team.id, extra={"team": team.id})
        return digest_id is not None


class PreviewError(AllhandsError):
    """A digest preview cannot be made as asked: unknown team, bad date, no store."""


def _require_store(db_path: str) -> None:
    if not sql.store_exists(db_path):
        raise PreviewError(
            f"no database at {db_path}; name the bot's database with --db or ALLHANDS_DB"
        )


def preview_period(
    playbooks: Playbooks, team: TeamSpec, *, day: str | None, weekly: bool, now: datetime
) -> Period:
    """The period a preview asks for: `day` (YYYY-MM-DD), or yesterday in the team's zone."""
    tz = zone(team_zone(playbooks, team))
    today = now.astimezone(tz).date()
    if day is None:
        chosen = today - timedelta(days=1)
    else:
        try:
            chosen = date.fromisoformat(day.strip())
        except ValueError:
            raise PreviewError(f"--date {day!r} is not a date; write it like 2026-01-05") from None
        if chosen > today:
            raise PreviewError(f"{chosen} has not begun yet in {tz}; today there is {today}")
    return week_period(chosen, tz) if weekly else day_period(chosen, tz)


def preview_digest(
    playbooks: Playbooks,
    *,
    team_id: str,
    day: str | None,
    weekly: bool,
    db_path: str,
    clock: Clock | None = None,
) -> tuple[str, bytes]:
    """The digest's text (with the chart's table) and chart, as the team's leads would get it.

    PreviewError, with a one-line reason, for an unknown team, a bad date or no store.
    """
    team = playbooks.teams.get(team_id)
    if team is None:
        hint = did_you_mean(team_id, sorted(playbooks.teams), "teams")
        raise PreviewError(f"unknown team {team_id!r}; {hint}")
    now = (clock or SystemClock()).now()
    period = preview_period(playbooks, team, day=day, weekly=weekly, now=now)
    _require_store(db_path)
    try:  # read-only: a preview never migrates or writes the bot's store
        with sql.read_only(db_path) as db:
            report = compose(db, playbooks=playbooks, team=team, period=period)
            names = people.shown(db, ids=people_in(report))
            incidents = digest_section(db, team=team.id, start=period.start, end=period.end)
    except sql.ERRORS as exc:
        raise PreviewError(f"cannot read the digest's numbers from {db_path}: {exc}") from None
    made = make(report, names)
    note = ""
    if period.end > now:
        note = f"\n(The {period.kind} is not over: these are the figures so far.)"
    elif not (report.mentions_in or report.answered or report.open_items or report.helpers):
        today = now.astimezone(zone(team_zone(playbooks, team))).date()
        note = (
            f"\n(Nothing happened for team {team.id} that {period.kind}: no mention came in"
            f" and none was handled. To see today's figures so far: allhands digest"
            f" --team {team.id} --preview --date {today}{' --weekly' if weekly else ''})"
        )
    return f"{made.text}{incidents}{note}\n\n{made.chart_text}", made.chart
