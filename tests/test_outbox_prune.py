"""The outbox keeps delivered effects for a while, then the scheduler's job deletes them in
small batches; what failed, is unknown or is still to go is never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.clock import FakeClock
from bot.errors import ConfigError
from bot.scheduler import build_scheduler
from bot.settings import Settings
from bot.store import migrate, outbox
from bot.store.db import connect
from bot.store.sql import Conn
from tests.conftest import ConsoleHarness

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def db(store_url: str) -> Conn:
    db = connect(store_url)
    migrate.apply(db)
    return db


def _effect(db: Conn, *, status: str, at: datetime) -> int:
    effect = outbox.enqueue(db, kind=outbox.Kind.CHANNEL_NOTE, target="console:#x", now=at)
    if status == "done":
        outbox.finish(db, id=effect, now=at)
    elif status == "failed":
        outbox.fail(db, id=effect, now=at, error="gone")
    elif status == "unknown":
        db.execute("UPDATE outbox SET state = 'unknown' WHERE id = ?", [effect])
    return effect


def _ids(db: Conn) -> set[int]:
    return {row[0] for row in db.execute("SELECT id FROM outbox")}


def test_only_effects_delivered_before_the_window_go(db: Conn) -> None:
    old = T0 - timedelta(days=10)
    old_done = _effect(db, status="done", at=old)
    kept = {
        _effect(db, status="failed", at=old),
        _effect(db, status="unknown", at=old),
        _effect(db, status="pending", at=old),
        _effect(db, status="done", at=T0 - timedelta(days=2)),  # inside three days
    }
    assert outbox.prune(db, now=T0, keep=timedelta(days=3)) == 1
    assert _ids(db) == kept
    assert old_done not in _ids(db)
    assert outbox.prune(db, now=T0, keep=timedelta(days=3)) == 0


def test_pruning_goes_in_small_batches_oldest_first(db: Conn) -> None:
    ids = [_effect(db, status="done", at=T0 - timedelta(days=9, minutes=n)) for n in range(7)]
    assert outbox.prune(db, now=T0, batch=3) == 3
    assert _ids(db) == set(ids[:4])  # the three delivered longest ago went first
    assert outbox.prune(db, now=T0, batch=3) == 3
    assert outbox.prune(db, now=T0, batch=3) == 1
    assert _ids(db) == set()


def test_counts_follow_pruning(db: Conn) -> None:
    for n in range(4):
        _effect(db, status="done", at=T0 - timedelta(days=5 + n))
    _effect(db, status="failed", at=T0 - timedelta(days=8))
    _effect(db, status="pending", at=T0)
    assert outbox.counts(db) == {"done": 4, "failed": 1, "pending": 1}
    outbox.prune(db, now=T0, keep=timedelta(days=6))
    assert outbox.counts(db) == {"done": 2, "failed": 1, "pending": 1}
    assert outbox.oldest_done(db) == T0 - timedelta(days=6)


async def test_the_job_prunes_by_the_setting_and_stats_show_the_size(
    harness: ConsoleHarness, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()  # three cards delivered now
    monkeypatch.setattr(outbox, "PRUNE_BATCH", 2)  # several batches, each its own write
    assert await app.prune_outbox() == 0  # delivered just now: kept
    before = CliRunner().invoke(main, ["stats"], env={"ALLHANDS_DB": app.settings.db_path})
    assert "  3 effects in the outbox; the oldest delivered one kept is from" in before.output
    clock.advance(app.settings.outbox_keep + timedelta(minutes=1))
    assert await app.prune_outbox() == 3
    after = CliRunner().invoke(main, ["stats"], env={"ALLHANDS_DB": app.settings.db_path})
    assert "Outbox (what goes out to chat and to customers): empty" in after.output
    assert "  0 effects in the outbox\n" in after.output


def test_how_long_effects_are_kept_comes_from_the_environment() -> None:
    assert Settings.from_env({}).outbox_keep == timedelta(days=3)
    assert Settings.from_env({"ALLHANDS_OUTBOX_KEEP": "12h"}).outbox_keep == timedelta(hours=12)
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"ALLHANDS_OUTBOX_KEEP": "forever"})
    assert "ALLHANDS_OUTBOX_KEEP" in str(caught.value)


async def test_one_pruning_job_runs_every_ten_minutes(harness: ConsoleHarness) -> None:
    scheduler = build_scheduler(harness.app, poll_now=False, reload=False)
    job = scheduler.get_job("outbox-prune")
    assert job is not None and job.max_instances == 1
    assert job.trigger.interval == timedelta(minutes=10)
    assert job.func.__wrapped__ == harness.app.prune_outbox
