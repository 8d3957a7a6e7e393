"""Taking work from the outbox one lane at a time, each step an index look-up.

Two partial indexes hold only pending effects: `outbox_lane_next (lane, priority, id)`
gives a lane's next effect in the order it should go, `outbox_lane_due (lane, next_at)`
the lanes that have work and when it falls due. Neither grows with what was delivered.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.store import sql
from bot.store.outbox import COLUMNS, Effect, mark_taken, read_effect
from bot.store.sql import Conn

# Every lane with a pending effect, walked in the index from one lane name to the next
# (one seek per lane, however many effects each holds), with its earliest due time.
# (SQLite needs `INDEXED BY` to walk it so; PostgreSQL finds the index itself.)
_LANES = """
    WITH RECURSIVE lanes(lane) AS (
        SELECT (SELECT min(lane) FROM outbox {due} WHERE state = 'pending')
        UNION ALL
        SELECT (
            SELECT min(o.lane) FROM outbox o {due}
            WHERE o.state = 'pending' AND o.lane > l.lane
        )
        FROM lanes l WHERE l.lane IS NOT NULL
    )
    SELECT lane, (
        SELECT min(o.next_at) FROM outbox o {due}
        WHERE o.state = 'pending' AND o.lane = lanes.lane
    )
    FROM lanes WHERE lane IS NOT NULL
"""


def pending_lanes(db: Conn) -> dict[str, datetime]:
    """Each lane with pending effects, and when its earliest one is due."""
    return {
        lane: datetime.fromisoformat(at)
        for lane, at in db.execute(_LANES.format(due=sql.indexed_by(db, "outbox_lane_due")))
    }


def take_next(db: Conn, *, lane: str, now: datetime, taker: str | None = None) -> Effect | None:
    """Mark the lane's next due effect as sending and return it (None if nothing is due):
    the most urgent kind first, then the oldest.

    With several replicas (`taker` names the one asking), a lane is delivered by one
    replica at a time (`hold_lane`), so that it keeps its order and its pace.
    """
    if taker is not None and not hold_lane(db, lane=lane, taker=taker, now=now):
        return None
    row = db.execute(
        f"SELECT {COLUMNS} FROM outbox {sql.indexed_by(db, 'outbox_lane_next')}"
        " WHERE state = 'pending' AND lane = ? AND next_at <= ?"
        f" ORDER BY priority, id LIMIT 1{_skip_locked(db)}",
        [lane, now.isoformat()],
    ).fetchone()
    if row is None:
        return None
    effect = read_effect(row)
    mark_taken(db, effect, now=now, taker=taker)
    return effect


# How long a replica keeps a lane after its last take: longer than the platform's spacing
# of two messages (the sending replica's pacer keeps that), so another replica taking the
# lane over never sends too soon after it.
LANE_HOLD = timedelta(seconds=10)


def hold_lane(db: Conn, *, lane: str, taker: str, now: datetime) -> bool:
    """Whether `taker` may take from `lane` now: it holds the lane (taken here if free or
    let go), the lane is not resting, and no other replica's send in it is unsettled.

    The upsert also locks the lane's row until the transaction ends (PostgreSQL), so two
    replicas never take from one lane at once.
    """
    db.execute(
        "INSERT INTO outbox_lanes (lane, holder, held_until) VALUES (?, ?, ?)"
        " ON CONFLICT (lane) DO UPDATE SET holder = excluded.holder,"
        " held_until = excluded.held_until"
        " WHERE outbox_lanes.holder = excluded.holder OR outbox_lanes.held_until <= ?",
        [lane, taker, (now + LANE_HOLD).isoformat(), now.isoformat()],
    )
    holder, paused = db.execute(
        "SELECT holder, paused_until FROM outbox_lanes WHERE lane = ?", [lane]
    ).fetchone()
    if holder != taker or (paused is not None and datetime.fromisoformat(paused) > now):
        return False
    # An effect a dead replica left `sending` is settled first (bot.replicas), or the lane's
    # next one would overtake it.
    unsettled = db.execute(
        "SELECT 1 FROM outbox WHERE state = 'sending' AND lane = ?"
        " AND (taken_by IS NULL OR taken_by <> ?) LIMIT 1",
        [lane, taker],
    ).fetchone()
    return unsettled is None


def pause_lane(db: Conn, *, lane: str, until: datetime) -> None:
    """Rest `lane` until `until` on every replica (a platform's Retry-After, an outage)."""
    db.execute(
        "INSERT INTO outbox_lanes (lane, holder, held_until, paused_until) VALUES (?, '', ?, ?)"
        " ON CONFLICT (lane) DO UPDATE SET paused_until = excluded.paused_until"
        " WHERE outbox_lanes.paused_until IS NULL OR outbox_lanes.paused_until < ?",
        [lane, until.isoformat(), until.isoformat(), until.isoformat()],
    )


def _skip_locked(db: Conn) -> str:
    """PostgreSQL locks the row taken, passing over rows another replica locked; SQLite's
    single writer needs nothing."""
    return " FOR UPDATE SKIP LOCKED" if db.dialect == sql.POSTGRESQL else ""
