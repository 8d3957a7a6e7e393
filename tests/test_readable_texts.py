"""Every kind of message the bot sends, rendered and read as its reader would."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.digest_periods import day_period
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import people
from bot.workflow import Context
from tests.conftest import write_posts

BOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 50
teams:
  care:
    name: Customer care
    channel: console:#care
    leads: [U0LEAD1, U0LEAD2]
    sla: {{claim_within: 10m, escalate_after: 30m, reply_within: 20m, release_claim_after: 1h}}
    guardrails:
      approval: {{first_replies: 1}}
  billing:
    channel: console:#billing
    keywords: [invoice]
    digest: {{time: "08:30"}}
default_team: care
"""
POSTS = [
    {"id": "p1", "text": "My router is down again", "author": {"handle": "ann", "name": "Ann"}},
    {"id": "p2", "text": "Where is my invoice?", "author": {"handle": "bob"}},
    {"id": "p3", "text": "Family day 👨\u200d👩\u200d👧 offline", "author": {"handle": "cy"}},
]
# What no reader should meet: playbook syntax, ids where names are known, doubled words
# and stops, a lead told about "your reply", source ids standing for platforms.
UNREADABLE = [
    (re.compile(r"\b(?:slack|teams|console):#"), "playbook channel syntax"),
    (re.compile(r"\bU0LEAD\d\b"), "a person's id where their name is known"),
    (re.compile(r"(?<!\.)\.\.(?!\.)"), "a double full stop"),
    (re.compile(r"\bby (\w[\w ]*) · answer by \1\b"), "the same name twice"),
    (re.compile(r"<U\+200D>"), "a joined emoji broken up"),
    # (A digest names sources by id, `@bob on social: “…”`, as it counts mentions by them.)
    (
        re.compile(r"\bon social\b(?!:)|\bsocial (?:allows|counts)"),
        "the source id for the platform",
    ),
]


async def test_every_message_kind_reads_well(tmp_path: Path) -> None:
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(replay=replay), encoding="utf-8")
    out = io.StringIO()
    clock = FakeClock()
    app = App(
        settings=Settings(db_path=str(tmp_path / "app.db")),
        adapters={"console": ConsoleAdapter(out, reports_dir=tmp_path / "charts")},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()

    async def say(line: str, actor: str) -> str:
        answer = await app.workflow.handle(line, Context(actor=actor, platform="console"))
        await app.outbox.drain()
        out.write(f"[answer to {actor}] {answer.text}\n")
        return answer.text

    try:
        for person, name in (("U0LEAD1", "Dana Scully"), ("U0LEAD2", "Felix Ng")):
            await app.database.write(
                people.remember, id=person, name=name, platform="console", now=clock.now()
            )
        await app.poll_all()
        await app.outbox.drain()
        # SLA: a nudge, an escalation to both leads (thread note and private notes).
        clock.advance(timedelta(minutes=31))
        await app.sla.sweep()
        await app.outbox.drain()
        # A coaching hold: the leads are asked; one rejects with a reason ending in a stop.
        await say("claim 1", "alice")
        held = await say("reply 1 Sorry Ann, we are on it. – Lumo", "alice")
        assert "waits for a lead's approval" in held
        await say("reject 1 Too vague, please say when.", "U0LEAD1")
        await say("reply 1 Sorry Ann, a technician comes at 3pm today. – Lumo", "alice")
        await say("resolve 1", "alice")
        await say("reopen 1", "bob")
        # A claim that lapses: the claimer is told, the thread names them.
        await say("claim 3", "carol")
        clock.advance(timedelta(hours=2))
        await app.sla.sweep()
        await app.outbox.drain()
        # The digest of a team without leads goes to its channel, with its chart.
        billing = app.playbooks.teams["billing"]
        period = day_period(clock.now().date(), clock.now().tzinfo)  # type: ignore[arg-type]
        assert await app.digests.queue(app.playbooks, billing, period)
        await app.outbox.drain()
        await say("list", "alice")
        await say("show 1", "alice")
        await say("help", "alice")
    finally:
        await app.stop()

    printed = out.getvalue()
    # The console addresses a private note by the person's id; the note is what is read.
    read = re.sub(r"\(only \S+ sees this\)|\[answer to \S+\]", "", printed)
    for pattern, what in UNREADABLE:
        found = pattern.search(read)
        assert found is None, f"{what}: …{read[max(0, found.start() - 80) : found.end() + 80]}…"
    # Each kind was rendered, so the checks above read something.
    for expected in (
        "Escalated to Dana Scully, Felix Ng",  # thread note: names, not ids
        "The card is in #care.",  # private notes say where the card is, as people do
        "rejected your answer to #1: Too vague, please say when. Nothing was posted",
        "a lead reads each person's first reply before it goes out (coaching)",
        "Reopened by bob",
        "carol's claim on #3 lapsed",
        "Family day 👨\u200d👩\u200d👧 offline",
        "on the demo network",
    ):
        assert expected in printed, expected
    assert "#billing" in printed and "Chart: " in printed
    chart = next((tmp_path / "charts").glob("digest-billing-*.png"))
    assert chart.read_bytes().startswith(b"\x89PNG")
