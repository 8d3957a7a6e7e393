"""End to end: a post on the fake Mastodon becomes a card; `reply` lands in its thread once,
even when the first send times out after the instance has posted it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import mentions, outbox, replies
from bot.workflow import Context
from tests.fakes.mastodon import TOKEN, FakeMastodon

BOOK = """\
sources:
  - id: masto
    kind: mastodon
    instance: {instance}
    token: {token}
    hashtags: [lumofibre]
    visibility: unlisted
    timeout: 0.3
teams:
  billing:
    channel: console:#billing
    keywords: [bill, refund]
  support:
    channel: console:#support
default_team: support
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


def printed(app: App) -> str:
    adapter = app.outbox.adapters["console"]
    assert isinstance(adapter, ConsoleAdapter)
    out = adapter.out
    assert isinstance(out, io.StringIO)
    return out.getvalue()


async def test_a_post_becomes_a_card_and_the_reply_is_posted_once(
    app: App, clock: FakeClock, fake: FakeMastodon
) -> None:
    status = fake.post(
        content="<p>@lumo my <b>bill</b> doubled &amp; nobody answers <script>x()</script></p>",
        acct="ann@other.example",
        followers=4200,
    )
    fake.delay_first_post = 1.0  # longer than the source's 0.3 s timeout

    [polled] = await app.poll_all()
    assert polled.new == 1
    await app.outbox.drain()
    card = printed(app)
    assert "#billing  #1" in card and "my bill doubled & nobody answers" in card
    assert "<script" not in card and "x()" not in card

    answer = await app.workflow.handle("reply 1 Sorry, Ann! Refunded today.", Context("alice"))
    assert answer.ok and "Sending your reply" in answer.text
    await app.outbox.drain()  # the first send times out
    assert len(fake.posted) == 1  # ...but the instance did post it
    assert (await app.database.read(outbox.counts)).get("pending")  # waiting to try again

    clock.advance(timedelta(seconds=5))  # past the retry's backoff
    await app.outbox.drain()

    assert len(fake.posted) == 1
    [posted] = fake.posted
    assert posted["in_reply_to_id"] == status["id"]
    assert posted["text"] == "@ann@other.example Sorry, Ann! Refunded today."
    assert posted["visibility"] == "unlisted"
    # The retry found the first post in the thread, so it did not send it again (had it,
    # the same Idempotency-Key would have covered it within Mastodon's hour).
    [send] = fake.requests_to("/api/v1/statuses", method="POST")
    assert send.headers["Idempotency-Key"].startswith("allhands-")
    assert fake.requests_to(f"/api/v1/statuses/{status['id']}/context", method="GET")
    [reply] = await app.database.read(replies.for_mention, mention=1)
    assert reply.status == "sent" and reply.url == posted["url"]
    assert "alice's answer is posted in the customer's thread" in printed(app)
    assert (await app.database.read(mentions.get, number=1)).state.value == "answered"  # type: ignore[union-attr]

    # Our own reply shows up under the hashtag or in later polls, but is not a new card.
    [again] = await app.poll_all()
    assert again.new == 0 and again.error is None


async def test_a_reply_too_long_for_the_instance_is_refused_in_chat(
    app: App, fake: FakeMastodon
) -> None:
    fake.max_characters = 40
    fake.post("@lumo hello", acct="ann@other.example")
    await app.poll_all()
    await app.outbox.drain()
    answer = await app.workflow.handle("reply 1 " + "a" * 30, Context("alice"))
    # "@ann " is added in front and counts as Mastodon counts it: 5 + 30 = 35, fine.
    assert answer.ok
    answer = await app.workflow.handle("reply 1 " + "b" * 36, Context("alice"))
    assert not answer.ok and "41 characters" in answer.text and "allows 40" in answer.text
