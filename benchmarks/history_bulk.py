"""The bulk side of `history_build.py`: the same rows as the store's own functions, written
directly, for the closed history of big stores; and the day-by-day writing of a store,
checked against the live path before each build."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlite_utils
from history_build import ANSWER, CHANNELS, DAYS, NOW, Plan, live_day, plan_day, steps_of

from bot.store import outbox
from bot.store.db import connect
from bot.store.migrations import migrations


def _iso(at: datetime) -> str:
    return at.isoformat()


def _detail(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@dataclass(slots=True)
class _Rows:
    """Rows to insert, in the order the live path would have inserted them."""

    mentions: list[dict[str, Any]] = field(default_factory=list)
    events: list[tuple[Any, ...]] = field(default_factory=list)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)
    replies: list[tuple[Any, ...]] = field(default_factory=list)
    cards: list[tuple[Any, ...]] = field(default_factory=list)


_MENTION_COLUMNS = (
    "number", "source", "external_id", "url", "author_handle", "author_audience", "text",
    "created_at", "received_at", "parent_id", "root_number", "state", "team", "kind",
    "urgency", "sentiment", "rule", "claimed_by", "claimed_at", "snoozed_until", "updated_at",
)  # fmt: skip


class _Life:
    """One conversation carried out as rows: the same rows the live path writes."""

    def __init__(
        self,
        rows: _Rows,
        plan: Plan,
        *,
        number: int,
        external: str,
        next_number: Callable[[], int],
        next_reply: Callable[[], int],
        closing_ends_snooze: bool,
    ):
        self.closing_ends_snooze = closing_ends_snooze
        self.rows, self.plan, self.number, self.external = rows, plan, number, external
        self.next_number, self.next_reply = next_number, next_reply
        self.state, self.claimed_by, self.claimed_at, self.snoozed = "new", None, None, None
        self.updated = plan.received
        self.channel = f"slack:{CHANNELS[plan.team]}"
        rows.events.append(
            (number, "ingest", "allhands", _iso(plan.received), None, "new",
             _detail({"kind": "question", "rule": "bench", "team": plan.team}))
        )  # fmt: skip
        posted = plan.received + timedelta(seconds=5)
        message = {"message": f"{posted.timestamp():.6f}"}
        self._effect("card_post", plan.received, posted, target=self.channel, result=message)

    def _effect(
        self,
        kind: str,
        created: datetime,
        done: datetime,
        *,
        target: str = "",
        payload: dict[str, Any] | None = None,
        result: dict[str, Any] | None = None,
    ) -> None:
        self.rows.outbox.append(
            (kind, self.number, target, json.dumps(payload or {}, ensure_ascii=False), "done", 0,
             _iso(created), _iso(created), _iso(done), json.dumps(result or {}))
        )  # fmt: skip

    def _move(self, action: str, actor: str, at: datetime, to: str, detail: dict[str, Any]) -> None:
        self.rows.events.append(
            (self.number, action, actor, _iso(at), self.state, to, _detail(detail))
        )
        self.state, self.updated = to, at

    def step(self, name: str, at: datetime) -> None:
        """One step of the plan, as rows."""
        plan, person, done = self.plan, self.plan.person, at + timedelta(seconds=2)
        if name == "card":
            self.rows.cards.append(
                (self.number, "slack", CHANNELS[plan.team], f"{done.timestamp():.6f}", _iso(done))
            )
            if self.state == "new":
                self._move("announce", "allhands", done, "open", {"channel": self.channel})
            return
        if name == "claim":
            self._move("claim", person, at, "claimed", {})
            self.claimed_by, self.claimed_at = person, at
        elif name == "ignore":
            self._move("ignore", person, at, "ignored", {"reason": "spam"})
            self.claimed_by, self.claimed_at = None, None
            if self.closing_ends_snooze:
                self.snoozed = None
        elif name == "snooze":
            assert plan.snooze_until is not None
            self._move("snooze", person, at, self.state, {"until": plan.snooze_until.isoformat()})
            self.snoozed = plan.snooze_until
        elif name == "answer":
            self._answer(at, done)
            return
        elif name in ("resolve", "resolve_again"):
            self._move("resolve", person, at, "resolved", {})
            if self.closing_ends_snooze:
                self.snoozed = None
        elif name == "follow_up":
            self._follow_up(at, done)
            return
        self._effect("card_update", at, done)

    def _answer(self, at: datetime, done: datetime) -> None:
        plan, person = self.plan, self.plan.person
        can_reply = plan.source == "demo"
        reply = self.next_reply()
        url = f"https://social.example/r/{reply}"
        self.rows.replies.append(
            (reply, self.number, person, ANSWER, _iso(at),
             "sent" if can_reply else "manual", f"r{reply}" if can_reply else None,
             url if can_reply else None)
        )  # fmt: skip
        self._move("answer", person, at, "answered", {"public": can_reply, "reply": reply})
        if can_reply:
            self._effect(
                "public_reply", at, done,
                payload={"reply": reply, "text": ANSWER, "actor": person},
                result={"id": f"r{reply}", "url": url},
            )  # fmt: skip
        self._effect("card_update", at, done)
        if can_reply:
            text = f"{person}'s answer is posted in the customer's thread: {url}"
            self._effect("thread_post", done, done, payload={"text": text})
            self._effect("card_update", done, done)

    def _follow_up(self, at: datetime, done: datetime) -> None:
        plan = self.plan
        number = self.next_number()
        external = f"{self.external}-f"
        self.rows.mentions.append(
            dict(zip(_MENTION_COLUMNS, (
                number, plan.source, external, f"https://social.example/@{plan.handle}/{external}",
                plan.handle, plan.audience, "any news on this?", _iso(at), _iso(at), self.external,
                self.number, self.state, plan.team, "question", "normal", 0.0, "bench", None, None,
                None, _iso(at)), strict=True))
        )  # fmt: skip
        before = self.state
        after = "reopened" if before in ("resolved",) else before
        self._move("follow_up", f"{plan.source}:{plan.handle}", at, after, {"follow_up": number})
        self._effect("thread_post", at, done, payload={"follow_up": number})
        if after != before:
            self._effect("card_update", at, done)

    def row(self) -> dict[str, Any]:
        """The conversation's own mention row, as it ends up."""
        plan = self.plan
        values = (
            self.number, plan.source, self.external,
            f"https://social.example/@{plan.handle}/{self.external}", plan.handle, plan.audience,
            plan.text, _iso(plan.received), _iso(plan.received), None, None, self.state, plan.team,
            "question", "normal", 0.0, "bench", self.claimed_by,
            _iso(self.claimed_at) if self.claimed_at else None,
            _iso(self.snoozed) if self.snoozed else None, _iso(self.updated),
        )  # fmt: skip
        return dict(zip(_MENTION_COLUMNS, values, strict=True))


