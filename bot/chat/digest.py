"""The digest as text, platform-neutral: what every adapter shows a lead. Pure.

The text is plain; strangers' words in it (handles, a few words of each open post) are
shortened and their invisible characters shown, and each adapter escapes it as it does any
text. The chart's stand-in is a compact table of the same seven days.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta, tzinfo

from bot.chat.text import reveal_invisible, shorten
from bot.domain.digest import UNKNOWN_AUDIENCE, DayPoint, OpenItem, Report, Spread, audience_verdict
from bot.domain.durations import format_duration
from bot.domain.mentions import State

MAX_OPEN_LISTED = 10
MAX_BREACHES_LISTED = 15


def _duration(value: timedelta | None) -> str:
    return format_duration(value) if value is not None else "–"


def _spread(spread: Spread, noun: str) -> str:
    if not spread.count:
        return f"none {noun}"
    return (
        f"median {_duration(spread.median)} · 90th percentile {_duration(spread.p90)}"
        f" ({spread.count} {noun})"
    )


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{reveal_invisible(shorten(k, 40))} {n}" for k, n in counts.items())


def _zone_name(report: Report) -> str:
    return str(report.period.zone)


def _day(value: date, *, year: bool = True) -> str:
    return f"{value:%a} {value.day} {value:%b}" + (f" {value.year}" if year else "")


def _since(at: datetime, zone: tzinfo) -> str:
    here = at.astimezone(zone)
    return f"{here.day} {here:%b %H:%M}"


def title(report: Report) -> str:
    """The first line: which digest, which team, which days, in which time zone."""
    period = report.period
    if period.kind == "day":
        when = _day(period.first)
        label = "Daily digest"
    else:
        when = f"{_day(period.first, year=False)} to {_day(period.last)}"
        label = "Weekly digest"
    return f"{label} · {report.team_name} · {when} ({_zone_name(report)})"


def _open_line(item: OpenItem, zone: tzinfo, names: Mapping[str, str]) -> str:
    mention = item.mention
    who = names.get(item.claimed_by, item.claimed_by) if item.claimed_by else "someone"
    if item.state == State.ANSWERED:
        status = f"answered by {who}, not resolved"
    elif item.state == State.CLAIMED:
        status = f"claimed by {who}, not answered"
    elif item.state == State.REOPENED:
        status = "reopened, unclaimed"
    else:
        status = "unclaimed"
    flag = "OVERDUE · " if item.overdue else ""
    author = reveal_invisible(shorten(mention.author.handle, 40))
    words = reveal_invisible(shorten(mention.text, 60))
    link = f" {mention.url}" if mention.url else ""
    return (
        f"  #{mention.number} {flag}{status} · since {_since(item.since, zone)}"
        f" · @{author} on {reveal_invisible(mention.source)}: \u201c{words}\u201d{link}"
    )


def people_in(report: Report) -> list[str]:
    """The people a digest names (by id): who helped, who holds what is still open."""
    return [p for p, _ in report.helpers] + [
        i.claimed_by for i in report.open_items if i.claimed_by
    ]


def render_digest(report: Report, names: Mapping[str, str] | None = None) -> str:
    """The digest's text: numbers, breaches, what is open, who helped, who waited how long."""
    period = report.period
    day_or_week = "day" if period.kind == "day" else "week"
    lines = [title(report), ""]
    reopened = f" (and {report.reopened} reopened)" if report.reopened else ""
    lines.append(f"Mentions in: {report.mentions_in}{reopened}")
    if report.by_kind:
        lines.append(f"  by kind:   {_counts(report.by_kind)}")
        lines.append(f"  by source: {_counts(report.by_source)}")
    rate = report.response_rate
    if rate is None:
        lines.append("Response rate: – (nothing came in that needed an answer)")
    else:
        ignored = f"; {report.ignored} ignored" if report.ignored else ""
        lines.append(
            f"Response rate: {rate:.0%} ({report.answered} of {report.needing_answer} answered"
            f" by the end of the {day_or_week}{ignored})"
        )
    lines.append(f"First response: {_spread(report.first_response, 'answered')}")
    lines.append(f"Resolution:     {_spread(report.resolution, 'resolved')}")
    lines.append(_breach_line(report))
    lines.append("")
    lines.append("Small and large accounts, time to first response:")
    for row in report.audiences:
        if row.label == UNKNOWN_AUDIENCE and not row.first_response.count and not row.waiting:
            continue
        waiting = f", {row.waiting} still waiting" if row.waiting else ""
        if row.first_response.count:
            figure = (
                f"median {_duration(row.first_response.median)}"
                f" ({row.first_response.count} answered{waiting})"
            )
        else:
            figure = f"none answered{waiting}"
        lines.append(f"  {row.label + ':':<19} {figure}")
    if verdict := audience_verdict(report.audiences):
        lines.append(f"  Fairness: {verdict}.")
    lines.append("")
    lines.extend(_open_section(report, names or {}))
    lines.append("")
    if report.helpers:
        shown = names or {}
        helped = " · ".join(
            f"{reveal_invisible(shorten(shown.get(p, p), 40))} {n}" for p, n in report.helpers
        )
        lines.append(f"Who helped (answers): {helped}")
    else:
        lines.append(f"Who helped: nobody answered this {day_or_week}.")
    return "\n".join(lines)


def _breach_line(report: Report) -> str:
    if report.sla.claim_within is None and report.sla.reply_within is None:
        return "SLA breaches: – (the team has no claim_within or reply_within)"
    if not report.breaches:
        return "SLA breaches: none"
    claims = sum(1 for b in report.breaches if b.kind == "claim")
    replies = len(report.breaches) - claims
    parts = []
    if claims:
        within = _duration(report.sla.claim_within)
        parts.append(f"{claims} not claimed within {within}")
    if replies:
        parts.append(f"{replies} not answered within {_duration(report.sla.reply_within)}")
    numbers = list(dict.fromkeys(b.number for b in report.breaches))
    listed = " ".join(f"#{n}" for n in numbers[:MAX_BREACHES_LISTED])
    hidden = len(numbers) - MAX_BREACHES_LISTED
    more = f" and {hidden} more" if hidden > 0 else ""
    return f"SLA breaches: {len(report.breaches)} ({', '.join(parts)}): {listed}{more}"


def _open_section(report: Report, names: Mapping[str, str]) -> list[str]:
    items = report.open_items
    end_label = f"the end of {_day(report.period.last, year=False)}"
    if not items:
        return [f"Nothing was left open at {end_label}."]
    overdue = sum(1 for i in items if i.overdue)
    answered = sum(1 for i in items if i.state == State.ANSWERED)
    notes = [f"{overdue} overdue"] if overdue else []
    if answered:
        notes.append(f"{answered} answered but not resolved")
    note = f" ({', '.join(notes)})" if notes else ""
    lines = [f"Still open at {end_label}: {len(items)}{note}"]
    lines += [_open_line(i, report.period.zone, names) for i in items[:MAX_OPEN_LISTED]]
    if len(items) > MAX_OPEN_LISTED:
        lines.append(f"  … and {len(items) - MAX_OPEN_LISTED} more")
    return lines


def render_day_table(days: tuple[DayPoint, ...]) -> str:
    """The chart's seven days as a compact table, for where an image cannot be shown."""
    lines = [f"{'Day':<10}  {'In':>4}  Median first response"]
    for point in days:
        median = _duration(point.median_first_response)
        lines.append(f"{point.day:%a %d %b}  {point.mentions_in:>4}  {median}")
    return "\n".join(lines)
