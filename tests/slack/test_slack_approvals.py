"""A held answer on Slack: the lead's request with Approve / Edit / Reject, over real HTTP."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.slack.approval_blocks import (
    DecisionForm,
    approval_message,
    edit_modal,
    read_click,
    read_form,
    reject_modal,
)
from bot.store import approvals
from tests.conftest import write_posts
from tests.fakes.slack_api import TEAM, check_blocks, check_view
from tests.slack.conftest import DANA, FELIX, OMAR, POSTS, SUPPORT, SlackHarness
from tests.slack.test_slack_hostile import HOSTILE, assert_inert, texts

FELIX_DM = "D" + FELIX[1:]
DANA_DM = "D" + DANA[1:]
ANSWER = "Thank you so much!"


def _lead_felix(slack: SlackHarness) -> None:
    """Felix leads support, whose answers to accounts over 50 followers wait for him."""
    book = slack.app.playbooks
    team = book.teams["support"]
    guardrails = team.guardrails.model_copy(
        update={"approval": team.guardrails.approval.model_copy(update={"audience_over": 50})}
    )
    slack.app.playbooks = replace(
        book, teams={**book.teams, "support": replace(team, leads=(FELIX,), guardrails=guardrails)}
    )


async def _held(slack: SlackHarness, text: str = ANSWER) -> dict[str, Any]:
    """Dana answers cy (90 followers); the answer waits; Felix's request, as posted."""
    _lead_felix(slack)
    await slack.app.poll_all()
    await slack.settle()
    await slack.command(f"reply 3 {text}", channel=SUPPORT)
    await slack.settle()
    assert "waits for a lead's approval" in slack.fake.responses[-1][1]["text"]
    return copy.deepcopy(slack.fake.messages(FELIX_DM)[-1])  # as first posted, buttons and all


