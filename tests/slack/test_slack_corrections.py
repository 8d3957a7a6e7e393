"""`move` and `kind` typed in Slack: the card moves between channels, the old one says where."""

from __future__ import annotations

from bot.store import corrections
from tests.slack.conftest import BILLING, FELIX, SUPPORT, SlackHarness


async def test_move_and_kind_on_slack(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    old_ts = slack.card_ts(BILLING, 1)
    await slack.command("move 1 support", user=FELIX)
    await slack.settle()
    assert slack.fake.responses[-1][1]["text"].startswith("#1 moved to support")
    left = slack.fake.channels[BILLING].messages[old_ts]
    assert "Moved to support" in str(left["blocks"]) and "by Felix" in str(left["blocks"])
    assert not any(b.get("type") == "actions" for b in left["blocks"])
    moved = slack.card(SUPPORT, 1)
    assert "allhands_claim" in str(moved["blocks"])
    await slack.command("kind 1 praise", user=FELIX)
    await slack.settle()
    assert slack.fake.responses[-1][1]["text"].startswith("#1 is now a praise")
    assert slack.card(SUPPORT, 1)["blocks"][0]["text"]["text"].startswith("#1 praise")
    kinds = await slack.app.database.read(corrections.latest, field="kind")
    assert [(c.mention, c.new) for c in kinds] == [(1, "praise")]
