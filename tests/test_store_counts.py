"""/healthz, /metrics and `stats` read counts the store keeps up to date as it writes, and
they always agree with the rows; a store from before migration 0017 gets them filled in."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.mentions import Action, Author, Item, State, Triage
from bot.store import mentions, migrate, outbox
from bot.store.db import connect
from bot.store.migrations import migrations
from bot.store.sql import Conn, SqliteConn
from bot.workflow import act

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _ingest(db: Conn, external: str, team: str, parent: str | None = None) -> None:
    triage = Triage(kind="question", sentiment=0.0, urgency="normal", team=team, rule="t")
    item = Item(external_id=external, text="hi", author=Author("ann"), parent_id=parent)
    mentions.ingest(db, source="social", items=[(item, triage)], cursor=None, now=T0, channel_of={})


def _counted(db: Conn) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """The figures as counted from the rows themselves."""
    teams: dict[str, dict[str, int]] = {}
    for team, state, n in db.execute(
        "SELECT team, state, count(*) FROM mentions WHERE root_number IS NULL GROUP BY 1, 2"
    ):
        teams.setdefault(team, {})[state] = n
    effects = dict(db.execute("SELECT state, count(*) FROM outbox GROUP BY state").fetchall())
    return teams, effects


def _a_busy_day(db: Conn) -> None:
    for n in range(6):
        _ingest(db, f"p{n}", "support" if n % 2 else "billing")
    act(db, number=1, action=Action.CLAIM, actor="bo", now=T0, changes={"claimed_by": "bo"})
    act(db, number=1, action=Action.RESOLVE, actor="bo", now=T0)
    act(db, number=2, action=Action.IGNORE, actor="bo", now=T0, changes={"claimed_by": None})
    _ingest(db, "p0-f", "support", parent="p0")  # a follow-up: counted in its conversation
    _ingest(db, "p1-f", "support", parent="p1")  # reopens #1
    for effect in outbox.take_due(db, now=T0, limit=4):
        outbox.finish(db, id=effect.id, now=T0)
    outbox.prune(db, now=T0 + timedelta(days=30))


def test_kept_counts_agree_with_the_rows(store_url: str) -> None:
    db = connect(store_url)
    migrate.apply(db)
    _a_busy_day(db)
    teams, effects = _counted(db)
    assert mentions.count_by_team(db) == teams
    assert outbox.counts(db) == effects
    states: Counter[str] = Counter()
    for by_state in teams.values():
        states.update(by_state)
    assert mentions.count_by_state(db) == dict(states)
    assert mentions.count_by_state(db)["reopened"] == 1


def test_an_older_store_gets_its_counts_and_loses_ended_snoozes(tmp_path: Path) -> None:
    db = connect(str(tmp_path / "old.db"))
    assert isinstance(db, SqliteConn)  # stopping half-way is sqlite-utils' runner's
    migrations.apply(db, stop_before="0017_flat_costs")
    _ingest(db, "p0", "support")
    _ingest(db, "p1", "billing")
    until = T0 + timedelta(hours=1)
    snooze = {"snoozed_until": until}
    act(db, number=1, action=Action.SNOOZE, actor="bo", now=T0, changes=snooze)
    act(db, number=2, action=Action.SNOOZE, actor="bo", now=T0, changes=snooze)
    act(db, number=1, action=Action.RESOLVE, actor="bo", now=T0)
    # What the code before 0017 left behind: the resolved mention's snooze, for ever.
    db.execute("UPDATE mentions SET snoozed_until = ? WHERE number = 1", [until.isoformat()])
    migrations.apply(db)
    assert mentions.count_by_team(db) == {"support": {"resolved": 1}, "billing": {"new": 1}}
    assert outbox.counts(db) == _counted(db)[1]
    snoozed = db.execute("SELECT number FROM mentions WHERE snoozed_until IS NOT NULL").fetchall()
    assert snoozed == [(2,)]  # the closed one's ended snooze is gone; the open one keeps its


def test_closing_a_mention_ends_its_snooze(store_url: str) -> None:
    db = connect(store_url)
    migrate.apply(db)
    _ingest(db, "p0", "support")
    until = T0 + timedelta(hours=1)
    act(db, number=1, action=Action.SNOOZE, actor="bo", now=T0, changes={"snoozed_until": until})
    found = mentions.get(db, number=1)
    assert found is not None and found.snoozed_until == until
    act(db, number=1, action=Action.IGNORE, actor="bo", now=T0, changes={"claimed_by": None})
    closed = mentions.get(db, number=1)
    assert closed is not None and closed.state == State.IGNORED
    assert closed.snoozed_until is None
