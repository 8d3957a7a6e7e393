"""The store: migrations, WAL, the append-only log, atomic batches, one winner per claim."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, State, Triage
from bot.store import mentions, outbox, replies
from bot.store.db import Database
from bot.store.sql import INTEGRITY_ERRORS
from tests.conftest import ConsoleHarness

TRIAGE = Triage(kind="complaint", sentiment=-0.5, urgency="normal", team="support", rule="test")


def item(external_id: str, *, parent: str | None = None, handle: str = "ann") -> Item:
    return Item(
        external_id=external_id, text=f"post {external_id}", author=Author(handle), parent_id=parent
    )


@pytest.mark.sqlite_only
async def test_migrations_are_recorded_once(tmp_path: Path) -> None:
    path = str(tmp_path / "m.db")
    for _ in range(2):
        db = await Database(path).open()
        await db.close()
    conn = sqlite3.connect(path)
    names = [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations")]
    assert names[0] == "0001_core"
    assert {"0003_teams", "0004_sources", "0005_sla", "0006_digest", "0007_guardrails"} <= set(
        names
    )
    assert len(names) == len(set(names))  # each recorded once, though opened twice
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_event_log_is_append_only(database: Database, clock: FakeClock) -> None:
    await database.write(
        mentions.ingest, source="s", items=[(item("1"), TRIAGE)], cursor="c1", now=clock.now(),
        channel_of={"support": "console:#support"},
    )  # fmt: skip
    for sql in ("UPDATE events SET actor = 'mallory'", "DELETE FROM events"):
        with pytest.raises(INTEGRITY_ERRORS, match="append-only"):
            await database.write(lambda db, sql=sql: db.execute(sql))
    history = await database.read(mentions.events, number=1)
    assert [(e.action.value, e.actor) for e in history] == [("ingest", "allhands")]


async def test_batch_and_cursor_are_one_transaction(database: Database, clock: FakeClock) -> None:
    good = [(item("1"), TRIAGE)]
    await database.write(
        mentions.ingest, source="s", items=good, cursor="after-1", now=clock.now(), channel_of={}
    )
    broken = Item(external_id="3", text="x", author=Author(None))  # type: ignore[arg-type]
    with pytest.raises(INTEGRITY_ERRORS):
        await database.write(
            mentions.ingest, source="s", items=[(item("2"), TRIAGE), (broken, TRIAGE)],
            cursor="after-3", now=clock.now(), channel_of={},
        )  # fmt: skip
    assert await database.read(mentions.load_cursor, source="s") == "after-1"
    assert await database.read(mentions.get, number=2) is None  # item 2 rolled back too
    counts = await database.read(outbox.counts)
    assert counts == {"pending": 1}  # only the first batch's card


async def test_repeats_are_skipped_and_replies_join_the_conversation(
    database: Database, clock: FakeClock
) -> None:
    args = {"source": "s", "cursor": None, "now": clock.now(), "channel_of": {}}
    first = await database.write(mentions.ingest, items=[(item("1"), TRIAGE)], **args)
    again = await database.write(
        mentions.ingest, items=[(item("1"), TRIAGE), (item("2", parent="1"), TRIAGE)], **args
    )
    assert first[0].number == 1 and not first[0].duplicate
    assert again[0].duplicate
    assert again[1].root == 1
    # a reply to the reply still lands in the first mention's conversation
    third = await database.write(mentions.ingest, items=[(item("3", parent="2"), TRIAGE)], **args)
    assert third[0].root == 1
    roots = await database.read(mentions.find)
    assert [m.number for m in roots] == [1]


async def test_one_batch_stores_each_post_as_if_they_came_one_after_another(
    database: Database, clock: FakeClock
) -> None:
    # New posts are written a run at a time: a repeat of a post earlier in the same batch,
    # and a reply to one, must still find it (and numbers follow the batch's order).
    in_c9 = [Item(external_id=e, text=e, author=Author("bo"), conversation_id="c9") for e in "56"]
    batch = [item("1"), item("2", parent="1"), item("1"), item("3"), item("4", parent="2")]
    batch += [item("3"), *in_c9]
    got = await database.write(
        mentions.ingest, source="s", items=[(i, TRIAGE) for i in batch], cursor=None,
        now=clock.now(), channel_of={"support": "console:#support"},
    )  # fmt: skip
    assert [(r.number, r.root, r.duplicate) for r in got] == [
        (1, None, False),
        (2, 1, False),
        (1, None, True),
        (3, None, False),
        (4, 1, False),
        (3, None, True),
        (5, None, False),
        (6, 5, False),
    ]
    stored = await database.read(mentions.find, roots_only=False)
    assert [(m.number, m.external_id, m.root_number) for m in stored] == [
        (1, "1", None), (2, "2", 1), (3, "3", None), (4, "4", 1), (5, "5", None), (6, "6", 5),
    ]  # fmt: skip
    effects = await database.read(outbox.take_due, now=clock.now())
    assert [(e.kind.value, e.mention, e.payload) for e in effects] == [
        ("card_post", 1, {}),
        ("card_post", 3, {}),
        ("card_post", 5, {}),
    ]  # the thread posts wait for their cards
    waiting = await database.read(
        lambda db: db.execute(
            "SELECT kind, mention, payload FROM outbox WHERE state = 'waiting' ORDER BY id"
        ).fetchall()
    )
    assert [(k, m, json.loads(p)) for k, m, p in waiting] == [
        ("thread_post", 1, {"follow_up": 2}),
        ("thread_post", 1, {"follow_up": 4}),
        ("thread_post", 5, {"follow_up": 6}),
    ]
    history = await database.read(mentions.events, number=3)
    assert [(e.action.value, e.detail) for e in history] == [
        ("ingest", {"team": "support", "kind": "complaint", "rule": "test"})
    ]


async def test_follow_up_reopens_a_resolved_mention(harness: ConsoleHarness) -> None:
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    assert "is resolved" in await harness.say("resolve 1")
    with harness.replay.open("a", encoding="utf-8") as f:
        f.write('{"id": "a9", "text": "still no refund!", "in_reply_to": "a1",'
                ' "author": {"handle": "ann"}}\n')  # fmt: skip
    harness.output()
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    shown = harness.output()
    assert "@ann wrote again: still no refund!" in shown
    assert "#1 reopened" in shown
    m = await harness.app.database.read(mentions.get, number=1)
    assert m is not None and m.state == State.REOPENED


async def test_an_answer_to_our_reply_joins_the_conversation(harness: ConsoleHarness) -> None:
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    await harness.say("reply 1 Sorry about that, the refund is on its way")
    await harness.say("resolve 1")
    sent = await harness.app.database.read(replies.for_mention, mention=1)
    posted_id = sent[0].url.rsplit("#", 1)[-1]  # the replay connector's id of our reply
    assert sent[0].status == "sent" and posted_id.startswith("reply-")
    with harness.replay.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "a10", "text": "It has not arrived", "in_reply_to": posted_id,
                            "author": {"handle": "ann"}}) + "\n")  # fmt: skip
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    roots = await harness.app.database.read(mentions.find, states=None)
    assert [m.number for m in roots] == [1, 2, 3]  # no new card for the answer
    m = await harness.app.database.read(mentions.get, number=1)
    assert m is not None and m.state == State.REOPENED


async def test_fifty_claims_one_winner(harness: ConsoleHarness) -> None:
    await harness.app.poll_all()
    answers = await asyncio.gather(*(harness.say("claim 2", actor=f"person{i}") for i in range(50)))
    winners = [a for a in answers if a.startswith("#2 is yours")]
    assert len(winners) == 1
    assert all("already claimed by" in a for a in answers if a not in winners)
    history = await harness.app.database.read(mentions.events, number=2)
    assert [e.action.value for e in history].count("claim") == 1


async def test_conditional_update_refuses_a_stale_read(
    database: Database, clock: FakeClock
) -> None:
    await database.write(
        mentions.ingest, source="s", items=[(item("1"), TRIAGE)], cursor=None, now=clock.now(),
        channel_of={},
    )  # fmt: skip
    from bot.domain.mentions import Action
    from bot.errors import TransitionError

    stale = await database.read(mentions.get, number=1)
    assert stale is not None
    await database.write(
        mentions.transition, mention=stale, action=Action.CLAIM, actor="a", now=clock.now(),
        changes={"claimed_by": "a"},
    )  # fmt: skip
    with pytest.raises(TransitionError, match="changed by someone else"):
        await database.write(
            mentions.transition, mention=stale, action=Action.CLAIM, actor="b", now=clock.now(),
            changes={"claimed_by": "b"},
        )  # fmt: skip


async def test_a_requests_redraw_neither_waits_for_nor_holds_up_a_mentions_effects(
    database: Database, clock: FakeClock
) -> None:
    now = clock.now()
    await database.write(
        mentions.ingest, source="s", items=[(item("1"), TRIAGE)], cursor=None, now=now,
        channel_of={},
    )  # fmt: skip
    for effect in await database.write(outbox.take_due, now=now):  # the card, say
        await database.write(outbox.finish, id=effect.id, now=now)

    def queue(db: sqlite_utils.Database, kind: outbox.Kind) -> int:
        return outbox.enqueue(db, kind=kind, mention=1, now=now)

    first = await database.write(queue, kind=outbox.Kind.THREAD_POST)
    redraw = await database.write(queue, kind=outbox.Kind.APPROVAL_UPDATE)
    second = await database.write(queue, kind=outbox.Kind.THREAD_POST)
    taken = await database.write(outbox.take_due, now=now)
    assert [e.id for e in taken] == [first, redraw]  # the second thread post waits its turn
    # The redraw fails and waits for a retry; the mention's next message does not wait.
    later = now + outbox.backoff(1)
    await database.write(outbox.retry, id=redraw, at=later, error="chat is down")
    await database.write(outbox.finish, id=first, now=now)
    assert [e.id for e in await database.write(outbox.take_due, now=now)] == [second]
    assert [e.id for e in await database.write(outbox.take_due, now=later)] == [redraw]


async def test_each_source_keeps_its_signatures_as_long_as_it_asks(
    database: Database, clock: FakeClock
) -> None:
    from datetime import timedelta

    from bot.store import webhooks

    async def seen(source: str, signature: str, keep: timedelta) -> bool:
        first = await database.write(
            webhooks.remember, source=source, signature=signature, now=clock.now(), keep=keep
        )
        return not first

    assert not await seen("teams-activity", "c1|a1", timedelta(hours=1))
    clock.advance(timedelta(minutes=20))
    # A Slack request prunes Slack's own ten-minute memory, not Teams' hour.
    assert not await seen("slack", "v0=abc", timedelta(minutes=10))
    assert await seen("teams-activity", "c1|a1", timedelta(hours=1))
    clock.advance(timedelta(minutes=11))
    assert not await seen("slack", "v0=abc", timedelta(minutes=10))  # forgotten, as it asked
