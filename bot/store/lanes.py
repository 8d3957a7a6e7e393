"""Taking work from the outbox one lane at a time, each step an index look-up.

Two partial indexes hold only pending effects: `outbox_lane_next (lane, priority, id)`
gives a lane's next effect in the order it should go, `outbox_lane_due (lane, next_at)`
the lanes that have work and when it falls due. Neither grows with what was delivered.
"""

from __future__ import annotations

from datetime import datetime

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


def take_next(db: Conn, *, lane: str, now: datetime) -> Effect | None:
    """Mark the lane's next due effect as sending and return it (None if nothing is due):
    the most urgent kind first, then the oldest."""
    row = db.execute(
        f"SELECT {COLUMNS} FROM outbox {sql.indexed_by(db, 'outbox_lane_next')}"
        " WHERE state = 'pending' AND lane = ? AND next_at <= ?"
        " ORDER BY priority, id LIMIT 1",
        [lane, now.isoformat()],
    ).fetchone()
    if row is None:
        return None
    effect = read_effect(row)
    mark_taken(db, effect, now=now)
    return effect
