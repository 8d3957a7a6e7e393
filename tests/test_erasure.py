"""`allhands forget`: a person's text and identity leave every table and the file itself."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.cli import main
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import write_posts

# The store's file itself is searched; tests/test_operations_postgres.py does it by SQL.
pytestmark = pytest.mark.sqlite_only

BOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
teams:
  support:
    channel: console:#support
    leads: [dana]
"""

SECRETS = ("zelda_q", "Zelda Quartermaine", "ZX-4471", "kettle-of-doom")
POSTS = [
    {
        "id": "z1",
        "text": "My order ZX-4471 arrived broken, the kettle-of-doom leaks",
        "author": {"handle": "zelda_q", "name": "Zelda Quartermaine", "followers": 12},
    },
    {
        "id": "b1",
        "text": "Did @zelda_q get her refund? Mine is late too",
        "author": {"handle": "bob"},
    },
    {
        "id": "z2",
        "text": "Still waiting on ZX-4471",
        "author": {"handle": "zelda_q"},
        "in_reply_to": "z1",
    },
]


@pytest.fixture
async def filled(tmp_path: Path) -> AsyncIterator[Path]:
    """A store where zelda_q wrote twice, was answered, noted and quoted by someone else."""
    db_path = tmp_path / "store.db"
    await fill(str(db_path), tmp_path)
    yield db_path


async def fill(store: str, tmp_path: Path) -> None:
    """Make the store of `filled` at `store` (a SQLite file or a PostgreSQL URL)."""
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(replay=replay), encoding="utf-8")
    app = App(
        settings=Settings(db_path=store),
        adapters={"console": ConsoleAdapter(_Sink())},
        clock=FakeClock(),
        playbooks=load_playbooks(book),
    )
    await app.start()
    await app.poll_all()
    await app.outbox.drain()
    from bot.workflow import Context

    for line in (
        "claim 1",
        "reply 1 Sorry Zelda Quartermaine, a new kettle-of-doom for ZX-4471 is on its way",
        "resolve 1",
    ):
        await app.workflow.handle(line, Context(actor="alice"))
        await app.outbox.drain()
    await app.stop()


class _Sink:
    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


def file_bytes(db_path: Path) -> bytes:
    """The database file and whatever lies beside it (WAL, shared memory), as bytes."""
    return b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))


def found(db_path: Path, text: str) -> bool:
    data = file_bytes(db_path).lower()
    return any(form.lower() in data for form in (text.encode(), text.encode("utf-16-le")))


def test_forget_leaves_no_trace_of_the_person_in_the_file(filled: Path) -> None:
    assert all(found(filled, s) for s in SECRETS)  # the test can fail: they are there first
    with sqlite3.connect(filled) as conn:
        before = dict(conn.execute("SELECT team, count(*) FROM mentions GROUP BY team").fetchall())
        answered = conn.execute("SELECT count(*) FROM events WHERE action = 'answer'").fetchone()
    result = CliRunner().invoke(
        main, ["forget", "--db", str(filled), "--source", "social", "--author", "@zelda_q", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert "2 mention(s) blanked" in result.output
    for secret in SECRETS:
        assert not found(filled, secret), secret
    with sqlite3.connect(filled) as conn:
        # The numbers digests need are kept; the erasure is recorded, not what was erased.
        after = dict(conn.execute("SELECT team, count(*) FROM mentions GROUP BY team").fetchall())
        assert after == before
        assert conn.execute("SELECT count(*) FROM events WHERE action = 'answer'").fetchone() == (
            answered
        )
        audience = conn.execute("SELECT author_audience FROM mentions WHERE number = 1").fetchone()
        assert audience == (12,)
        erasures = conn.execute("SELECT reason, source, mentions FROM erasures").fetchall()
        assert erasures == [("request", "social", 2)]
        bob = conn.execute("SELECT text, author_handle FROM mentions WHERE number = 2").fetchone()
        assert bob == ("Did @[erased] get her refund? Mine is late too", "bob")
    # Bob is untouched otherwise, and can still be found.
    assert found(filled, "Mine is late too")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--source", "social", "--author", "nobody"], "no mentions from 'nobody' on social"),
        (["--source", "nowhere", "--author", "zelda_q"], "no mentions from source 'nowhere'"),
        (["--source", "social", "--author", " @ "], "name the author"),
    ],
)
def test_forget_refuses_what_it_cannot_find_and_changes_nothing(
    filled: Path, args: list[str], message: str
) -> None:
    before = file_bytes(filled)
    result = CliRunner().invoke(main, ["forget", "--db", str(filled), "--yes", *args])
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output
    with sqlite3.connect(filled) as conn:
        assert conn.execute("SELECT count(*) FROM erasures").fetchone() == (0,)
    assert found(filled, "zelda_q") and len(file_bytes(filled)) >= len(before) // 2


def test_forget_without_a_store_says_so(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["forget", "--db", str(tmp_path / "none.db"), "--source", "s", "--author", "a"]
    )
    assert result.exit_code == 2
    assert "no store at" in result.output
    assert not (tmp_path / "none.db").exists()


async def test_retention_blanks_old_customers_and_keeps_the_numbers(tmp_path: Path) -> None:
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(replay=replay) + "retention:\n  customers: 2d\n", encoding="utf-8")
    db_path = tmp_path / "store.db"
    clock = FakeClock()
    app = App(
        settings=Settings(db_path=str(db_path)),
        adapters={"console": ConsoleAdapter(_Sink())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        await app.poll_all()
        await app.outbox.drain()
        assert await app.retention.expire() == 0  # nothing is old yet
        clock.advance(timedelta(days=3))
        assert await app.retention.expire() == 3
        assert await app.retention.expire() == 0  # each mention once
    finally:
        await app.stop()
    for secret in SECRETS:
        assert not found(db_path, secret), secret
    with sqlite3.connect(db_path) as conn:
        rows = conn.execute("SELECT team, kind, author_audience, text FROM mentions").fetchall()
        assert len(rows) == 3 and {r[3] for r in rows} == {
            "(removed: older than the retention period)"
        }
        assert ("support", "complaint", 12) in {r[:3] for r in rows}
        assert conn.execute("SELECT reason, mentions FROM erasures").fetchall() == [
            ("retention", 3)
        ]
