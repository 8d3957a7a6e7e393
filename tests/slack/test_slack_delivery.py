"""Delivery to Slack: pacing per channel, 429 + Retry-After, outages, timeouts, restarts."""

from __future__ import annotations

import io
from datetime import timedelta

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import App
from bot.chat.cards import build_card
from bot.chat.console import ConsoleAdapter
from bot.chat.slack.adapter import SlackAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Mention, State
from bot.errors import DeliveryError
from bot.store import outbox
from bot.store.db import Database
from tests.conftest import write_posts
from tests.fakes.slack_api import BOT_TOKEN, Failure, SlackFake
from tests.slack.conftest import BILLING, SUPPORT, SlackHarness


def _posts(n: int) -> list[dict[str, object]]:
    return [{"id": f"p{i}", "text": f"my invoice is wrong ({i})", "author": {"handle": f"u{i}"}}
            for i in range(n)]  # fmt: skip


async def test_cards_to_one_channel_are_paced_without_429s(slack: SlackHarness) -> None:
    write_posts(slack.replay, _posts(6))
    await slack.app.poll_all()
    await slack.settle()
    posts = [c for c in slack.fake.calls_to("chat.postMessage") if c.args["channel"] == BILLING]
    assert len(posts) == 6 and all(c.status == 200 for c in posts)
    assert slack.fake.rate_limited == {}
    stamps = [float(m["ts"].split(".")[0]) for m in slack.fake.messages(BILLING)]
    assert stamps[-1] - stamps[0] >= 5  # one a second (the pacer slept on the Clock)


async def test_a_429_waits_for_retry_after_and_sends_once(slack: SlackHarness) -> None:
    slack.fake.force_rate_limit(BILLING, retry_after=30)
    started = slack.clock.now()
    await slack.app.poll_all()
    await slack.settle()
    assert slack.fake.messages(BILLING) == []
    assert len(slack.fake.messages(SUPPORT)) == 2  # other channels are not held up
    due = await slack.app.database.read(outbox.next_due)
    assert due is not None
    # Slack's Retry-After from when the 429 came (the other channel's pacing moved the
    # fake clock by a second or two meanwhile).
    assert timedelta(seconds=30) <= due - started <= timedelta(seconds=33)
    slack.clock.advance(due - slack.clock.now() - timedelta(seconds=1))
    await slack.settle()
    assert slack.fake.messages(BILLING) == []  # a second early: still waiting
    slack.clock.advance(timedelta(seconds=1))
    await slack.settle()
    assert len(slack.fake.messages(BILLING)) == 1
    assert slack.fake.rate_limited == {BILLING: 1}
    assert await slack.app.database.read(outbox.counts) == {"done": 3}


