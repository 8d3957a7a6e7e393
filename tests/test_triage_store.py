"""The learned complaint model lives in the store: `triage learn` installs it there with its
guard, every replica (another store handle, another app) uses the newest one that reads,
old models are pruned, and a model file from before beside a SQLite store is taken over."""

from __future__ import annotations

import asyncio
import csv
import io
import logging
import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.cli import main
from bot.clock import FakeClock
from bot.domain.complaint_model import ComplaintModel
from bot.domain.mentions import Author, Item, Triage
from bot.playbooks import load_playbooks
from bot.scheduler import build_scheduler
from bot.settings import Settings
from bot.store import complaint_models, corrections, mentions
from bot.store.db import Database
from bot.triage_model import InstalledModels, encode, learned_path, load_model, save_model
from tests.conftest import move_to_billing
from tests.stores import rows

COMPLAINTS = ["my order never arrived", "still no refund", "app keeps crashing", "charged twice"]
OTHERS = ["how do I pay online", "love the new store", "what time do you open", "thanks a lot"]
BOOK = "teams:\n  support: {{channel: 'console:#support'}}\ntriage: {{learn_nightly: {on}}}\n"


def labelled(path: Path, rng: random.Random, count: int) -> None:
    """A small labelled CSV in the ACL set's columns."""
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for n in range(count):
            complaint = rng.random() < 0.4
            said = rng.choice(COMPLAINTS if complaint else OTHERS)
            text = f"@shop {said} {rng.choice(['', 'today', 'again'])}"
            writer.writerow([n, text, int(complaint), "retail"])


async def store_with_corrections(
    target: str, clock: FakeClock, labels: list[tuple[str, str]], *, source: str = "s"
) -> None:
    """Ingest the posts from `source` and correct each one's kind to its label."""
    db = await Database(target).open()
    triage = Triage(kind="other", sentiment=0.0, urgency="low", team="support", rule="test")
    items = [(Item(str(i), text, Author(f"u{i}")), triage) for i, (text, _) in enumerate(labels)]
    top = await db.read(lambda c: c.execute("SELECT coalesce(max(number), 0) FROM mentions"))
    first = int(top.fetchone()[0]) + 1
    await db.write(
        mentions.ingest, source=source, items=items, cursor=None, now=clock.now(), channel_of={}
    )
    for number, (_, kind) in enumerate(labels, start=first):
        mention = await db.read(mentions.get, number=number)
        assert mention is not None
        if kind != mention.kind:
            await db.write(
                corrections.relabel, mention=mention, kind=kind, actor="dana", now=clock.now()
            )
    await db.close()


async def learn(*args: str) -> Result:
    """`allhands triage learn ARGS`, run as from a terminal (off this test's event loop)."""
    return await asyncio.to_thread(CliRunner().invoke, main, ["triage", "learn", *args])


def variant(name: str) -> ComplaintModel:
    """The shipped model under another name (a model someone installed)."""
    return replace(load_model(), trained_on=name)


async def install(target: str, model: ComplaintModel | bytes, clock: FakeClock) -> int | None:
    """Install a model (or raw bytes) in the store as another replica would."""
    body = model if isinstance(model, bytes) else encode(model)
    db = await Database(target).open()
    try:
        over = await db.read(complaint_models.newest_id)
        return await db.write(
            complaint_models.install,
            body=body,
            trained_on="test",
            figures={"f1": 0.5},
            now=clock.now(),
            over=over,
        )
    finally:
        await db.close()


