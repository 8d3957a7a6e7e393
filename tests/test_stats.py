"""`allhands stats` as an operator runs it, on a store the bot has used."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.store import outbox
from tests.conftest import ConsoleHarness


async def test_stats_show_teams_outbox_and_what_needs_a_person(harness: ConsoleHarness) -> None:
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()
    await harness.say("claim 1")
    await harness.say("resolve 2")
    await harness.say("reply 3 Calm down, it is in the FAQ.")  # tone: held for dana
    # An effect given up after its retries: the operator should look at the log.
    queued = await app.database.write(
        outbox.enqueue, kind=outbox.Kind.CHANNEL_NOTE, target="console:#x",
        payload={"text": "x"}, now=app.clock.now(),
    )  # fmt: skip
    await app.database.write(outbox.fail, id=queued, now=app.clock.now(), error="gone")
    result = CliRunner().invoke(main, ["stats"], env={"ALLHANDS_DB": app.settings.db_path})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1].split() == [
        "team", "new", "open", "claimed", "answered", "resolved", "ignored", "reopened"
    ]  # fmt: skip
    assert lines[2].split() == ["billing", "0", "0", "1", "0", "0", "0", "0"]
    assert lines[3].split() == ["support", "0", "0", "1", "0", "1", "0", "0"]
    assert lines[4].startswith("Outbox (what goes out to chat and to customers):")
    assert "1 failed" in lines[4]
    assert "failed effects were given up after their retries" in result.output
    assert "Answers waiting for a lead's approval: 1" in result.output
    assert (
        "SLA steps in the last 24 hours: none\nComplaint model: the shipped one"
        " (`allhands triage learn` installs a refit)\nReplicas: 1\n"
    ) in result.output


def test_stats_without_a_store_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    result = CliRunner().invoke(main, ["stats"], env={"ALLHANDS_DB": str(missing)})
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"error: no store at {missing} (ALLHANDS_DB): allhands has not run there yet"
    )
    assert not missing.exists()  # read-only: nothing was created
