"""A public reply whose send was cut off by a crash is not posted twice, nor flagged for a
person, on platforms that can say whether the first try posted it (Bluesky: the record key
derived from the effect; Mastodon: our reply in the post's thread)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.sent_once import effect_key
from bot.settings import Settings
from bot.store import mentions, outbox
from bot.workflow import Context
from tests.fakes.bluesky import HANDLE, PASSWORD, FakeBluesky
from tests.fakes.mastodon import TOKEN, FakeMastodon

SOURCES = {
    "bluesky": "kind: bluesky\n    service: {url}\n    identifier: {handle}\n"
    "    app_password: {password}",
    "mastodon": "kind: mastodon\n    instance: {url}\n    token: {token}",
}
BOOK = """\
sources:
  - id: social
    {source}
teams:
  support:
    channel: console:#support
"""


async def start(tmp_path: Path, clock: FakeClock, kind: str, url: str) -> App:
    source = SOURCES[kind].format(url=url, handle=HANDLE, password=PASSWORD, token=TOKEN)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(source=source), encoding="utf-8")
    app = App(
        settings=Settings(db_path=str(tmp_path / "r.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    return app


async def crash_while_replying(app: App, text: str, *, sent: bool) -> None:
    """Queue an answer; take it as the worker would and (if `sent`) post it; then "crash"
    before recording it, and start again: recovery, then delivery."""
    await app.poll_all()
    await app.outbox.drain()
    answer = await app.workflow.handle(f"reply 1 {text}", Context("alice"))
    assert answer.ok, answer.text
    taken = await app.database.write(outbox.take_due, now=app.clock.now())
    [effect] = [e for e in taken if e.kind == outbox.Kind.PUBLIC_REPLY]
    if sent:
        mention = await app.database.read(mentions.get, number=1)
        assert mention is not None
        await app.connectors["social"].reply(mention, text, key=effect_key(effect))
    await app.outbox.recover()
    await app.outbox.drain()


Platform = Callable[[], Awaitable[tuple[Any, Callable[[], int]]]]


@pytest.fixture(params=["bluesky", "mastodon"])
async def platform(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, Any]]:
    if request.param == "bluesky":
        async with FakeBluesky() as sky:
            sky.post("@lumo.bsky.social my fibre is down")
            yield "bluesky", sky
    else:
        async with FakeMastodon() as masto:
            masto.post("@lumo my fibre is down")
            yield "mastodon", masto


def posted(kind: str, fake: Any) -> int:
    return len(fake.created if kind == "bluesky" else fake.posted)


@pytest.mark.parametrize("sent", [True, False])
async def test_an_interrupted_reply_is_posted_exactly_once(
    tmp_path: Path, clock: FakeClock, platform: tuple[str, Any], sent: bool
) -> None:
    kind, fake = platform
    app = await start(tmp_path, clock, kind, fake.url)
    try:
        await crash_while_replying(app, "Sorry about that, we are on it.", sent=sent)
        assert posted(kind, fake) == 1
        counts = await app.database.read(outbox.counts)
        assert "unknown" not in counts and "failed" not in counts
        assert counts.get("pending", 0) == 0
    finally:
        await app.stop()
