"""The SLA sweep's side of the store: what may be due, and the log of steps taken.

A step is recorded under the key (mention, step, anchor, round) with a UNIQUE
constraint, in the same transaction as the outbox rows it causes; a second sweep that
planned the same step finds the key taken and does nothing. Each query below returns
only the mentions for which a step is due: the caller turns "due after this much working
time" into a latest anchor instant (`bot.domain.sla.latest_start`), so the database
compares stored instants and never computes per row.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot.domain.mentions import ACTIVE, UNCLAIMED, State
from bot.domain.sla import Due, Step, Waiting
from bot.store.migrations import ACTIVE_ROOT
from bot.store.sql import Conn

# The events by which a mention starts waiting for someone: it arrives (no from_state), a
# closed one is reopened, a claim is released. The partial index events_waiting holds
# (mention, at, from_state) of every event ending in a waiting state, so each look-up
# below reads a few index entries and no table rows.
_BECAME = "e.mention = m.number AND e.to_state IN ('new', 'open', 'reopened')"
# When the customer started waiting: the mention's arrival or its last reopening.
SINCE = (
    f"coalesce((SELECT max(e.at) FROM events e WHERE {_BECAME}"
    " AND (e.from_state IS NULL OR e.from_state IN ('resolved', 'ignored'))), m.received_at)"
)
# When it was last left without anyone on it: the above, or the last release of a claim.
UNCLAIMED_SINCE = (
    f"coalesce((SELECT max(e.at) FROM events e WHERE {_BECAME}"
    " AND (e.from_state IS NULL OR e.from_state IN ('claimed', 'answered', 'resolved',"
    " 'ignored'))), m.received_at)"
)
_COLUMNS = (
    "m.number, m.state, m.team, m.claimed_by, m.claimed_at, m.snoozed_until, m.source, m.url,"
    " m.author_handle, m.author_name, m.received_at"
)
_SELECT = (
    f"{_COLUMNS}, {SINCE} AS since, {UNCLAIMED_SINCE} AS unclaimed_since,"
    " (SELECT p.name FROM people p WHERE p.id = m.claimed_by) AS claimer_name"
)


def iso(at: datetime) -> str:
    """An instant as stored: ISO 8601 in UTC, which sorts as text in time order."""
    return at.astimezone(UTC).isoformat()


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _waiting(row: tuple[Any, ...]) -> Waiting:
    (number, state, team, by, at, snoozed, source, url, author, name, received, since, free,
     claimer_name) = row  # fmt: skip
    return Waiting(
        number=number,
        state=State(state),
        team=team,
        since=datetime.fromisoformat(since),
        unclaimed_since=datetime.fromisoformat(free),
        claimed_by=by,
        claimer_name=claimer_name or "",
        claimed_at=_time(at),
        snoozed_until=_time(snoozed),
        source=source,
        url=url,
        author=author,
        name=name,
        received_at=datetime.fromisoformat(received),
    )


def _marks(values: Iterable[Any]) -> tuple[str, list[Any]]:
    listed = list(values)
    return ", ".join("?" * len(listed)), listed


def due_since_waiting(
    db: Conn,
    *,
    team: str,
    step: Step,
    states: Iterable[State],
    cutoff: datetime,
    now: datetime,
    unclaimed: bool = False,
) -> list[Waiting]:
    """Mentions of `team` in `states`, not snoozed, waiting since `cutoff` or earlier (left
    unclaimed since then, with `unclaimed`), whose `step` for this wait is not taken or
    whose next round is due."""
    marks, wanted = _marks(s.value for s in states)
    anchor = UNCLAIMED_SINCE if unclaimed else SINCE
    # MATERIALIZED: each mention's anchor is looked up once, not once per use below.
    sql = f"""
        WITH w AS MATERIALIZED (
            SELECT m.number AS number, {anchor} AS anchor FROM mentions m
            WHERE m.team = ? AND m.state IN ({marks}) AND {ACTIVE_ROOT}
              AND m.received_at <= ?
              AND (m.snoozed_until IS NULL OR m.snoozed_until <= ?)
        )
        SELECT {_SELECT} FROM w JOIN mentions m ON m.number = w.number
        WHERE w.anchor <= ? AND NOT EXISTS (
            SELECT 1 FROM sla_steps s
            WHERE s.mention = w.number AND s.step = ? AND s.anchor = w.anchor
              AND (s.next_due IS NULL OR s.next_due > ?))
        ORDER BY m.number
    """
    cut = iso(cutoff)
    params = [team, *wanted, cut, iso(now), cut, step.value, iso(now)]
    return [_waiting(r) for r in db.execute(sql, params).fetchall()]


def due_since_claim(
    db: Conn, *, team: str, step: Step, cutoff: datetime, now: datetime
) -> list[Waiting]:
    """Claimed mentions of `team` claimed at `cutoff` or earlier, not snoozed, with no answer
    waiting for a lead (the claimer did answer), whose `step` for this claim has not been
    taken (or whose next round is due)."""
    sql = f"""
        SELECT {_SELECT} FROM mentions m
        WHERE m.team = ? AND m.state = ? AND {ACTIVE_ROOT} AND m.claimed_at <= ?
          AND (m.snoozed_until IS NULL OR m.snoozed_until <= ?)
          AND NOT EXISTS (
            SELECT 1 FROM approvals a WHERE a.mention = m.number AND a.state = 'waiting')
          AND NOT EXISTS (
            SELECT 1 FROM sla_steps s
            WHERE s.mention = m.number AND s.step = ? AND s.anchor = m.claimed_at
              AND (s.next_due IS NULL OR s.next_due > ?))
        ORDER BY m.number
    """
    params = [team, State.CLAIMED.value, iso(cutoff), iso(now), step.value, iso(now)]
    return [_waiting(r) for r in db.execute(sql, params).fetchall()]


def snoozes_over(db: Conn, *, now: datetime) -> list[Waiting]:
    """Active mentions whose snooze has ended and who have not been woken for it."""
    marks, wanted = _marks(s.value for s in ACTIVE)
    sql = f"""
        SELECT {_SELECT} FROM mentions m
        WHERE snoozed_until IS NOT NULL AND {ACTIVE_ROOT} AND m.snoozed_until <= ?
          AND m.state IN ({marks})
          AND NOT EXISTS (
            SELECT 1 FROM sla_steps s
            WHERE s.mention = m.number AND s.step = ? AND s.anchor = m.snoozed_until)
        ORDER BY m.number
    """
    params = [iso(now), *wanted, Step.WAKE.value]
    return [_waiting(r) for r in db.execute(sql, params).fetchall()]


def arrived_out_of_hours(
    db: Conn,
    *,
    team: str,
    closed_at: datetime,
    sources: Iterable[str],
) -> list[Waiting]:
    """Unclaimed mentions of `team` from `sources` whose wait began at or after `closed_at`
    and whose conversation has had no holding reply."""
    source_marks, source_list = _marks(sources)
    if not source_list:
        return []
    marks, wanted = _marks(s.value for s in UNCLAIMED)
    closed = iso(closed_at)
    # A new mention arrived after closing, or a resolved one was reopened after it.
    sql = f"""
        SELECT * FROM (
            SELECT {_SELECT} FROM mentions m
            WHERE m.team = ? AND m.state IN ({marks}) AND {ACTIVE_ROOT}
              AND m.source IN ({source_marks})
              AND (m.received_at >= ? OR m.state = ?)
        ) w
        WHERE w.since >= ? AND NOT EXISTS (
            SELECT 1 FROM sla_steps s WHERE s.mention = w.number AND s.step = ?)
        ORDER BY w.number
    """
    params = [
        team,
        *wanted,
        *source_list,
        closed,
        State.REOPENED.value,
        closed,
        Step.HOLD.value,
    ]
    return [_waiting(r) for r in db.execute(sql, params).fetchall()]


def record_step(db: Conn, *, due: Due, now: datetime, detail: dict[str, Any] | None = None) -> bool:
    """Record a step as taken; False when it already was (another sweep got there first)."""
    cursor = db.execute(
        "INSERT INTO sla_steps"
        " (mention, step, anchor, round, due_at, next_due, at, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [
            due.number,
            due.step.value,
            iso(due.anchor),
            due.round,
            iso(due.due_at),
            iso(due.next_due) if due.next_due is not None else None,
            iso(now),
            json.dumps(detail or {}, ensure_ascii=False, sort_keys=True),
        ],
    )
    return cursor.rowcount == 1


@dataclass(frozen=True, slots=True)
class Taken:
    """One step in the log."""

    mention: int
    step: Step
    anchor: datetime
    round: int
    due_at: datetime
    at: datetime
    detail: dict[str, Any]


def steps_taken(db: Conn, *, mention: int | None = None) -> list[Taken]:
    """The steps taken, for one mention or all, in the order they were taken."""
    where, params = ("WHERE mention = ?", [mention]) if mention is not None else ("", [])
    rows = db.execute(
        "SELECT mention, step, anchor, round, due_at, at, detail FROM sla_steps"
        f" {where} ORDER BY id",
        params,
    ).fetchall()
    return [
        Taken(
            mention=m,
            step=Step(s),
            anchor=datetime.fromisoformat(a),
            round=r,
            due_at=datetime.fromisoformat(d),
            at=datetime.fromisoformat(t),
            detail=json.loads(x),
        )
        for m, s, a, r, d, t, x in rows
    ]


def still_as_read(db: Conn, *, waiting: Waiting) -> bool:
    """Whether a mention's state, claim and snooze are still what the sweep read."""
    row = db.execute(
        "SELECT state, claimed_by, claimed_at, snoozed_until FROM mentions WHERE number = ?",
        [waiting.number],
    ).fetchone()
    if row is None:
        return False
    state, by, at, snoozed = row
    return (
        state == waiting.state.value
        and by == waiting.claimed_by
        and _time(at) == waiting.claimed_at
        and _time(snoozed) == waiting.snoozed_until
    )
