"""The reply dialog (templates, live count, errors in the dialog) and App Home."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from bot.store import mentions, replies
from tests.slack.conftest import BILLING, DANA, FELIX, SUPPORT, SlackHarness


def _text_input(view: dict[str, Any]) -> dict[str, Any]:
    return next(b for b in view["blocks"] if b["type"] == "input")


def _count(view: dict[str, Any]) -> str:
    block = next(b for b in view["blocks"] if b.get("block_id") == "allhands_reply_count")
    return str(block["elements"][0]["text"])


async def _open_dialog(
    slack: SlackHarness, number: int, channel: str, user: str = DANA
) -> dict[str, Any]:
    ts = slack.card_ts(channel, number)
    status, body, _ = await slack.click(
        {"action_id": "allhands_reply", "type": "button", "value": str(number), "block_id": "b"},
        user=user, channel=channel, message_ts=ts,
    )  # fmt: skip
    assert status == 200 and body == ""
    await slack.settle()
    opened = slack.fake.calls_to("views.open")[-1]
    assert opened.status == 200 and opened.error is None, opened
    return slack.fake.views[max(slack.fake.views)]


async def test_reply_dialog_template_count_and_send(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    view = await _open_dialog(slack, 1, BILLING)
    assert view["title"]["text"] == "Reply to #1"
    assert json.loads(view["private_metadata"]) == {
        "number": 1, "version": 0, "origin": {"channel": BILLING},
    }  # fmt: skip
    text_input = _text_input(view)
    assert text_input["dispatch_action"] is True
    assert text_input["element"]["dispatch_action_config"] == {
        "trigger_actions_on": ["on_character_entered"]
    }
    assert _count(view) == "500 of 500 characters left, as the demo network counts them."

    # Picking a template fills it in, placeholders and all, under a new block id.
    await slack.click(
        {"action_id": "allhands_template", "type": "static_select",
         "block_id": "allhands_reply_template",
         "selected_option": {"value": "sorry", "text": {"type": "plain_text", "text": "sorry"}}},
        view=view,
    )  # fmt: skip
    await slack.settle()
    view = slack.fake.views[view["id"]]
    filled = _text_input(view)
    assert filled["block_id"] == "allhands_reply_text_1"
    expected = "Hi @ann, sorry about this! Dana Scully from Billing is on it."
    assert filled["element"]["initial_value"] == expected
    assert (
        _count(view)
        == f"{500 - len(expected)} of 500 characters left, as the demo network counts them."
    )

    # Typing recounts, keeping the block (so Slack keeps what is typed).
    typed = "x" * 510
    await slack.click(
        {"action_id": "allhands_reply_text", "type": "plain_text_input",
         "block_id": filled["block_id"], "value": typed},
        view=view,
    )  # fmt: skip
    await slack.settle()
    view = slack.fake.views[view["id"]]
    assert _text_input(view)["block_id"] == "allhands_reply_text_1"
    assert _count(view) == "10 characters too many: the demo network allows 500."

    # Sending too much: the error is shown in the dialog, nothing is sent.
    status, body, _ = await slack.send(slack.submission_body(view, typed))
    assert status == 200
    assert json.loads(body) == {
        "response_action": "errors",
        "errors": {
            "allhands_reply_text_1": (
                "10 characters too many: the demo network allows 500. Shorten it."
            )
        },
    }
    status, body, _ = await slack.send(slack.submission_body(view, "   "))
    assert json.loads(body)["errors"] == {"allhands_reply_text_1": "Write a reply first."}

    # Sending a good one closes the dialog, posts the answer, updates the card.
    status, body, _ = await slack.send(slack.submission_body(view, "Refunded today. Sorry!"))
    assert status == 200 and body == ""
    await slack.settle()
    assert slack.app.connectors["social"].sent == [("a1", "Refunded today. Sorry!")]  # type: ignore[attr-defined]
    told = slack.fake.ephemeral[-1]
    assert told["user"] == DANA and told["channel"] == BILLING
    assert told["text"].startswith("Sending your reply to #1 on the demo network")
    card = str(slack.card(BILLING, 1)["blocks"])
    assert "Answered by Dana Scully · answer posted" in card
    thread = slack.fake.replies(BILLING, slack.card_ts(BILLING, 1))
    assert thread[-1]["text"].startswith("Dana Scully's answer is posted in the customer's thread")


async def test_reply_dialog_refuses_what_the_workflow_would(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("claim 2", user=FELIX, channel=SUPPORT)
    await slack.settle()
    view = await _open_dialog(slack, 2, SUPPORT, user=DANA)
    status, body, _ = await slack.send(slack.submission_body(view, "I can help!", user=DANA))
    assert status == 200
    assert json.loads(body)["errors"] == {
        "allhands_reply_text_0": "#2 is claimed by Felix; ask them, or `assign 2 <you>` first."
    }
    await slack.command("resolve 3", channel=SUPPORT)
    await slack.settle()
    view = await _open_dialog(slack, 3, SUPPORT)
    _, body, _ = await slack.send(slack.submission_body(view, "Thanks!"))
    assert "#3 is resolved" in json.loads(body)["errors"]["allhands_reply_text_0"]
    assert await slack.app.database.read(replies.for_mention, mention=2) == []
    # The team's guardrails speak in the dialog too, before anything is stored.
    view = await _open_dialog(slack, 1, BILLING)
    _, body, _ = await slack.send(slack.submission_body(view, "Mail me at dana.s@lumo.example"))
    error = json.loads(body)["errors"]["allhands_reply_text_0"]
    assert error.startswith("- private_data: an e-mail address (")
    assert await slack.app.database.read(replies.for_mention, mention=1) == []
    # A dialog whose metadata was tampered with is refused, not crashed on.
    forged = {**view, "private_metadata": "{not json"}
    _, body, _ = await slack.send(slack.submission_body(forged, "Thanks!"))
    assert json.loads(body)["errors"] == {"allhands_reply_text_0": "This dialog is out of date."}


async def test_app_home_shows_mine_and_my_teams_queue_with_buttons(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("claim 2", channel=SUPPORT)
    await slack.settle()
    event = {"type": "app_home_opened", "user": FELIX, "tab": "home", "event_ts": "1.2"}
    await slack.send(slack.event_body(event, event_id="Ev01"), content_type="application/json")
    await slack.settle()
    home = slack.fake.homes[FELIX]
    text = json.dumps(home["blocks"])
    # Felix is in #support only: his queue is support's open mention (#3); #2 is Dana's.
    assert "Yours (0)" in text and "Open in Support (1)" in text
    assert "#3 praise" in text and "#2 question" not in text and "#1 complaint" not in text

    event = {"type": "app_home_opened", "user": DANA, "tab": "home", "event_ts": "1.3"}
    await slack.send(slack.event_body(event, event_id="Ev02"), content_type="application/json")
    await slack.settle()
    home = slack.fake.homes[DANA]
    text = json.dumps(home["blocks"])
    assert "Yours (1)" in text and "#2 question" in text
    assert "Open in Billing (1)" in text and "Open in Support (1)" in text
    buttons = [
        e["action_id"] for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert buttons.count("allhands_claim") == 2 and "allhands_release" in buttons

    # A button in App Home acts, then App Home is shown again as it now stands.
    home_view = {**home, "type": "home"}
    await slack.click(
        {"action_id": "allhands_claim", "type": "button", "value": "1",
         "block_id": "allhands_home_1000_1"},
        user=DANA, view=home_view,
    )  # fmt: skip
    await slack.settle()
    assert "Yours (2)" in json.dumps(slack.fake.homes[DANA]["blocks"])
    mention = await slack.app.database.read(mentions.get, number=1)
    assert mention is not None and mention.claimed_by == DANA
    # ... and a refusal is shown at the top of App Home.
    await slack.click(
        {"action_id": "allhands_claim", "type": "button", "value": "1",
         "block_id": "allhands_home_1000_1"},
        user=FELIX, view={**slack.fake.homes[FELIX], "type": "home"},
    )  # fmt: skip
    await slack.settle()
    first = slack.fake.homes[FELIX]["blocks"][0]
    assert first["text"]["text"] == "#1 is already claimed by Dana Scully."


async def test_messages_tab_opening_publishes_nothing(slack: SlackHarness) -> None:
    event = {"type": "app_home_opened", "user": DANA, "tab": "messages", "event_ts": "1.2"}
    await slack.send(slack.event_body(event, event_id="Ev9"), content_type="application/json")
    await slack.settle()
    assert slack.fake.calls_to("views.publish") == []


async def test_a_dialog_submitted_twice_posts_once(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    view = await _open_dialog(slack, 1, BILLING)
    body = slack.submission_body(view, "Refunded today. Sorry!")
    # A double click on Send: the same dialog submitted twice, a second apart.
    later = slack.headers(body, timestamp=int(slack.clock.now().timestamp()) + 1)
    answers = await asyncio.gather(slack.send(body), slack.send(body, headers=later))
    await slack.settle()
    assert slack.app.connectors["social"].sent == [("a1", "Refunded today. Sorry!")]  # type: ignore[attr-defined]
    # The second is refused either in the dialog (the first was stored before it was
    # checked) or, when both passed the check together, by the reply itself.
    assert all(status == 200 for status, _, _ in answers)
    in_dialog = [answer for _, answer, _ in answers if answer]
    told = sorted(m["text"] for m in slack.fake.ephemeral[len(in_dialog) - 2 :])
    assert told[-1].startswith("Sending your reply to #1 on the demo network")
    if in_dialog:
        assert len(in_dialog) == 1 and '"response_action": "errors"' in in_dialog[0]
        assert "you posted this already at 09:00 UTC to #1" in in_dialog[0]
    else:
        assert told[0] == (  # escaped for Slack's mrkdwn
            "Not sent: you posted this already at 09:00 UTC to #1; add `--again` if you mean"
            " it: `reply 1 --again &lt;text&gt;`."
        )
    # Sent again later from the same dialog: refused in the dialog itself.
    again = slack.headers(body, timestamp=int(slack.clock.now().timestamp()) + 2)
    status, answer, _ = await slack.send(body, headers=again)
    assert status == 200 and "you posted this already at 09:00 UTC" in answer
    assert "response_action" in answer
