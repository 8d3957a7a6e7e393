"""Incident grouping that agrees with the store: after a write rolls back or is run again,
and with several replicas ingesting one burst on one PostgreSQL database."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store.sql import Conn
from connectors.base import Batch
from tests.stores import rows

PLAYBOOK = """\
teams:
  support:
    channel: console:#support
default_team: support
"""

OUTAGE = [
    "No signal in the north since 9am, is there an outage?",
    "north outage again?? no signal, calls dead",
    "Signal gone in the north area. Outage?",
    "still no signal up north, when is the outage fixed",
    "is there an outage in the north? zero signal",
]


def burst(n: int, *, start: int = 0) -> list[Item]:
    """`n` posts about one outage, each from its own author."""
    return [
        Item(
            external_id=f"o{i}",
            text=f"{OUTAGE[i % len(OUTAGE)]} #{i}",
            author=Author(handle=f"u{i}"),
        )
        for i in range(start, start + n)
    ]


@asynccontextmanager
async def replica(tmp_path: Path, clock: FakeClock, store: str, name: str) -> AsyncIterator[App]:
    """One allhands (a replica, when several share a PostgreSQL store)."""
    book = tmp_path / f"{name}.yaml"
    book.write_text(PLAYBOOK, encoding="utf-8")
    app = App(
        settings=Settings(db_path=store),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


async def ingest(
    app: App, items: list[Item], after_store: Callable[..., Any] | None = None
) -> None:
    """Store one batch through the bot's own ingest, grouped by its desk (or `after_store`)."""
    await app.store(Batch(items=items, cursor=None), source="social", after_store=after_store)


def incidents_and_members(store: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every incident, and every membership with whether its mention is stored."""
    found = rows(store, "SELECT number, state FROM incidents ORDER BY number")
    members = rows(
        store,
        "SELECT im.mention, im.incident, m.number IS NOT NULL FROM incident_members im"
        " LEFT JOIN mentions m ON m.number = im.mention ORDER BY im.mention",
    )
    return found, members


def grouped(app: App) -> list[int]:
    """Every mention number the desk's in-memory grouping holds (a repeat means twice)."""
    return sorted(m for c in app.incidents.grouper.clusters.values() for m in c.members)


def stored_numbers(store: str) -> list[int]:
    """The numbers of the stored top-level mentions."""
    return [r[0] for r in rows(store, "SELECT number FROM mentions ORDER BY number")]


async def test_a_failed_write_leaves_no_phantom_post(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with replica(tmp_path, clock, store_url, "one") as app:

        def place_then_fail(db: Conn, **kw: Any) -> None:
            app.incidents.place(db, **kw)
            raise RuntimeError("the disk is full")

        with pytest.raises(RuntimeError, match="disk is full"):
            await ingest(app, burst(6), place_then_fail)
        assert stored_numbers(store_url) == []  # rolled back: nothing stored
        await ingest(app, burst(10, start=6))
        found, members = incidents_and_members(store_url)
        assert [state for _, state in found] == ["open"]
        stored = stored_numbers(store_url)
        assert len(stored) == 10
        assert [m for m, _, _ in members] == stored  # all of the burst, and nothing else
        assert all(present for _, _, present in members)
        assert grouped(app) == stored  # the rolled-back posts are not grouped in memory


async def test_two_replicas_ingesting_halves_of_a_burst_open_one_incident(
    tmp_path: Path, clock: FakeClock, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.store.db")
    posts = burst(32)
    async with (
        replica(tmp_path, clock, pg_url, "a") as a,
        replica(tmp_path, clock, pg_url, "b") as b,
    ):

        async def feed(app: App, half: list[Item]) -> None:
            for start in range(0, len(half), 4):
                await ingest(app, half[start : start + 4])

        # A load balancer sends every other post to each: each half alone is a storm.
        await asyncio.gather(feed(a, posts[0::2]), feed(b, posts[1::2]))
        found, members = incidents_and_members(pg_url)
        assert [state for _, state in found] == ["open"]
        assert len(members) == len(posts)
        assert {incident for _, incident, _ in members} == {found[0][0]}
        assert all(present for _, _, present in members)
        # Each replica's grouping holds each post it has seen once, whoever stored it.
        stored = stored_numbers(pg_url)
        for app in (a, b):
            held = grouped(app)
            assert len(held) == len(set(held))
            assert set(held) <= set(stored)
    # The replicas' writes did meet: at least one was refused and run again.
    assert "ran into another" in caplog.text


async def test_a_write_run_again_groups_each_post_once(
    tmp_path: Path, clock: FakeClock, pg_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.store.db")
    async with replica(tmp_path, clock, pg_url, "one") as app:
        await ingest(app, burst(4))
        attempts = 0

        def place_then_lose_a_race(db: Conn, **kw: Any) -> None:
            nonlocal attempts
            attempts += 1
            app.incidents.place(db, **kw)
            if attempts == 1:  # another replica's write to the source's row commits first
                with psycopg.connect(pg_url, autocommit=True) as other:
                    other.execute(
                        "UPDATE source_health SET failures = 0 WHERE source = %s", ["social"]
                    )

        # The spike (20 in 5 minutes) fires in the attempt that is rolled back, and again
        # in the re-run: its counts and its last alert are read from the store, as they are.
        await ingest(app, burst(20, start=4), place_then_lose_a_race)
        assert attempts == 2
        assert "ran into another" in caplog.text
        alerts = rows(pg_url, "SELECT payload FROM outbox WHERE kind = 'channel_note'")
        assert len(alerts) == 1 and "Spike for team support" in alerts[0][0]
        stored = stored_numbers(pg_url)
        assert len(stored) == 24
        assert grouped(app) == stored  # each post once, though `place` ran twice
        found, members = incidents_and_members(pg_url)
        assert [state for _, state in found] == ["open"]
        assert [m for m, _, _ in members] == stored


async def test_an_incident_resolved_on_one_replica_takes_no_more_on_another(
    tmp_path: Path, clock: FakeClock, pg_url: str
) -> None:
    from bot.workflow import Context

    async with (
        replica(tmp_path, clock, pg_url, "a") as a,
        replica(tmp_path, clock, pg_url, "b") as b,
    ):
        await ingest(a, burst(10))
        await ingest(b, burst(2, start=10))  # joins A's incident
        answer = await a.workflow.handle("resolve I1", Context(actor="alice"))
        assert "I1 is resolved" in answer.text
        await ingest(b, burst(10, start=12))  # the outage again: a new incident, afresh
        found, members = incidents_and_members(pg_url)
        assert found == [(1, "resolved"), (2, "open")]
        by_incident = {n: sum(1 for _, i, _ in members if i == n) for n, _ in found}
        assert by_incident == {1: 12, 2: 10}
