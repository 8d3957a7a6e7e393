"""backup, restore, export and --db, as an operator types them; bad input changes nothing."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.test_erasure import file_bytes, filled  # noqa: F401  (the fixture)
from tests.test_run import BOOK, free_port

# SQLite files copied, restored and read directly (PostgreSQL: test_operations_postgres).
pytestmark = pytest.mark.sqlite_only

BOOK_FILE = str(Path(__file__).resolve().parent.parent / "playbooks")


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def mention_count(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT count(*) FROM mentions").fetchone()[0])


def test_backup_and_restore_round_trip(filled: Path, tmp_path: Path) -> None:  # noqa: F811
    with sqlite3.connect(filled) as conn:  # a learned complaint model goes with the store
        conn.execute(
            "INSERT INTO complaint_models (installed_at, trained_on, figures, body)"
            " VALUES ('2026-01-01T00:00:00+00:00', 'learned', '{}', x'1f8b')"
        )
    copy = tmp_path / "copy.db"
    code, out = invoke("backup", "--db", str(filled), str(copy))
    assert code == 0, out
    assert "3 mention(s)" in out
    assert mention_count(copy) == 3
    assert not list(tmp_path.glob("copy.db-*"))  # one self-contained file
    with sqlite3.connect(filled) as conn:
        conn.execute("DELETE FROM cards")
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("DELETE FROM outbox")
        conn.execute("DELETE FROM complaint_models")
    code, out = invoke("restore", "--db", str(filled), str(copy))
    assert code == 0, out
    with sqlite3.connect(filled) as conn:
        assert conn.execute("SELECT count(*) FROM cards").fetchone()[0] > 0
        models = conn.execute("SELECT trained_on, body FROM complaint_models").fetchall()
        assert models == [("learned", b"\x1f\x8b")]


def test_backup_refuses_bad_targets_and_changes_nothing(filled: Path, tmp_path: Path) -> None:  # noqa: F811
    taken = tmp_path / "taken.db"
    taken.write_bytes(b"keep me")
    cases = [
        (["backup", "--db", str(tmp_path / "none.db"), str(tmp_path / "b.db")], "no store at"),
        (["backup", "--db", str(filled), str(taken)], "exists; choose another name"),
        (["backup", "--db", str(filled), str(tmp_path / "no" / "b.db")], "no folder"),
        (["backup", "--db", str(filled), str(tmp_path)], "is a folder"),
        (["restore", "--db", str(filled), str(tmp_path / "missing.db")], "no backup file"),
        (["restore", "--db", str(filled), str(taken)], "is not an allhands backup"),
    ]
    before = file_bytes(filled)
    for args, message in cases:
        code, out = invoke(*args)
        assert code == 2, args
        assert message in out, (args, out)
    assert taken.read_bytes() == b"keep me"
    assert file_bytes(filled) == before
    assert not (tmp_path / "b.db").exists()


def test_backup_while_run_runs_and_restore_refused_until_it_stops(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    db = tmp_path / "live.db"
    port = free_port()
    env = {**os.environ, "ALLHANDS_PLAYBOOKS": str(book), "PORT": str(port)}
    env.pop("SLACK_BOT_TOKEN", None)
    env.pop("ALLHANDS_DB", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "--log-format", "json", "-v", "run", "--host", "127.0.0.1",
         "--db", str(db)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    if json.load(r)["sources"].get("social", {}).get("items_seen"):
                        break
            except OSError:
                pass
            time.sleep(0.2)
        copy = tmp_path / "copy.db"
        code, out = invoke("backup", "--db", str(db), str(copy))
        assert code == 0, out
        assert mention_count(copy) == 6  # consistent: every stored mention, while it runs
        code, out = invoke("restore", "--db", str(db), str(copy))
        assert code == 2
        assert "is in use by allhands (pid " in out and "stop it before restoring" in out
        # An erasure request is served while the bot runs.
        code, out = invoke("forget", "--db", str(db), "--source", "social", "--author", "mara_k",
                           "--yes")  # fmt: skip
        assert code == 0 and "1 mention(s) blanked" in out, out
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    # --log-format json: every line is one object; lines about an effect say which.
    lines = [json.loads(line) for line in err.splitlines()]
    assert any(line["message"].startswith("allhands listening on") for line in lines)
    delivered = [line for line in lines if line["message"].startswith("delivered card_post")]
    assert len(delivered) == 6
    assert all(isinstance(line["effect"], int) and line["mention"] for line in delivered)
    assert b"mara_k" not in file_bytes(db)
    code, out = invoke("restore", "--db", str(db), str(copy))
    assert code == 0, out
    assert mention_count(db) == 6


def test_export_csv_pseudonymises_authors(filled: Path) -> None:  # noqa: F811
    code, out = invoke("export", "--db", str(filled), "--since", "2020-01-01")
    assert code == 0, out
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["number"] for r in rows] == ["1", "2"]  # conversations; #3 is #1's follow-up
    first = rows[0]
    assert first["team"] == "support" and first["kind"] == "complaint"
    assert first["answered_by"] == "alice"
    assert int(first["first_answer_seconds"]) >= 0 and first["resolved_at"]
    assert rows[1]["first_answer_at"] == "" and rows[1]["answered_by"] == ""
    assert "zelda" not in out and "bob" not in out
    assert first["author"].startswith("a-") and first["author"] != rows[1]["author"]


def test_export_jsonl_with_authors(filled: Path, tmp_path: Path) -> None:  # noqa: F811
    target = tmp_path / "out.jsonl"
    code, out = invoke(
        "export", "--db", str(filled), "--since", "2020-01-01", "--format", "jsonl",
        "--with-authors", "-o", str(target),
    )  # fmt: skip
    assert code == 0, out
    assert "Exported 2 conversation(s)" in out
    rows = [json.loads(line) for line in target.read_text(encoding="utf-8").splitlines()]
    assert [r["author"] for r in rows] == ["social:zelda_q", "social:bob"]
    code, out = invoke(
        "export", "--db", str(filled), "--since", "2099-01-01", "--until", "2099-01-02"
    )
    assert code == 0 and out.strip() == ",".join(csv.DictReader(io.StringIO(out)).fieldnames or [])


def test_export_refuses_bad_input(filled: Path, tmp_path: Path) -> None:  # noqa: F811
    for args, message in [
        (["--since", "31/01/2026"], "write the date as YYYY-MM-DD"),
        (["--since", "2026-02-01", "--until", "2026-01-01"], "is not after"),
        (["--since", "2026-01-01", "-o", str(tmp_path / "no" / "x.csv")], "no folder"),
        (["--since", "2026-01-01", "--format", "xml"], "Invalid value for '--format'"),
    ]:
        code, out = invoke("export", "--db", str(filled), *args)
        assert code == 2, args
        assert message in out, (args, out)
    code, out = invoke("export", "--db", str(tmp_path / "none.db"), "--since", "2026-01-01")
    assert code == 2 and "no store at" in out


def test_stats_and_sources_take_db(filled: Path) -> None:  # noqa: F811
    code, out = invoke("stats", "--db", str(filled))
    assert code == 0, out
    assert "support" in out


def test_a_file_that_is_not_a_store_is_refused_by_every_command(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database, just some text " * 200)
    before = junk.read_bytes()
    for args in (
        ["stats"],
        ["sources"],
        ["export", "--since", "2026-01-01"],
        ["forget", "--source", "s", "--author", "a", "--yes"],
        ["backup", str(tmp_path / "copy.db")],
        ["digest", "--team", "support", "--preview", "--playbooks", BOOK_FILE],
    ):
        code, out = invoke(*args, "--db", str(junk))
        assert code == 2, (args, out)
        assert "error:" in out and ("not a database" in out or "cannot" in out), (args, out)
    code, out = invoke("restore", "--db", str(tmp_path / "new.db"), str(junk))
    assert code == 2 and "is not an allhands backup" in out
    assert junk.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.db"]


def test_stats_without_a_store_says_so(tmp_path: Path) -> None:
    code, out = invoke("stats", "--db", str(tmp_path / "none.db"))
    assert code == 2 and "no store at" in out
    assert not (tmp_path / "none.db").exists()
