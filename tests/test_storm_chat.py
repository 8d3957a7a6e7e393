"""Storm mode in chat: SLA steps rolled up, cards that tell the truth about waiting, and
the channel's attention budget."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.workflow import Context
from tests.conftest import write_posts
from tests.test_incidents import storm_posts

SLA_BOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 100
teams:
  support:
    channel: console:#support
    leads: [dana]
    sla: {{claim_within: 10m, escalate_after: 30m, ping: here}}
default_team: support
"""

SIX_TOPICS = ["bill", "router", "roaming", "voicemail", "esim", "shop"]


def questions(topics: list[str]) -> list[dict[str, Any]]:
    """One ordinary question a topic, each from its own customer."""
    return [
        {"id": f"c{i}", "text": f"question about my {t}?", "author": {"handle": f"c{i}"}}
        for i, t in enumerate(topics)
    ]


@asynccontextmanager
async def console_app(
    tmp_path: Path, clock: FakeClock, posts: list[dict[str, Any]], book: str = SLA_BOOK
) -> AsyncIterator[tuple[App, io.StringIO]]:
    """allhands on the console with a replay source of `posts` and the playbook `book`
    (`{replay}` stands for the posts' file), started; the app and what it printed."""
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, posts)
    path = tmp_path / "book.yaml"
    path.write_text(book.format(replay=replay), encoding="utf-8")
    out = io.StringIO()
    app = App(
        settings=Settings(db_path=str(tmp_path / "storm.db")),
        adapters={"console": ConsoleAdapter(out)},
        clock=clock,
        playbooks=load_playbooks(path),
    )
    await app.start()
    try:
        yield app, out
    finally:
        await app.stop()


async def test_many_sla_steps_are_rolled_up_per_team_and_incident_members_only_counted(
    tmp_path, clock
) -> None:  # type: ignore[no-untyped-def]
    ordinary = [
        {"id": f"c{i}", "text": f"{topic} question number {i}", "author": {"handle": f"c{i}"}}
        for i, topic in enumerate(["billing", "router", "roaming", "voicemail", "esim", "shop"])
    ]
    async with console_app(tmp_path, clock, [*ordinary, *storm_posts(12)]) as (app, out):
        await app.poll_all()
        await app.outbox.drain()
        out.seek(0)
        out.truncate()
        clock.advance(timedelta(minutes=40))
        report = await app.sla.sweep()
        await app.outbox.drain()
        printed = " ".join(out.getvalue().replace("│", " ").split())
        assert report.done  # every step is recorded, once
        assert printed.count("wait unclaimed past the team's promise") == 1
        assert "#1 (40m)" in printed and "Incidents waiting: I1." in printed
        assert "thread:" not in printed  # no nudge one by one
        assert printed.count("Escalation for support") == 1  # one message for dana
        assert "@here" not in printed
        again = await app.sla.sweep()
        assert not again.done  # each step once


async def test_two_sweeps_in_a_row_post_one_roll_up_and_update_it(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    book = SLA_BOOK.replace("escalate_after: 30m, ping: here", "renudge_every: 10m")
    title = "Waiting past support's promise"
    async with console_app(tmp_path, clock, questions(SIX_TOPICS), book) as (app, out):
        await app.poll_all()
        await app.outbox.drain()
        clock.advance(timedelta(minutes=11))
        assert (await app.sla.sweep()).done
        await app.outbox.drain()
        assert out.getvalue().count(title) == 1  # posted
        assert "6 mentions wait unclaimed past the team's promise" in out.getvalue()
        assert "thread:" not in out.getvalue()
        clock.advance(timedelta(minutes=10))
        assert (await app.sla.sweep()).done  # the second round of nudges
        await app.outbox.drain()
        printed = out.getvalue()
        assert printed.count(title) == 1  # no second message: the first is updated
        assert printed.count("~ sla roll-up open: 6 mentions wait unclaimed") == 1
        assert "as of 09:21 UTC" in printed
        # Two sweeps before the outbox runs: one message, with the newer content.
        await app.workflow.handle("claim 1", Context(actor="alice"))
        clock.advance(timedelta(minutes=10))
        await app.sla.sweep()
        clock.advance(timedelta(minutes=10))
        await app.sla.sweep()
        await app.outbox.drain()
        printed = out.getvalue()
        assert printed.count("~ sla roll-up open:") == 2 and printed.count(title) == 1
        assert "5 mentions wait unclaimed past the team's promise · as of 09:41 UTC" in printed
        # An hour after it was posted, the roll-up is a new message again.
        clock.advance(timedelta(minutes=30))
        await app.sla.sweep()
        await app.outbox.drain()
        assert out.getvalue().count(title) == 2


async def test_cards_tell_the_truth_about_waiting(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    posts = [{"id": "p1", "text": "my bill is wrong", "author": {"handle": "ann"}}]
    book = SLA_BOOK.replace("ping: here", "ping: here, renudge_every: 5m")
    async with console_app(tmp_path, clock, posts, book) as (app, out):
        await app.poll_all()
        await app.outbox.drain()
        for minutes in (11, 6, 6, 10):
            clock.advance(timedelta(minutes=minutes))
            await app.sla.sweep()
            await app.outbox.drain()
        printed = out.getvalue()
        assert "Unclaimed for 0s (since 09:00 UTC)" in printed
        assert "~ #1 open: Unclaimed for 11m (since 09:00 UTC) · overdue: nudged 1 time" in printed
        assert "overdue: nudged 4 times · escalated to the leads" in printed
        assert printed.count("@here") == 1  # the first nudge only
        shown = (await app.workflow.handle("show 1", Context(actor="alice"))).text
        assert (
            "SLA steps:" in shown and "nudge (round 0)" in shown and "escalate (round 0)" in shown
        )


async def test_past_the_budget_cards_are_rolled_up_into_one_message(tmp_path, clock) -> None:  # type: ignore[no-untyped-def]
    book = SLA_BOOK.replace(
        "    sla: {{claim_within: 10m, escalate_after: 30m, ping: here}}\n",
        "    chat_budget: {{messages: 3, per: 10m}}\n",
    )
    posts = questions([*SIX_TOPICS, "contract"])
    async with console_app(tmp_path, clock, posts, book) as (app, out):
        await app.poll_all()
        await app.outbox.drain()
        printed = out.getvalue()
        assert printed.count("#support  #") == 3  # the budget: three cards
        assert printed.count("4 more mentions waiting: 4 questions") == 1  # one message
        listed = (await app.workflow.handle("list", Context(actor="alice"))).text
        assert "#7" in listed  # every rolled-up mention is reachable
        answer = await app.workflow.handle("claim 7", Context(actor="alice"))
        assert "is yours" in answer.text
        clock.advance(timedelta(seconds=31))
        await app.outbox.drain()
        assert "~ roll-up open: 3 waiting" in out.getvalue()  # drawn again in place
