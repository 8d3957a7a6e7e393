"""A week of SLA by a FakeClock: business hours in Lisbon, a holiday, the change to summer
time, a restart in the middle and two sweeps racing at every tick. Each nudge, reminder,
escalation, release, wake and holding reply happens once, at the time worked out by hand.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item
from bot.ingest import store_batch
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.sla import SlaSweeper
from bot.store import mentions, outbox
from bot.store import sla as sla_store
from bot.workflow import Context
from connectors.base import Batch

LISBON = ZoneInfo("Europe/Lisbon")

BOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 50
  - id: blog
    kind: rss
    url: http://127.0.0.1:9/feed.xml
teams:
  support:
    name: Support
    channel: console:#support
    leads: [dana]
    sla:
      claim_within: 30m
      reply_within: 1h
      escalate_after: 3h
      renudge_every: 1h
      release_claim_after: 2h
      clock: business_hours
      hours: office
      holding_reply: back-soon
  network:
    name: Network
    channel: console:#network
    leads: [ravi]
    keywords: [outage]
    sla:
      claim_within: 20m
      escalate_after: 1h
      clock: always
      hours: office
      ping: here
default_team: support
business_hours:
  office:
    timezone: Europe/Lisbon
    open: "08:00"
    close: "18:00"
    holidays: [2026-03-27]
templates:
  back-soon: "Hi @{author}, thanks for writing! We are back at {opens_at} and will answer then."
"""


def lisbon(*args: int) -> datetime:
    return datetime(*args, tzinfo=LISBON)  # type: ignore[misc]


class Week:
    """One allhands on the console, restartable, with a rival sweeper racing its own."""

    def __init__(self, tmp_path: Path, clock: FakeClock, store: str):
        self.tmp_path = tmp_path
        self.store = store
        self.clock = clock
        self.out = io.StringIO()
        self.replay = tmp_path / "posts.jsonl"
        self.replay.write_text("", encoding="utf-8")
        book = tmp_path / "book.yaml"
        book.write_text(BOOK.replace("{replay}", str(self.replay)), encoding="utf-8")
        self.playbooks = load_playbooks(book)
        self.taken = 0
        self.restarts = 0
        self.sent: list[tuple[str, str]] = []  # public replies of the apps before a restart

    async def start(self) -> None:
        self.app = App(
            settings=Settings(db_path=self.store),
            adapters={"console": ConsoleAdapter(self.out)},
            clock=self.clock,
            playbooks=self.playbooks,
        )
        await self.app.start()
        app = self.app
        self.rival = SlaSweeper(
            database=app.database,
            clock=app.clock,
            playbooks=lambda: app.playbooks,
            connectors=lambda: app.connectors,
        )

    async def restart(self) -> None:
        """Stop as a crash would leave it (nothing drained) and start again on the same file."""
        self.sent.extend(self.app.connectors["social"].sent)  # type: ignore[attr-defined]
        await self.app.stop()
        await self.start()
        self.restarts += 1

    async def post(self, post_id: str, text: str, handle: str, reply_to: str = "") -> None:
        line = {"id": post_id, "text": text, "author": {"handle": handle}}
        if reply_to:
            line["in_reply_to"] = reply_to
        with self.replay.open("a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")
        await self.app.poll_source("social")

    async def feed_item(self, item_id: str, text: str) -> None:
        """A post from the RSS source, stored as a poll of it would store it."""
        item = Item(
            external_id=item_id,
            text=text,
            author=Author("reviewer"),
            url=f"https://reviews.example/{item_id}",
        )
        await store_batch(
            Batch(items=[item], cursor="1"),
            source="blog",
            database=self.app.database,
            triager=self.app.triager,
            channel_of=self.app.playbooks.channel_of(),
            clock=self.clock,
        )

    async def say(self, line: str, actor: str) -> None:
        answer = await self.app.workflow.handle(line, Context(actor=actor))
        assert answer.ok, answer.text

    async def sweep(self) -> None:
        """Two sweeps at once, as two jobs (or a job and a manual run) would race."""
        mine, theirs = await asyncio.gather(self.app.sla.sweep(), self.rival.sweep())
        self.taken += mine.taken + theirs.taken

    async def tick(self) -> None:
        await self.sweep()
        await self.app.outbox.drain()


