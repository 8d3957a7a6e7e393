"""Storm mode on Teams over HTTP: one incident card, updated in place, its buttons, the alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.chat.teams.activity import read_submit
from bot.clock import FakeClock
from bot.errors import CommandError
from bot.store import incidents
from tests.conftest import write_posts
from tests.fakes.teams_connector import Post
from tests.teams_harness import BOB, CARMEN, DANA, SUPPORT, TeamsHarness, teams_app
from tests.test_incidents import _until_answered as until_answered

OUTAGE = [
    "No signal in the north since 9am, is there an outage?",
    "north outage again?? no signal, calls dead",
    "Signal gone in the north area. Outage?",
]


def texts(h: TeamsHarness, post_id: str) -> list[str]:
    card = h.fake.card(h.fake.posts[post_id])
    return [i["text"] for block in card["body"] for i in block.get("inlines", [])]


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


def button(card: dict[str, Any], verb: str) -> dict[str, Any]:
    """What a button of the card submits, as Teams echoes it back."""
    [found] = [
        o["data"]
        for o in walk(card)
        if o.get("type") == "Action.Submit" and o["data"].get("allhands") == verb
    ]
    return dict(found)


async def storm(h: TeamsHarness, tmp_path: Path) -> Post:
    """Twenty posts about one outage: the incident's one card in the support channel."""
    assert await h.post(h.installed()) == 200
    write_posts(tmp_path / "posts.jsonl", [
        {"id": f"o{i}", "text": OUTAGE[i % 3], "author": {"handle": f"u{i}"}}
        for i in range(20)
    ])  # fmt: skip
    await h.app.poll_all()
    await h.deliver()
    posts = h.fake.channel_posts(SUPPORT)
    cards = [p for p in posts if p.activity.get("attachments")]
    incident = [p for p in cards if texts(h, p.id)[0].startswith("I1 incident · support")]
    assert len(incident) == 1  # one card for twenty mentions
    assert any("Spike for team support" in str(p.activity) for p in posts)
    return incident[0]


async def click(h: TeamsHarness, card: Post, value: Any, user: dict[str, str] = DANA) -> str:
    """A click on the card in the channel; the bot's answer in the card's thread."""
    before = len(h.answers(f"{SUPPORT};messageid={card.id}"))
    assert await h.post(h.submit(card.id, value, user=user, channel=SUPPORT)) == 200
    [answer] = h.answers(f"{SUPPORT};messageid={card.id}")[before:]
    return str(answer)


async def test_an_incident_is_one_card_with_buttons_that_name_it(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        card = await storm(h, tmp_path)
        shown = h.fake.card(card)
        assert "20 mentions from 20 people" in " ".join(texts(h, card.id))
        assert [a["title"] for a in shown["actions"]] == ["Claim", "Reply to all", "Resolve"]
        assert button(shown, "claim") == {"allhands": "claim", "incident": "I1"}
        # No button of an incident's card names a mention number: #1 is left alone.
        assert not any("number" in o for o in walk(shown))
        assert "Dana Scully: You are on I1" in await click(h, card, button(shown, "claim"))
        assert "is already on I1" in await click(h, card, button(shown, "claim"), user=BOB)
        mention_1 = (await h.app.workflow.handle("show 1", _ctx())).text
        assert "claimed" not in mention_1.split("\n")[0]
        clock.advance(timedelta(seconds=31))
        await h.deliver()
        assert card.versions == 2  # drawn again in place
        assert "On it: Dana Scully" in " ".join(texts(h, card.id))


async def test_reply_all_and_resolve_from_the_card(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        card = await storm(h, tmp_path)
        shown = h.fake.card(card)
        empty = await click(h, card, button(shown, "reply-all"))
        assert "Write the answer for every customer of I1 first; nothing was posted." in empty
        typed = {**button(shown, "reply-all"), "reply_all_text": "Hi {author}, we are on it."}
        said = await click(h, card, typed)
        assert "Answering 20 customers of I1" in said
        await _until_answered(h)
        sent = h.app.connectors["social"].sent  # type: ignore[attr-defined]
        assert ("o7", "Hi u7, we are on it.") in sent and len(sent) == 20
        resolved = await click(h, card, button(shown, "resolve"), user=CARMEN)
        assert "Carmen Ruiz: I1 is resolved" in resolved
        # The old card, clicked again before it is redrawn: refused, nothing done.
        stale = await click(h, card, button(shown, "resolve"))
        assert stale == "Dana Scully: I1 is already resolved: this card is out of date and" \
            " nothing was done."  # fmt: skip
        again = await click(h, card, {**typed, "reply_all_text": "Hello again"})
        assert "out of date" in again
        assert len(h.app.connectors["social"].sent) == 20  # type: ignore[attr-defined]
        unknown = await click(h, card, {"allhands": "claim", "incident": "I99"})
        assert unknown == "Dana Scully: There is no incident I99; nothing was done."


async def test_a_merged_incident_card_points_to_the_other(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        card = await storm(h, tmp_path)
        other = await h.app.database.write(
            incidents.create, team="support", channel=f"teams:{SUPPORT}", why="x", now=clock.now()
        )
        assert other.number == 2
        merged = await h.app.workflow.handle("merge I2 I1", _ctx())
        assert merged.ok, merged.text
        said = await click(h, card, button(h.fake.card(card), "claim"))
        assert "I1 was merged into I2: this card is out of date" in said


@pytest.mark.parametrize(
    "value",
    [
        {"allhands": "claim", "incident": 1},
        {"allhands": "claim", "incident": "1"},
        {"allhands": "claim", "incident": "I0"},
        {"allhands": "claim", "incident": "I01"},
        {"allhands": "claim", "incident": "i1"},
        {"allhands": "claim", "incident": "I1; resolve I2"},
        {"allhands": "claim", "incident": "I1\n"},
        {"allhands": "claim", "incident": "I١"},  # an Arabic-Indic digit
        {"allhands": "claim", "incident": "I" + "9" * 10},
        {"allhands": "claim", "incident": ["I1"]},
        {"allhands": "claim", "incident": "I1", "number": 1},
        {"allhands": "snooze", "incident": "I1"},
        {"allhands": "reply", "incident": "I1", "reply_text": "hi"},
        {"allhands": "reply-all", "incident": "I1", "reply_all_text": ["hi"]},
        {"allhands": "reply-all", "incident": "I1", "reply_all_text": "   "},
        {"allhands": "reply-all", "number": 1, "reply_all_text": "hi"},
        {"allhands": None, "incident": "I1"},
    ],
)
def test_hostile_incident_submits_are_refused(value: Any) -> None:
    with pytest.raises(CommandError):
        read_submit(value)


async def test_a_hostile_click_is_answered_and_changes_nothing(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock) as h:
        card = await storm(h, tmp_path)
        said = await click(h, card, {"allhands": "resolve", "incident": "I1 ; resolve I2"})
        assert said == "Dana Scully: That button names no incident."
        shown = (await h.app.workflow.handle("show I1", _ctx())).text
        assert "resolved" not in shown.split("\n")[0].lower()


async def _until_answered(h: TeamsHarness) -> None:
    await until_answered(h.app)


def _ctx():  # type: ignore[no-untyped-def]
    from bot.workflow import Context

    return Context(actor="someone", platform="teams")
