"""Bluesky's two limits (300 graphemes and 3,000 bytes) are checked before a reply is
queued: `preview` and `reply` refuse a text over either, with a note saying which."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import outbox
from bot.workflow import Context
from tests.fakes.bluesky import HANDLE, PASSWORD, FakeBluesky

BOOK = """\
sources:
  - id: sky
    kind: bluesky
    service: {service}
    identifier: {handle}
    app_password: {password}
teams:
  support:
    channel: console:#support
"""
FAMILY = "👨\u200d👩\u200d👧\u200d👦"  # one grapheme, 25 bytes


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock) -> AsyncIterator[App]:
    async with FakeBluesky() as fake:
        fake.post("@lumo.bsky.social my fibre is down")
        book = tmp_path / "book.yaml"
        book.write_text(
            BOOK.format(service=fake.url, handle=HANDLE, password=PASSWORD), encoding="utf-8"
        )
        application = App(
            settings=Settings(db_path=str(tmp_path / "sky.db")),
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        await application.start()
        await application.poll_all()
        yield application
        await application.stop()


async def say(app: App, line: str) -> str:
    return (await app.workflow.handle(line, Context("alice"))).text


async def test_a_reply_under_300_graphemes_but_over_3000_bytes_is_refused_before_queueing(
    app: App,
) -> None:
    text = "Sorry " + FAMILY * 130  # 136 graphemes, 3,256 bytes
    shown = await say(app, f"preview 1 {text}")
    assert "3,256 bytes in UTF-8, over the 3,000 allowed" in shown
    answer = await say(app, f"reply 1 {text}")
    assert "3,256 bytes" in answer
    assert await replies_queued(app) == 0
    fine = await say(app, "reply 1 Sorry " + FAMILY * 100)  # 2,506 bytes
    assert "bytes" not in fine
    assert await replies_queued(app) == 1


async def replies_queued(app: App) -> int:
    def count(db: Any) -> int:
        kind = outbox.Kind.PUBLIC_REPLY.value
        return int(db.execute("SELECT count(*) FROM outbox WHERE kind = ?", [kind]).fetchone()[0])

    return await app.database.read(count)
