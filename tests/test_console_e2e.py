"""End to end on the console: a post comes in, is claimed, answered, resolved, all audited."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.chat.console import ConsoleAdapter, ConsoleSession, terminal_safe
from bot.store import mentions, outbox
from bot.workflow import Context
from tests.conftest import ConsoleHarness

ROOT = Path(__file__).resolve().parent.parent


async def test_ingest_card_claim_reply_resolve(harness: ConsoleHarness) -> None:
    app = harness.app
    adapter = app.outbox.adapters["console"]
    assert isinstance(adapter, ConsoleAdapter)

    async def handle(line: str, who: str) -> str:
        answer = await app.workflow.handle(line, Context(actor=who))
        return answer.text

    session = ConsoleSession(handle=handle, adapter=adapter, actor="alice")
    await app.poll_all()
    await app.outbox.drain()
    cards = harness.output()
    assert "#billing  #1 complaint" in cards
    assert "I was charged twice, I want a refund" in cards
    assert "#support  #2 question" in cards

    for line in ("/allhands claim 1", "/allhands reply 1 Sorry! We refunded it today.",
                 "/as bob", "/allhands resolve 1", "/allhands show 1"):  # fmt: skip
        await session.feed(line)
        await app.outbox.drain()
    printed = harness.output()
    expected_in_order = [
        "#1 is yours.",
        "~ #1 claimed: Claimed by alice",
        "Sending your reply to #1 on the demo network",
        # The card is drawn as the answer goes out (it does not wait for the customer's
        # lane), and again once it is posted.
        "~ #1 answered: Answered by alice · answer posted: https://social.example/@ann/a1#",
        "#billing thread: alice's answer is posted in the customer's thread",
        "You are now bob.",
        "#1 is resolved. Thank you!",
        "~ #1 resolved: Resolved by bob at",
        "History:",
    ]
    assert printed.count("~ #1 answered") == 2
    position = 0
    for text in expected_in_order:
        found = printed.find(text, position)
        assert found >= 0, f"{text!r} missing after position {position} in:\n{printed}"
        position = found
    history = await app.database.read(mentions.events, number=1)
    assert [(e.action.value, e.actor, e.to_state.value) for e in history] == [
        ("ingest", "allhands", "new"),
        ("announce", "allhands", "open"),
        ("claim", "alice", "claimed"),
        ("answer", "alice", "answered"),
        ("resolve", "bob", "resolved"),
    ]
    assert app.connectors["social"].sent == [("a1", "Sorry! We refunded it today.")]  # type: ignore[attr-defined]
    assert await app.database.read(outbox.counts) == {"done": 9}


async def test_hostile_posts_cannot_drive_the_terminal(harness: ConsoleHarness) -> None:
    from tests.conftest import write_posts

    write_posts(harness.replay, [{
        "id": "h1", "author": {"handle": "x\x1b[2Jy", "name": "\u202eevil"},
        "text": "clear\x1b[2J\x1b]0;pwned\x07 bell\x07 <b>bold</b> &lt;!channel&gt; a\u200bb",
    }])  # fmt: skip
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    printed = harness.output()
    assert "\x1b" not in printed and "\x07" not in printed
    assert "<U+202E>evil" in printed and "a<U+200B>b" in printed
    assert "<b>bold</b> <!channel>" in printed  # shown as text: a terminal pings no one
    assert terminal_safe("\x1b[31mred") == "[31mred"


def test_demo_command_as_a_new_user_runs_it(tmp_path: Path) -> None:
    env = {**os.environ, "ALLHANDS_PLAYBOOKS": str(ROOT / "playbooks")}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo", "--as", "alice"],
        input="/allhands list\n/allhands claim 1\n/allhands show 1\n",
        capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[claim] [reply]") >= 6  # the first cards
    assert "Open (6):" in out
    assert "#1 is yours. Answer with `reply 1 <text>`." in out
    assert "~ #1 claimed: Claimed by alice" in out
    assert "alice claim (open -> claimed)" in out
    assert "Traceback" not in result.stderr
