"""A lead approves, edits or rejects a held answer with the buttons of a card in their
1:1 chat on Teams, end to end over HTTP against the fake Bot Framework."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.clock import FakeClock
from bot.store import mentions
from tests.teams.test_teams_e2e import buttons, installed_with_cards, runs
from tests.teams_harness import BOB, CARMEN, DANA, PLAYBOOK, SUPPORT, TeamsHarness, teams_app

# Dana (named by e-mail) leads support; everyone's first five answers wait for a lead.
LEADS = PLAYBOOK.replace(
    "    channel: teams:{support}\n",
    "    channel: teams:{support}\n    leads: [dana@lumo.example]\n"
    "    guardrails: {{approval: {{first_replies: 5}}}}\n",
)
DANA_CHAT = "a:1" + DANA["id"][3:]
BOB_CHAT = "a:1" + BOB["id"][3:]
ANSWER = "Try signing out and in again, then tell us if it works."


def sent(h: TeamsHarness) -> list[tuple[str, str]]:
    """What the replay connector posted publicly: (post id, text)."""
    return list(h.app.connectors["social"].sent)  # type: ignore[attr-defined]


def texts(h: TeamsHarness, chat: str) -> list[str]:
    """The plain messages in a 1:1 chat (cards left out)."""
    return [m["text"] for m in h.fake.chats.get(chat, []) if "attachments" not in m]


def chat_updates(h: TeamsHarness) -> list[Any]:
    """The updates (PUT) of messages in 1:1 chats."""
    return [c for c in h.fake.connector_calls("PUT") if c.conversation.startswith("a:")]


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


def card_in(h: TeamsHarness, chat: str) -> tuple[str, dict[str, Any]]:
    """The one approval card in a chat: its message id and its Adaptive Card."""
    [message] = [m for m in h.fake.chats[chat] if "attachments" in m]
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    return message["id"], attachment["content"]


def data(card: dict[str, Any], verb: str) -> dict[str, Any]:
    """What a button of the card submits, as Teams echoes it back."""
    [found] = [
        o["data"]
        for o in walk(card)
        if o.get("type") == "Action.Submit" and o["data"].get("allhands") == verb
    ]
    return dict(found)


async def held_answer(
    h: TeamsHarness, text: str = ANSWER, *, button: bool = False, asked: str = "Dana Scully"
) -> None:
    """Bob answers #2 (typed, or with the card's Reply button, which takes the text as it
    is); his answer waits for the leads `asked`, who are sent the request."""
    if button:
        cards = [p for p in h.fake.channel_posts(SUPPORT) if "attachments" in p.activity]
        [post] = [p for p in cards if runs(h.fake.card(p))[0].startswith("#2 ")]
        value = {"allhands": "reply", "number": 2, "reply_text": text}
        activity = h.submit(post.id, value, user=BOB, channel=SUPPORT)
    else:
        activity = h.command(f"reply 2 {text}", user=BOB)
    assert await h.post(activity) == 200
    assert f"Asked: {asked}." in h.answers(activity["conversation"]["id"])[-1]
    await h.deliver()


async def click(
    h: TeamsHarness, card_id: str, value: Any, *, user: dict[str, str] = DANA, chat: str = DANA_CHAT
) -> str:
    """A click in a 1:1 chat; the bot's answer there."""
    before = len(texts(h, chat))
    assert await h.post(h.chat_submit(chat, card_id, value, user=user)) == 200
    [answer] = texts(h, chat)[before:]
    return answer


