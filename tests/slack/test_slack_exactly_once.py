"""A card whose send was cut off (the process died while chat.postMessage was in flight)
is not posted twice: the card carries its outbox key in Slack message metadata, and the
try after the restart finds it with conversations.history before posting."""

from __future__ import annotations

import pytest

from bot.mention_cards import card_ref, load_card
from bot.sent_once import effect_key
from bot.stats_report import read, render
from bot.store import outbox
from tests.slack.conftest import BILLING, SUPPORT, SlackHarness


async def crash_while_posting(slack: SlackHarness) -> outbox.Effect:
    """Take the billing card's effect and post it as the worker would, then "crash" before
    recording it; the restart's recovery puts the effect back."""
    await slack.app.poll_all()
    taken = await slack.app.database.write(outbox.take_due, now=slack.clock.now())
    [effect] = [e for e in taken if e.target == "slack:#billing"]
    card = await slack.app.database.read(load_card, number=effect.mention, now=slack.clock.now())
    await slack.slack.adapter.post_card("#billing", card, key=effect_key(effect))
    await slack.app.outbox.recover()
    return effect


async def test_a_card_posted_before_a_crash_is_found_not_posted_again(
    slack: SlackHarness,
) -> None:
    effect = await crash_while_posting(slack)
    [posted] = slack.fake.messages(BILLING)
    assert posted["metadata"]["event_payload"] == {"effect": effect_key(effect)}
    assert effect.key and effect.key in effect_key(effect)  # its own random key
    await slack.settle()
    assert len(slack.fake.messages(BILLING)) == 1
    ref = await slack.app.database.read(card_ref, number=effect.mention)
    assert ref is not None and ref.id == posted["ts"]
    # Each of the three cards cut off was looked for once, in its own channel.
    lookups = slack.fake.calls_to("conversations.history")
    assert sorted(c.args["channel"] for c in lookups) == [BILLING, SUPPORT, SUPPORT]
    assert len(slack.fake.calls_to("chat.postMessage")) == 3
    # Later updates go to that one card.
    assert (await slack.app.database.read(outbox.counts)).get("pending", 0) == 0


async def test_cards_not_posted_before_a_crash_are_posted_once(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.app.database.write(outbox.take_due, now=slack.clock.now())
    await slack.app.outbox.recover()
    await slack.settle()
    assert len(slack.fake.messages(BILLING)) == 1
    assert len(slack.fake.calls_to("chat.postMessage")) == 3


async def test_a_workspace_without_history_scopes_is_told_in_the_log_and_stats(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.withheld = {"channels:history"}
    await crash_while_posting(slack)
    await slack.settle()
    assert len(slack.fake.messages(BILLING)) == 2  # the known cost without the scope
    assert "channels:history and groups:history" in caplog.text
    stats = await slack.app.database.read(read, since=slack.clock.now())
    assert "Slack (since" in render(stats) and "may show twice" in render(stats)