async def test_an_outage_longer_than_the_retry_budget_loses_nothing(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", Failure(status=503, error="service_unavailable", times=40))
    await slack.app.poll_all()
    for _ in range(12):  # more failures than the outbox's 8 attempts
        await slack.settle()
        slack.clock.advance(timedelta(minutes=11))
    counts = await slack.app.database.read(outbox.counts)
    assert counts == {"pending": 3}
    slack.fake.failures.clear()  # Slack is back
    slack.clock.advance(timedelta(minutes=11))
    await slack.settle()
    assert await slack.app.database.read(outbox.counts) == {"done": 3}
    assert len(slack.fake.messages(BILLING)) == 1 and len(slack.fake.messages(SUPPORT)) == 2


async def test_a_request_slack_will_never_accept_is_given_up_at_once(slack: SlackHarness) -> None:
    slack.fake.fail("chat.postMessage", Failure(status=200, error="invalid_blocks", times=1))
    await slack.app.poll_all()
    await slack.settle()
    counts = await slack.app.database.read(outbox.counts)
    assert counts == {"failed": 1, "done": 2}


async def test_a_bot_left_out_of_a_channel_is_told_how_to_fix_it(slack: SlackHarness) -> None:
    slack.fake.channels[BILLING].bot_member = False
    await slack.app.poll_all()
    await slack.settle()
    rows = await slack.app.database.read(
        lambda db: db.execute("SELECT last_error FROM outbox WHERE state = 'pending'").fetchall()
    )
    assert rows == [("Slack chat.postMessage: not_in_channel: invite @allhands to the channel"
                     " (/invite @allhands)",)]  # fmt: skip


async def test_nothing_is_sent_twice_after_a_restart(slack: SlackHarness, tmp_path: object) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("claim 1")
    # The card update is taken, and the process dies before sending it.
    await slack.slack.idle()
    taken = await slack.app.database.write(outbox.take_due, now=slack.clock.now())
    assert [e.kind for e in taken] == [outbox.Kind.CARD_UPDATE]
    old = slack.app
    await old.stop()
    app = App(settings=old.settings, adapters={"console": ConsoleAdapter(io.StringIO())},
              clock=slack.clock, playbooks=old.playbooks)  # fmt: skip
    await app.start()
    try:
        await app.outbox.drain()
        await app.outbox.drain()
    finally:
        await app.stop()
    assert len(slack.fake.calls_to("chat.postMessage")) == 3  # no card posted again
    assert len(slack.fake.calls_to("chat.update")) == 1  # the interrupted update, once
    slack.app = app  # for the fixture's clean-up


async def test_timeouts_and_broken_connections_are_transient(database: Database) -> None:
    clock = FakeClock()
    fake = await SlackFake(clock=lambda: clock.now().timestamp()).start()
    fake.add_channel(BILLING, "billing")
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2))
    try:
        client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, session=http)
        adapter = SlackAdapter(client=client, clock=clock, database=database)
        fake.fail("chat.postMessage", Failure(delay=1.0))
        with pytest.raises(DeliveryError) as slow:
            await adapter.post_message(BILLING, "hello")
        assert slow.value.transient and "timed out" in str(slow.value)
        closed = AsyncWebClient(token=BOT_TOKEN, base_url="http://127.0.0.1:9/api/", session=http)
        with pytest.raises(DeliveryError) as refused:
            await SlackAdapter(client=closed, clock=clock, database=database).post_message(
                BILLING, "hello"
            )
        assert refused.value.transient
        with pytest.raises(DeliveryError) as missing:
            await adapter.post_message("#nowhere", "hello")
        assert "no channel #nowhere" in str(missing.value) and not missing.value.permanent
        assert (await adapter.post_message(BILLING, "hello")).channel == BILLING
    finally:
        await http.close()
        await fake.close()


async def test_card_updates_do_not_queue_behind_a_channels_new_cards(database: Database) -> None:
    clock = FakeClock()
    fake = await SlackFake(clock=lambda: clock.now().timestamp()).start()
    fake.add_channel(BILLING, "billing")
    http = aiohttp.ClientSession()
    try:
        adapter = SlackAdapter(
            client=AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, session=http),
            clock=clock,
            database=database,
        )
        card = await adapter.post_message(BILLING, "a card")
        adapter.pacer.hold(BILLING, 3600)  # as if an hour of new cards were queued
        started = clock.now()
        await adapter.update_card(card, build_card(sample(), now=started))
        assert clock.now() == started and fake.calls_to("chat.update")[-1].status == 200
        await adapter.post_message(BILLING, "the next card")
        assert clock.now() - started >= timedelta(hours=1)  # new posts do wait their turn
    finally:
        await http.close()
        await fake.close()


def sample() -> Mention:
    now = FakeClock().now()
    return Mention(
        number=1, source="s", external_id="1", url="", author=Author("ann"), text="hi",
        state=State.CLAIMED, team="billing", kind="question", urgency="normal", sentiment=0.0,
        created_at=now, received_at=now, claimed_by="U0DANA0001",
    )  # fmt: skip