def _buttons(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def _click(
    slack: SlackHarness, message: dict[str, Any], verb: str, *, user: str = FELIX,
    value: str | None = None, action_id: str | None = None,
) -> tuple[int, str, float]:  # fmt: skip
    button = next(b for b in _buttons(message) if b["action_id"] == f"allhands_{verb}")
    action = {
        "action_id": action_id or button["action_id"], "type": "button", "block_id": "b",
        "value": button["value"] if value is None else value,
    }  # fmt: skip
    result = await slack.click(action, user=user, channel=FELIX_DM, message_ts=message["ts"])
    await slack.settle()
    return result


def _submission(view: dict[str, Any], block: str, value: str, *, user: str = FELIX) -> str:
    """A view_submission payload with `value` typed in the input `block`."""
    state = {"values": {block: {block: {"type": "plain_text_input", "value": value}}}}
    payload = {
        "type": "view_submission",
        "team": {"id": TEAM["id"], "domain": "lumo"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0ALLHANDS",
        "trigger_id": "9.9.trigger",
        "view": {**view, "state": state},
    }
    return urlencode({"payload": json.dumps(payload)})


def _request(slack: SlackHarness) -> dict[str, Any]:
    """Felix's request message as it stands now (after any chat.update)."""
    return slack.fake.channels[FELIX_DM].messages[slack.fake.messages(FELIX_DM)[0]["ts"]]


def _sent(slack: SlackHarness) -> list[tuple[str, str]]:
    return list(slack.app.connectors["social"].sent)  # type: ignore[attr-defined]


async def test_the_held_answer_reaches_the_lead_with_three_buttons(slack: SlackHarness) -> None:
    asked = await _held(slack)
    assert asked["text"].startswith("Dana Scully's answer to #3 waits for your approval")
    shown = json.dumps(asked["blocks"])
    assert "*Dana Scully*'s answer to *#3* waits for your approval." in shown
    assert "To *@cy* on the demo network" in shown and "<https://social.example/@cy/a3>" in shown
    why = next(b["text"]["text"] for b in asked["blocks"] if "Why it waits" in str(b))
    assert why.startswith("*Why it waits:*\n• audience")
    assert {"type": "section", "text": {"type": "mrkdwn", "text": ANSWER, "verbatim": True}} in (
        asked["blocks"]
    )
    assert [(b["text"]["text"], b["value"], b.get("style")) for b in _buttons(asked)] == [
        ("Approve", "approve 3 1", "primary"), ("Edit", "edit 3 1", None),
        ("Reject", "reject 3 1", "danger"),
    ]  # fmt: skip
    assert _sent(slack) == []


async def test_approve_posts_the_answer_once_and_the_request_says_who(
    slack: SlackHarness,
) -> None:
    asked = await _held(slack)
    status, body, took = await _click(slack, asked, "approve")
    assert (status, body) == (200, "") and took < 3.0
    assert _sent(slack) == [("a3", ANSWER)]
    told = slack.fake.responses[-1][1]
    assert told["response_type"] == "ephemeral"
    assert told["text"] == "Approved Dana Scully's answer to #3; it is being posted."
    now = _request(slack)
    assert _buttons(now) == []
    assert "Approved by Felix* (2026-01-05 09:" in json.dumps(now["blocks"])
    assert now["text"] == "Dana Scully's answer to #3: approved by Felix"
    assert any(
        m["text"].startswith("Felix approved your answer to #3; it is being posted")
        for m in slack.fake.messages(DANA_DM)
    )
    # A second click (another lead's request, a slow double click) decides nothing more.
    await _click(slack, asked, "approve")
    assert slack.fake.responses[-1][1]["text"].startswith(
        "No answer to #3 waits for approval: Felix approved Dana Scully's answer at 2026-01-05"
    )
    await _click(slack, asked, "edit")
    assert slack.fake.calls_to("views.open") == []
    assert _sent(slack) == [("a3", ANSWER)]


async def test_edit_posts_the_leads_text(slack: SlackHarness) -> None:
    asked = await _held(slack, "Thank you so much!\nWe love hearing it.")
    status, body, _ = await _click(slack, asked, "edit")
    assert (status, body) == (200, "")
    [opened] = slack.fake.calls_to("views.open")
    assert opened.error is None, opened
    view = slack.fake.views[max(slack.fake.views)]
    assert view["title"]["text"] == "Edit #3"
    text_input = next(b for b in view["blocks"] if b["type"] == "input")["element"]
    assert text_input["initial_value"] == "Thank you so much!\nWe love hearing it."
    assert read_form(view) == DecisionForm(3, 1, FELIX_DM, asked["ts"])

    edited = "Thanks, cy!\nThe team at Lumo"
    status, body, took = await slack.send(_submission(view, "allhands_approval_text", edited))
    assert (status, body) == (200, "") and took < 3.0
    await slack.settle()
    assert _sent(slack) == [("a3", edited)]
    now = _request(slack)
    assert _buttons(now) == []
    shown = json.dumps(now["blocks"])
    assert "Edited and approved by Felix" in shown and "Thanks, cy!\\nThe team at Lumo" in shown
    told = slack.fake.ephemeral[-1]
    assert (told["user"], told["channel"]) == (FELIX, FELIX_DM)
    assert told["text"] == "Edited and approved Dana Scully's answer to #3; it is being posted."
    held = await slack.app.database.read(approvals.get, reply=1)
    assert held is not None and (held.state, held.decided_by) == ("edited", FELIX)


async def test_an_edit_that_breaks_a_guardrail_is_shown_in_the_modal(slack: SlackHarness) -> None:
    asked = await _held(slack)
    await _click(slack, asked, "edit")
    view = slack.fake.views[max(slack.fake.views)]
    body = _submission(view, "allhands_approval_text", "Mail me at dana.s@lumo.example")
    status, text, took = await slack.send(body)
    assert status == 200 and took < 3.0
    answer = json.loads(text)
    assert answer["response_action"] == "errors"
    error = answer["errors"]["allhands_approval_text"]
    assert error.startswith("Not sent: your text for #3 breaks a rule; the answer still waits.")
    assert "private_data: an e-mail address" in error
    for empty in ("", "   \n "):
        _, text, _ = await slack.send(_submission(view, "allhands_approval_text", empty))
        assert json.loads(text)["errors"] == {
            "allhands_approval_text": "Write what the customer will read, or Cancel."
        }
    await slack.settle()
    assert _sent(slack) == []
    assert len(_buttons(_request(slack))) == 3  # still waiting, still asking
    held = await slack.app.database.read(approvals.waiting, mention=3)
    assert held is not None and held.text == ANSWER


async def test_reject_posts_nothing_and_tells_the_writer(slack: SlackHarness) -> None:
    asked = await _held(slack)
    await _click(slack, asked, "reject")
    view = slack.fake.views[max(slack.fake.views)]
    assert view["title"]["text"] == "Reject #3"
    _, text, _ = await slack.send(_submission(view, "allhands_approval_reason", "  "))
    assert json.loads(text)["errors"] == {
        "allhands_approval_reason": "Say why, so that the writer can do better."
    }
    status, text, _ = await slack.send(
        _submission(view, "allhands_approval_reason", "too gushing <!channel>")
    )
    assert (status, text) == (200, "")
    await slack.settle()
    assert _sent(slack) == []
    [told] = [m for m in slack.fake.messages(DANA_DM) if "rejected" in m["text"]]
    assert told["text"].startswith("Felix rejected your answer to #3: too gushing")
    assert "<!channel>" not in json.dumps(told)
    now = _request(slack)
    assert _buttons(now) == []
    shown = json.dumps(now["blocks"])
    assert "Rejected by Felix* (2026-01-05 09:" in shown
    assert "too gushing &lt;!channel&gt;" in shown and "Nothing was posted." in shown
    assert slack.fake.ephemeral[-1]["text"].startswith("Rejected Dana Scully's answer to #3")

    # Dana writes again; a click on the old request never decides the new answer.
    await slack.command("reply 3 Thanks, cy!", channel=SUPPORT)
    await slack.settle()
    newer = copy.deepcopy(slack.fake.messages(FELIX_DM)[-1])
    assert [b["value"] for b in _buttons(newer)] == ["approve 3 2", "edit 3 2", "reject 3 2"]
    await _click(slack, asked, "approve", value="approve 3 1")
    assert slack.fake.responses[-1][1]["text"] == (
        "This request is for an earlier answer to #3; Dana Scully's newer answer waits for"
        " approval: decide on its own request."
    )
    assert _sent(slack) == []
    await _click(slack, newer, "approve")
    assert _sent(slack) == [("a3", "Thanks, cy!")]


async def test_a_click_by_someone_who_is_no_lead_is_refused(slack: SlackHarness) -> None:
    asked = await _held(slack)
    updates = len(slack.fake.calls_to("chat.update"))
    for user, verb in ((DANA, "approve"), (OMAR, "approve"), (OMAR, "edit"), (DANA, "reject")):
        status, _, _ = await _click(slack, asked, verb, user=user)
        assert status == 200
        told = slack.fake.responses[-1][1]
        assert told["response_type"] == "ephemeral"
        assert told["text"] == f"Only the leads of team support (Felix) can {verb} answers to #3."
    assert slack.fake.calls_to("views.open") == []
    assert len(slack.fake.calls_to("chat.update")) == updates  # the request is untouched
    assert _sent(slack) == []
    assert await slack.app.database.read(approvals.waiting, mention=3) is not None


async def test_forged_stale_and_replayed_clicks_get_401(slack: SlackHarness) -> None:
    asked = await _held(slack)
    action = {"action_id": "allhands_approve", "type": "button", "value": "approve 3 1"}
    body = slack.action_body(action, user=FELIX, channel=FELIX_DM, message_ts=asked["ts"])
    now = int(slack.clock.now().timestamp())
    forged = SignatureVerifier("not-the-secret").generate_signature(timestamp=str(now), body=body)
    for headers in (
        {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": forged or ""},
        slack.headers(body, timestamp=now - 301),
        {},
    ):
        status, _, _ = await slack.send(body, headers=headers)
        assert status == 401
    view = edit_modal(DecisionForm(3, 1, FELIX_DM, asked["ts"]), responder="Dana", text="x")
    submission = _submission({**view, "id": "V1"}, "allhands_approval_text", "Hi!")
    assert (await slack.send(submission, headers=slack.headers(submission, timestamp=now - 600)))[
        0
    ] == 401
    signed = slack.headers(body)
    assert (await slack.send(body, headers=signed))[0] == 200
    assert (await slack.send(body, headers=signed))[0] == 401  # replayed
    await slack.settle()
    assert _sent(slack) == [("a3", ANSWER)]  # the one signed click, once


HOSTILE_VALUES = [
    "", "3", "approve 3", "approve 3 1 1", "approve 0 1", "approve 3 0", "approve -3 1",
    "approve 03 1", "approve 3 1\n", " approve 3 1", "approve  3 1", "APPROVE 3 1",
    "approve \uff13 1", "approve \u0663 1", "approve 3 1; reject 3 x", "approve 9999999999 1",
    "reject 3 1", "approve 3 1 <!channel>", '{"verb": "approve"}',
]  # fmt: skip


async def test_hostile_button_values_and_forms_change_nothing(slack: SlackHarness) -> None:
    asked = await _held(slack)
    before = len(slack.fake.responses)
    for value in HOSTILE_VALUES:
        action = {"action_id": "allhands_approve", "type": "button", "value": value}
        status, _, _ = await slack.click(action, user=FELIX, channel=FELIX_DM, message_ts="1.2")
        assert status == 200, value
    await slack.settle()
    assert [answer["text"] for _, answer in slack.fake.responses[before:]] == [
        "That button is not one allhands made; nothing was done."
    ] * len(HOSTILE_VALUES)
    # A value allhands could have made, naming an answer to another mention.
    await _click(slack, asked, "edit", value="edit 3 99")
    assert "earlier answer to #3" in slack.fake.responses[-1][1]["text"]
    await _click(slack, asked, "approve", value="approve 2 1")
    assert slack.fake.responses[-1][1]["text"] == "No answer to #2 waits for approval."
    await _click(slack, asked, "reject", value="reject 1 1")
    assert slack.fake.responses[-1][1]["text"] == (
        "Only the leads of team billing (none are set) can reject answers to #1."
    )
    await _click(slack, asked, "approve", value="approve 77 1")
    assert slack.fake.responses[-1][1]["text"].startswith("There is no #77.")
    assert slack.fake.calls_to("views.open") == []

    # Modals whose metadata was tampered with are refused in the modal.
    good = edit_modal(DecisionForm(3, 1, FELIX_DM, asked["ts"]), responder="Dana", text="x")
    for metadata in (
        "{not json", "[]", '{"mention": "3", "reply": 1}', '{"mention": true, "reply": 1}',
        '{"mention": 3, "reply": 1, "channel": "#general", "ts": "1.2"}',
        '{"mention": 3, "reply": 1, "channel": "D0FELIX001", "ts": "soon"}',
        '{"mention": 3, "reply": 1e3}', '{"mention": 3000000000, "reply": 1}',
    ):  # fmt: skip
        view = {**good, "id": "V1", "private_metadata": metadata}
        _, text, _ = await slack.send(_submission(view, "allhands_approval_text", "Hi!"))
        assert json.loads(text)["errors"] == {
            "allhands_approval_text": "This dialog is out of date."
        }, metadata
    await slack.settle()
    assert _sent(slack) == []
    assert len(_buttons(_request(slack))) == 3
    assert await slack.app.database.read(approvals.waiting, mention=3) is not None


async def test_hostile_text_in_a_held_answer_is_inert_in_the_request(slack: SlackHarness) -> None:
    posts = [*POSTS[:2], {**POSTS[2], "author": {"handle": "<!here>", "followers": 90}}]
    write_posts(slack.replay, posts)
    raw = "Thanks! <!channel> log in at <https://evil.example|yourbank.com> @here <@U0OMAR0001>"
    # Typed in Slack, `<` arrives as `&lt;`: the slash command reads it back as typed.
    asked = await _held(slack, raw.replace("<", "&lt;").replace(">", "&gt;"))
    held = await slack.app.database.read(approvals.waiting, mention=3)
    assert held is not None and held.text == raw
    shown = [("fallback", asked["text"]), *texts(asked["blocks"])]
    for kind, text in shown:
        assert_inert(kind, text, raw)
    assert "yourbank.com>" not in json.dumps(asked)
    assert "https://social.example/@&lt;!here&gt;/a3" in json.dumps(asked["blocks"])
    await _click(slack, asked, "approve")
    assert _sent(slack) == [("a3", raw)]  # escaping is for chat; the customer gets the text
    for kind, text in texts(_request(slack)["blocks"]):
        assert_inert(kind, text, raw)


NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_every_part_of_a_request_is_inert(raw: str) -> None:
    request = ApprovalRequest(
        person=FELIX, mention=42, reply=7, text=raw, reasons=(raw, f"tone: {raw}"),
        responder=raw[:500], source=raw[:200], author=raw[:300], url=f"https://social.example/{raw}",
    )  # fmt: skip
    decided = [None] + [
        ApprovalDecision(state, by=raw[:100], at=NOW, text=raw, note=raw[:500])
        for state in ("approved", "edited", "rejected")
    ]
    for decision in decided:
        message = approval_message(request, responder=raw[:500], decided=decision)
        assert check_blocks(message["blocks"], most=50) == []
        for kind, shown in [("fallback", message["text"]), *texts(message["blocks"])]:
            assert_inert(kind, shown, f"{raw} {request.url}")
    form = DecisionForm(42, 7, FELIX_DM, "1767603600.000100")
    for view in (edit_modal(form, responder=raw, text=raw), reject_modal(form, responder=raw)):
        assert check_view(view) == []
        for kind, shown in texts(view["blocks"]):
            assert_inert(kind, shown, raw)
        assert read_form(view) == form


def test_button_values_read_back_only_as_written() -> None:
    assert read_click("allhands_approve", "approve 42 7") is not None
    assert read_click("allhands_reject", "reject 999999999 1") is not None
    for action_id, value in [("allhands_edit", "approve 42 7"), ("allhands_claim", "claim 4 1")]:
        assert read_click(action_id, value) is None
    for value in HOSTILE_VALUES:
        assert read_click("allhands_approve", value) is None, value