async def test_learn_installs_in_the_store_for_every_replica_and_refuses_a_worse_model(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data = tmp_path / "labelled.csv"
    labelled(data, random.Random(5), 240)
    honest = [(f"@shop {t}", "complaint") for t in COMPLAINTS] * 3 + [
        (f"@shop {t}", "question") for t in OTHERS
    ] * 3
    await store_with_corrections(store_url, clock, honest)
    # Two posts people moved to billing become billing's examples for routing by meaning.
    db = await Database(store_url).open()
    for number in (1, 2):
        await move_to_billing(db, number, clock=clock)
    await db.close()
    result = await learn("--data", str(data), "--db", store_url)
    assert result.exit_code == 0, result.output
    assert "24 correction(s): 20 to learn from, 4 held out; 240 labelled posts" in result.stdout
    assert "installed in the store as complaint model #1;" in result.stdout
    assert "routing: 2 moved post(s) become teams' examples (billing 2)" in result.stdout
    [(id_, trained_on, body)] = rows(store_url, "SELECT id, trained_on, body FROM complaint_models")
    assert (id_, trained_on) == (1, "labelled.csv + 20 corrections")

    # Another replica (another handle on the store) triages with it.
    other = await Database(store_url).open()
    try:
        in_use = await InstalledModels(other).start()
    finally:
        await other.close()
    assert in_use.row is not None and in_use.row.id == 1
    assert encode(in_use.model) == bytes(body)
    assert in_use.model.team_examples == {
        "billing": (f"@shop {COMPLAINTS[1]}", f"@shop {COMPLAINTS[0]}")
    }
    stats = CliRunner().invoke(main, ["stats", "--db", store_url])
    assert stats.exit_code == 0, stats.output
    assert "Complaint model: the learned complaint model #1 (installed " in stats.output
    assert "trained on labelled.csv + 20 corrections, F1 " in stats.output

    # Corrections that swap complaints and the rest make a model worse on the labelled
    # data than the one installed: it is measured, refused, and nothing is written.
    poisoned = [
        (f"@shop {t} {end}", "complaint" if t in OTHERS else "praise")
        for t in COMPLAINTS + OTHERS
        for end in ("", "today", "again")
        for _ in range(8)
    ]
    await store_with_corrections(store_url, clock, poisoned, source="poison")
    refused = await learn("--data", str(data), "--db", store_url)
    assert refused.exit_code == 1, refused.output
    assert "not installed: the refitted model scores worse on the labelled data" in refused.stderr
    assert rows(store_url, "SELECT id, body FROM complaint_models") == [(1, body)]


async def test_a_replica_switches_to_a_newer_model_and_keeps_its_own_over_a_bad_one(
    store_url: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(on="false"), encoding="utf-8")

    def app() -> App:
        return App(
            settings=Settings(db_path=store_url),
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )

    running = app()
    await running.start()
    try:
        shipped = running.triager.model
        assert running.models.in_use.row is None
        assert await running.use_newest_model() is False  # nothing installed: one cheap query
        assert await install(store_url, variant("by another replica"), clock) == 1
        # The scheduler's check, every minute on every replica (it takes no lease).
        job = build_scheduler(running, poll_now=False, reload=False).get_job("newest-model")
        assert job is not None and job.trigger.interval == timedelta(minutes=1)
        assert await job.func() is True
        assert running.triager.model.trained_on == "by another replica"
        assert running.triager.model is not shipped
        assert await running.use_newest_model() is False
        # A row that is not a model: a clear error in the log, the model in use stays.
        caplog.set_level(logging.INFO, logger="bot.triage_model")
        assert await install(store_url, b"\x1f\x8b not gzip at all", clock) == 2
        assert await running.use_newest_model() is False
        assert running.triager.model.trained_on == "by another replica"
        assert "complaint model #2 in the store is not a readable complaint model" in caplog.text
        assert "triage keeps the model it has" in caplog.text
        caplog.clear()
        assert await running.use_newest_model() is False
        assert "#2" not in caplog.text  # said once, not every minute
        assert await install(store_url, variant("later"), clock) == 3
        assert await running.use_newest_model() is True
        assert running.triager.model.trained_on == "later"
    finally:
        await running.stop()
    # A replica starting on a store whose newest row is bad uses the newest that reads.
    assert await install(store_url, encode(variant("cut short"))[:200], clock) == 4
    restarted = app()
    await restarted.start()
    try:
        assert restarted.triager.model.trained_on == "later"
        assert restarted.models.in_use.row is not None and restarted.models.in_use.row.id == 3
    finally:
        await restarted.stop()


async def test_the_nightly_job_installs_in_the_store_and_triages_with_the_refit(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data = tmp_path / "labelled.csv"
    labelled(data, random.Random(9), 240)
    await store_with_corrections(
        store_url, clock, [(f"@shop {t}", "complaint") for t in COMPLAINTS]
    )
    book = tmp_path / "book.yaml"
    for enabled in ("false", "true"):
        book.write_text(BOOK.format(on=enabled), encoding="utf-8")
        app = App(
            settings=Settings(db_path=store_url),
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        await app.start()
        try:
            shipped = app.triager.model
            done = await app.learn_nightly(data=data)
            if enabled == "false":
                assert done is None and app.triager.model is shipped
                assert rows(store_url, "SELECT count(*) FROM complaint_models") == [(0,)]
                continue
            assert done is not None and done.installed == 1
            assert app.triager.model is done.model and done.model is not shipped
            assert rows(store_url, "SELECT id, trained_on FROM complaint_models") == [
                (1, "labelled.csv + 4 corrections")
            ]
            # Installed here: nothing to read again at the next check.
            assert await app.use_newest_model() is False
            # Without labelled data the job says so in the log and changes nothing.
            assert await app.learn_nightly(data=tmp_path / "none.csv") is None
            assert app.triager.model is done.model
        finally:
            await app.stop()


async def test_only_the_last_few_are_kept_and_a_stale_install_writes_nothing(
    store_url: str, clock: FakeClock
) -> None:
    db = await Database(store_url).open()
    try:
        for n in range(1, 8):
            made = await db.write(
                complaint_models.install,
                body=f"model {n}".encode(),
                trained_on=f"run {n}",
                figures={"f1": n / 10},
                now=clock.now(),
                over=n - 1 if n > 1 else None,
            )
            assert made == n
        kept = await db.read(complaint_models.every)
        assert [m.id for m in kept] == [7, 6, 5, 4, 3]
        assert kept[0].trained_on == "run 7" and kept[0].figures == {"f1": 0.7}
        assert kept[0].body is None  # the listing leaves the bodies out
        # Fitted against #5 while #7 was installed: refused, nothing written.
        stale = await db.write(
            complaint_models.install,
            body=b"late",
            trained_on="late",
            figures={},
            now=clock.now(),
            over=5,
        )
        assert stale is None
        assert await db.read(complaint_models.newest_id) == 7
        newer = await db.read(complaint_models.newer, than=5)
        assert [(m.id, m.body) for m in newer] == [(7, b"model 7"), (6, b"model 6")]
    finally:
        await db.close()


async def test_learn_refuses_a_store_that_is_not_one(tmp_path: Path) -> None:
    data = tmp_path / "labelled.csv"
    labelled(data, random.Random(1), 20)
    missing = await learn("--data", str(data), "--db", str(tmp_path / "none.db"))
    assert missing.exit_code == 2 and "no store at" in missing.output
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all" * 100)
    bad = await learn("--data", str(data), "--db", str(junk))
    assert bad.exit_code == 2 and "cannot open the store at" in bad.output, bad.output
    stranger = tmp_path / "other.db"
    import sqlite3

    conn = sqlite3.connect(stranger)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    other = await learn("--data", str(data), "--db", str(stranger))
    assert other.exit_code == 2 and "is not an allhands store" in other.output
    assert rows(str(stranger), "SELECT name FROM sqlite_master") == [("t",)]  # untouched


@pytest.mark.sqlite_only
async def test_a_model_file_beside_a_sqlite_store_is_taken_over_once(
    store_url: str, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.triage_model")
    old = save_model(variant("learned before the store kept models"), learned_path(store_url))
    body = old.read_bytes()
    for _ in range(2):
        db = await Database(store_url).open()
        try:
            in_use = await InstalledModels(db).start()
        finally:
            await db.close()
        assert in_use.model.trained_on == "learned before the store kept models"
        assert in_use.row is not None and in_use.row.id == 1
    assert rows(store_url, "SELECT id, trained_on, body FROM complaint_models") == [
        (1, "learned before the store kept models", body)
    ]
    assert caplog.text.count("is now kept in the store (model #1)") == 1
    stats = CliRunner().invoke(main, ["stats", "--db", store_url])
    assert "Complaint model: the learned complaint model #1" in stats.output


@pytest.mark.sqlite_only
async def test_a_bad_model_file_beside_the_store_is_reported_and_not_taken_over(
    store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    learned_path(store_url).write_bytes(b"scrambled")
    db = await Database(store_url).open()
    try:
        stats = CliRunner().invoke(main, ["stats", "--db", store_url])
        assert "Complaint model: the learned one in " in stats.output
        in_use = await InstalledModels(db).start()
    finally:
        await db.close()
    assert in_use.row is None and in_use.model.trained_on == load_model().trained_on
    assert "the learned model beside the store is not taken over" in caplog.text
    assert "is not a readable complaint model" in caplog.text
    assert rows(store_url, "SELECT count(*) FROM complaint_models") == [(0,)]


async def test_check_route_triages_with_the_model_the_store_uses(
    store_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    book = tmp_path / "teams.yaml"
    book.write_text(
        "teams:\n"
        "  support: {channel: 'console:#support', description: accounts and passwords}\n"
        "  billing: {channel: 'console:#billing', description: invoices}\n"
        "default_team: support\n"
        "triage: {route_threshold: 0.2}\n"
    )
    sample = ["check", str(book), "--route", "the zebra sticker pack never came", "--db"]
    shipped = CliRunner().invoke(main, [*sample, store_url])
    assert "model:   the shipped complaint model" in shipped.output, shipped.output
    assert "team:    support" in shipped.output
    # People moved such posts to billing; the learned model carries them as its examples.
    taught = replace(load_model(), team_examples={"billing": ("zebra sticker pack missing",)})
    db = await Database(store_url).open()
    try:
        await db.write(
            complaint_models.install,
            body=encode(taught),
            trained_on="acl + 3 corrections",
            figures={},
            now=clock.now(),
            over=None,
        )
    finally:
        await db.close()
    learned = CliRunner().invoke(main, [*sample, store_url])
    assert learned.exit_code == 0, learned.output
    assert "model:   the learned complaint model #1" in learned.output
    assert "team:    billing" in learned.output


def test_check_route_with_a_store_out_of_reach_uses_the_shipped_model(tmp_path: Path) -> None:
    book = tmp_path / "teams.yaml"
    book.write_text("teams:\n  support: {channel: 'console:#support'}\ndefault_team: support\n")
    away = "postgresql://allhands@127.0.0.1:1/none?connect_timeout=2"
    result = CliRunner().invoke(main, ["check", str(book), "--route", "hello", "--db", away])
    assert result.exit_code == 0, result.output
    assert "model:   the shipped complaint model (the store could not be read: " in result.output
