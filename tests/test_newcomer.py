"""The newcomer's first hour: what someone trying allhands for the first time meets."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bot.cli import EXAMPLE_PLAYBOOKS

REPO = Path(__file__).resolve().parent.parent


def test_packaged_examples_are_the_repositorys_playbooks() -> None:
    ours = {p.name: p.read_bytes() for p in (REPO / "playbooks").glob("*.yaml")}
    shipped = {p.name: p.read_bytes() for p in EXAMPLE_PLAYBOOKS.glob("*.yaml")}
    assert ours and shipped == ours  # edit playbooks/ and copy to bot/playbooks/examples/


def test_demo_runs_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLHANDS_", "SLACK_"))}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path, env=env, input="list\nclaim 1\n", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "using the examples shipped with allhands" in result.stderr
    assert "#1 complaint" in result.stdout and "Open (6)" in result.stdout
    assert "#1 is yours" in result.stdout or "claimed" in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the folder
