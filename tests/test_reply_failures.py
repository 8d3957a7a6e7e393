"""Answers on the fake Mastodon: a failed one puts its mention back in front of people, one
conversation's answers go out in order, the same answer is not posted twice by accident,
and idempotency keys never come again (not even from another database)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlite_utils

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import mentions, outbox, replies
from bot.workflow import Context
from tests.fakes.mastodon import TOKEN, FakeMastodon
from tests.fakes.mastodon import Failure as MastodonFailure
from tests.test_mastodon_e2e import BOOK, printed

ALICE = Context("alice")


@pytest.fixture
async def fake() -> AsyncIterator[FakeMastodon]:
    async with FakeMastodon() as server:
        yield server


async def start_app(tmp_path: Path, clock: FakeClock, fake: FakeMastodon, name: str) -> App:
    """An allhands on the fake Mastodon, keeping its state in `name`.db."""
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(instance=fake.url, token=TOKEN), encoding="utf-8")
    app = App(
        settings=Settings(db_path=str(tmp_path / f"{name}.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    return app


@pytest.fixture
async def app(tmp_path: Path, clock: FakeClock, fake: FakeMastodon) -> AsyncIterator[App]:
    application = await start_app(tmp_path, clock, fake, "app")
    yield application
    await application.stop()


async def one_card(app: App, fake: FakeMastodon) -> dict[str, object]:
    status = fake.post("@lumo my router keeps dropping", acct="ann@other.example")
    await app.poll_all()
    await app.outbox.drain()
    return status


async def test_a_reply_to_a_deleted_post_puts_the_mention_back_and_tells_the_writer(
    app: App, fake: FakeMastodon
) -> None:
    status = await one_card(app, fake)
    del fake.statuses[str(status["id"])]  # the customer deleted the post
    answer = await app.workflow.handle("reply 1 Sorry Ann, a technician calls today.", ALICE)
    assert answer.ok
    await app.outbox.drain()

    assert fake.posted == []
    mention = await app.database.read(mentions.get, number=1)
    assert mention is not None and mention.state.value == "open" and mention.claimed_by is None
    listed = await app.workflow.handle("list", ALICE)
    assert "#1 [open]" in listed.text  # back where people look, not "nothing. Well done."
    [reply] = await app.database.read(replies.for_mention, mention=1)
    assert reply.status == "failed"
    shown = printed(app)
    private = shown[shown.index("(only alice sees this)") :]
    assert "Your answer to #1 did not reach the customer" in private
    assert "is gone (deleted or hidden" in private and "`reply 1 <text>` to try again" in private
    assert "~ #1 open: Unclaimed for" in shown and "answer by alice could not be posted" in shown
    assert "#1 is open again, in `list`" in shown  # the card's thread
    events = await app.database.read(mentions.events, number=1)
    assert [(e.action.value, e.to_state.value) for e in events][-3:] == [
        ("claim", "claimed"),
        ("answer", "answered"),
        ("reply_failed", "open"),
    ]
    # The SLA clock runs again: the mention waits unclaimed from the failure on.
    assert events[-1].from_state is not None and events[-1].from_state.value == "answered"


async def test_a_reply_after_the_mention_was_resolved_still_comes_back(
    app: App, fake: FakeMastodon
) -> None:
    status = await one_card(app, fake)
    await app.workflow.handle("reply 1 Sorry Ann, a technician calls today.", ALICE)
    await app.workflow.handle("resolve 1", ALICE)
    del fake.statuses[str(status["id"])]
    await app.outbox.drain()
    mention = await app.database.read(mentions.get, number=1)
    assert mention is not None and mention.state.value == "open"


async def test_answers_in_one_conversation_go_out_in_the_order_written(
    app: App, fake: FakeMastodon, clock: FakeClock
) -> None:
    await one_card(app, fake)
    fake.failures.append(MastodonFailure("/api/v1/statuses", 503, times=1))
    assert (await app.workflow.handle("reply 1 First: we are looking.", ALICE)).ok
    assert (await app.workflow.handle("reply 1 Second: it is fixed.", ALICE)).ok
    await app.outbox.drain()
    assert fake.posted == []  # the first waits for its retry; the second waits for it
    clock.advance(timedelta(minutes=1))
    await app.outbox.drain()
    await app.outbox.drain()
    assert [p["text"] for p in fake.posted] == [
        "@ann@other.example First: we are looking.",
        "@ann@other.example Second: it is fixed.",
    ]


async def test_the_same_answer_twice_is_refused_unless_asked_again(
    app: App, fake: FakeMastodon, clock: FakeClock
) -> None:
    await one_card(app, fake)
    text = "Sorry Ann, a technician calls today."
    assert (await app.workflow.handle(f"reply 1 {text}", ALICE)).ok
    clock.advance(timedelta(minutes=3))
    again = await app.workflow.handle(f"reply 1   {text.upper()} ", ALICE)
    assert not again.ok
    assert again.text == (
        "Not sent: you posted this already at 09:00 UTC to #1; add `--again` if you mean it:"
        " `reply 1 --again <text>`."
    )
    assert (await app.workflow.handle(f"reply 1 --again {text}", ALICE)).ok
    clock.advance(timedelta(minutes=11))
    assert (await app.workflow.handle(f"reply 1 {text}", ALICE)).ok  # past the window
    await app.outbox.drain()
    assert [p["text"] for p in fake.posted] == [f"@ann@other.example {text}"] * 3
    assert (await app.workflow.handle("reply 1 --again", ALICE)).ok is False


async def test_a_failed_answer_may_be_given_again_at_once(app: App, fake: FakeMastodon) -> None:
    status = await one_card(app, fake)
    text = "Sorry Ann, a technician calls today."
    # The account's token was revoked (and then renewed).
    fake.failures.append(MastodonFailure("/api/v1/statuses", 401, times=1))
    await app.workflow.handle(f"reply 1 {text}", ALICE)
    await app.outbox.drain()
    assert fake.posted == [] and str(status["id"]) in fake.statuses
    assert "#1 [open]" in (await app.workflow.handle("list", ALICE)).text
    assert "Your answer to #1 did not reach the customer: it could not be posted" in printed(app)
    assert (await app.workflow.handle(f"reply 1 {text}", ALICE)).ok  # the failed one is no repeat
    await app.outbox.drain()
    assert [p["text"] for p in fake.posted] == [f"@ann@other.example {text}"]


def reply_key(db: sqlite_utils.Database) -> str:
    """The idempotency key stored with the one public reply queued."""
    [(key,)] = db.execute(
        "SELECT idempotency_key FROM outbox WHERE kind = ?", [outbox.Kind.PUBLIC_REPLY.value]
    ).fetchall()
    return str(key)


async def test_keys_are_random_and_never_repeat_across_two_databases(
    tmp_path: Path, clock: FakeClock, fake: FakeMastodon
) -> None:
    fake.post("@lumo my router keeps dropping", acct="ann@other.example")
    keys: list[str] = []
    for name in ("first", "second"):  # two installs (or a reset): both start at row 1
        app = await start_app(tmp_path, clock, fake, name)
        try:
            await app.poll_all()
            await app.outbox.drain()
            assert (await app.workflow.handle(f"reply 1 Hello from {name}", ALICE)).ok
            keys.append(await app.database.read(reply_key))
            await app.outbox.drain()
        finally:
            await app.stop()
    sent = [r.headers["Idempotency-Key"] for r in fake.requests_to("/api/v1/statuses", "POST")]
    assert sent == keys and len(set(keys)) == 2
    assert all(k.startswith("allhands-") and len(k) == len("allhands-") + 36 for k in keys)
    # Neither answer was swallowed as a repeat of the other.
    assert [p["text"] for p in fake.posted] == [
        "@ann@other.example Hello from first",
        "@ann@other.example Hello from second",
    ]


async def test_the_sla_clock_runs_again_after_a_failed_answer(
    tmp_path: Path, clock: FakeClock, fake: FakeMastodon
) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(
        BOOK.format(instance=fake.url, token=TOKEN).replace(
            "    channel: console:#support\n",
            "    channel: console:#support\n    sla:\n      claim_within: 30m\n",
        ),
        encoding="utf-8",
    )
    app = App(
        settings=Settings(db_path=str(tmp_path / "sla.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        status = await one_card(app, fake)
        clock.advance(timedelta(minutes=20))
        await app.workflow.handle("reply 1 Sorry Ann, a technician calls today.", ALICE)
        await app.outbox.drain()
        assert len(fake.posted) == 1  # answered in time: nothing is due
        clock.advance(timedelta(minutes=40))
        await app.sla.sweep()
        await app.outbox.drain()
        assert "waited" not in printed(app)

        # A second answer fails: the mention waits for someone again, from now.
        del fake.statuses[str(status["id"])]
        await app.workflow.handle("reply 1 A technician is on the way.", ALICE)
        await app.outbox.drain()
        clock.advance(timedelta(minutes=29))
        await app.sla.sweep()
        await app.outbox.drain()
        assert "waited" not in printed(app)
        clock.advance(timedelta(minutes=2))
        await app.sla.sweep()
        await app.outbox.drain()
        nudge = printed(app).split("is open again, in `list`", 1)[1]
        assert (
            "#support thread: #1 has waited 1h 31m and went back to the team;"
            " nobody has claimed it since" in nudge
        )
    finally:
        await app.stop()
