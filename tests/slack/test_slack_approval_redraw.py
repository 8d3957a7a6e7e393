"""Two leads on Slack: one decides (a click, a dialog or a typed command) and both leads'
requests show the decision, each redrawn once through the outbox; a request left from an
earlier answer never decides a newer one, even one held while its dialog was open."""

from __future__ import annotations

import copy
import json
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import sqlite_utils

from bot.store import approvals, outbox, replies
from tests.fakes.slack_api import Failure
from tests.slack.conftest import DANA, FELIX, GENERAL, OMAR, SUPPORT, SlackHarness
from tests.slack.test_slack_approvals import ANSWER, _buttons, _sent, _submission

FELIX_DM = "D" + FELIX[1:]
OMAR_DM = "D" + OMAR[1:]
DANA_DM = "D" + DANA[1:]
NEWER = "Thanks, cy! We are glad you like it."
STALE = (
    "This request is for an earlier answer to #3; Dana Scully's newer answer waits for"
    " approval: decide on its own request."
)


def _two_leads(slack: SlackHarness) -> None:
    """Felix and Omar lead support, whose answers to accounts over 50 followers wait."""
    book = slack.app.playbooks
    team = book.teams["support"]
    guardrails = team.guardrails.model_copy(
        update={"approval": team.guardrails.approval.model_copy(update={"audience_over": 50})}
    )
    leads = (FELIX, OMAR)
    slack.app.playbooks = replace(
        book, teams={**book.teams, "support": replace(team, leads=leads, guardrails=guardrails)}
    )


async def _asked(slack: SlackHarness) -> dict[str, dict[str, Any]]:
    """Dana answers cy (90 followers); each lead's request as first posted, by DM."""
    _two_leads(slack)
    await slack.app.poll_all()
    await slack.settle()
    await slack.command(f"reply 3 {ANSWER}", channel=SUPPORT)
    await slack.settle()
    asked = {dm: copy.deepcopy(slack.fake.messages(dm)[-1]) for dm in (FELIX_DM, OMAR_DM)}
    for message in asked.values():
        assert [b["value"] for b in _buttons(message)] == ["approve 3 1", "edit 3 1", "reject 3 1"]
    return asked


async def _click(
    slack: SlackHarness, message: dict[str, Any], verb: str, *, user: str = FELIX
) -> None:
    """`user` clicks a button of their request, in their DM with the app."""
    button = next(b for b in _buttons(message) if b["action_id"] == f"allhands_{verb}")
    action = {"action_id": button["action_id"], "type": "button", "value": button["value"]}
    dm = "D" + user[1:]
    status, _, _ = await slack.click(action, user=user, channel=dm, message_ts=message["ts"])
    assert status == 200
    await slack.settle()


