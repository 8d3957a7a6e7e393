"""What people and probes wait for reads the active or recent rows through an index that
fits, never the history: each hot store function is run, every statement it sends is
recorded, and SQLite's EXPLAIN QUERY PLAN of each must hold no full scan of a table that
grows with history (a walk over a partial index of active mentions is fine)."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from bot.domain.digest_periods import day_period
from bot.domain.mentions import ACTIVE, UNCLAIMED, Action, Author, Item, State, Triage
from bot.domain.sla import Step
from bot.stats_report import read as read_stats
from bot.store import attention, day_figures, digests, mentions, outbox, replies, sources
from bot.store import sla as sla_store
from bot.store.db import connect
from bot.store.migrations import ACTIVE_ROOT, migrations
from bot.workflow import act

NOW = datetime(2026, 3, 31, 9, 0, tzinfo=UTC)
TRIAGE = Triage(kind="question", sentiment=0.0, urgency="normal", team="support", rule="t")
# Indexes that hold only active conversations: walking one reads the active few.
ACTIVE_ONLY = {"mentions_active", "mentions_active_team", "mentions_snoozing", "approvals_waiting"}
# Tables (and a CTE) whose size does not grow with history.
SMALL = {
    "given",  # replies.count_given's subquery: at most `at_most` rows
    "chat_warnings",
    "mention_counts",
    "outbox_counts",
    "source_health",
    "people",
    "replicas",  # one row per running replica
    "leases",  # one row per scheduled job
    "complaint_models",  # the last few installed (complaint_models.KEEP)
    "json_each",
    "w",
    "sqlite_master",
}


# SQLite's own plans (EXPLAIN QUERY PLAN); on PostgreSQL the same queries are run by every
# test that goes through the store, and its planner needs no hints.
pytestmark = pytest.mark.sqlite_only


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    """A store with a little of everything: closed and active mentions, a follow-up, a
    snooze, answers and delivered effects."""
    db = connect(str(tmp_path / "plans.db"))
    migrations.apply(db)
    triage = Triage(kind="question", sentiment=0.0, urgency="normal", team="support", rule="t")
    for n in range(1, 7):
        item = Item(external_id=f"p{n}", text=f"post {n}", author=Author(f"u{n}"))
        at = NOW - timedelta(hours=7 - n)
        mentions.ingest(
            db, source="social", items=[(item, triage)], cursor=None, now=at, channel_of={}
        )
    act(db, number=1, action=Action.CLAIM, actor="ann", now=NOW, changes={"claimed_by": "ann"})
    act(db, number=1, action=Action.RESOLVE, actor="ann", now=NOW)
    act(db, number=2, action=Action.CLAIM, actor="ann", now=NOW, changes={"claimed_by": "ann"})
    until = NOW + timedelta(hours=1)
    act(db, number=3, action=Action.SNOOZE, actor="bo", now=NOW, changes={"snoozed_until": until})
    follow = Item(external_id="p2-f", text="any news?", author=Author("u2"), parent_id="p2")
    mentions.ingest(
        db, source="social", items=[(follow, triage)], cursor=None, now=NOW, channel_of={}
    )
    replies.add(db, mention=2, actor="ann", text="on it", status="sent", now=NOW)
    for effect in outbox.take_due(db, now=NOW):
        outbox.finish(db, id=effect.id, now=NOW)
    return db


def plans(db: sqlite_utils.Database, run: Callable[[], Any]) -> list[tuple[str, list[str]]]:
    """Each statement `run` sends (bound values written in) and the steps of its plan."""
    sent: list[str] = []
    db.conn.set_trace_callback(sent.append)
    try:
        run()
    finally:
        db.conn.set_trace_callback(None)
    found = []
    for sql in dict.fromkeys(sent):
        if sql.split(None, 1)[0].upper() in ("SELECT", "WITH", "DELETE", "UPDATE"):
            steps = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()]
            found.append((sql, steps))
    assert found, "the function sent no query"
    return found


def history_scans(found: list[tuple[str, list[str]]]) -> list[str]:
    """The plan steps that read a history table from end to end."""
    bad = []
    for sql, steps in found:
        for step in steps:
            scan = re.match(r"SCAN (\w+)(?: USING (?:COVERING )?INDEX (\w+))?", step)
            if scan and scan[1] not in SMALL and scan[2] not in ACTIVE_ONLY:
                bad.append(f"{step}  <-  {' '.join(sql.split())}")
    return bad


def indexes_used(found: list[tuple[str, list[str]]]) -> set[str]:
    """Every index named in the plans."""
    return {m for _, steps in found for s in steps for m in re.findall(r"INDEX (\w+)", s)}


HOT: dict[str, tuple[Callable[[sqlite_utils.Database], Any], set[str]]] = {
    "list": (lambda db: mentions.find(db, states=UNCLAIMED), {"mentions_active"}),
    "list all": (lambda db: mentions.find(db, states=ACTIVE), {"mentions_active"}),
    "list's count": (lambda db: mentions.count_found(db, states=UNCLAIMED), {"mentions_active"}),
    "list team": (
        lambda db: mentions.find(db, states=ACTIVE, team="support"),
        {"mentions_active_team"},
    ),
    "list mine": (
        lambda db: mentions.find(db, states=(State.CLAIMED, State.ANSWERED), claimed_by="ann"),
        {"mentions_active"},
    ),
    "slack home": (
        lambda db: mentions.find(db, states=UNCLAIMED, team="support", limit=500),
        {"mentions_active_team"},
    ),
    "healthz mentions": (mentions.count_by_state, set()),
    "healthz outbox": (outbox.counts, set()),
    "healthz sources": (sources.health, set()),
    "stats": (
        lambda db: read_stats(db, since=NOW - timedelta(days=1)),
        {"outbox_done", "sla_steps_at"},
    ),
    "follow-ups": (lambda db: mentions.follow_ups(db, number=2), {"mentions_follow_ups"}),
    "answer count": (
        lambda db: replies.count_given(db, actor="ann", at_most=3),
        {"replies_actor"},
    ),
    "outbox prune": (lambda db: outbox.prune(db, now=NOW + timedelta(days=9)), {"outbox_done"}),
    "digest": (
        lambda db: digests.histories(
            db,
            team="support",
            since=NOW - timedelta(days=7),
            until=day_period(NOW.date(), UTC).end,
        ),
        {"mentions_active_team", "mentions_team_updated", "events_mention"},
    ),
    "digest kept days": (
        lambda db: digests.day_points(
            db, team="support", zone="UTC", days=[NOW.date() - timedelta(days=n) for n in range(6)]
        ),
        set(),
    ),
    "digest kept tallies": (
        lambda db: day_figures.kept(
            db,
            team="support",
            zone="UTC",
            terms="v1",
            first=NOW.date() - timedelta(days=6),
            last=NOW.date(),
        ),
        {"sqlite_autoindex_digest_day_figures_1"},
    ),
    "correction forgets kept days": (
        lambda db: day_figures.forget_since(db, at=NOW),
        {"digest_day_figures_day", "digest_days_day"},
    ),
    "sla waiting": (
        lambda db: sla_store.due_since_waiting(
            db, team="support", step=Step.NUDGE, states=UNCLAIMED, cutoff=NOW, now=NOW
        ),
        {"mentions_active_team"},
    ),
    "sla unclaimed": (
        lambda db: sla_store.due_since_waiting(
            db,
            team="support",
            step=Step.ESCALATE,
            states=ACTIVE,
            cutoff=NOW,
            now=NOW,
            unclaimed=True,
        ),
        {"mentions_active_team"},
    ),
    "sla claims": (
        lambda db: sla_store.due_since_claim(
            db, team="support", step=Step.REMIND, cutoff=NOW, now=NOW
        ),
        {"mentions_active_team"},
    ),
    "sla snoozes": (
        lambda db: sla_store.snoozes_over(db, now=NOW + timedelta(hours=2)),
        {"mentions_snoozing"},
    ),
    "ingest": (
        lambda db: mentions.ingest(
            db,
            source="social",
            items=[
                (Item(external_id=e, text="x", author=Author("u9"), parent_id=p), TRIAGE)
                for e, p in (("p1", None), ("q1", "p3"), ("q2", "q1"), ("q3", None))
            ],
            cursor=None,
            now=NOW,
            channel_of={},
        ),
        {"mentions_conversation", "replies_external"},
    ),
    "sla out of hours": (
        lambda db: sla_store.arrived_out_of_hours(
            db, team="support", closed_at=NOW - timedelta(hours=12), sources=["social"]
        ),
        {"mentions_active_team"},
    ),
    "storm: chat budget spent": (
        lambda db: attention.spent(db, channel="console:#support", since=NOW),
        {"budget_spends_channel"},
    ),
    "storm: a card let through": (
        lambda db: attention.spend(db, channel="console:#support", mention=1, now=NOW, since=NOW),
        {"budget_spends_channel"},
    ),
    "storm: a card shown by its incident": (
        lambda db: attention.refund(db, mentions=[1, 2]),
        {"budget_spends_mention"},
    ),
    "storm: last spike alert": (
        lambda db: attention.last_alert(db, watch=attention.team_watch("support")),
        {"spike_alerts_watch"},
    ),
    "storm: team arrivals": (
        lambda db: attention.team_arrivals(db, team="support", since=NOW, at_most=20),
        {"mentions_team_received"},
    ),
    "storm: incident arrivals": (
        lambda db: attention.incident_arrivals(db, incident=1, since=NOW, at_most=20),
        {"incident_members_joined"},
    ),
}


@pytest.mark.parametrize("name", sorted(HOT))
def test_a_hot_query_reads_no_history(db: sqlite_utils.Database, name: str) -> None:
    run, expected = HOT[name]
    found = plans(db, lambda: run(db))
    assert history_scans(found) == []
    assert expected <= indexes_used(found), found


def test_the_check_catches_a_query_that_walks_history(db: sqlite_utils.Database) -> None:
    # What `list` was before the partial indexes: the planner walks every mention.
    found = plans(
        db,
        lambda: db.execute(
            "SELECT * FROM mentions WHERE state IN ('new', 'open') AND root_number IS NULL"
            " ORDER BY number LIMIT 50"
        ).fetchall(),
    )
    assert history_scans(found)


def test_the_active_condition_names_exactly_the_active_states() -> None:
    listed = set(re.findall(r"'(\w+)'", ACTIVE_ROOT))
    assert listed == {s.value for s in ACTIVE}
