"""Digests: the rows their numbers come from, and the record that each went out once."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from bot.domain.digest import DayPoint
from bot.domain.digest_periods import Period
from bot.domain.episodes import History
from bot.domain.mentions import Event
from bot.store import outbox, sql
from bot.store.mention_rows import EVENT_COLUMNS, event_of, query_rows, row_to_mention
from bot.store.mentions import ACTIVE_ROOT
from bot.store.sql import Conn

# The digest reads one detail, the `to` of an assignment: the other events come without
# theirs (`{}`), which spares reading and decoding a week of them.
_DIGEST_EVENT_COLUMNS = EVENT_COLUMNS.replace(
    "detail", "CASE WHEN action = 'assign' THEN detail ELSE '{}' END"
)


def _utc(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


def histories(db: Conn, *, team: str, since: datetime, until: datetime) -> list[History]:
    """The team's mentions that may count between `since` and `until`, with their events.

    That is every top-level mention that came in before `until` and either is active now
    or changed after `since` (a mention active at any moment after `since` is one or the
    other). Events from `until` on are left out, and events carry their details only
    where the digest reads them (assignments).
    """
    # Two indexed selects: with OR, SQLite would scan the team's whole history. The first
    # reads the partial index of active mentions, the second the team's recent changes.
    # `+received_at` keeps the planner off (team, received_at), which for "before `until`"
    # would walk the team's whole history.
    received_at, root_number = sql.unindexed(db, "received_at"), sql.unindexed(db, "root_number")
    # On PostgreSQL the numbers are read first (`in_select`): it guesses far more active
    # mentions than there are, and would scan every mention to join them.
    wanted = sql.in_select(
        db,
        "number",
        f"SELECT number FROM mentions WHERE team = ? AND {ACTIVE_ROOT} AND {received_at} < ?"
        " UNION SELECT number FROM mentions WHERE team = ? AND updated_at >= ?"
        f" AND {root_number} IS NULL AND {received_at} < ?",
    )
    mention_rows = query_rows(
        db,
        f"SELECT * FROM mentions WHERE {wanted} ORDER BY number",
        [team, _utc(until), team, _utc(since), _utc(until)],
    )
    if not mention_rows:
        return []
    numbers = [r["number"] for r in mention_rows]
    events: dict[int, list[Event]] = {n: [] for n in numbers}
    for values in db.execute(
        f"SELECT {_DIGEST_EVENT_COLUMNS} FROM events"
        f" WHERE {sql.in_list(db, 'mention')} AND at < ? ORDER BY mention, id",
        [sql.list_param(db, numbers), _utc(until)],
    ):
        events[values[1]].append(event_of(values))
    return [History(row_to_mention(r), tuple(events[r["number"]])) for r in mention_rows]


def day_points(db: Conn, *, team: str, zone: str, days: Iterable[date]) -> dict[date, DayPoint]:
    """The chart points kept for these days of the team (counted in `zone`), by day."""
    wanted = [d.isoformat() for d in days]
    if not wanted or not sql.table_exists(
        db, "digest_days"
    ):  # a preview of a store not yet migrated
        return {}
    rows = db.execute(
        "SELECT day, mentions_in, median_first_response FROM digest_days"
        f" WHERE team = ? AND zone = ? AND {sql.in_list(db, 'day')}",
        [team, zone, sql.list_param(db, wanted)],
    ).fetchall()
    return {
        date.fromisoformat(day): DayPoint(
            date.fromisoformat(day),
            mentions_in,
            timedelta(seconds=median) if median is not None else None,
        )
        for day, mentions_in, median in rows
    }


def keep_day_points(db: Conn, *, team: str, zone: str, points: Iterable[DayPoint]) -> None:
    """Keep chart points of days that are over, for later digests (the first kept stays)."""
    db.executemany(
        "INSERT INTO digest_days (team, zone, day, mentions_in, median_first_response)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            (
                team,
                zone,
                p.day.isoformat(),
                p.mentions_in,
                p.median_first_response.total_seconds()
                if p.median_first_response is not None
                else None,
            )
            for p in points
        ],
    )


def is_recorded(db: Conn, *, team: str, period: str) -> bool:
    """Whether the team's digest for this period was made already."""
    row = db.execute(
        "SELECT 1 FROM digests WHERE team = ? AND period = ?", [team, period]
    ).fetchone()
    return row is not None


@dataclass(frozen=True, slots=True)
class StoredDigest:
    """A digest as made: its text, its chart and the chart's stand-in text."""

    id: int
    team: str
    period: str
    text: str
    chart_text: str
    chart: bytes | None


def record(
    db: Conn,
    *,
    team: str,
    period: Period,
    text: str,
    chart_text: str,
    chart: bytes | None,
    recipients: list[str],
    platform: str,
    channel: str,
    now: datetime,
) -> int | None:
    """Keep a digest and queue its delivery, once per team and period; None if made before.

    Each recipient gets it privately on the team's chat platform; with nobody to send it
    to, it goes to the team's channel (as text, with the chart's table).
    """
    cursor = db.execute(
        "INSERT INTO digests (team, period, starts_at, ends_at, text, chart_text, chart,"
        " recipients, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (team, period) DO NOTHING RETURNING id",
        [
            team,
            period.key,
            _utc(period.start),
            _utc(period.end),
            text,
            chart_text,
            chart,
            json.dumps(recipients),
            now.isoformat(),
        ],
    )
    made = cursor.fetchone()
    if made is None:
        return None
    digest_id = int(made[0])
    for person in recipients:
        outbox.enqueue(
            db,
            kind=outbox.Kind.REPORT,
            target=platform,
            payload={"digest": digest_id, "person": person},
            now=now,
        )
    if not recipients:
        outbox.enqueue(
            db,
            kind=outbox.Kind.CHANNEL_NOTE,
            target=f"{platform}:{channel}",
            payload={"text": f"{text}\n\n{chart_text}".strip(), "digest": digest_id},
            now=now,
        )
    return digest_id


def load(db: Conn, *, id: int) -> StoredDigest | None:
    """A digest by its id, or None."""
    row = db.execute(
        "SELECT id, team, period, text, chart_text, chart FROM digests WHERE id = ?", [id]
    ).fetchone()
    if row is None:
        return None
    return StoredDigest(
        id=row[0],
        team=row[1],
        period=row[2],
        text=row[3],
        chart_text=row[4],
        chart=bytes(row[5]) if row[5] is not None else None,
    )
