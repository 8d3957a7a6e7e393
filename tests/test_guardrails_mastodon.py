"""Guardrails and preview against the fake Mastodon: the text is measured and shown as the
instance will receive it, and a held reply reaches the instance only once approved."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.workflow import Context
from tests.fakes.mastodon import TOKEN, FakeMastodon

BOOK = """\
sources:
  - id: masto
    kind: mastodon
    instance: {instance}
    token: {token}
teams:
  support:
    channel: console:#support
    leads: [dana]
    guardrails:
      approval:
        audience_over: 1000
"""


@pytest.fixture
async def fake() -> AsyncIterator[FakeMastodon]:
    async with FakeMastodon() as server:
        yield server


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, fake: FakeMastodon) -> AsyncIterator[App]:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(instance=fake.url, token=TOKEN), encoding="utf-8")
    application = App(
        settings=Settings(db_path=str(tmp_path / "e2e.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await application.start()
    yield application
    await application.stop()


async def say(app: App, line: str, actor: str = "alice") -> str:
    answer = await app.workflow.handle(line, Context(actor))
    await app.outbox.drain()
    return answer.text


async def test_preview_shows_the_text_as_the_instance_gets_it(app: App, fake: FakeMastodon) -> None:
    fake.max_characters = 40
    fake.post("@lumo where is my refund?", acct="ann@other.example")
    await app.poll_all()
    await app.outbox.drain()
    shown = (await say(app, "preview 1 " + "a" * 30)).splitlines()
    assert shown[2] == (
        f"As: the Mastodon account whose access token source 'masto' holds, on {fake.url}."
    )
    assert shown[3] == "Length: 35 of 40 characters, as Mastodon counts them."
    assert shown[4:6] == [
        "Text, exactly as it would be posted:",
        "  @ann@other.example " + "a" * 30,
    ]
    assert "length: your reply is 41 characters; Mastodon allows 40" in await say(
        app, "preview 1 " + "b" * 36
    )
    assert fake.requests_to("/api/v1/statuses", method="POST") == [] and fake.posted == []


async def test_a_reply_to_a_big_account_reaches_the_instance_only_when_approved(
    app: App, fake: FakeMastodon
) -> None:
    fake.post("@lumo my bill doubled", acct="star@big.example", followers=50_000)
    await app.poll_all()
    await app.outbox.drain()
    answer = await say(app, "reply 1 Sorry, checking now!")
    assert "audience: @star@big.example has 50,000 followers" in answer
    assert fake.requests_to("/api/v1/statuses", method="POST") == []
    assert await say(app, "approve 1", "dana") == (
        "Approved alice's answer to #1; it is being posted."
    )
    assert (await say(app, "approve 1", "dana")).startswith("No answer to #1 waits")
    assert len(fake.requests_to("/api/v1/statuses", method="POST")) == 1
    [posted] = fake.posted
    assert posted["text"] == "@star@big.example Sorry, checking now!"
