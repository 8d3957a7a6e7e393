"""The outbox: effects survive a restart, are delivered once, and are retried with backoff."""

from __future__ import annotations

import io
import json
from datetime import timedelta

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.store import outbox, replies
from bot.workflow import Context
from tests.conftest import ConsoleHarness


class FlakyStream(io.StringIO):
    """A terminal that breaks for its first `failures` writes, like a closed pipe."""

    def __init__(self, failures: int):
        super().__init__()
        self.failures = failures

    def write(self, text: str) -> int:
        if self.failures > 0:
            self.failures -= 1
            raise BrokenPipeError("the terminal went away")
        return super().write(text)


async def restart(harness: ConsoleHarness, clock: FakeClock, out: io.StringIO) -> App:
    """Stop the app as a crash would leave it, and start a new one on the same files."""
    old = harness.app
    await old.stop()
    app = App(
        settings=old.settings, adapters={"console": ConsoleAdapter(out)}, clock=clock,
        playbooks=old.playbooks,
    )  # fmt: skip
    await app.start()
    return app


async def test_pending_effects_are_delivered_once_after_a_restart(
    harness: ConsoleHarness, clock: FakeClock
) -> None:
    await harness.app.poll_all()
    # The worker took the three cards and the process died before any was sent.
    taken = await harness.app.database.write(outbox.take_due, now=clock.now())
    assert len(taken) == 3
    out = io.StringIO()
    app = await restart(harness, clock, out)
    try:
        await app.outbox.drain()
        await app.outbox.drain()
        printed = out.getvalue()
        for number in (1, 2, 3):
            assert printed.count(f"  #{number} ") == 1, printed
        assert await app.database.read(outbox.counts) == {"done": 3}
    finally:
        await app.stop()


async def test_interrupted_public_reply_is_flagged_not_resent(
    harness: ConsoleHarness, clock: FakeClock
) -> None:
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    await harness.app.workflow.handle(
        "reply 2 Settings > Security > Password", Context(actor="alice")
    )
    taken = await harness.app.database.write(outbox.take_due, now=clock.now())
    # The answer and the card's update are in different lanes: both were taken.
    assert [e.kind for e in taken] == [outbox.Kind.PUBLIC_REPLY, outbox.Kind.CARD_UPDATE]
    out = io.StringIO()
    app = await restart(harness, clock, out)
    try:
        await app.outbox.drain()
        assert app.connectors["social"].sent == []  # type: ignore[attr-defined]
        printed = out.getvalue()
        assert "may or may not have been posted" in printed
        assert "may not have been posted: check by hand" in printed  # on the card
        answers = await app.database.read(replies.for_mention, mention=2)
        assert [a.status for a in answers] == ["unknown"]
        assert (await app.database.read(outbox.counts)).get("unknown") == 1
        # Not "answered" without a posted answer: back in the open list, alice is told.
        assert "#2 [open]" in (await app.workflow.handle("list", Context(actor="bob"))).text
        assert "(only alice sees this) Your answer to #2 did not reach the customer" in printed
    finally:
        await app.stop()


async def test_a_broken_chat_is_retried_with_backoff(
    harness: ConsoleHarness, clock: FakeClock
) -> None:
    stream = FlakyStream(failures=2)
    harness.app.outbox.adapters = {"console": ConsoleAdapter(stream)}
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    # Card 1 failed once; cards 2 and 3 share its channel lane, one failed, one went out.
    first = await harness.app.database.read(outbox.counts)
    assert first.get("pending") == 2 and first.get("done") == 1
    await harness.app.outbox.drain()
    assert (await harness.app.database.read(outbox.counts)).get("done") == 1  # not due yet
    clock.advance(timedelta(seconds=3))
    await harness.app.outbox.drain()
    assert (await harness.app.database.read(outbox.counts)) == {"done": 3}
    assert stream.getvalue().count("[claim]") == 3


async def test_an_effect_that_keeps_failing_is_given_up_and_kept(
    harness: ConsoleHarness, clock: FakeClock
) -> None:
    harness.app.outbox.adapters = {"console": ConsoleAdapter(FlakyStream(failures=10_000))}
    await harness.app.poll_all()
    for _ in range(12):
        await harness.app.outbox.drain()
        clock.advance(timedelta(minutes=11))
    counts = await harness.app.database.read(outbox.counts)
    assert counts == {"failed": 3}


async def test_backoff_grows_and_is_capped() -> None:
    waits = [outbox.backoff(n).total_seconds() for n in range(1, 15)]
    assert waits[:4] == [2, 4, 8, 16]
    assert max(waits) == 600


async def test_queued_card_updates_for_one_card_go_out_as_one(
    harness: ConsoleHarness, clock: FakeClock
) -> None:
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    harness.output()
    db = harness.app.database
    first = await db.write(outbox.enqueue, kind=outbox.Kind.CARD_UPDATE, mention=1, now=clock.now())
    note = await db.write(
        outbox.enqueue, kind=outbox.Kind.THREAD_POST, mention=1, payload={"text": "hi"},
        now=clock.now(),
    )  # fmt: skip
    for _ in range(2):
        await db.write(outbox.enqueue, kind=outbox.Kind.CARD_UPDATE, mention=1, now=clock.now())
    await harness.app.outbox.drain()
    printed = harness.output()
    assert printed.count("~ #1 ") == 1 and "thread: hi" in printed
    rows = await db.read(
        lambda conn: conn.execute(
            "SELECT id, state, result FROM outbox WHERE id > ? ORDER BY id", [note]
        ).fetchall()
    )
    assert [(state, json.loads(result)) for _, state, result in rows] == [
        ("done", {"superseded_by": first}),
        ("done", {"superseded_by": first}),
    ]
