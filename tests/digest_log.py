"""A realistic event log for digest tests, written through the store as the bot writes it.

Every mention comes in through `mentions.ingest`, its card is announced, and people act
on it through the workflow's own transactions (`act`, `submit`), with a FakeClock moved
forward to each moment. Nothing is hand-written SQL.
"""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.clock import FakeClock
from bot.domain.approval_rules import ApprovalRules
from bot.domain.guardrails import Verdict
from bot.domain.mentions import Action, Author, Item, Triage
from bot.store import mentions
from bot.store.db import Database
from bot.submitting import submit
from bot.workflow import act

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
UTC_ZONE = ZoneInfo("UTC")


def local(day: int, hh: int, mm: int, zone: ZoneInfo = BERLIN, month: int = 1) -> datetime:
    """An instant given as a wall-clock time on a day of January 2026 in `zone`."""
    return datetime.combine(date(2026, month, day), time(hh, mm), tzinfo=zone)


class Seeder:
    """Writes mentions and what people do to them, moving the clock to each moment."""

    def __init__(self, database: Database, clock: FakeClock):
        self.database = database
        self.clock = clock
        self.numbers: dict[str, int] = {}
        self.external_ids: dict[str, str] = {}

    def _to(self, at: datetime) -> datetime:
        delta = at - self.clock.now()
        assert delta.total_seconds() >= 0, f"seed in time order: {at} is before {self.clock.now()}"
        self.clock.advance(delta)
        return self.clock.now()

    async def post(
        self,
        label: str,
        at: datetime,
        *,
        team: str,
        kind: str = "complaint",
        source: str = "mastodon",
        audience: int | None = None,
        handle: str = "",
        text: str = "",
        reply_to: str | None = None,
    ) -> int:
        """A post arrives at `at`; a new one gets its card announced at once."""
        now = self._to(at)
        self.external_ids[label] = f"{label}-{len(self.external_ids) + 1}"
        item = Item(
            external_id=self.external_ids[label],
            text=text or f"post {label}",
            author=Author(handle=handle or f"author-{label}", audience=audience),
            url=f"https://{source}.example/{label}",
            parent_id=reply_to,
        )
        triage = Triage(kind=kind, sentiment=-0.3, urgency="normal", team=team, rule="test")
        stored = await self.database.write(
            mentions.ingest,
            source=source,
            items=[(item, triage)],
            cursor=None,
            now=now,
            channel_of={team: f"console:#{team}"},
        )
        number = stored[0].number
        assert number is not None
        self.numbers[label] = number
        if stored[0].root is None:
            await self.database.write(_announce, number=number, now=now)
        return number

    async def do(
        self, label: str, action: Action, actor: str, at: datetime, **changes: object
    ) -> None:
        """Someone acts on a mention as a chat command would (claim, resolve, ignore...)."""
        now = self._to(at)
        if action in (Action.CLAIM, Action.ASSIGN):
            changes.setdefault("claimed_by", actor)
        await self.database.write(
            act,
            number=self.numbers[label],
            action=action,
            actor=actor,
            now=now,
            changes=changes or None,
        )

    async def answer(self, label: str, actor: str, at: datetime) -> None:
        """Someone answers (claiming it first if nobody has), as `reply N text` does."""
        now = self._to(at)
        # The reply path itself, with a text that passed every check and needs no lead.
        await self.database.write(
            submit,
            number=self.numbers[label],
            actor=actor,
            text="Thanks, we are on it.",
            verdict=Verdict(),
            rules=ApprovalRules(),
            leads=(),
            team="",
            platform="console",
            lead_platform="console",
            can_reply=False,
            now=now,
        )


def _announce(db: sqlite_utils.Database, *, number: int, now: datetime) -> None:
    mention = mentions.get(db, number=number)
    assert mention is not None
    mentions.transition(db, mention=mention, action=Action.ANNOUNCE, actor="allhands", now=now)


async def seed_support(seeder: Seeder) -> None:
    """Three days of team `support` (Europe/Berlin), and one mention of team `billing`.

    All times are Berlin wall-clock times (UTC+1 in January). Mon 5, Tue 6, Wed 7 Jan 2026.
    Audience in brackets; m6 is reopened by the customer writing again.
    """
    s = seeder
    # Monday, late: m1 (120) stays open across midnight.
    await s.post("m1", local(5, 23, 40), team="support", audience=120, kind="complaint")
    # Tuesday.
    await s.do("m1", Action.CLAIM, "alice", local(6, 0, 5))
    await s.answer("m1", "alice", local(6, 0, 20))
    await s.do("m1", Action.RESOLVE, "alice", local(6, 0, 30))
    await s.post("m2", local(6, 9, 0), team="support", audience=50, kind="question")
    await s.answer("m2", "bob", local(6, 9, 10))
    await s.do("m2", Action.RESOLVE, "bob", local(6, 9, 30))
    await s.post("m3", local(6, 10, 0), team="support", audience=25_000, source="bluesky")
    await s.do("m3", Action.CLAIM, "carol", local(6, 10, 1))
    await s.answer("m3", "carol", local(6, 10, 5))
    await s.do("m3", Action.RESOLVE, "carol", local(6, 10, 20))
    await s.post("b1", local(6, 10, 30), team="billing", audience=10, kind="question")
    await s.answer("b1", "dave", local(6, 10, 45))
    await s.post("m4", local(6, 11, 0), team="support", audience=800)
    await s.do("m4", Action.CLAIM, "alice", local(6, 12, 0))
    await s.post("m5", local(6, 12, 0), team="support", kind="praise", source="bluesky")
    await s.do("m5", Action.IGNORE, "bob", local(6, 12, 5))
    await s.post("m6", local(6, 13, 0), team="support", audience=5_000, kind="question")
    await s.answer("m6", "bob", local(6, 13, 20))
    await s.do("m6", Action.RESOLVE, "bob", local(6, 13, 25))
    await s.answer("m4", "alice", local(6, 13, 30))
    # The customer of m6 writes again: the follow-up reopens m6.
    await s.post(
        "m6-again", local(6, 15, 0), team="support", kind="question",
        reply_to=s.external_ids["m6"],
    )  # fmt: skip
    await s.do("m6", Action.CLAIM, "alice", local(6, 15, 10))
    await s.answer("m6", "alice", local(6, 15, 40))
    await s.do("m6", Action.RESOLVE, "alice", local(6, 16, 0))
    await s.post("m7", local(6, 22, 0), team="support", audience=300)
    await s.post("m8", local(6, 23, 50), team="support", kind="question", source="blog")
    # Wednesday, early: m8 is taken late.
    await s.do("m8", Action.CLAIM, "bob", local(7, 1, 0))
    await s.answer("m8", "bob", local(7, 1, 30))