def bulk_day(
    db: sqlite_utils.Database,
    *,
    plans: list[Plan],
    first_number: int,
    until: datetime,
    closing_ends_snooze: bool,
) -> None:
    """Write the rows `live_day` would write for these plans, directly (one transaction)."""
    numbers = iter(
        range(
            db.execute("SELECT coalesce(max(number), 0) + 1 FROM mentions").fetchone()[0], 1 << 62
        )
    )
    reply_ids = iter(
        range(db.execute("SELECT coalesce(max(id), 0) + 1 FROM replies").fetchone()[0], 1 << 62)
    )
    rows = _Rows()
    for offset, plan in enumerate(plans):
        number = next(numbers)
        root_at = len(rows.mentions)
        rows.mentions.append({})  # the root's row, filled in once its life is over
        life = _Life(
            rows,
            plan,
            number=number,
            external=f"p{first_number + offset}",
            next_number=lambda: next(numbers),
            next_reply=lambda: next(reply_ids),
            closing_ends_snooze=closing_ends_snooze,
        )
        for at, step in steps_of(plan):
            if at > until:
                break
            life.step(step, at)
        rows.mentions[root_at] = life.row()
    marks = ", ".join("?" * len(_MENTION_COLUMNS))
    db.conn.executemany(
        f"INSERT INTO mentions ({', '.join(_MENTION_COLUMNS)}) VALUES ({marks})",
        [tuple(r.values()) for r in rows.mentions],
    )
    db.conn.executemany(
        "INSERT INTO events (mention, action, actor, at, from_state, to_state, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows.events,
    )
    db.conn.executemany(
        "INSERT INTO replies (id, mention, actor, text, at, status, external_id, url)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows.replies,
    )
    db.conn.executemany(
        "INSERT INTO outbox (kind, mention, target, payload, state, attempts, next_at,"
        " created_at, done_at, result)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows.outbox,
    )
    db.conn.executemany(
        "INSERT INTO cards (mention, platform, channel, message_id, posted_at)"
        " VALUES (?, ?, ?, ?, ?)",
        rows.cards,
    )


