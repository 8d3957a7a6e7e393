"""Shared fixtures: a controllable clock, a store on disk, a whole app on the console, and
an HTTP session for a connector under test."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import corrections, mentions
from bot.store.db import Database
from bot.web import build_web_app
from tests.stores import pg_server, pg_url, store_at, store_kind, store_url

__all__ = ["pg_server", "pg_url", "store_kind", "store_url"]  # fixtures for every test

PLAYBOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 50
  - id: blog
    kind: rss
    url: http://127.0.0.1:9/feed.xml
teams:
  billing:
    channel: console:#billing
    keywords: [refund, invoice, charged]
  support:
    channel: console:#support
    leads: [dana]
default_team: support
"""

POSTS = [
    {"id": "a1", "text": "I was charged twice, I want a refund", "author": {"handle": "ann"}},
    {"id": "a2", "text": "How do I change my password?", "author": {"handle": "bob"}},
    {"id": "a3", "text": "Love the new release!", "author": {"handle": "cy", "followers": 90}},
]


@asynccontextmanager
async def served(app: App) -> AsyncIterator[str]:
    """The app's web server on a free port of 127.0.0.1, while in the block: its base URL."""
    runner = web.AppRunner(build_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def write_posts(path: Path, posts: list[dict[str, Any]]) -> None:
    """Write replay posts as JSON Lines."""
    path.write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")


async def move_to(database: Database, number: int, team: str, *, clock: FakeClock) -> None:
    """Dana moves mention `number` to `team` (`move N team`), as the store does it."""
    mention = await database.read(mentions.get, number=number)
    assert mention is not None
    await database.write(
        corrections.move,
        mention=mention,
        team=team,
        channel=f"console:#{team}",
        actor="dana",
        now=clock.now(),
    )


async def move_to_billing(database: Database, number: int, *, clock: FakeClock) -> None:
    """Dana moves mention `number` to team billing (`move N billing`)."""
    await move_to(database, number, "billing", clock=clock)


def write_book(tmp_path: Path, playbook: str, posts: list[dict[str, Any]]) -> tuple[Path, Path]:
    """A replay source of `posts` and a playbook (a template naming it `{replay}`) in
    `tmp_path`: (the replay file, the playbook file)."""
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, posts)
    book = tmp_path / "playbook.yaml"
    book.write_text(playbook.format(replay=replay), encoding="utf-8")
    return replay, book


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves by hand."""
    return FakeClock()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """An HTTP session a connector calls its platform's local fake through."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def database(
    request: pytest.FixtureRequest, store_kind: str, tmp_path: Path
) -> AsyncIterator[Database]:
    """An opened store: a temporary SQLite file, then a PostgreSQL database."""
    db = await Database(store_at(request, store_kind, tmp_path / "test.db")).open()
    yield db
    await db.close()


class ConsoleHarness:
    """An App on the console adapter, with the printed output kept for assertions."""

    def __init__(self, app: App, out: io.StringIO, replay: Path):
        self.app = app
        self.out = out
        self.replay = replay

    def output(self) -> str:
        """Everything printed so far, then forget it."""
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text

    async def say(self, line: str, actor: str = "alice") -> str:
        """Type a command as `actor`; deliver what it caused; return the bot's answer."""
        from bot.workflow import Context

        answer = await self.app.workflow.handle(line, Context(actor=actor))
        await self.app.outbox.drain()
        return answer.text


@pytest.fixture
async def harness(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> AsyncIterator[ConsoleHarness]:
    """A whole allhands on the console, with a replay source of three posts."""
    replay, book = write_book(tmp_path, PLAYBOOK, POSTS)
    out = io.StringIO()
    console = ConsoleAdapter(out)
    app = App(
        settings=Settings(db_path=store_url),
        adapters={"console": console},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    yield ConsoleHarness(app, out, replay)
    await app.stop()
