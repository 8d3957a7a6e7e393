"""A failing source backs off, keeps its cursor, shows as failing, and stops no other source."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.cli import main
from bot.clock import FakeClock
from bot.ingest import backoff
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import mentions, sources
from tests.conftest import POSTS, write_posts
from tests.fakes.feeds import FeedServer, fixture
from tests.fakes.mastodon import TOKEN, FakeMastodon

BOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 1
  - id: blog
    kind: rss
    url: {feed}
    every: 10m
  - id: masto
    kind: mastodon
    instance: {instance}
    token: {token}
    rate_limit_reserve: 5
    page_size: 1
  - id: hook
    kind: webhook
    secret: a-secret-of-16-chars
teams:
  support:
    channel: console:#support
"""


def test_backoff_doubles_up_to_an_hour() -> None:
    every = timedelta(minutes=5)
    waits = [backoff(n, every) for n in range(1, 8)]
    assert [w.total_seconds() / 60 for w in waits] == [5, 10, 20, 40, 60, 60, 60]
    assert backoff(3, timedelta(hours=2)) == timedelta(hours=2)  # never under one interval


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def masto() -> AsyncIterator[FakeMastodon]:
    async with FakeMastodon() as server:
        yield server


@pytest.fixture
async def app(
    tmp_path: Path, clock: FakeClock, feeds: FeedServer, masto: FakeMastodon
) -> AsyncIterator[App]:
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "book.yaml"
    book.write_text(
        BOOK.format(replay=replay, feed=feeds.url("/feed.xml"), instance=masto.url, token=TOKEN),
        encoding="utf-8",
    )
    application = App(
        settings=Settings(db_path=str(tmp_path / "health.db"), playbooks=str(book)),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await application.start()
    yield application
    await application.stop()


async def test_a_failing_source_backs_off_and_the_others_go_on(
    app: App, clock: FakeClock, feeds: FeedServer
) -> None:
    feeds.serve("/feed.xml", b"oops", status=503)
    results = {r.source: r for r in await app.poll_all()}
    assert results["blog"].error and "503" in results["blog"].error
    assert results["social"].new == 1
    assert len(feeds.requests) == 1
    assert await app.database.read(mentions.load_cursor, source="blog") is None

    # Every interval is 10m; after one failure the next tick (10m on) reads it again.
    clock.advance(timedelta(minutes=4))
    assert (await app.poll_source("blog")).waiting_until is not None
    assert len(feeds.requests) == 1
    clock.advance(timedelta(minutes=6))
    await app.poll_source("blog")
    assert len(feeds.requests) == 2  # failed twice now: rests two intervals
    clock.advance(timedelta(minutes=10))
    skipped = await app.poll_source("blog")
    assert skipped.waiting_until is not None and skipped.error is None
    social = await app.poll_source("social")
    assert social.new == 1  # the other source is read all along
    clock.advance(timedelta(minutes=10))
    feeds.serve("/feed.xml", fixture("blog.rss"), content_type="application/rss+xml")
    recovered = await app.poll_source("blog")
    assert recovered.error is None and recovered.new > 0 and len(feeds.requests) == 3
    health = (await app.database.read(sources.health))["blog"]
    assert health["failures"] == 0 and health["retry_at"] is None
    assert health["last_error"] and "503" in health["last_error"]  # kept for people to see


async def test_a_platform_asking_to_wait_is_not_read_before_its_reset(
    app: App, clock: FakeClock, masto: FakeMastodon
) -> None:
    for n in range(3):
        masto.post(f"@lumo number {n}")
    await app.poll_source("masto")
    for n in range(3):
        masto.post(f"@lumo later {n}")
    masto.remaining = 4
    first = await app.poll_source("masto")
    assert first.new == 1 and first.error is None
    calls = len(masto.requests)
    clock.advance(timedelta(minutes=4))
    assert (await app.poll_source("masto")).waiting_until is not None
    assert len(masto.requests) == calls
    clock.advance(timedelta(minutes=2))
    masto.remaining = 300
    assert (await app.poll_source("masto")).new == 2


def test_allhands_sources_shows_what_is_failing(tmp_path: Path) -> None:
    db = str(tmp_path / "none.db")
    runner = CliRunner()
    env = {"ALLHANDS_DB": db, "ALLHANDS_PLAYBOOKS": str(tmp_path / "missing")}
    result = runner.invoke(main, ["sources"], env=env)
    assert result.exit_code == 0
    assert "No sources" in result.output


async def test_allhands_sources_lists_health_from_the_store(
    app: App, feeds: FeedServer, masto: FakeMastodon
) -> None:
    feeds.serve("/feed.xml", b"<html>not a feed</html>", content_type="text/html")
    await app.poll_all()
    runner = CliRunner()
    env = {"ALLHANDS_DB": app.settings.db_path, "ALLHANDS_PLAYBOOKS": app.settings.playbooks}
    result = runner.invoke(main, ["sources"], env=env)
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["source", "kind", "status", "last", "success", "items", "seen"]
    blog = next(line for line in lines if line.startswith("blog"))
    assert "rss" in blog and "FAILING (1 in a row)" in blog
    assert any(
        line.startswith("  last error") and "not an RSS or Atom feed" in line for line in lines
    )
    social = next(line for line in lines if line.startswith("social"))
    assert " ok " in social and social.rstrip().endswith("1")
    hook = next(line for line in lines if line.startswith("hook"))
    assert "waiting for requests" in hook
