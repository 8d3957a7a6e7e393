"""The Teams builders and readers, pure: Adaptive Cards, escaping, activities, card submits."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat.cards import Card, build_card
from bot.chat.teams.activity import Activity, command_text, submitted_command
from bot.chat.teams.cards import (
    ADAPTIVE_CARD,
    adaptive_card,
    card_activity,
    escape_markdown,
    inert,
    text_activity,
)
from bot.domain.mentions import Author, Mention, State
from bot.errors import CommandError

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOSTILE = (
    "<at>Dana Scully</at> [click for refund](https://evil.example) **urgent** _now_ "
    "# heading\n- list\n1. one\n> quote `code` &lt;at&gt;x&lt;/at&gt; \u202eevil"
)
DANA = "6f1c2a9e-0b5d-4c1e-9a77-3d2e8f1b4c01"


def mention(state: State = State.OPEN, text: str = "I was charged twice", **kw: Any) -> Mention:
    fields = {"url": "https://social.example/@ann/p1"} | kw
    return Mention(
        number=42,
        source="social",
        external_id="p1",
        author=Author(handle="ann", name="Ann", audience=1200),
        text=text,
        state=state,
        team="billing",
        kind="complaint",
        urgency="high",
        sentiment=-0.6,
        created_at=NOW,
        received_at=NOW,
        **fields,
    )


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


def test_card_for_an_open_mention() -> None:
    card = adaptive_card(build_card(mention(), now=NOW))
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    texts = [i["text"] for block in card["body"] for i in block["inlines"]]
    assert texts == [
        "#42 complaint · high · billing",
        "Ann (@ann) · 1,200 followers on social",
        "I was charged twice",
        "https://social.example/@ann/p1",
        "Unclaimed for 0s (since 09:00 UTC)",
    ]
    kinds = [(a["type"], a["title"]) for a in card["actions"]]
    assert kinds == [
        ("Action.Submit", "Claim"),
        ("Action.ShowCard", "Reply"),
        ("Action.Submit", "Resolve"),
        ("Action.ShowCard", "Snooze"),
        ("Action.OpenUrl", "Open the post"),
    ]
    submits = [o["data"] for o in walk(card) if o.get("type") == "Action.Submit"]
    assert submits == [
        {"allhands": v, "number": 42} for v in ("claim", "reply", "resolve", "snooze")
    ]
    [reply_input] = [o for o in walk(card) if o.get("type") == "Input.Text"]
    assert reply_input["id"] == "reply_text" and reply_input["isMultiline"] is True
    [choices] = [o for o in walk(card) if o.get("type") == "Input.ChoiceSet"]
    assert [c["value"] for c in choices["choices"]] == ["1h", "4h", "1d", "2d"]
    json.dumps(card)  # serialisable as it is


@pytest.mark.parametrize(
    ("state", "titles"),
    [
        (State.CLAIMED, ["Reply", "Resolve", "Snooze", "Release"]),
        (State.ANSWERED, ["Reply", "Resolve", "Snooze"]),
        (State.RESOLVED, ["Reopen"]),
        (State.IGNORED, ["Reopen"]),
    ],
)
def test_buttons_follow_the_state(state: State, titles: list[str]) -> None:
    card = adaptive_card(build_card(mention(state, claimed_by=DANA), now=NOW))
    assert [a["title"] for a in card["actions"]][:-1] == titles


def test_strangers_text_only_in_text_runs_and_never_a_mention() -> None:
    evil = mention(text=HOSTILE, url="javascript:alert(1)")
    activity = card_activity(build_card(evil, now=NOW))
    card = activity["attachments"][0]["content"]
    assert activity["attachments"][0]["contentType"] == ADAPTIVE_CARD
    # No TextBlock (which renders Markdown) and no FactSet anywhere on the card.
    assert not [o for o in walk(card) if o.get("type") in ("TextBlock", "FactSet", "Fact")]
    runs = [o for o in walk(card) if o.get("type") == "TextRun"]
    assert any(HOSTILE.replace("\u202e", "<U+202E>") == r["text"] for r in runs)
    assert "msteams" not in json.dumps(activity).replace('"msteams": {"width": "Full"}', "")
    assert "entities" not in activity
    # A URL that is not http(s) gets no button, and the preview has no markup at all.
    assert not [o for o in walk(card) if o.get("type") == "Action.OpenUrl"]
    assert set(activity["summary"]) & set("<>[]()*_`#&") == set()
    assert set(card["fallbackText"]) & set("<>[]()*_`#&\\") == set()


def test_names_are_in_the_status_only() -> None:
    card = build_card(
        mention(State.CLAIMED, text=f"mentions {DANA}", claimed_by=DANA),
        now=NOW,
        names={DANA: "Dana Scully"},
    )
    content = adaptive_card(card)
    texts = [i["text"] for block in content["body"] for i in block["inlines"]]
    assert texts[-1] == "Claimed by Dana Scully"
    assert f"mentions {DANA}" in texts  # the customer's text is shown as written


def test_escape_markdown_leaves_nothing_to_interpret() -> None:
    text = escape_markdown(HOSTILE)
    assert "<" not in text and ">" not in text
    assert "&lt;at&gt;Dana Scully&lt;/at&gt;" in text
    assert "\\[click for refund\\](https://evil.example)" in text
    assert "\\*\\*urgent\\*\\* \\_now\\_" in text
    assert "&amp;lt;at&amp;gt;" in text  # entities in the source stay text
    paragraphs = text.split("\n\n")
    assert [p[:4] for p in paragraphs[1:4]] == ["\\- l", "1\\. ", "&gt;"]
    assert paragraphs[0].startswith("&lt;at&gt;")
    assert escape_markdown("") == " "
    assert text_activity("hi") == {"type": "message", "textFormat": "markdown", "text": "hi"}
    assert inert("<at>x</at> [a](b) **c**") == "atx/at ab c"


def test_escape_keeps_plain_text_readable() -> None:
    assert (
        escape_markdown("Sending your reply to #42 on social.")
        == "Sending your reply to #42 on social."
    )
    assert escape_markdown("#42 is yours") == "\\#42 is yours"
    assert escape_markdown("line one\n  line two") == "line one\n\nline two"


def activity(**fields: Any) -> Activity:
    base = {
        "type": "message",
        "conversation": {"id": "19:a@thread.tacv2;messageid=1"},
        "recipient": {"id": "28:bot", "name": "allhands"},
    }
    return Activity.model_validate(base | fields)


def test_command_text_strips_the_bots_mention_only() -> None:
    bot = {
        "type": "mention",
        "text": "<at>allhands</at>",
        "mentioned": {"id": "28:bot", "name": "allhands"},
    }
    dana = {
        "type": "mention",
        "text": "<at>Dana</at>",
        "mentioned": {"id": "29:dana", "name": "Dana"},
    }
    a = activity(text="<at>allhands</at>&nbsp;assign 42 <at>Dana</at>\n", entities=[bot, dana])
    assert command_text(a) == "assign 42 Dana"
    assert command_text(a, people={"29:dana": DANA}) == f"assign 42 {DANA}"
    # A stranger cannot smuggle a mention of the bot through untyped text.
    b = activity(text="<at>allhands</at> reply 42 use &lt;b&gt; &amp; <at>x</at>", entities=[bot])
    assert command_text(b) == "reply 42 use <b> & x"
    assert command_text(activity(text="list", entities=[{"type": "mention", "text": 5}])) == "list"


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ({"allhands": "claim", "number": 42}, "claim 42"),
        ({"allhands": "claim", "number": "42"}, "claim 42"),
        (
            {"allhands": "reply", "number": 42, "reply_text": "Thanks!\nFixed."},
            "reply 42 Thanks!\nFixed.",
        ),
        ({"allhands": "reply", "number": 42}, "reply 42"),
        ({"allhands": "snooze", "number": 42, "snooze_for": "4h"}, "snooze 42 4h"),
        ({"allhands": "resolve", "number": 42, "extra": "ignored"}, "resolve 42"),
    ],
)
def test_submits_become_command_lines(value: dict[str, Any], line: str) -> None:
    assert submitted_command(value) == line


@pytest.mark.parametrize(
    "value",
    [
        None,
        "claim 42",
        [1],
        {},
        {"allhands": "assign", "number": 42},
        {"allhands": "claim"},
        {"allhands": "claim", "number": True},
        {"allhands": "claim", "number": -1},
        {"allhands": "claim", "number": 10**12},
        {"allhands": "claim", "number": "42; resolve 1"},
        {"allhands": "claim", "number": 4.2},
        {"allhands": "claim", "number": "²"},  # a digit to str.isdigit, not to int()
        {"allhands": "reply", "number": 1, "reply_text": ["x"]},
        {"allhands": "snooze", "number": 1, "snooze_for": {"h": 1}},
        {"allhands": ["claim"], "number": 1},
    ],
)
def test_hostile_submits_are_refused(value: Any) -> None:
    with pytest.raises(CommandError):
        submitted_command(value)


def test_activity_reading_is_lenient_but_typed() -> None:
    a = activity(
        **{"from": {"id": "29:x", "name": "X", "aadObjectId": DANA}},
        channelData={"tenant": {"id": "t1"}, "team": {"id": "19:t@thread.tacv2"}, "channel": "odd"},
    )
    assert a.actor == DANA and a.tenant_id == "t1" and a.team_id == "19:t@thread.tacv2"
    assert a.base_conversation_id == "19:a@thread.tacv2" and a.channel_name == ""
    assert activity(**{"from": {"id": "emulator-user"}}).actor == "emulator-user"
    with pytest.raises(ValueError):
        Activity.model_validate({"type": "message"})


def test_card_type_is_the_neutral_card() -> None:
    assert isinstance(build_card(mention(), now=NOW), Card)
