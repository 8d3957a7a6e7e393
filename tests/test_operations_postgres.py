"""The operator's commands on a PostgreSQL store: forget, export, stats, sources and the
digest preview work there; backup and restore say to use pg_dump and pg_restore."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.store import sql
from tests.test_erasure import SECRETS, fill
from tests.test_operations import BOOK_FILE


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
async def filled_pg(tmp_path: Path, pg_url: str) -> str:
    """The store of test_erasure's `filled`, on PostgreSQL."""
    await fill(pg_url, tmp_path)
    return pg_url


def cells_naming(url: str, secret: str) -> list[str]:
    """Every table.column of the store whose text holds `secret` (in any case)."""
    found = []
    with sql.read_only(url) as db:
        for table, columns in sql.text_columns(db).items():
            for column in columns:
                hit = db.execute(
                    f'SELECT 1 FROM "{table}" WHERE strpos(lower("{column}"), ?) > 0 LIMIT 1',
                    [secret.lower()],
                ).fetchone()
                if hit:
                    found.append(f"{table}.{column}")
    return found


def test_forget_blanks_the_person_everywhere_on_postgresql(filled_pg: str) -> None:
    assert cells_naming(filled_pg, "ZX-4471")  # the test can fail: it is there first
    code, out = invoke(
        "forget", "--db", filled_pg, "--source", "social", "--author", "@zelda_q", "--yes"
    )
    assert code == 0, out
    assert "2 mention(s) blanked" in out and "VACUUM" in out
    for secret in SECRETS:
        assert cells_naming(filled_pg, secret) == [], secret
    with sql.read_only(filled_pg) as db:
        erasures = db.execute("SELECT reason, source, mentions FROM erasures").fetchall()
        assert [tuple(r) for r in erasures] == [("request", "social", 2)]
        bob = db.execute("SELECT text, author_handle FROM mentions WHERE number = 2").fetchone()
        assert tuple(bob) == ("Did @[erased] get her refund? Mine is late too", "bob")
    code, out = invoke("forget", "--db", filled_pg, "--source", "social", "--author", "x", "--yes")
    assert code == 2 and "no mentions from 'x' on social" in out


def test_export_stats_sources_and_preview_read_postgresql(filled_pg: str) -> None:
    code, out = invoke("export", "--db", filled_pg, "--since", "2026-01-01")
    assert code == 0, out
    exported = list(csv.DictReader(io.StringIO(out)))
    assert [(r["number"], r["answered_by"]) for r in exported] == [("1", "alice"), ("2", "")]
    code, out = invoke("stats", "--db", filled_pg)
    assert code == 0 and "support" in out, out
    code, out = invoke("sources", "--db", filled_pg)
    assert "social" in out, out
    code, out = invoke(
        "digest", "--team", "support", "--preview", "--playbooks", BOOK_FILE, "--db", filled_pg
    )
    assert code == 0, out


def test_backup_and_restore_point_to_pg_dump(filled_pg: str, tmp_path: Path) -> None:
    for args in (["backup", str(tmp_path / "copy.db")], ["restore", str(tmp_path / "x.db")]):
        (tmp_path / "x.db").write_bytes(b"")
        code, out = invoke(*args, "--db", filled_pg)
        assert code == 2, out
        assert "pg_dump" in out and "pg_restore" in out
    assert not (tmp_path / "copy.db").exists()


def test_a_server_out_of_reach_is_a_clean_refusal() -> None:
    url = "postgresql://nobody@127.0.0.1:9/allhands"  # nothing listens on port 9
    for args in (["stats"], ["export", "--since", "2026-01-01"]):
        code, out = invoke(*args, "--db", url)
        assert code == 2, (args, out)
        assert "error:" in out
