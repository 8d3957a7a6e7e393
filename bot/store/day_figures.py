"""Digest figures of days that are over (`DayTally`), kept per team, zone and local day.

A kept day is used only when it was counted by the SLA terms in force; a correction or
an erasure that rewrites a day's history deletes the days it touches, and the next
digest counts them again from the history.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bot.domain.digest import Breach
from bot.domain.digest_days import DayTally
from bot.store import sql
from bot.store.sql import Conn

log = logging.getLogger(__name__)
_MICRO = timedelta(microseconds=1)
# What decoding a kept tally that is not one (or of another shape) raises.
UNREADABLE = (ValueError, KeyError, TypeError, AttributeError)


def _micros(value: timedelta) -> int:
    return value // _MICRO


def encode(tally: DayTally) -> str:
    """A tally as the JSON kept for it (durations in whole microseconds: exact)."""
    return json.dumps(
        {
            "kinds": tally.kinds,
            "sources": tally.sources,
            "reopened": tally.reopened,
            "needing": tally.needing,
            "answered": tally.answered,
            "ignored": tally.ignored,
            "pending": [[n, at.isoformat()] for n, at in tally.pending],
            "settled": [[n, at.isoformat(), how] for n, at, how in tally.settled],
            "first": _by_bucket(tally.first_responses),
            "resolutions": [_micros(r) for r in tally.resolutions],
            "breaches": [[b.number, b.kind, b.due.isoformat()] for b in tally.breaches],
            "helpers": tally.helpers,
        },
        separators=(",", ":"),
        sort_keys=True,
    )


def _by_bucket(waits: Iterable[tuple[str, timedelta]]) -> dict[str, list[int]]:
    """First-response waits grouped by audience bucket (the label once, not per wait)."""
    grouped: dict[str, list[int]] = {}
    for bucket, wait in waits:
        grouped.setdefault(bucket, []).append(_micros(wait))
    return grouped


def decode(day: date, text: str) -> DayTally:
    """The tally kept as `text`; ValueError (or another of UNREADABLE) when it is not one."""
    raw: dict[str, Any] = json.loads(text)
    return DayTally(
        day=day,
        kinds={str(k): int(v) for k, v in raw["kinds"].items()},
        sources={str(k): int(v) for k, v in raw["sources"].items()},
        reopened=int(raw["reopened"]),
        needing=int(raw["needing"]),
        answered=int(raw["answered"]),
        ignored=int(raw["ignored"]),
        pending=tuple((int(n), datetime.fromisoformat(at)) for n, at in raw["pending"]),
        settled=tuple(
            (int(n), datetime.fromisoformat(at), str(how)) for n, at, how in raw["settled"]
        ),
        first_responses=tuple(
            (str(bucket), int(w) * _MICRO) for bucket, waits in raw["first"].items() for w in waits
        ),
        resolutions=tuple(int(r) * _MICRO for r in raw["resolutions"]),
        breaches=tuple(
            Breach(int(n), "reply" if kind == "reply" else "claim", datetime.fromisoformat(due))
            for n, kind, due in raw["breaches"]
        ),
        helpers={str(k): int(v) for k, v in raw["helpers"].items()},
    )


def kept(
    db: Conn, *, team: str, zone: str, terms: str, first: date, last: date
) -> dict[date, DayTally]:
    """The team's kept tallies of days `first` to `last`, counted in `zone` by `terms`."""
    if not sql.table_exists(db, "digest_day_figures"):  # a preview of a store not yet migrated
        return {}
    rows = db.execute(
        "SELECT day, terms, figures FROM digest_day_figures"
        " WHERE team = ? AND zone = ? AND day >= ? AND day <= ?",
        [team, zone, first.isoformat(), last.isoformat()],
    ).fetchall()
    found = {}
    for day_text, row_terms, figures in rows:
        if row_terms != terms:
            continue  # counted by other SLA terms: counted again
        day = date.fromisoformat(day_text)
        try:
            found[day] = decode(day, figures)
        except UNREADABLE:
            log.warning("the kept digest figures of %s for team %s are unreadable", day, team)
    return found


def changes(db: Conn) -> int:
    """How many times kept days were forgotten; read it before counting what may be kept."""
    if not sql.table_exists(db, "digest_day_changes"):  # a preview of a store not yet migrated
        return 0
    row = db.execute("SELECT n FROM digest_day_changes WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def keep(
    db: Conn,
    *,
    team: str,
    zone: str,
    terms: str,
    tallies: Iterable[DayTally],
    counted_after: int,
    now: datetime,
) -> bool:
    """Keep the tallies of days that are over (replacing any counted by other terms),
    unless days were forgotten since `changes` gave `counted_after`; whether they were."""
    if changes(db) != counted_after:
        return False  # a correction came in while they were counted: they may be stale
    db.executemany(
        "INSERT INTO digest_day_figures (team, zone, day, terms, figures, kept_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (team, zone, day) DO UPDATE SET"
        " terms = excluded.terms, figures = excluded.figures, kept_at = excluded.kept_at",
        [(team, zone, t.day.isoformat(), terms, encode(t), now.isoformat()) for t in tallies],
    )
    return True


def forget_since(db: Conn, *, at: datetime) -> None:
    """Forget what was kept of every team's days from the one holding `at` on, in any zone
    (their history changed)."""
    # A local day starts at most 14 hours before the UTC day (UTC+14): a day earlier is safe.
    first = (at.astimezone(UTC).date() - timedelta(days=1)).isoformat()
    db.execute("DELETE FROM digest_day_figures WHERE day >= ?", [first])
    db.execute("DELETE FROM digest_days WHERE day >= ?", [first])
    _changed(db)


def forget_all(db: Conn) -> None:
    """Forget every kept day (history was rewritten throughout, as by an erasure)."""
    db.execute("DELETE FROM digest_day_figures")
    db.execute("DELETE FROM digest_days")
    _changed(db)


def _changed(db: Conn) -> None:
    db.execute("UPDATE digest_day_changes SET n = n + 1 WHERE id = 1")
