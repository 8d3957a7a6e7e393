"""The Teams approval card and its buttons, pure: the card's JSON, and submits read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.teams.activity import Submit, read_submit
from bot.chat.teams.approval_cards import approval_activity, approval_card
from bot.chat.teams.cards import ADAPTIVE_CARD
from bot.errors import CommandError

BOB = "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
DANA = "6f1c2a9e-0b5d-4c1e-9a77-3d2e8f1b4c01"
AT = datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
HOSTILE = "<at>Dana</at> [refund](https://evil.example) **now**\n# big\n\u202eevil"


def request(**changes: Any) -> ApprovalRequest:
    fields: dict[str, Any] = {
        "person": DANA,
        "mention": 42,
        "reply": 7,
        "text": "Sorry! We refunded you today.\n– Lumo",
        "reasons": ("first_replies: this is your reply 1 of the first 2", "tone: it reads sharp"),
        "responder": BOB,
        "source": "social",
        "author": "ann",
        "url": "https://social.example/@ann/p1",
    }
    return ApprovalRequest(**(fields | changes))


def walk(node: Any) -> list[dict[str, Any]]:
    """Every JSON object in a card, depth first."""
    found = []
    if isinstance(node, dict):
        found.append(node)
        for value in node.values():
            found += walk(value)
    elif isinstance(node, list):
        for value in node:
            found += walk(value)
    return found


def runs(card: dict[str, Any]) -> list[str]:
    return [i["text"] for block in card["body"] for i in block.get("inlines", [])]


def test_the_card_shows_the_request_and_three_decisions() -> None:
    card = approval_card(request(), names={BOB: "Bob Ng"})
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    assert runs(card) == [
        "#42: Bob Ng's answer waits for your approval",
        "To @ann on social",
        "https://social.example/@ann/p1",
        "Why it waits:",
        "• first_replies: this is your reply 1 of the first 2",  # one reason a line
        "• tone: it reads sharp",
        "It would post, exactly:",
        "Sorry! We refunded you today.\n– Lumo",
        "Nothing is posted until a lead decides.",
    ]
    assert [(a["type"], a["title"]) for a in card["actions"]] == [
        ("Action.Submit", "Approve"),
        ("Action.ShowCard", "Edit"),
        ("Action.ShowCard", "Reject"),
        ("Action.OpenUrl", "Open the post"),
    ]
    submits = [o["data"] for o in walk(card) if o.get("type") == "Action.Submit"]
    assert submits == [
        {"allhands": verb, "number": 42, "held": 7} for verb in ("approve", "edit", "reject")
    ]
    edit, reject = [o for o in walk(card) if o.get("type") == "Input.Text"]
    assert edit["id"] == "edit_text" and edit["value"] == request().text
    assert edit["isMultiline"] and edit["isRequired"] and edit["maxLength"] == 10_000
    assert reject["id"] == "reject_reason" and reject["isRequired"] and "value" not in reject
    # Each submit sends back the data that read_submit turns into the command.
    assert read_submit({**submits[0]}) == Submit("approve 42", 42, 7)
    json.dumps(card)


def test_a_request_without_a_customer_handle_or_a_web_link() -> None:
    card = approval_card(request(author="", url="javascript:alert(1)"))
    assert runs(card)[:3] == [
        f"#42: {BOB}'s answer waits for your approval",
        "social",
        "javascript:alert(1)",
    ]
    assert not [o for o in walk(card) if o.get("type") == "Action.OpenUrl"]
    assert [a["title"] for a in approval_card(request(url=""))["actions"]] == [
        "Approve",
        "Edit",
        "Reject",
    ]


def test_strangers_text_only_in_text_runs_and_the_edit_box() -> None:
    evil = request(text=HOSTILE, author="x](https://evil.example)", reasons=(f"tone: {HOSTILE}",))
    activity = approval_activity(evil, names={BOB: "**Boss** <at>General</at>"})
    assert "entities" not in activity and "text" not in activity
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    card = attachment["content"]
    assert not [o for o in walk(card) if o.get("type") in ("TextBlock", "FactSet", "Fact")]
    holding = {
        (o["type"], key)
        for o in walk(card)
        for key, value in o.items()
        if isinstance(value, str) and ("evil.example" in value or "<at>" in value)
    }
    assert holding == {("TextRun", "text"), ("Input.Text", "value")}
    # Invisible characters are shown for what they are; the Edit box keeps the text exact.
    assert HOSTILE.replace("\u202e", "<U+202E>") in runs(card)
    assert [o["value"] for o in walk(card) if o.get("id") == "edit_text"] == [HOSTILE]
    assert set(activity["summary"]) & set("<>[]()*_`&") == set()
    assert set(card["fallbackText"]) & set("<>[]()*_`&\\") == set()
    labels = [o.get("label", "") + o.get("placeholder", "") for o in walk(card)]
    assert not [label for label in labels if "Boss" in label or "evil" in label]


@pytest.mark.parametrize(
    ("outcome", "last"),
    [
        (
            ApprovalDecision("approved", DANA, AT),
            ["Approved by Dana Scully at 2026-01-05 09:30 UTC"],
        ),
        (
            ApprovalDecision("edited", DANA, AT, text="Refunded today. – Lumo"),
            [
                "Edited and approved by Dana Scully at 2026-01-05 09:30 UTC",
                "Posted instead:",
                "Refunded today. – Lumo",
            ],
        ),
        (
            ApprovalDecision("rejected", DANA, AT, note="too curt"),
            ["Rejected by Dana Scully at 2026-01-05 09:30 UTC: too curt. Nothing was posted."],
        ),
    ],
)
def test_a_decided_card_shows_who_decided_what_and_no_buttons(
    outcome: ApprovalDecision, last: list[str]
) -> None:
    names = {BOB: "Bob Ng", DANA: "Dana Scully"}
    activity = approval_activity(request(), names=names, outcome=outcome)
    card = activity["attachments"][0]["content"]
    shown = runs(card)
    assert shown[0] == "#42: Bob Ng's answer"
    assert shown[-len(last) :] == last
    assert "The answer:" in shown and request().text in shown
    assert [a["type"] for a in card["actions"]] == ["Action.OpenUrl"]
    assert not [o for o in walk(card) if o.get("type", "").startswith(("Input.", "Action.S"))]
    assert activity["summary"] == f"Mention 42: answer {outcome.state}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"allhands": "approve", "number": 42, "held": 7}, Submit("approve 42", 42, 7)),
        ({"allhands": "approve", "number": "42", "held": "7"}, Submit("approve 42", 42, 7)),
        (
            {"allhands": "edit", "number": 42, "held": 7, "edit_text": "  Fixed.\nThanks!  "},
            Submit("edit 42 Fixed.\nThanks!", 42, 7),
        ),
        (
            {"allhands": "reject", "number": 42, "held": 7, "reject_reason": " too\n curt "},
            Submit("reject 42 too curt", 42, 7),
        ),
        ({"allhands": "claim", "number": 42, "held": 7}, Submit("claim 42", 42)),
    ],
)
def test_decisions_become_command_lines(value: dict[str, Any], expected: Submit) -> None:
    assert read_submit(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"allhands": "approve", "number": 42}, "That button names no answer waiting"),
        ({"allhands": "approve", "number": 42, "held": 0}, "That button names no answer"),
        ({"allhands": "approve", "number": 42, "held": -7}, "That button names no answer"),
        ({"allhands": "approve", "number": 42, "held": "7 "}, "That button names no answer"),
        ({"allhands": "approve", "number": 42, "held": "٧"}, "That button names no answer"),
        ({"allhands": "approve", "number": 42, "held": 7.0}, "That button names no answer"),
        ({"allhands": "approve", "number": 42, "held": False}, "That button names no answer"),
        ({"allhands": "approve", "number": 42, "held": 10**9}, "That button names no answer"),
        ({"allhands": "approve", "number": "4 2", "held": 7}, "That button names no mention"),
        ({"allhands": "APPROVE", "number": 42, "held": 7}, "That button is not one of"),
        ({"allhands": "approve ", "number": 42, "held": 7}, "That button is not one of"),
        ({"allhands": "edit", "number": 42, "held": 7}, "Write the text to post in the Edit box"),
        ({"allhands": "edit", "number": 42, "held": 7, "edit_text": 5}, "The new text must be"),
        ({"allhands": "edit", "number": 42, "held": 7, "edit_text": None}, "The new text must"),
        ({"allhands": "reject", "number": 42, "held": 7}, "Say why you reject the answer to #42"),
        ({"allhands": "reject", "number": 42, "held": 7, "reject_reason": "\u3000"}, "Say why"),
        ({"allhands": "reject", "number": 42, "held": 7, "reject_reason": {}}, "The reason must"),
    ],
)
def test_hostile_decisions_are_refused(value: Any, message: str) -> None:
    with pytest.raises(CommandError) as refused:
        read_submit(value)
    assert str(refused.value).startswith(message)
