"""Two replicas on one PostgreSQL database at once: what one writer thread guarantees on
SQLite still holds when two processes' writes race (each write is SERIALIZABLE and run
again when the server refuses it)."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import mentions, migrate, outbox
from bot.store.db import Database
from bot.store.migrations import migrations
from bot.workflow import Context
from tests.conftest import PLAYBOOK, POSTS, write_book
from tests.stores import Server, rows, with_database

TRIAGE = Triage(kind="complaint", sentiment=-0.5, urgency="normal", team="support", rule="t")


@pytest.fixture
async def replicas(tmp_path: Path, clock: FakeClock, pg_url: str) -> AsyncIterator[tuple[App, App]]:
    """Two allhands on the console, sharing one PostgreSQL database and one replay source."""
    _, book = write_book(tmp_path, PLAYBOOK, POSTS)
    apps = tuple(
        App(
            settings=Settings(db_path=pg_url),
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        for _ in range(2)
    )
    for app in apps:
        await app.start()
    yield apps[0], apps[1]
    for app in apps:
        await app.stop()


async def test_two_replicas_starting_at_once_migrate_once(pg_server: Server) -> None:
    url = pg_server.fresh_empty()
    try:
        opened = await asyncio.gather(*(Database(url).open() for _ in range(4)))
        names = rows(url, "SELECT name FROM allhands_migrations ORDER BY name")
        assert [n for (n,) in names] == sorted(m.name for m in migrations._migrations)
        for db in opened:
            await db.close()
    finally:
        pg_server.drop(url)


async def test_the_same_posts_polled_by_both_replicas_are_one_mention_each(
    replicas: tuple[App, App],
) -> None:
    one, two = replicas
    await asyncio.gather(one.poll_all(), two.poll_all(), one.poll_all(), two.poll_all())
    found = await one.database.read(mentions.find, roots_only=False)
    assert sorted(m.external_id for m in found) == ["a1", "a2", "a3"]
    cards = rows(one.settings.db_path, "SELECT count(*) FROM outbox WHERE kind = 'card_post'")
    assert cards == [(3,)]  # one card each, though four polls read them


async def test_claims_on_both_replicas_at_once_have_one_winner(
    replicas: tuple[App, App],
) -> None:
    one, two = replicas
    await one.poll_all()
    answers = await asyncio.gather(
        *(
            (one if i % 2 else two).workflow.handle("claim 2", Context(actor=f"person{i}"))
            for i in range(30)
        )
    )
    winners = [a.text for a in answers if a.text.startswith("#2 is yours")]
    assert len(winners) == 1, [a.text for a in answers]
    assert all("already claimed by" in a.text for a in answers if a.text not in winners)
    history = await two.database.read(mentions.events, number=2)
    assert [e.action.value for e in history].count("claim") == 1


async def test_racing_ingests_and_effects_keep_counts_right(pg_url: str, clock: FakeClock) -> None:
    first, second = Database(pg_url), Database(pg_url)
    await first.open()
    await second.open()
    try:
        same = Item(external_id="p1", text="refund please", author=Author("ann"))

        def ingest(db: object, n: int) -> None:
            others = Item(external_id=f"q{n}", text="hello", author=Author(f"u{n}"))
            mentions.ingest(
                db,  # type: ignore[arg-type]
                source="s",
                items=[(same, TRIAGE), (others, TRIAGE)],
                cursor=f"c{n}",
                now=clock.now(),
                channel_of={"support": "console:#support"},
            )

        await asyncio.gather(*((first, second)[n % 2].write(ingest, n) for n in range(16)))
        await asyncio.gather(
            *(
                (first, second)[n % 2].write(
                    outbox.enqueue,
                    kind=outbox.Kind.CHANNEL_NOTE,
                    target="console:#x",
                    now=clock.now(),
                )
                for n in range(20)
            )
        )
        stored = rows(pg_url, "SELECT external_id FROM mentions ORDER BY external_id")
        assert [e for (e,) in stored] == ["p1", *sorted(f"q{n}" for n in range(16))]
        assert await first.read(mentions.count_by_state) == {"new": 17}
        counted = dict(rows(pg_url, "SELECT state, count(*) FROM outbox GROUP BY state"))
        assert await second.read(outbox.counts) == counted
        assert sum(counted.values()) == 17 + 20  # a card per mention, and every note
        ids = rows(pg_url, "SELECT count(DISTINCT id), count(*) FROM outbox")
        assert ids[0][0] == ids[0][1]
    finally:
        await first.close()
        await second.close()


async def test_overlapping_batches_on_two_replicas_store_each_post_once(
    pg_url: str, clock: FakeClock
) -> None:
    # Each replica writes runs of new posts in one statement; a post the other stored
    # meanwhile (or stores at the same moment) must still end up as exactly one mention.
    posts = [
        Item(
            external_id=f"p{n}",
            text=f"post {n}",
            author=Author(f"u{n}"),
            parent_id=f"p{n - 3}" if n % 4 == 3 else None,
        )
        for n in range(40)
    ]
    first, second = Database(pg_url), Database(pg_url)
    await first.open()
    await second.open()
    try:

        def ingest(db: object, batch: list[Item]) -> list[mentions.Ingested]:
            return mentions.ingest(
                db,  # type: ignore[arg-type]
                source="s",
                items=[(i, TRIAGE) for i in batch],
                cursor=None,
                now=clock.now(),
                channel_of={"support": "console:#support"},
            )

        got = await asyncio.gather(
            *(first.write(ingest, posts[n : n + 10]) for n in range(0, 40, 5)),
            *(second.write(ingest, posts[n : n + 7] * 2) for n in range(33, -1, -3)),
        )
        stored = dict(rows(pg_url, "SELECT number, external_id FROM mentions"))
        assert sorted(stored.values()) == sorted(p.external_id for p in posts)
        batches = [posts[n : n + 10] for n in range(0, 40, 5)]
        batches += [posts[n : n + 7] * 2 for n in range(33, -1, -3)]
        new = []
        for batch, results in zip(batches, got, strict=True):
            assert [stored[r.number] for r in results] == [p.external_id for p in batch]
            new += [r.number for r in results if not r.duplicate]
        assert sorted(new) == sorted(stored)  # each stored by one write, reported once
        kinds = rows(pg_url, "SELECT kind, count(*) FROM outbox GROUP BY kind")
        roots = rows(pg_url, "SELECT count(*) FROM mentions WHERE root_number IS NULL")
        assert dict(kinds) == {"card_post": roots[0][0], "thread_post": 40 - roots[0][0]}
    finally:
        await first.close()
        await second.close()


async def test_a_migrated_store_reports_what_it_had(pg_url: str) -> None:
    db = Database(pg_url)
    await db.open()
    try:
        names = await db.read(migrate.applied)
        assert names == sorted(m.name for m in migrations._migrations)
    finally:
        await db.close()


async def test_a_connection_the_server_dropped_is_opened_again(
    pg_url: str, clock: FakeClock
) -> None:
    db = Database(pg_url)
    await db.open()
    try:
        first = Item(external_id="p1", text="hello", author=Author("ann"))
        args = {"source": "s", "cursor": None, "now": clock.now(), "channel_of": {}}
        await db.write(mentions.ingest, items=[(first, TRIAGE)], **args)
        assert await db.read(mentions.get, number=1) is not None
        # A server restart or fail-over: every connection of the database is cut.
        rows(
            with_database(pg_url, "postgres"),
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = ?",
            [urlsplit(pg_url).path.lstrip("/")],
        )
        second = Item(external_id="p2", text="again", author=Author("bo"))
        await db.write(mentions.ingest, items=[(second, TRIAGE)], **args)
        assert await db.read(mentions.get, number=2) is not None
    finally:
        await db.close()