async def test_the_lead_gets_a_card_and_approve_posts_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock, playbook=LEADS) as h:
        await installed_with_cards(h)
        await held_answer(h)
        assert sent(h) == []  # nothing is posted before a lead decides
        card_id, card = card_in(h, DANA_CHAT)
        shown = runs(card)
        assert shown[:4] == [
            "#2: Bob Ng's answer waits for your approval",
            "To @bob on the demo network",
            "https://social.example/@bob/a2",
            "Why it waits:",
        ]
        assert shown[4].startswith("• first_replies: a lead reads each person's first 5 replies")
        assert shown[5:] == [
            "It would post, exactly:",
            ANSWER,
            "Nothing is posted until a lead decides.",
        ]
        assert buttons(card) == ["Approve", "Edit", "Reject", "Open the post"]
        assert card["actions"][-1]["url"] == "https://social.example/@bob/a2"
        [edit_box] = [o for o in walk(card) if o.get("id") == "edit_text"]
        assert edit_box["value"] == ANSWER

        # Teams sends the button's data back; the clicking lead is the actor.
        approve = data(card, "approve")
        assert await click(h, card_id, approve) == (
            "Approved Bob Ng's answer to #2; it is being posted."
        )
        await h.deliver()
        assert sent(h) == [("a2", ANSWER)]
        # The card is redrawn in place: the decision, no buttons left.
        [put] = [c for c in h.fake.connector_calls("PUT") if c.conversation == DANA_CHAT]
        assert put.activity_id == card_id
        same_id, decided = card_in(h, DANA_CHAT)
        assert same_id == card_id
        assert runs(decided)[0] == "#2: Bob Ng's answer"
        assert runs(decided)[-1] == "Approved by Dana Scully at 2026-01-05 09:00 UTC"
        assert buttons(decided) == ["Open the post"]
        assert not [o for o in walk(decided) if o.get("type", "").startswith("Input.")]
        assert texts(h, BOB_CHAT)[-1].startswith("Dana Scully approved your answer to #2;")

        # A second click (a client that still shows the buttons) finds nothing waiting.
        again = await click(h, card_id, approve)
        assert again.startswith("No answer to #2 waits for approval: Dana Scully approved")
        await h.deliver()
        assert sent(h) == [("a2", ANSWER)]  # exactly once
        history = await h.app.database.read(mentions.events, number=2)
        assert [(e.action.value, e.actor) for e in history][-3:] == [
            ("hold", BOB["aadObjectId"]),
            ("approve", DANA["aadObjectId"]),
            ("answer", BOB["aadObjectId"]),
        ]


async def test_edit_posts_the_leads_text_unless_it_breaks_a_rule(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock, playbook=LEADS) as h:
        await installed_with_cards(h)
        await held_answer(h)
        card_id, card = card_in(h, DANA_CHAT)
        edit = data(card, "edit")

        for empty in ("", "  \n "):
            refused = await click(h, card_id, {**edit, "edit_text": empty})
            assert refused.startswith("Write the text to post in the Edit box first;")
        leaky = "Write to dana.scully@lumo.example and we will sort it."
        refused = await click(h, card_id, {**edit, "edit_text": leaky})
        assert refused.startswith("Not sent: your text for #2 breaks a rule; the answer still")
        assert "\\- private\\_data: an e-mail address (d…@lumo.example)" in refused
        await h.deliver()
        assert sent(h) == []
        assert not chat_updates(h)  # the card keeps its buttons
        assert buttons(card_in(h, DANA_CHAT)[1])[:3] == ["Approve", "Edit", "Reject"]

        better = "Sorry about that!\nSigning out and in again fixes it; tell us if not."
        assert await click(h, card_id, {**edit, "edit_text": better}) == (
            "Edited and approved Bob Ng's answer to #2; it is being posted."
        )
        await h.deliver()
        assert sent(h) == [("a2", better)]
        decided = runs(card_in(h, DANA_CHAT)[1])
        assert decided[-3:] == [
            "Edited and approved by Dana Scully at 2026-01-05 09:00 UTC",
            "Posted instead:",
            better,
        ]
        assert ANSWER in decided  # what Bob wrote stays on the card, for the record
        assert "It now reads: Sorry about that! Signing out" in texts(h, BOB_CHAT)[-1]


async def test_reject_posts_nothing_and_the_writer_is_told(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock, playbook=LEADS) as h:
        await installed_with_cards(h)
        await held_answer(h)
        card_id, card = card_in(h, DANA_CHAT)
        reject = data(card, "reject")
        for empty in ({}, {"reject_reason": ""}, {"reject_reason": " \t\n"}):
            refused = await click(h, card_id, {**reject, **empty})
            assert refused == (
                "Say why you reject the answer to #2 (its writer is told); it still waits and"
                " nothing was posted."
            )
        told = await click(h, card_id, {**reject, "reject_reason": "too curt,\nplease add why"})
        assert told == "Rejected Bob Ng's answer to #2; nothing was posted."
        await h.deliver()
        assert sent(h) == []
        assert texts(h, BOB_CHAT)[-1].startswith(
            "Dana Scully rejected your answer to #2: too curt, please add why. Nothing was posted;"
        )
        assert runs(card_in(h, DANA_CHAT)[1])[-1] == (
            "Rejected by Dana Scully at 2026-01-05 09:00 UTC: too curt, please add why."
            " Nothing was posted."
        )

        # Bob tries again; the old card cannot approve the new answer Dana has not read.
        await held_answer(
            h, "Signing out and in again fixes it; sorry for the trouble!", button=True
        )
        [old, new] = [m for m in h.fake.chats[DANA_CHAT] if "attachments" in m]
        assert old["id"] == card_id
        stale = await click(h, card_id, data(card, "approve"))
        assert stale == (
            "This request is for an earlier answer to #2; Bob Ng's newer answer waits for"
            " approval: decide on its own request."
        )
        await h.deliver()
        assert sent(h) == []
        fresh = new["attachments"][0]["content"]
        assert await click(h, new["id"], data(fresh, "approve")) == (
            "Approved Bob Ng's answer to #2; it is being posted."
        )
        await h.deliver()
        assert sent(h) == [("a2", "Signing out and in again fixes it; sorry for the trouble!")]


