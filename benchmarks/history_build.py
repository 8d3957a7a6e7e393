"""Builds the stores `history.py` measures: 90 days of three teams' mentions and their lives.

Every mention gets a plan (when its card is posted, who claims it, when the answer goes
out, when it is resolved, whether the customer writes again, whether it is snoozed). Two
ways carry a plan out:

- `live`: through the store's own functions, as the bot does it (`mentions.ingest`,
  `workflow.act`, `submitting.submit`, and the outbox worker's store side: the card recorded,
  the reply marked sent, each effect finished);
- `bulk` (`history_bulk.py`): the same rows written directly with `executemany`, for the
  closed history of big stores (a million mentions through the functions takes most of
  an hour).

`history.py` writes days older than `LIVE_DAYS` in bulk and the recent days live, so the
active part of every store comes from the real code. After each day it runs the outbox
pruning the scheduler runs, when the code has one (`outbox.prune`).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlite_utils

from bot.chat import MessageRef
from bot.domain.approval_rules import ApprovalRules
from bot.domain.guardrails import Verdict
from bot.domain.mentions import Action, Author, Item, Triage
from bot.mention_cards import card_posted
from bot.reply_outcomes import reply_posted
from bot.store import mentions, outbox
from bot.submitting import submit
from bot.workflow import act

LISBON = ZoneInfo("Europe/Lisbon")
NOW = datetime(2026, 3, 31, 10, 0, tzinfo=LISBON).astimezone(UTC)  # a Tuesday morning
DAYS = 90
LIVE_DAYS = 3  # the most recent days are written through the store's own functions
TEAMS = ("network", "billing", "support")
CHANNELS = {
    "network": "#net-mentions",
    "billing": "#billing-mentions",
    "support": "#support-mentions",
}
ANSWER = "Thanks for telling us; we are on it."
PEOPLE = tuple(f"U{i:04d}" for i in range(40))
_WORD_LINES = (
    "my internet is down again since this morning and nobody answers the phone please help the",
    "invoice shows a charge I never agreed to and the app keeps logging me out router fibre",
    "signal refund contract shop account speed slow outage billing thanks great service",
)
WORDS = tuple(w for line in _WORD_LINES for w in line.split())


@dataclass(slots=True)
class Plan:
    """One customer's conversation: what happens to it and when (None: it does not)."""

    received: datetime
    team: str
    source: str
    text: str
    handle: str
    audience: int | None
    person: str
    ignore_at: datetime | None = None
    claim_at: datetime | None = None
    snooze_at: datetime | None = None
    snooze_until: datetime | None = None
    answer_at: datetime | None = None
    resolve_at: datetime | None = None
    follow_at: datetime | None = None
    resolve_again_at: datetime | None = None
    steps: list[tuple[datetime, str]] = field(default_factory=list)


def _minutes(rng: random.Random, mean: float) -> timedelta:
    return timedelta(minutes=rng.expovariate(1 / mean))


def plan_day(rng: random.Random, *, day_start: datetime, count: int) -> list[Plan]:
    """`count` conversations arriving during the day that starts at `day_start`."""
    plans = []
    for received in sorted(
        day_start + timedelta(seconds=rng.uniform(0, 86_400)) for _ in range(count)
    ):
        words = rng.randint(12, 60)
        plan = Plan(
            received=received,
            team=rng.choice(TEAMS),
            source="demo" if rng.random() < 0.8 else "status-page",
            text=" ".join(rng.choice(WORDS) for _ in range(words)),
            handle=f"user{rng.randrange(10**6)}",
            audience=None if rng.random() < 0.1 else int(rng.lognormvariate(6, 2)),
            person=rng.choice(PEOPLE),
        )
        fate = rng.random()
        if fate < 0.06:
            plan.ignore_at = received + _minutes(rng, 30)
        else:
            plan.claim_at = received + timedelta(minutes=1) + _minutes(rng, 15)
            if rng.random() < 0.05:
                plan.snooze_at = plan.claim_at + timedelta(minutes=1)
                plan.snooze_until = plan.snooze_at + timedelta(hours=2)
            plan.answer_at = plan.claim_at + _minutes(rng, 20) + timedelta(minutes=3)
            plan.resolve_at = plan.answer_at + _minutes(rng, 180)
            if rng.random() < 0.10:
                plan.follow_at = plan.answer_at + _minutes(rng, 120)
                if plan.follow_at > plan.resolve_at:  # reopened: resolved again later
                    plan.resolve_again_at = plan.follow_at + _minutes(rng, 60)
        plans.append(plan)
    return plans


