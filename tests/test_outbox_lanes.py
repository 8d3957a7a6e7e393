"""Outbox lanes in the store: each destination its own lane, the most urgent effect first,
waits only where order matters, and every take an index look-up."""

from __future__ import annotations

import pytest
import sqlite_utils

from bot.clock import FakeClock
from bot.store import lanes, mentions, outbox, replies
from bot.store.db import Database
from tests.test_store import TRIAGE, item

K = outbox.Kind


async def seeded(database: Database, clock: FakeClock) -> None:
    """Two mentions from source `s`, their cards queued for support's channel."""
    await database.write(
        mentions.ingest, source="s", items=[(item("1"), TRIAGE), (item("2"), TRIAGE)],
        cursor=None, now=clock.now(), channel_of={"support": "slack:#support"},
    )  # fmt: skip


def rows(db: sqlite_utils.Database) -> list[tuple[int, str, str, str, int | None]]:
    """Every effect: id, kind, lane, state and what it waits for."""
    return db.execute("SELECT id, kind, lane, state, after_id FROM outbox ORDER BY id").fetchall()


async def test_each_destination_is_a_lane(database: Database, clock: FakeClock) -> None:
    await seeded(database, clock)
    now = clock.now()

    def queue(db: sqlite_utils.Database) -> None:
        outbox.enqueue(db, kind=K.CARD_UPDATE, mention=1, now=now)
        outbox.enqueue(db, kind=K.THREAD_POST, mention=1, payload={"text": "a"}, now=now)
        outbox.enqueue(db, kind=K.THREAD_POST, mention=1, payload={"text": "b"}, now=now)
        reply = replies.add(db, mention=1, actor="dana", text="Hi", status="queued", now=now)
        replies.queue_public(db, mention=1, reply=reply, text="Hi", actor="dana", now=now)
        outbox.enqueue(
            db, kind=K.PRIVATE_NOTE, target="slack", payload={"person": "U1", "text": "x"}, now=now
        )

    await database.write(queue)
    assert await database.read(rows) == [
        (1, "card_post", "slack:#support", "pending", None),
        (2, "card_post", "slack:#support", "pending", None),
        (3, "card_update", "slack:#support", "waiting", 1),  # after its card
        (4, "thread_post", "slack:#support", "waiting", 1),
        (5, "thread_post", "slack:#support", "waiting", 4),  # after the thread's earlier one
        (6, "public_reply", "reply:s", "pending", None),  # waits for no chat at all
        (7, "private_note", "dm:slack:U1", "pending", None),
    ]
    assert set(await database.read(lanes.pending_lanes)) == {
        "slack:#support",
        "reply:s",
        "dm:slack:U1",
    }


async def test_within_a_lane_the_most_urgent_goes_first(
    database: Database, clock: FakeClock
) -> None:
    await seeded(database, clock)
    now = clock.now()
    first = await database.write(lanes.take_next, lane="slack:#support", now=now)
    assert first is not None and (first.kind, first.mention) == (K.CARD_POST, 1)
    await database.write(outbox.finish, id=first.id, now=now)

    def queue(db: sqlite_utils.Database) -> None:
        outbox.enqueue(db, kind=K.THREAD_POST, mention=1, payload={"text": "note"}, now=now)
        outbox.enqueue(db, kind=K.CARD_UPDATE, mention=1, now=now)
        outbox.enqueue(db, kind=K.CARD_UPDATE, mention=1, now=now)  # drawn by the one before

    await database.write(queue)
    order = []
    while effect := await database.write(lanes.take_next, lane="slack:#support", now=now):
        order.append((effect.kind, effect.mention))
        await database.write(outbox.finish, id=effect.id, now=now)
    # The posted card's update, then the new card, then the thread note.
    assert order == [(K.CARD_UPDATE, 1), (K.CARD_POST, 2), (K.THREAD_POST, 1)]


async def test_a_card_post_given_up_releases_what_waited_for_it(
    database: Database, clock: FakeClock
) -> None:
    await seeded(database, clock)
    now = clock.now()
    await database.write(outbox.enqueue, kind=K.CARD_UPDATE, mention=1, now=now)
    card = await database.write(lanes.take_next, lane="slack:#support", now=now)
    assert card is not None and card.id == 1
    assert await database.write(lanes.take_next, lane="slack:#support", now=now) is not None
    assert await database.write(lanes.take_next, lane="slack:#support", now=now) is None
    await database.write(outbox.fail, id=1, now=now, error="gone")
    update = await database.write(lanes.take_next, lane="slack:#support", now=now)
    assert update is not None and update.kind == K.CARD_UPDATE


def plan(db: sqlite_utils.Database, sql: str, args: list[object]) -> str:
    """SQLite's query plan, one line per step."""
    return "\n".join(str(r[-1]) for r in db.execute(f"EXPLAIN QUERY PLAN {sql}", args))


@pytest.mark.sqlite_only
async def test_taking_work_is_an_index_look_up(database: Database, clock: FakeClock) -> None:
    now = clock.now()

    def backlog(db: sqlite_utils.Database) -> None:
        for n in range(2_000):  # delivered long ago, and a backlog for four channels
            done = outbox.enqueue(db, kind=K.CHANNEL_NOTE, target="slack:#old", now=now)
            outbox.finish(db, id=done, now=now)
            outbox.enqueue(db, kind=K.CHANNEL_NOTE, target=f"slack:#c{n % 4}", now=now)
        db.execute("ANALYZE")

    await database.write(backlog)
    take = (
        f"SELECT {outbox.COLUMNS} FROM outbox INDEXED BY outbox_lane_next"
        " WHERE state = 'pending' AND lane = ? AND next_at <= ? ORDER BY priority, id LIMIT 1"
    )
    taking = await database.read(plan, take, ["slack:#c1", now.isoformat()])
    assert "USING INDEX outbox_lane_next (lane=?)" in taking and "TEMP B-TREE" not in taking
    walking = await database.read(plan, lanes._LANES.format(due="INDEXED BY outbox_lane_due"), [])
    assert "SCAN outbox" not in walking and "SCAN o " not in walking
    assert walking.count("USING INDEX outbox_lane_due") == 3
    assert sorted(await database.read(lanes.pending_lanes)) == [f"slack:#c{n}" for n in range(4)]