# ---------------------------------------------------------------------------- the store


def days_of(size: int, days: int = DAYS) -> list[tuple[datetime, int]]:
    """Each day's start and how many conversations arrive in it: `size` over `days` days."""
    first = NOW - timedelta(days=days)
    return [
        (first + timedelta(days=d), size * (d + 1) // days - size * d // days) for d in range(days)
    ]


def prune_outbox(db: sqlite_utils.Database, *, now: datetime) -> int:
    """What the scheduler's pruning job does, when the code has one: rows pruned."""
    prune = getattr(outbox, "prune", None)
    if prune is None:
        return 0
    total = 0
    while True:
        n = prune(db, now=now)
        total += n
        if not n:
            return total


def write_day(
    db: sqlite_utils.Database,
    *,
    plans: list[Plan],
    first_number: int,
    live: bool,
    closing_ends_snooze: bool,
) -> None:
    """One day's conversations, live or in bulk, then the outbox's pruning as of that day."""
    if live:
        live_day(db, plans=plans, first_number=first_number, until=NOW)
    else:
        bulk_day(
            db,
            plans=plans,
            first_number=first_number,
            until=NOW,
            closing_ends_snooze=closing_ends_snooze,
        )
    last = plans[-1].received if plans else NOW
    prune_outbox(db, now=min(last, NOW))


_DUMPS = (
    "SELECT * FROM mentions ORDER BY number",
    "SELECT mention, action, actor, at, from_state, to_state, detail FROM events"
    " ORDER BY mention, id",
    "SELECT kind, mention, target, payload, state, attempts, next_at, created_at, done_at,"
    " result FROM outbox ORDER BY mention, id",
    "SELECT * FROM replies ORDER BY id",
    "SELECT * FROM cards ORDER BY mention",
)


def check_bulk(scratch: Path) -> bool:
    """Write one day both ways and compare every row; SystemExit if the bulk rows differ
    from the store's own. Whether this code ends a snooze when a mention closes."""
    plans = plan_day(random.Random(11), day_start=NOW - timedelta(days=5), count=300)
    dumps = []
    closing_ends_snooze = False
    for live in (True, False):
        path = scratch / f"check-{'live' if live else 'bulk'}.db"
        path.unlink(missing_ok=True)
        db = connect(str(path))
        migrations.apply(db)
        with db.conn:
            if live:
                live_day(db, plans=plans, first_number=1, until=NOW)
                closing_ends_snooze = not db.execute(
                    "SELECT count(*) FROM mentions WHERE snoozed_until IS NOT NULL"
                    " AND state IN ('resolved', 'ignored')"
                ).fetchone()[0]
            else:
                bulk_day(
                    db,
                    plans=plans,
                    first_number=1,
                    until=NOW,
                    closing_ends_snooze=closing_ends_snooze,
                )
        dumps.append([db.execute(q).fetchall() for q in _DUMPS])
        db.close()
        path.unlink()
    if dumps[0] != dumps[1]:
        raise SystemExit("the bulk rows differ from the store's own: fix history_build.py")
    return closing_ends_snooze