def steps_of(plan: Plan) -> list[tuple[datetime, str]]:
    """The plan's steps in time order."""
    steps = [(plan.received + timedelta(seconds=3), "card")]
    named = (
        (plan.ignore_at, "ignore"),
        (plan.claim_at, "claim"),
        (plan.snooze_at, "snooze"),
        (plan.answer_at, "answer"),
        (plan.resolve_at, "resolve"),
        (plan.follow_at, "follow_up"),
        (plan.resolve_again_at, "resolve_again"),
    )
    steps += [(at, name) for at, name in named if at is not None]
    return sorted(steps)


# ---------------------------------------------------------------------------- live


def _deliver(db: sqlite_utils.Database, *, number: int, now: datetime) -> None:
    """What the outbox worker's store side does once a mention's pending effects are sent."""
    rows = db.execute(
        "SELECT id, kind, payload FROM outbox WHERE mention = ? AND state = 'pending' ORDER BY id",
        [number],
    ).fetchall()
    for effect_id, kind, payload in rows:
        data = json.loads(payload)
        if kind == outbox.Kind.CARD_POST:
            team = db.execute("SELECT team FROM mentions WHERE number = ?", [number]).fetchone()[0]
            ref = MessageRef("slack", CHANNELS[team], f"{now.timestamp():.6f}")
            card_posted(db, effect_id=effect_id, number=number, ref=ref, now=now)
        elif kind == outbox.Kind.PUBLIC_REPLY:
            reply_posted(
                db,
                effect_id=effect_id,
                number=number,
                reply_id=data["reply"],
                actor=data.get("actor", "someone"),
                external_id=f"r{data['reply']}",
                url=f"https://social.example/r/{data['reply']}",
                now=now,
            )
        else:
            outbox.finish(db, id=effect_id, now=now)
    if any(kind == outbox.Kind.PUBLIC_REPLY for _, kind, _ in rows):
        _deliver(db, number=number, now=now)  # the thread note and card update it queued


def live_day(
    db: sqlite_utils.Database, *, plans: list[Plan], first_number: int, until: datetime
) -> None:
    """Carry out plans through the store's own functions, up to `until` (one transaction)."""
    for offset, plan in enumerate(plans):
        external = f"p{first_number + offset}"
        item = Item(
            external_id=external,
            text=plan.text,
            author=Author(handle=plan.handle, audience=plan.audience),
            url=f"https://social.example/@{plan.handle}/{external}",
        )
        triage = Triage(
            kind="question", sentiment=0.0, urgency="normal", team=plan.team, rule="bench"
        )
        stored = mentions.ingest(
            db,
            source=plan.source,
            items=[(item, triage)],
            cursor=None,
            now=plan.received,
            channel_of={t: f"slack:{c}" for t, c in CHANNELS.items()},
        )
        number = stored[0].number
        assert number is not None
        for at, step in steps_of(plan):
            if at > until:
                break
            _live_step(db, plan=plan, number=number, external=external, step=step, at=at)
            _deliver(db, number=number, now=at + timedelta(seconds=2))


def _live_step(
    db: sqlite_utils.Database, *, plan: Plan, number: int, external: str, step: str, at: datetime
) -> None:
    person = plan.person
    if step == "claim":
        act(
            db,
            number=number,
            action=Action.CLAIM,
            actor=person,
            now=at,
            changes={"claimed_by": person},
        )
    elif step == "ignore":
        act(
            db, number=number, action=Action.IGNORE, actor=person, now=at,
            changes={"claimed_by": None}, detail={"reason": "spam"},
        )  # fmt: skip
    elif step == "snooze":
        act(
            db, number=number, action=Action.SNOOZE, actor=person, now=at,
            changes={"snoozed_until": plan.snooze_until},
            detail={"until": plan.snooze_until.isoformat() if plan.snooze_until else None},
        )  # fmt: skip
    elif step == "answer":
        submit(
            db, number=number, actor=person, text=ANSWER,
            verdict=Verdict(), rules=ApprovalRules(), leads=(), team=plan.team,
            platform="slack", lead_platform="slack", can_reply=plan.source == "demo", now=at,
        )  # fmt: skip
    elif step in ("resolve", "resolve_again"):
        act(db, number=number, action=Action.RESOLVE, actor=person, now=at)
    elif step == "follow_up":
        item = Item(
            external_id=f"{external}-f",
            text="any news on this?",
            author=Author(handle=plan.handle, audience=plan.audience),
            url=f"https://social.example/@{plan.handle}/{external}-f",
            parent_id=external,
        )
        triage = Triage(
            kind="question", sentiment=0.0, urgency="normal", team=plan.team, rule="bench"
        )
        mentions.ingest(
            db, source=plan.source, items=[(item, triage)], cursor=None, now=at, channel_of={}
        )