async def test_a_week_of_sla_steps_each_once(tmp_path: Path, store_url: str) -> None:
    start, end = lisbon(2026, 3, 23, 7, 0), lisbon(2026, 3, 31, 12, 0)
    clock = FakeClock(start.astimezone(UTC))
    week = Week(tmp_path, clock, store_url)
    await week.start()

    async def crash_after_sweeping() -> None:
        # The sweep records a step and queues its nudge; the process dies before delivery.
        await week.sweep()
        await week.restart()

    script: dict[datetime, list[Callable[[], Awaitable[None]]]] = {
        # A (#1): nobody claims it all morning; alice claims at 12:10 and answers.
        lisbon(2026, 3, 23, 9, 0): [lambda: week.post("a", "My app shows no data", "ann")],
        lisbon(2026, 3, 23, 12, 10): [lambda: week.say("claim 1", "alice")],
        lisbon(2026, 3, 23, 12, 40): [lambda: week.say("reply 1 Fixed now, sorry!", "alice")],
        # F (#2): snoozed for a day five minutes after it came in.
        lisbon(2026, 3, 24, 10, 0): [lambda: week.post("f", "Can I move my contract?", "fay")],
        lisbon(2026, 3, 24, 10, 5): [lambda: week.say("snooze 2 1d", "bob")],
        # E (#3): the network team's, at night; its nudge pings, so it waits for the morning.
        lisbon(2026, 3, 24, 21, 0): [lambda: week.post("e", "Total outage in Alfama", "eve")],
        lisbon(2026, 3, 25, 8, 30): [lambda: week.say("claim 3", "gina")],
        lisbon(2026, 3, 25, 9, 0): [lambda: week.say("resolve 3", "gina")],
        lisbon(2026, 3, 25, 10, 15): [lambda: week.say("claim 2", "bob")],
        lisbon(2026, 3, 25, 10, 20): [lambda: week.say("reply 2 Yes, see our FAQ.", "bob")],
        lisbon(2026, 3, 26, 12, 0): [week.restart],
        # B (#4): ten minutes before closing on Thursday; Friday is a holiday, then the
        # weekend, and the clocks go forward on Sunday.
        lisbon(2026, 3, 26, 17, 40): [lambda: week.post("b", "Where is my refund?", "bea")],
        # C (#5): on Saturday; writes again on Sunday; answered Monday; back on Monday night.
        lisbon(2026, 3, 28, 10, 0): [lambda: week.post("c", "Is my order lost?", "carl")],
        # D (#6): from a feed, which cannot be answered: no holding reply.
        lisbon(2026, 3, 28, 11, 0): [lambda: week.feed_item("d", "Two stars, slow support")],
        lisbon(2026, 3, 28, 12, 0): [lambda: week.say("resolve 6", "frank")],
        lisbon(2026, 3, 29, 11, 0): [lambda: week.post("c2", "Hello??", "carl", reply_to="c")],
        lisbon(2026, 3, 30, 8, 5): [lambda: week.say("claim 5", "dave")],
        lisbon(2026, 3, 30, 8, 10): [crash_after_sweeping],
        lisbon(2026, 3, 30, 8, 15): [lambda: week.say("reply 5 It ships today.", "dave")],
        lisbon(2026, 3, 30, 9, 0): [lambda: week.say("resolve 5", "dave")],
        lisbon(2026, 3, 30, 10, 0): [lambda: week.say("claim 4", "carol")],
        lisbon(2026, 3, 30, 12, 45): [lambda: week.say("resolve 4", "carol")],
        lisbon(2026, 3, 30, 20, 0): [lambda: week.post("c3", "It did not come", "carl", "c")],
        lisbon(2026, 3, 31, 9, 45): [lambda: week.say("claim 5", "erin")],
        lisbon(2026, 3, 31, 10, 0): [lambda: week.say("reply 5 Resent it.", "erin")],
    }
    ticks = {
        start + timedelta(minutes=10 * n)
        for n in range(int((end - start) / timedelta(minutes=10)) + 1)
    }
    try:
        for at in sorted(ticks | set(script)):
            clock.advance(at.astimezone(UTC) - clock.now())
            for action in script.get(at, []):
                await action()
            await week.tick()
        app = week.app
        taken = await app.database.read(sla_store.steps_taken)
        printed = week.out.getvalue()
        sent = [*week.sent, *app.connectors["social"].sent]  # type: ignore[attr-defined]
        private = await app.database.read(
            lambda db: db.execute(
                "SELECT created_at, payload FROM outbox WHERE kind = ?",
                [outbox.Kind.PRIVATE_NOTE.value],
            ).fetchall()
        )
        history = await app.database.read(mentions.events, number=4)
    finally:
        await week.app.stop()

    got = sorted((t.mention, t.step.value, t.round, t.at) for t in taken)
    expected = sorted(
        (n, step, r, at.astimezone(UTC))
        for n, step, r, at in [
            (1, "nudge", 0, lisbon(2026, 3, 23, 9, 30)),
            (1, "nudge", 1, lisbon(2026, 3, 23, 10, 30)),
            (1, "nudge", 2, lisbon(2026, 3, 23, 11, 30)),
            (1, "escalate", 0, lisbon(2026, 3, 23, 12, 0)),
            # Woken after a day: one nudge for the round it is in (the tenth), one escalation.
            (2, "wake", 0, lisbon(2026, 3, 25, 10, 10)),
            (2, "nudge", 9, lisbon(2026, 3, 25, 10, 10)),
            (2, "escalate", 0, lisbon(2026, 3, 25, 10, 10)),
            # Due at 21:20 and 22:00, both wait for the office to open.
            (3, "nudge", 0, lisbon(2026, 3, 25, 8, 0)),
            (3, "escalate", 0, lisbon(2026, 3, 25, 8, 0)),
            # 20 minutes on Thursday, then Monday from 08:00 summer time (07:00 UTC).
            (4, "nudge", 0, lisbon(2026, 3, 30, 8, 10)),
            (4, "nudge", 1, lisbon(2026, 3, 30, 9, 10)),
            (4, "escalate", 0, lisbon(2026, 3, 30, 10, 40)),
            (4, "remind", 0, lisbon(2026, 3, 30, 11, 0)),
            (4, "release", 0, lisbon(2026, 3, 30, 12, 0)),
            # Handed back at 12:00: the team has claim_within again before the next nudge.
            (4, "nudge", 0, lisbon(2026, 3, 30, 12, 30)),
            (5, "hold", 0, lisbon(2026, 3, 28, 10, 0)),
            # Reopened on Monday night: a new wait, nudged from Tuesday 08:30.
            (5, "nudge", 0, lisbon(2026, 3, 31, 8, 30)),
            (5, "nudge", 1, lisbon(2026, 3, 31, 9, 30)),
        ]
    )
    assert got == expected

    # Everything planned was delivered once, though two sweeps raced at every tick.
    assert week.taken > 0 and week.restarts == 2

    def lines(text: str) -> int:
        return sum(1 for line in printed.splitlines() if text in line)

    for number, nudges in ((1, 3), (2, 1), (4, 3), (5, 2)):
        assert lines(f"#support thread: #{number} has waited") == nudges, number
    assert lines("#network thread: @here #3 has waited 11h and nobody has claimed it yet") == 1
    assert lines("@here") == 1  # only the team whose playbook says so pings
    assert lines("(only dana sees this) Escalation for Support: #") == 3
    assert lines("(only ravi sees this) Escalation for Network: #3 has waited 11h") == 1
    assert lines("(only carol sees this) Reminder: you claimed #4 1h ago") == 1
    assert lines("(only carol sees this) #4 went back to the team") == 1
    assert lines("carol's claim on #4 lapsed after 2h without an answer") == 1
    assert lines("#2's snooze is over: nobody has claimed it") == 1
    assert lines("~ #4 open: Unclaimed for") >= 1  # the card after the release
    assert ("release", "allhands", "open") in [
        (e.action.value, e.actor, e.to_state.value) for e in history
    ]
    # Thursday 17:40 to Monday 08:10 is 3d 14h 30m on the wall clock but 3d 13h 30m of real
    # time, an hour having been skipped on Sunday; of it, 20 + 10 minutes were working time.
    assert lines("#4 has waited 3d 13h (30m of working time) and nobody has claimed it yet") == 1

    holding = [text for _, text in sent if "We are back" in text]
    assert holding == [
        "Hi @carl, thanks for writing! We are back at 08:00 WEST on Monday 30 March and will"
        " answer then."
    ]
    # No person was told anything outside working hours.
    for created_at, payload in private:
        local = datetime.fromisoformat(created_at).astimezone(LISBON)
        assert local.weekday() < 5 and 8 <= local.hour < 18, (local, payload)
        assert local.date().isoformat() != "2026-03-27"