def _now(slack: SlackHarness, dm: str, asked: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A lead's request as it stands now."""
    return slack.fake.channels[dm].messages[asked[dm]["ts"]]


def _updates(slack: SlackHarness, dm: str) -> list[str | None]:
    """The chat.update calls on a lead's DM: None for each one Slack took, else its error."""
    return [c.error for c in slack.fake.calls_to("chat.update") if c.args.get("channel") == dm]


def _notes(slack: SlackHarness, dm: str) -> list[str]:
    """What else was posted in a DM (everything but the request)."""
    return [m["text"] for m in slack.fake.messages(dm)[1:]]


async def test_a_click_redraws_both_leads_requests_once(slack: SlackHarness) -> None:
    asked = await _asked(slack)
    await _click(slack, asked[FELIX_DM], "approve")
    assert _sent(slack) == [("a3", ANSWER)]
    for dm in (FELIX_DM, OMAR_DM):
        now = _now(slack, dm, asked)
        assert _buttons(now) == [], dm
        assert "Approved by Felix* (2026-01-05 09:" in json.dumps(now["blocks"])
        assert now["text"] == "Dana Scully's answer to #3: approved by Felix"
        assert _updates(slack, dm) == [None]
    # Omar's request says it all: he gets no other message about it.
    assert _notes(slack, OMAR_DM) == []
    await slack.settle()
    assert [len(_updates(slack, dm)) for dm in (FELIX_DM, OMAR_DM)] == [1, 1]

    # Omar's old buttons, clicked anyway, decide nothing and redraw nothing.
    await _click(slack, asked[OMAR_DM], "approve", user=OMAR)
    assert slack.fake.responses[-1][1]["text"].startswith(
        "No answer to #3 waits for approval: Felix approved Dana Scully's answer at 2026-01-05"
    )
    assert [len(_updates(slack, dm)) for dm in (FELIX_DM, OMAR_DM)] == [1, 1]
    assert _sent(slack) == [("a3", ANSWER)]


async def test_a_typed_decision_redraws_both_requests(slack: SlackHarness) -> None:
    asked = await _asked(slack)
    assert await slack.command("reject 3 too gushing", user=OMAR, channel=GENERAL) == 200
    await slack.settle()
    assert slack.fake.responses[-1][1]["text"] == (
        "Rejected Dana Scully's answer to #3; nothing was posted."
    )
    for dm in (FELIX_DM, OMAR_DM):
        now = _now(slack, dm, asked)
        assert _buttons(now) == [], dm
        shown = json.dumps(now["blocks"])
        assert "Rejected by omar* (2026-01-05 09:" in shown and "too gushing" in shown
        assert _updates(slack, dm) == [None]
    assert _notes(slack, FELIX_DM) == []
    assert _sent(slack) == []


async def test_a_dialog_decision_redraws_both_requests(slack: SlackHarness) -> None:
    asked = await _asked(slack)
    await _click(slack, asked[OMAR_DM], "edit", user=OMAR)
    view = slack.fake.views[max(slack.fake.views)]
    edited = "Thanks, cy!\nThe team at Lumo"
    body = _submission(view, "allhands_approval_text", edited, user=OMAR)
    assert (await slack.send(body))[:2] == (200, "")
    await slack.settle()
    assert _sent(slack) == [("a3", edited)]
    told = slack.fake.ephemeral[-1]
    assert (told["user"], told["channel"]) == (OMAR, OMAR_DM)
    assert told["text"] == "Edited and approved Dana Scully's answer to #3; it is being posted."
    for dm in (FELIX_DM, OMAR_DM):
        shown = json.dumps(_now(slack, dm, asked)["blocks"])
        assert "Edited and approved by omar" in shown and "The team at Lumo" in shown
        assert _updates(slack, dm) == [None]


async def test_a_redraw_slack_refused_is_retried_and_shown_once(slack: SlackHarness) -> None:
    asked = await _asked(slack)
    # Slack's outage meets the first redraw (requests and the card go out in their own
    # lanes, side by side: which of the leads' is first is not fixed).
    slack.fake.fail("chat.update", Failure(status=503, times=1, channel=FELIX_DM))
    assert await slack.command("approve 3", user=FELIX, channel=GENERAL) == 200
    await slack.settle()
    slack.clock.advance(timedelta(seconds=10))  # past the outbox's backoff, if not yet
    await slack.settle()
    await slack.settle()
    tries = {dm: _updates(slack, dm) for dm in (FELIX_DM, OMAR_DM)}
    # The redraw met Slack's outage and was tried again; each is shown once.
    assert tries == {FELIX_DM: ["service_unavailable", None], OMAR_DM: [None]}
    for dm in (FELIX_DM, OMAR_DM):
        assert _buttons(_now(slack, dm, asked)) == [], dm
    assert sorted(await slack.app.database.read(_redraws)) == [("done", 1), ("done", 2)]
    assert _sent(slack) == [("a3", ANSWER)]


def _redraws(db: sqlite_utils.Database) -> list[tuple[str, int]]:
    rows = db.execute(
        "SELECT state, attempts FROM outbox WHERE kind = ? ORDER BY id",
        [outbox.Kind.APPROVAL_UPDATE.value],
    ).fetchall()
    return [(str(state), int(attempts)) for state, attempts in rows]


def _hold_newer(db: sqlite_utils.Database, *, now: datetime) -> int:
    """Meanwhile, in the store: Omar rejects answer 1 and Dana's next answer waits."""
    assert approvals.settle(db, reply=1, state="rejected", by=OMAR, now=now, note="too gushing")
    replies.mark(db, id=1, status="rejected")
    newer = replies.add(db, mention=3, actor=DANA, text=NEWER, status="held", now=now)
    approvals.ask(
        db, reply=newer, mention=3, responder=DANA, platform="slack", text=NEWER,
        reasons=["audience: @cy has 90 followers"], approvers=[FELIX, OMAR], now=now,
    )  # fmt: skip
    return newer


async def test_a_stale_request_never_decides_a_newer_answer(slack: SlackHarness) -> None:
    asked = await _asked(slack)
    # Felix opens Edit on answer 1 (the dialog checks it waits), then, before he sends
    # it, answer 1 is decided and a newer one is held.
    await _click(slack, asked[FELIX_DM], "edit")
    view = slack.fake.views[max(slack.fake.views)]
    newer = await slack.app.database.write(_hold_newer, now=slack.clock.now())
    body = _submission(view, "allhands_approval_text", "Thanks!\nThe team at Lumo")
    status, text, _ = await slack.send(body)
    assert status == 200
    assert json.loads(text) == {
        "response_action": "errors",
        "errors": {"allhands_approval_text": STALE},
    }
    # The Approve button of the old request, clicked now, is refused in the same way.
    await _click(slack, asked[FELIX_DM], "approve")
    assert slack.fake.responses[-1][1]["text"] == STALE
    await slack.settle()
    held = await slack.app.database.read(approvals.waiting, mention=3)
    assert held is not None and (held.reply, held.text, held.state) == (newer, NEWER, "waiting")
    assert _sent(slack) == []
    assert _updates(slack, FELIX_DM) == _updates(slack, OMAR_DM) == []
