"""Two leads on Teams: one decides (a card's button or a typed command) and both leads'
approval cards are redrawn with the decision, each once, through the outbox; a card left
from an earlier answer never decides a newer one. Over HTTP against the fake Bot Framework."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils

from bot.clock import FakeClock
from bot.store import approvals, replies
from tests.teams.test_teams_approval import ANSWER, card_in, click, data, held_answer, sent, texts
from tests.teams.test_teams_e2e import buttons, installed_with_cards, runs
from tests.teams_harness import BOB, CARMEN, DANA, PLAYBOOK, TeamsHarness, teams_app

# Dana and Carmen lead support; everyone's first five answers wait for one of them.
TWO_LEADS = PLAYBOOK.replace(
    "    channel: teams:{support}\n",
    "    channel: teams:{support}\n    leads: [dana@lumo.example, carmen@lumo.example]\n"
    "    guardrails: {{approval: {{first_replies: 5}}}}\n",
)
DANA_CHAT = "a:1" + DANA["id"][3:]
CARMEN_CHAT = "a:1" + CARMEN["id"][3:]
NEWER = "Signing out and in again fixes it; sorry for the trouble!"


def puts(h: TeamsHarness, chat: str) -> list[int]:
    """The statuses of the updates (PUT) of messages in one 1:1 chat, in order."""
    return [c.status for c in h.fake.connector_calls("PUT") if c.conversation == chat]


async def asked(h: TeamsHarness) -> dict[str, tuple[str, dict[str, Any]]]:
    """Bob's answer waits; each lead's approval card (its id and content), by chat."""
    await installed_with_cards(h)
    await held_answer(h, asked="Dana Scully, Carmen Ruiz")
    cards = {chat: card_in(h, chat) for chat in (DANA_CHAT, CARMEN_CHAT)}
    for _, card in cards.values():
        assert buttons(card)[:3] == ["Approve", "Edit", "Reject"]
    return cards


def decided(h: TeamsHarness, chat: str, card_id: str) -> dict[str, Any]:
    """The card in a chat as it stands now; the same message as first sent."""
    now_id, card = card_in(h, chat)
    assert now_id == card_id
    return card


async def test_a_click_redraws_both_leads_cards_once(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock, playbook=TWO_LEADS) as h:
        cards = await asked(h)
        dana_card, carmen_card = cards[DANA_CHAT][0], cards[CARMEN_CHAT][0]
        assert await click(h, dana_card, data(cards[DANA_CHAT][1], "approve")) == (
            "Approved Bob Ng's answer to #2; it is being posted."
        )
        await h.deliver()
        assert sent(h) == [("a2", ANSWER)]
        for chat, (card_id, _) in cards.items():
            card = decided(h, chat, card_id)
            assert runs(card)[-1] == "Approved by Dana Scully at 2026-01-05 09:00 UTC", chat
            assert buttons(card) == ["Open the post"]
            assert puts(h, chat) == [200], chat
        # Carmen's card says it all: no other message about it reaches her.
        assert texts(h, CARMEN_CHAT) == []
        await h.deliver()
        assert [puts(h, chat) for chat in cards] == [[200], [200]]

        # Carmen's client still showed the buttons: her click decides and redraws nothing.
        again = await click(
            h, carmen_card, data(cards[CARMEN_CHAT][1], "approve"), user=CARMEN, chat=CARMEN_CHAT
        )
        assert again.startswith("No answer to #2 waits for approval: Dana Scully approved")
        await h.deliver()
        assert [puts(h, chat) for chat in cards] == [[200], [200]]
        assert sent(h) == [("a2", ANSWER)]


async def test_a_typed_decision_redraws_both_cards(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock, playbook=TWO_LEADS) as h:
        cards = await asked(h)
        typed = h.command("reject 2 too curt, please say why", user=CARMEN)
        assert await h.post(typed) == 200
        assert h.answers(typed["conversation"]["id"])[-1] == (
            "Rejected Bob Ng's answer to #2; nothing was posted."
        )
        await h.deliver()
        for chat, (card_id, _) in cards.items():
            assert runs(decided(h, chat, card_id))[-1] == (
                "Rejected by Carmen Ruiz at 2026-01-05 09:00 UTC: too curt, please say why."
                " Nothing was posted."
            ), chat
            assert puts(h, chat) == [200], chat
        assert texts(h, DANA_CHAT) == []
        assert sent(h) == []


async def test_a_redraw_teams_refused_is_retried_and_shown_once(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock, playbook=TWO_LEADS) as h:
        cards = await asked(h)
        typed = h.command("approve 2", user=CARMEN)
        assert await h.post(typed) == 200
        h.fake.fail(503, conversation=DANA_CHAT)  # the next request there: its card's redraw
        await h.deliver()
        assert sorted(len(puts(h, chat)) for chat in cards) == [1, 1]
        failed = DANA_CHAT
        assert puts(h, failed) == [503]
        assert buttons(card_in(h, failed)[1])[:3] == ["Approve", "Edit", "Reject"]
        assert sent(h) == [("a2", ANSWER)]  # the customer's answer does not wait for it

        clock.advance(timedelta(seconds=10))  # past the outbox's backoff
        await h.deliver()
        await h.deliver()
        for chat, (card_id, _) in cards.items():
            card = decided(h, chat, card_id)
            assert runs(card)[-1] == "Approved by Carmen Ruiz at 2026-01-05 09:00 UTC", chat
            assert buttons(card) == ["Open the post"]
            assert puts(h, chat) == ([503, 200] if chat == failed else [200]), chat
        assert sent(h) == [("a2", ANSWER)]


def hold_newer(db: sqlite_utils.Database, *, now: datetime) -> int:
    """Meanwhile, in the store: Carmen rejects answer 1 and Bob's next answer waits."""
    assert approvals.settle(
        db, reply=1, state="rejected", by=CARMEN["aadObjectId"], now=now, note="too curt"
    )
    replies.mark(db, id=1, status="rejected")
    bob = BOB["aadObjectId"]
    newer = replies.add(db, mention=2, actor=bob, text=NEWER, status="held", now=now)
    leads = [DANA["aadObjectId"], CARMEN["aadObjectId"]]
    approvals.ask(
        db, reply=newer, mention=2, responder=bob, platform="teams", text=NEWER,
        reasons=["first_replies: this is your reply 2 of the first 5"], approvers=leads, now=now,
    )  # fmt: skip
    return newer


async def test_a_card_for_an_earlier_answer_never_decides_a_newer_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock, playbook=TWO_LEADS) as h:
        cards = await asked(h)
        card_id, card = cards[DANA_CHAT]
        # Between the card being shown and Dana's click, answer 1 is decided and a newer
        # one is held; nothing else looks before the decision's own transaction.
        newer = await h.app.database.write(hold_newer, now=clock.now())
        for verb, extra in (("approve", {}), ("edit", {"edit_text": "Fixed now!"}),
                            ("reject", {"reject_reason": "no"})):  # fmt: skip
            refused = await click(h, card_id, {**data(card, verb), **extra})
            assert refused == (
                "This request is for an earlier answer to #2; Bob Ng's newer answer waits for"
                " approval: decide on its own request."
            ), verb
        await h.deliver()
        held = await h.app.database.read(approvals.waiting, mention=2)
        assert held is not None and (held.reply, held.text) == (newer, NEWER)
        assert sent(h) == []
        assert [puts(h, chat) for chat in cards] == [[], []]
        first = await h.app.database.read(approvals.get, reply=1)
        assert first is not None and (first.state, first.note) == ("rejected", "too curt")
