"""`allhands run` as an operator starts it: serves /healthz, polls, stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

BOOK = """\
sources:
  - id: social
    kind: replay
    every: 1h
teams:
  support:
    channel: console:#support
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_serves_healthz_and_stops_on_sigterm(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "ALLHANDS_DB": str(tmp_path / "run.db"),
        "ALLHANDS_PLAYBOOKS": str(book),
        "PORT": str(port),
    }
    env.pop("SLACK_BOT_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        body = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    body = json.load(r)
                if body["outbox"].get("done") == 6:
                    break  # the six cards are posted
            except OSError:
                pass
            time.sleep(0.2)
        assert body is not None and body["status"] == "ok"
        assert body["sources"]["social"]["items_seen"] == 6
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert out.count("[claim]") == 6  # each card once
    assert "allhands stopped in" in err
    # The scheduler's routine lines (each job's run) are quiet without -v.
    assert "Running job" not in err and "executed successfully" not in err
    assert "Slack is not configured (SLACK_BOT_TOKEN is not set)" in err


def test_run_refuses_bad_playbooks_with_exit_2(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text("teams: {a: {chanel: x}}\n", encoding="utf-8")
    env = {**os.environ, "ALLHANDS_DB": str(tmp_path / "r.db"), "ALLHANDS_PLAYBOOKS": str(book)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "teams.a.chanel: unknown key (did you mean 'channel'?)" in result.stderr
    assert "Traceback" not in result.stderr
