"""Live reload: a good edit is applied, a bad one refused with the old playbooks in force."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item
from bot.scheduler import build_scheduler
from bot.settings import Settings

BOOK = """\
admin_channel: console:#admins
sources:
  - id: social
    kind: replay
    file: {replay}
    every: 1m
teams:
  support:
    channel: console:#support
"""


@pytest.fixture
async def live(tmp_path: Path, clock: FakeClock) -> AsyncIterator[tuple[App, Path, io.StringIO]]:
    replay = tmp_path / "posts.jsonl"
    replay.write_text("", encoding="utf-8")
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(replay=replay), encoding="utf-8")
    out = io.StringIO()
    app = App(
        settings=Settings(db_path=str(tmp_path / "db.sqlite"), playbooks=str(book)),
        adapters={"console": ConsoleAdapter(out)},
        clock=clock,
    )
    await app.start()
    scheduler = build_scheduler(app)
    scheduler.start(paused=True)
    yield app, book, out
    await app.stop()


def route(app: App, text: str) -> str:
    return app.triager(Item(external_id="x", text=text, author=Author("a"))).team


async def test_unchanged_files_are_left_alone(live: tuple[App, Path, io.StringIO]) -> None:
    app, _, _ = live
    assert await app.reloader.check() is None


async def test_a_good_edit_is_applied(live: tuple[App, Path, io.StringIO]) -> None:
    app, book, out = live
    assert route(app, "where is my invoice") == "support"
    text = book.read_text(encoding="utf-8").replace("every: 1m", "every: 10m")
    text += "  billing:\n    channel: console:#billing\n    keywords: [invoice]\n"
    book.write_text(text, encoding="utf-8")
    assert await app.reloader.check() is True
    assert set(app.playbooks.teams) == {"support", "billing"}
    assert route(app, "where is my invoice") == "billing"
    assert app.scheduler is not None
    job = app.scheduler.get_job("poll:social")
    assert job is not None and job.trigger.interval.total_seconds() == 600
    await app.outbox.drain()
    assert "#admins  Playbooks reloaded: 1 source(s), 2 team(s), 0 route(s)." in out.getvalue()


async def test_a_bad_edit_is_refused_and_the_old_playbooks_stay(
    live: tuple[App, Path, io.StringIO], caplog: pytest.LogCaptureFixture
) -> None:
    app, book, out = live
    before = app.playbooks
    book.write_text(book.read_text(encoding="utf-8") + "    keywrds: [x]\n", encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert await app.reloader.check() is False
    assert app.playbooks is before
    assert "teams.support.keywrds: unknown key (did you mean 'keywords'?)" in caplog.text
    assert "the last good ones stay in force" in caplog.text
    await app.outbox.drain()
    told = out.getvalue()
    assert "#admins  The playbook edit was refused; the last good playbooks stay in force." in told
    assert "keywrds: unknown key" in told
    # The same bad files are not reported again on every check.
    assert await app.reloader.check() is None


async def test_a_removed_source_stops_polling(live: tuple[App, Path, io.StringIO]) -> None:
    app, book, _ = live
    book.write_text("teams:\n  support:\n    channel: console:#support\n", encoding="utf-8")
    assert await app.reloader.check() is True
    assert app.connectors == {}
    assert app.scheduler is not None and app.scheduler.get_job("poll:social") is None
