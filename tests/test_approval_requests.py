"""Approval requests and decisions crossing in time, on the console with request buttons:
a request not yet sent when a lead decides is not sent; one on its way is redrawn as soon
as it is recorded; a button's held answer is checked in the decision's own transaction."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.chat import MessageRef
from bot.chat.approval import ApprovalRequest
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import approvals
from bot.workflow import Context
from tests.conftest import ConsoleHarness, write_posts
from tests.stores import rows
from tests.test_approval import PLAYBOOK, RecordingConsole, requests, sent
from tests.test_approval import care as care  # the fixture: two leads, request buttons

ANSWER = "We're on it. – Lumo"


def outbox_rows(h: ConsoleHarness) -> list[tuple[str, str, str]]:
    """Every outbox row: kind, state, result."""
    found = rows(
        h.app.settings.db_path, "SELECT kind, state, coalesce(result, '') FROM outbox ORDER BY id"
    )
    return [(str(k), str(s), str(r)) for k, s, r in found]


def adapter_of(h: ConsoleHarness) -> RecordingConsole:
    adapter = h.app.outbox.adapters["console"]
    assert isinstance(adapter, RecordingConsole)
    return adapter


async def test_a_request_not_yet_sent_when_a_lead_decides_is_not_sent(
    care: ConsoleHarness,
) -> None:
    h = care
    # alice's answer waits; felix approves it before the outbox has asked anyone.
    await h.app.workflow.handle(f"reply 1 {ANSWER}", Context(actor="alice"))
    assert (await h.app.workflow.handle("approve 1", Context(actor="felix"))).ok
    await h.app.outbox.drain()
    assert requests(h) == [] and adapter_of(h).redrawn == []
    assert "(only dana sees this) felix approved alice's answer to #1; nothing more to do." in (
        h.output()
    )
    skipped = [r for k, s, r in outbox_rows(h) if k == "approval_request"]
    assert skipped == ['{"skipped": "decided before this lead was asked"}'] * 2
    assert sent(h) == [("b1", ANSWER)]


class RacingConsole(RecordingConsole):
    """Request buttons; while the first request is being posted, felix decides."""

    def __init__(self, out: io.StringIO):
        super().__init__(out)
        self.app: App | None = None
        self.deciding = False
        self.decided: list[str] = []

    async def ask_approval(self, request: ApprovalRequest) -> MessageRef:
        ref = await super().ask_approval(request)
        if self.app is not None and not self.deciding:
            self.deciding = True
            answer = await self.app.workflow.handle("approve 1", Context(actor="felix"))
            self.decided.append(answer.text)
        return ref


@pytest.fixture
async def racing(tmp_path: Path, clock: FakeClock) -> AsyncIterator[ConsoleHarness]:
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, [{"id": "b1", "text": "My router died", "author": {"handle": "ann"}}])
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.format(replay=replay), encoding="utf-8")
    out = io.StringIO()
    console = RacingConsole(out)
    app = App(
        settings=Settings(db_path=str(tmp_path / "app.db")),
        adapters={"console": console},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    await app.poll_all()
    await app.outbox.drain()
    console.app = app
    yield ConsoleHarness(app, out, replay)
    await app.stop()


async def test_a_request_on_its_way_when_a_lead_decides_is_redrawn_once(
    racing: ConsoleHarness,
) -> None:
    h = racing
    await h.say(f"reply 1 {ANSWER}")
    adapter = adapter_of(h)
    assert isinstance(adapter, RacingConsole)
    assert adapter.decided == ["Approved alice's answer to #1; it is being posted."]
    # A request was being posted as felix decided. The leads' private chats are lanes of
    # their own, side by side: felix's request was on its way too, or was never sent.
    posted = [r.person for r in requests(h)]
    assert "dana" in posted or "felix" in posted
    await h.app.outbox.drain()
    assert sorted((ref.channel, d.state, d.by) for ref, _, d in adapter.redrawn) == [
        (f"@{person}", "approved", "felix") for person in sorted(posted)
    ]
    assert sent(h) == [("b1", ANSWER)]


async def test_a_buttons_answer_is_checked_in_the_decisions_transaction(
    care: ConsoleHarness,
) -> None:
    h = care
    await h.say(f"reply 1 {ANSWER}")
    first = requests(h)[0].reply
    await h.say("reject 1 not yet", "dana")
    await h.say("reply 1 We're on it, sorry! – Lumo")
    newer = requests(h)[-1].reply
    before = outbox_rows(h)
    # A button made for the first answer, clicked now: refused, and nothing is written.
    stale = Context(actor="felix", held=first)
    for line in ("approve 1", "edit 1 Fixed. – Lumo", "reject 1 no"):
        answer = await h.app.workflow.handle(line, stale)
        assert (answer.ok, answer.text) == (
            False,
            "This request is for an earlier answer to #1; alice's newer answer waits for"
            " approval: decide on its own request.",
        )
    assert outbox_rows(h) == before
    held = await h.app.database.read(approvals.waiting, mention=1)
    assert held is not None and held.reply == newer
    # The newer answer's own button decides it.
    answer = await h.app.workflow.handle("approve 1", Context(actor="felix", held=newer))
    assert answer.text == "Approved alice's answer to #1; it is being posted."
    await h.app.outbox.drain()
    assert sent(h) == [("b1", "We're on it, sorry! – Lumo")]
