"""`allhands digest --preview` prints the digest the leads get, and refuses bad asks cleanly."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from bot.cli import main
from bot.clock import FakeClock
from bot.store import digests
from tests.digest_log import Seeder, local, seed_support
from tests.test_digest_delivery import Bot


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[Bot]:
    """The seeded store after the bot sent Tuesday's digest (Wednesday 08:30, Berlin)."""
    clock.advance(local(5, 0, 0) - clock.now())
    bot = Bot(tmp_path, clock)
    await bot.app.start()
    await seed_support(Seeder(bot.app.database, clock))
    bot.at(local(7, 8, 30))
    await bot.app.digests.send_due()
    yield bot
    await bot.app.stop()


def preview(bot: Bot, *args: str, db: str | None = None) -> Result:
    env = {"ALLHANDS_DB": db or bot.app.settings.db_path, "ALLHANDS_PLAYBOOKS": str(bot.book)}
    return CliRunner().invoke(main, ["digest", *args], env=env)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


async def test_preview_prints_the_digest_the_leads_got(store: Bot, tmp_path: Path) -> None:
    stored = await store.app.database.read(digests.load, id=1)
    assert stored is not None and stored.period == "day:2026-01-06"
    chart = tmp_path / "chart.png"
    result = preview(
        store, "--team", "support", "--preview", "--date", "2026-01-06", "--chart", str(chart)
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(stored.text + "\n\n" + stored.chart_text + "\n")
    assert f"Chart: {chart}" in result.stdout
    assert chart.read_bytes().startswith(b"\x89PNG")


async def test_weekly_preview(store: Bot) -> None:
    result = preview(store, "--team", "support", "--preview", "--date", "2026-01-07", "--weekly")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "Weekly digest · Customer support · Thu 1 Jan to Wed 7 Jan 2026 (Europe/Berlin)"
    )
    assert "Mentions in: 8 (and 1 reopened)" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--team", "suport", "--preview"],
            "error: unknown team 'suport'; did you mean 'support'?",
        ),
        (
            ["--team", "nobody", "--preview"],
            "error: unknown team 'nobody'; known teams: billing, quiet, support",
        ),
        (
            ["--team", "x\x1b[2J", "--preview"],
            "error: unknown team 'x\\x1b[2J'; known teams: billing, quiet, support",
        ),
        (
            ["--team", "support", "--preview", "--date", "2026-02-30"],
            "error: --date '2026-02-30' is not a date; write it like 2026-01-05",
        ),
        (
            ["--team", "support", "--preview", "--date", "yesterday"],
            "error: --date 'yesterday' is not a date; write it like 2026-01-05",
        ),
        (
            ["--team", "support"],
            "error: the running bot sends digests at the playbook's time;"
            " add --preview to print one",
        ),
    ],
    ids=["did-you-mean", "unknown", "hostile-name", "no-such-day", "words", "no-preview"],
)
async def test_bad_asks_get_one_clean_line_and_status_2(
    store: Bot, args: list[str], message: str
) -> None:
    assert one_line_error(preview(store, *args)) == message


async def test_a_future_date_and_a_missing_store_are_refused(store: Bot, tmp_path: Path) -> None:
    line = one_line_error(preview(store, "--team", "support", "--preview", "--date", "2999-01-01"))
    assert line.startswith("error: 2999-01-01 has not begun yet in Europe/Berlin; today there is")
    missing = tmp_path / "nowhere.db"
    line = one_line_error(preview(store, "--team", "support", "--preview", db=str(missing)))
    assert line == (
        f"error: no database at {missing}; name the bot's database with --db or ALLHANDS_DB"
    )
    assert not missing.exists()  # a preview never creates a store
    line = one_line_error(
        preview(store, "--team", "support", "--preview", "--chart", str(tmp_path / "no/such.png"))
    )
    assert line.startswith(f"error: cannot write the chart to {tmp_path / 'no/such.png'}:")
    not_ours = tmp_path / "other.db"
    not_ours.write_bytes(b"this is not sqlite at all" * 100)
    line = one_line_error(preview(store, "--team", "support", "--preview", db=str(not_ours)))
    assert line.startswith(f"error: cannot read the digest's numbers from {not_ours}:")


async def test_an_empty_day_says_so_and_how_to_see_today(store: Bot) -> None:
    result = preview(store, "--team", "support", "--preview", "--date", "2026-01-01")
    assert result.exit_code == 0, result.output
    assert "(Nothing happened for team support that day: no mention came in" in result.stdout
    today = datetime.now(ZoneInfo("Europe/Berlin")).date()  # the command reads the real clock
    assert f"allhands digest --team support --preview --date {today})" in result.stdout
    busy = preview(store, "--team", "support", "--preview", "--date", "2026-01-06")
    assert "Nothing happened" not in busy.stdout


async def test_db_option_is_the_store(store: Bot) -> None:
    result = CliRunner().invoke(
        main,
        ["digest", "--team", "support", "--preview", "--date", "2026-01-06",
         "--db", store.app.settings.db_path, "--playbooks", str(store.book)],
        env={"ALLHANDS_DB": "/nonexistent/elsewhere.db"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
