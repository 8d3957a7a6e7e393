"""`allhands store copy`: a SQLite store made on the console, copied into PostgreSQL, reads
the same there; a store not empty, a missing file and a bad URL are refused cleanly."""

from __future__ import annotations

import io
import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from click.testing import CliRunner

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.cli import main
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import complaint_models, migrate, sql
from bot.triage_model import encode, load_model
from bot.workflow import Context
from tests.conftest import PLAYBOOK, POSTS, served, write_book, write_posts
from tests.stores import rows
from tests.test_incidents import storm_posts

COMMANDS = [
    ("claim 1", "alice"),
    ("reply 1 We are sorry, the refund is on its way", "alice"),
    ("resolve 1", "alice"),
    ("claim 2", "bob"),
    ("note 2 asked about passwords before", "bob"),
    ("claim I1", "carol"),
    ("snooze 3 2h", "bob"),
]
VIEWS = ["list", "list all", "list team", "show 1", "show 2", "show I1"]


@dataclass
class Made:
    """A SQLite store made on the console, and what it showed."""

    path: Path
    book: Path
    replay: Path
    clock: FakeClock
    seen: dict[str, Any]


def _change(path: Path, statement: str) -> None:
    """Change a SQLite file behind allhands' back (foreign keys not checked)."""
    conn = sqlite3.connect(path)
    with conn:
        conn.execute(statement)
    conn.close()


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def _app(store: str, book: Path, clock: FakeClock) -> App:
    return App(
        settings=Settings(db_path=store),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )


async def _seen(app: App, store: str) -> dict[str, Any]:
    """What the app shows: the console's views, /healthz, /metrics' counts, `stats`."""
    seen: dict[str, Any] = {}
    for line in VIEWS:
        seen[line] = (await app.workflow.handle(line, Context(actor="dana"))).text
    async with served(app) as base, aiohttp.ClientSession() as http:
        async with http.get(f"{base}/healthz") as response:
            seen["healthz"] = await response.json()
        async with http.get(f"{base}/metrics") as response:
            metrics = await response.text()
            seen["metrics"] = [m for m in metrics.splitlines() if m.startswith("allhands_")]
    code, out = invoke("stats", "--db", store)
    assert code == 0, out
    seen["stats"] = out.split("Replicas:")[0]  # the replicas are this process, not data
    return seen


@pytest.fixture
async def made(tmp_path: Path) -> Made:
    """A SQLite store with mentions, claims, replies, notes, an incident, the outbox."""
    replay, book = write_book(tmp_path, PLAYBOOK, [*POSTS, *storm_posts(12)])
    path = tmp_path / "app.db"
    clock = FakeClock()
    app = _app(str(path), book, clock)
    await app.start()
    try:
        await app.poll_all()
        await app.outbox.drain()
        for line, actor in COMMANDS:
            await app.workflow.handle(line, Context(actor=actor))
            await app.outbox.drain()
            clock.advance(timedelta(minutes=3))
        # A complaint model `triage learn` installed (the shipped one, renamed).
        learned = replace(load_model(), trained_on="learned on the console")
        await app.database.write(
            complaint_models.install,
            body=encode(learned),
            trained_on=learned.trained_on,
            figures={"labelled_after": 0.8},
            now=clock.now(),
            over=None,
        )
        seen = await _seen(app, str(path))
    finally:
        await app.stop()
    return Made(path, book, replay, clock, seen)


async def test_a_copied_store_reads_the_same_on_postgresql(made: Made, pg_url: str) -> None:
    tables = ("mentions", "events", "replies", "outbox", "incidents", "incident_members")
    counts = {
        t: rows(str(made.path), f"SELECT count(*) FROM {t}")[0][0]
        for t in (*tables, "complaint_models")
    }
    assert all(counts.values()), counts  # the test can fail: every kind of row is there
    code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 0, out
    assert re.search(rf"^  mentions +{counts['mentions']} row\(s\) +[0-9.]+ s$", out, re.M), out
    assert "Copied " in out and " s." in out
    for table, n in counts.items():
        assert rows(pg_url, f"SELECT count(*) FROM {table}") == [(n,)], table
    for table in ("mention_counts", "outbox_counts", "events", "mentions", "complaint_models"):
        assert sorted(rows(pg_url, f"SELECT * FROM {table}")) == sorted(
            rows(str(made.path), f"SELECT * FROM {table}")
        ), table

    app = _app(pg_url, made.book, made.clock)
    await app.start()
    try:
        seen = await _seen(app, pg_url)
        for key, value in made.seen.items():
            assert seen[key] == value, key
        assert "Complaint model: the learned complaint model #1" in seen["stats"]
        assert app.triager.model.trained_on == "learned on the console"  # carried, and used
        # New mentions and events get numbers past the copied ones.
        top = counts["mentions"]
        write_posts(made.replay, [*POSTS, *storm_posts(12), {"id": "n1", "text": "Refund?"}])
        await app.poll_all()
        await app.outbox.drain()
        assert rows(pg_url, "SELECT max(number) FROM mentions") == [(top + 1,)]
        answer = await app.workflow.handle(f"claim {top + 1}", Context(actor="alice"))
        assert f"#{top + 1}" in answer.text
        assert rows(pg_url, "SELECT count(*) FROM events WHERE mention = ?", [top + 1])[0][0] >= 2
    finally:
        await app.stop()
    # The counts still follow changes after the copy (the triggers are back on).
    assert sum(n for (n,) in rows(pg_url, "SELECT n FROM mention_counts")) == top + 1 - sum(
        1 for _ in rows(pg_url, "SELECT 1 FROM mentions WHERE root_number IS NOT NULL")
    )