async def test_someone_not_a_lead_is_refused(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock, playbook=LEADS) as h:
        await installed_with_cards(h)
        await held_answer(h)
        card_id, card = card_in(h, DANA_CHAT)
        carmen_chat = "a:1" + CARMEN["id"][3:]
        for chat in (carmen_chat, BOB_CHAT):  # their own chats with the bot
            h.fake.chats.setdefault(chat, [])
        for user, chat in ((CARMEN, carmen_chat), (BOB, BOB_CHAT)):
            for verb, extra in (("approve", {}), ("reject", {"reject_reason": "no"})):
                refused = await click(
                    h, card_id, {**data(card, verb), **extra}, user=user, chat=chat
                )
                assert refused == (
                    f"Only the leads of team support (Dana Scully) can {verb} answers to #2."
                )
        await h.deliver()
        assert sent(h) == []
        assert not chat_updates(h)
        assert buttons(card_in(h, DANA_CHAT)[1])[:3] == ["Approve", "Edit", "Reject"]


HOSTILE = "<at>Dana Scully</at> [refund](https://evil.example) **now** &lt;at&gt;x&lt;/at&gt; ok"


@pytest.mark.parametrize(
    "value",
    [
        {"allhands": "approve", "number": 2},
        {"allhands": "approve", "number": 2, "held": "one"},
        {"allhands": "approve", "number": 2, "held": [1]},
        {"allhands": "approve", "number": 2, "held": True},
        {"allhands": "approve", "number": "2; reject 2 x", "held": 1},
        {"allhands": "approve", "number": "²", "held": 1},
        {"allhands": "edit", "number": 2, "held": 1, "edit_text": {"text": "x"}},
        {"allhands": "reject", "number": 2, "held": 1, "reject_reason": ["x"]},
        {"allhands": "Approve", "number": 2, "held": 1},
        {"allhands": "approve all", "number": 2, "held": 1},
        "approve 2",
    ],
)
async def test_hostile_submits_on_an_approval_card_decide_nothing(
    tmp_path: Path, clock: FakeClock, value: Any
) -> None:
    async with teams_app(tmp_path, clock, playbook=LEADS) as h:
        await installed_with_cards(h)
        await held_answer(h)
        card_id, _ = card_in(h, DANA_CHAT)
        refused = await click(h, card_id, value)
        assert refused.startswith(("That button", "The new text", "The reason")), refused
        await h.deliver()
        assert sent(h) == []
        assert buttons(card_in(h, DANA_CHAT)[1])[:3] == ["Approve", "Edit", "Reject"]


async def test_hostile_text_in_a_held_answer_stays_inert(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock, playbook=LEADS) as h:
        await installed_with_cards(h)
        await held_answer(h, HOSTILE, button=True)
        card_id, card = card_in(h, DANA_CHAT)
        [message] = [m for m in h.fake.chats[DANA_CHAT] if m["id"] == card_id]
        assert "entities" not in message and "text" not in message
        assert set(message["summary"]) & set("<>[]()*_`#&") == set()
        assert set(card["fallbackText"]) & set("<>[]()*_`#&\\") == set()
        # The answer, exactly as Bob wrote it, is in a TextRun and in the Edit box only.
        holding = {
            (o["type"], key)
            for o in walk(card)
            for key, value in o.items()
            if isinstance(value, str) and ("<at>" in value or "](" in value)
        }
        assert holding == {("TextRun", "text"), ("Input.Text", "value")}
        assert HOSTILE in runs(card) and data(card, "edit")["allhands"] == "edit"
        assert not [o for o in walk(card) if o.get("type") in ("TextBlock", "FactSet", "Fact")]
        urls = [o["url"] for o in walk(card) if o.get("type") == "Action.OpenUrl"]
        assert urls == ["https://social.example/@bob/a2"]
        # Approving posts it as written (the customer's platform escapes it), once.
        assert await click(h, card_id, data(card, "approve")) == (
            "Approved Bob Ng's answer to #2; it is being posted."
        )
        await h.deliver()
        assert sent(h) == [("a2", HOSTILE)]
        assert HOSTILE in runs(card_in(h, DANA_CHAT)[1])
