"""The SLA sweep's edges: racing sweeps, holding replies, pings, the scheduler job, playbooks."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.chat import MessageRef
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.sla import Step
from bot.errors import ConfigError
from bot.playbooks import load_playbooks
from bot.scheduler import build_scheduler
from bot.settings import Settings
from bot.sla import Outcome, apply_steps
from bot.sla_steps import fill_template
from bot.store import mentions, outbox, replies
from bot.store import sla as sla_store
from bot.workflow import Context

LISBON = ZoneInfo("Europe/Lisbon")

BOOK = """\
sources:
  - id: social
    kind: replay
    file: REPLAY
    batch: 50
teams:
  support:
    name: Support
    channel: console:#support
    leads: [dana, felix]
    sla:
      claim_within: 30m
      escalate_after: 1h
      ping: channel
      hours: office
      holding_reply: back-soon
business_hours:
  office:
    timezone: Europe/Lisbon
templates:
  back-soon: "TEMPLATE"
"""


class Shop:
    """A small allhands on the console whose office (09:00-17:00 Lisbon) is closed at start."""

    def __init__(self, app: App, out: io.StringIO, replay: Path, clock: FakeClock):
        self.app, self.out, self.replay, self.clock = app, out, replay, clock

    async def post(self, post_id: str, text: str, handle: str = "ann", **extra: str) -> None:
        line = {"id": post_id, "text": text, "author": {"handle": handle}, **extra}
        with self.replay.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        await self.app.poll_all()
        await self.app.outbox.drain()


async def open_shop(tmp_path: Path, template: str, store: str = "") -> AsyncIterator[Shop]:
    replay = tmp_path / "posts.jsonl"
    replay.write_text("", encoding="utf-8")
    book = tmp_path / "book.yaml"
    text = BOOK.replace("REPLAY", str(replay)).replace("TEMPLATE", template)
    book.write_text(text, encoding="utf-8")
    clock = FakeClock(datetime(2026, 3, 28, 10, 0, tzinfo=LISBON).astimezone(UTC))  # Saturday
    out = io.StringIO()
    app = App(
        settings=Settings(db_path=store or str(tmp_path / "shop.db")),
        adapters={"console": ConsoleAdapter(out)},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        yield Shop(app, out, replay, clock)
    finally:
        await app.stop()


@pytest.fixture
async def shop(tmp_path: Path, store_url: str) -> AsyncIterator[Shop]:
    async for s in open_shop(tmp_path, "Hi @{author}, we are back at {opens_at}.", store_url):
        yield s


async def test_two_sweeps_that_planned_the_same_steps_take_them_once(shop: Shop) -> None:
    app = shop.app
    await shop.post("p1", "Where is my parcel?")
    shop.clock.advance(timedelta(days=2))  # Monday 09:00 summer time: open, all overdue
    now = shop.clock.now()
    first = await app.sla.find_due(now)
    second = await app.sla.find_due(now)
    assert [p.due.step for p in first] == [Step.NUDGE, Step.ESCALATE]
    assert await app.database.write(apply_steps, planned=first, now=now) == [Outcome.DONE] * 2
    assert await app.database.write(apply_steps, planned=second, now=now) == [Outcome.TAKEN] * 2
    queued = await app.database.read(
        lambda db: db.execute("SELECT kind, target FROM outbox WHERE mention = 1").fetchall()
    )
    # After the card: one nudge, a note to each lead and the escalation's thread note.
    assert sorted(k for k, _ in queued).count("private_note") == 2
    assert [k for k, _ in queued].count("thread_post") == 2
    await app.outbox.drain()
    printed = shop.out.getvalue()
    assert printed.count("@channel #1 has waited") == 1
    assert printed.count("(only dana sees this) Escalation for Support: #1") == 1
    assert printed.count("(only felix sees this) Escalation for Support: #1") == 1


async def test_a_changed_mention_is_not_acted_on_with_a_stale_plan(shop: Shop) -> None:
    app = shop.app
    await shop.post("p1", "Where is my parcel?")
    shop.clock.advance(timedelta(days=2))
    now = shop.clock.now()
    planned = await app.sla.find_due(now)
    assert (await app.workflow.handle("claim 1", Context(actor="bo"))).ok
    assert await app.database.write(apply_steps, planned=planned, now=now) == [Outcome.CHANGED] * 2
    assert await app.database.read(sla_store.steps_taken) == []
    report = await app.sla.sweep()  # read again: claimed, so only the escalation is due
    assert dict(report.done) == {Step.ESCALATE: 1}


async def test_the_holding_reply_goes_out_once_through_the_reply_path(shop: Shop) -> None:
    app = shop.app
    await shop.post("p1", "Hello? {url} {opens_at:>99999999}", handle="x{number}")
    report = await app.sla.sweep()
    assert dict(report.done) == {Step.HOLD: 1}
    assert dict((await app.sla.sweep()).done) == {}  # once
    await app.outbox.drain()
    sent = app.connectors["social"].sent  # type: ignore[attr-defined]
    # The customer's own braces are text, not placeholders.
    assert sent == [("p1", "Hi @x{number}, we are back at 09:00 WEST on Monday 30 March.")]
    answers = await app.database.read(replies.for_mention, mention=1)
    assert [(a.actor, a.status) for a in answers] == [("allhands", "sent")]
    stored = await app.database.read(mentions.get, number=1)
    assert stored is not None and stored.state.value == "open" and stored.claimed_by is None
    assert "thread: The automatic holding reply is posted in the customer's thread" in (
        shop.out.getvalue()
    )
    # The customer writes again that night: same conversation, no second holding reply.
    shop.clock.advance(timedelta(hours=3))
    await shop.post("p2", "Anyone?", in_reply_to="p1")
    assert dict((await app.sla.sweep()).done) == {}
    # A new conversation gets its own.
    await shop.post("p3", "Different question")
    assert dict((await app.sla.sweep()).done) == {Step.HOLD: 1}


async def test_a_holding_reply_too_long_for_the_platform_is_not_sent(tmp_path: Path) -> None:
    async for shop in open_shop(tmp_path, "Hi @{author}! " + "We are closed. " * 40):
        await shop.post("p1", "Hello?")
        report = await shop.app.sla.sweep()
        assert dict(report.done) == {Step.HOLD: 1}
        await shop.app.outbox.drain()
        assert shop.app.connectors["social"].sent == []  # type: ignore[attr-defined]
        assert (
            "The holding reply was not sent: it is 108 characters longer than the demo network"
            in (shop.out.getvalue())
        )


def test_templates_fill_placeholders_and_never_obey_format_specs() -> None:
    values = {"author": "ann", "opens_at": "09:00"}
    assert fill_template("{author:>999999999}|{opens_at!r}|{{x}}", values) == "ann|09:00|{x}"
    assert fill_template("{agent}", values) == ""


async def test_the_console_shows_a_ping_only_when_asked() -> None:
    out = io.StringIO()
    console = ConsoleAdapter(out)
    ref = MessageRef("console", "#support", "1")
    await console.post_in_thread(ref, "<!channel> @here plain text")
    await console.post_in_thread(ref, "wake up", ping="channel")
    lines = out.getvalue().splitlines()
    assert lines == [
        "  ↳ #support thread: <!channel> @here plain text",
        "  ↳ #support thread: @channel wake up",
    ]


async def test_one_sweep_job_whatever_the_number_of_mentions(shop: Shop) -> None:
    for n in range(5):
        await shop.post(f"p{n}", f"question {n}")
    scheduler = build_scheduler(shop.app, poll_now=False, reload=False)
    jobs = [job for job in scheduler.get_jobs() if "sla" in job.id]
    assert [(job.id, job.max_instances) for job in jobs] == [("sla-sweep", 1)]
    assert jobs[0].func.__wrapped__ == shop.app.sla.sweep


async def test_mentions_of_a_team_gone_from_the_playbooks_only_wake(shop: Shop) -> None:
    app = shop.app
    await shop.post("p1", "Hello?")
    await app.workflow.handle("snooze 1 1h", Context(actor="bo"))
    await app.database.write(
        lambda db: db.execute("UPDATE mentions SET team = 'gone' WHERE number = 1")
    )
    shop.clock.advance(timedelta(days=2))
    assert dict((await app.sla.sweep()).done) == {Step.WAKE: 1}
    assert dict((await app.sla.sweep()).done) == {}


@pytest.mark.parametrize(
    ("yaml", "problem"),
    [
        pytest.param(
            "teams:\n  s:\n    channel: console:#s\n    sla:\n      holding_reply: t\n"
            "templates:\n  t: hi\n",
            "book.yaml:4: teams.s.sla: holding_reply needs hours: naming a business_hours entry"
            " (it is sent out of those hours)",
            id="holding-reply-without-hours",
        ),
        pytest.param(
            "teams:\n  s:\n    channel: console:#s\nbusiness_hours:\n  o:\n"
            "    timezone: Europe/Lisbon\n    weekdays: []\n",
            "book.yaml:7: business_hours.o.weekdays: needs at least one working day, e.g. [mon,"
            " tue, wed, thu, fri]",
            id="no-working-days",
        ),
        pytest.param(
            "teams:\n  s:\n    channel: console:#s\n    sla:\n      ping: everyone\n",
            "book.yaml:5: teams.s.sla.ping: 'everyone' is not allowed; input should be 'none',"
            " 'here' or 'channel'",
            id="ping-everyone",
        ),
        pytest.param(
            "teams:\n  s:\n    channel: console:#s\nbusiness_hours:\n  o:\n"
            "    timezone: Europe/Lisbn\n",
            "book.yaml:6: business_hours.o.timezone: unknown time zone 'Europe/Lisbn'; did you"
            " mean 'Europe/Lisbon'?",
            id="time-zone-typo",
        ),
        pytest.param(
            "teams:\n  s:\n    channel: console:#s\nbusiness_hours:\n  o:\n"
            "    timezone: Europe/Lisbon\n    holidays: [2026-02-30]\n",
            "book.yaml:7: business_hours.o.holidays[0]: '2026-02-30' is not a date; write it"
            " like 2026-12-25",
            id="holiday-not-a-date",
        ),
    ],
)
def test_bad_sla_playbooks_are_refused_with_the_line(
    tmp_path: Path, yaml: str, problem: str
) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(yaml, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_playbooks(book)
    found = [str(p).replace(f"{tmp_path}/", "") for p in caught.value.problems]
    assert found == [problem]


async def test_outbox_rows_carry_the_ping_for_chat_adapters(shop: Shop) -> None:
    await shop.post("p1", "Where is my parcel?")
    shop.clock.advance(timedelta(days=2))
    await shop.app.sla.sweep()
    rows = await shop.app.database.read(
        lambda db: db.execute(
            "SELECT payload FROM outbox WHERE kind = ? ORDER BY id", [outbox.Kind.THREAD_POST]
        ).fetchall()
    )
    payloads = [json.loads(p) for (p,) in rows]
    assert [p.get("ping") for p in payloads] == ["channel", None]  # the nudge; the escalation


HELD_BOOK = """\
sources:
  - id: social
    kind: replay
    file: REPLAY