async def test_copying_into_a_store_with_rows_refuses_and_changes_nothing(
    made: Made, pg_url: str
) -> None:
    code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 0, out
    before = rows(pg_url, "SELECT number, state, text FROM mentions ORDER BY number")
    events = rows(pg_url, "SELECT count(*) FROM events")
    code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 2
    assert "error: the PostgreSQL store is not empty (rows in " in out and "mentions" in out
    assert rows(pg_url, "SELECT number, state, text FROM mentions ORDER BY number") == before
    assert rows(pg_url, "SELECT count(*) FROM events") == events


async def test_a_store_a_running_bot_holds_is_not_copied(made: Made, pg_url: str) -> None:
    from bot.store.runlock import RunLock

    with RunLock(str(made.path)):  # as `allhands run` holds it
        code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 2
    assert "is in use by allhands" in out and "stop it before copying" in out
    assert "Copying" not in out
    code, out = invoke("store", "copy", str(made.path), pg_url)  # stopped: it copies
    assert code == 0, out


async def test_a_copy_that_fails_midway_leaves_the_server_empty(made: Made, pg_url: str) -> None:
    # A row PostgreSQL refuses (a member of an incident that is not there), late in the copy.
    _change(made.path, "UPDATE incident_members SET incident = 999 WHERE mention = 4")
    code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 2 and "error: PostgreSQL refused a row of incident_members" in out, out
    assert "nothing was copied" in out
    assert rows(pg_url, "SELECT count(*) FROM mentions") == [(0,)]
    assert rows(pg_url, "SELECT count(*) FROM mention_counts") == [(0,)]


def test_a_missing_file_a_bad_url_and_a_wrong_direction_are_refused(
    tmp_path: Path, pg_url: str
) -> None:
    code, out = invoke("store", "copy", str(tmp_path / "nope.db"), pg_url)
    assert code == 2 and f"error: no SQLite store at {tmp_path / 'nope.db'}" in out
    stranger = tmp_path / "other.db"
    _change(stranger, "CREATE TABLE t (x)")
    code, out = invoke("store", "copy", str(stranger), pg_url)
    assert code == 2 and "is not an allhands store" in out
    (tmp_path / "junk.db").write_bytes(b"not a database at all" * 100)
    code, out = invoke("store", "copy", str(tmp_path / "junk.db"), pg_url)
    assert code == 2 and "junk.db is not a SQLite store: file is not a database" in out, out
    code, out = invoke("store", "copy", str(stranger), str(tmp_path / "to.db"))
    assert code == 2 and "TO must be a postgresql:// URL" in out
    code, out = invoke("store", "copy", pg_url, pg_url)
    assert code == 2 and "FROM must be a SQLite file" in out
    good = tmp_path / "good.db"
    db = sql.connect_sqlite(str(good))
    migrate.apply(db)
    db.close()
    for bad, said in (
        ("postgresql://127.0.0.1:1/none", "error: cannot connect to TO: "),
        ("postgresql://x:y@[::1:bad/db", "error: TO is not a usable PostgreSQL URL: "),
        ("postgresql://127.0.0.1:notaport/db", "error: cannot connect to TO: "),
    ):
        code, out = invoke("store", "copy", str(good), bad)
        assert code == 2 and said in out, (bad, out)


async def test_a_store_behind_this_version_is_refused(made: Made, pg_url: str) -> None:
    _change(made.path, "DELETE FROM _sqlite_migrations WHERE name = '0020_replicas'")
    code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 2 and "lacks migration(s) 0020_replicas" in out
    assert rows(pg_url, "SELECT count(*) FROM mentions") == [(0,)]


async def test_ids_sqlite_handed_out_and_deleted_are_not_handed_out_again(
    made: Made, pg_url: str
) -> None:
    (top,) = rows(str(made.path), "SELECT max(id) FROM outbox")[0]
    _change(made.path, f"DELETE FROM outbox WHERE id > {top - 3}")  # as pruning does
    assert rows(str(made.path), "SELECT seq FROM sqlite_sequence WHERE name = 'outbox'") == [(top,)]
    code, out = invoke("store", "copy", str(made.path), pg_url)
    assert code == 0, out
    assert rows(pg_url, "SELECT max(id) FROM outbox") == [(top - 3,)]
    assert rows(pg_url, "SELECT last_value, is_called FROM outbox_id_seq") == [(top, True)]
    assert rows(pg_url, "SELECT last_value FROM mentions_number_seq") == rows(
        pg_url, "SELECT max(number) FROM mentions"
    )