teams:
  support:
    channel: console:#support
    leads: [dana]
    sla:
      reply_within: 30m
      release_claim_after: 1h
"""


async def test_a_reply_waiting_for_a_lead_is_neither_reminded_nor_released(
    tmp_path: Path,
) -> None:
    replay = tmp_path / "posts.jsonl"
    posts = [{"id": f"p{i}", "text": f"Where is order {i}?", "author": {"handle": "ann"}}
             for i in (1, 2)]  # fmt: skip
    replay.write_text("".join(json.dumps(p) + "\n" for p in posts), encoding="utf-8")
    book = tmp_path / "book.yaml"
    book.write_text(HELD_BOOK.replace("REPLAY", str(replay)), encoding="utf-8")
    clock = FakeClock()
    app = App(
        settings=Settings(db_path=str(tmp_path / "held.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        await app.poll_all()
        await app.outbox.drain()
        held = await app.workflow.handle("reply 1 Calm down, it is in the FAQ.", Context("alice"))
        assert "waits for a lead's approval" in held.text
        await app.workflow.handle("claim 2", Context("alice"))
        # #2 is claimed and unanswered: reminded, then released. #1 was answered; its answer
        # waits for dana, so alice is not nagged and keeps it.
        clock.advance(timedelta(minutes=45))
        await app.sla.sweep()
        taken = {(t.mention, t.step) for t in await app.database.read(sla_store.steps_taken)}
        assert taken == {(2, Step.REMIND)}
        clock.advance(timedelta(hours=1))
        await app.sla.sweep()
        taken = {(t.mention, t.step) for t in await app.database.read(sla_store.steps_taken)}
        assert taken == {(2, Step.REMIND), (2, Step.RELEASE)}
        first = await app.database.read(mentions.get, number=1)
        assert first is not None and first.claimed_by == "alice"
    finally:
        await app.stop()
