"""`allhands run` with Teams configured serves /api/messages; a half-configured Teams is refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.test_run import BOOK, free_port


def test_run_with_an_app_id_serves_api_messages(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    port = free_port()
    env = {
        **os.environ,
        "ALLHANDS_DB": str(tmp_path / "run.db"),
        "ALLHANDS_PLAYBOOKS": str(book),
        "PORT": str(port),
        "MICROSOFT_APP_ID": "4d1f3c52-7e1b-4f8a-9c0d-2b6e5a7f9e10",
        "MICROSOFT_APP_PASSWORD": "s3cret",
        "TEAMS_OPENID_URL": "http://127.0.0.1:9/openid",  # never reached: no token is sent
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    status = None
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and status is None:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/api/messages", data=b"{}", method="POST",
                headers={"Content-Type": "application/json"},
            )  # fmt: skip
            try:
                urllib.request.urlopen(request, timeout=2)
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert status == 401
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def test_run_with_an_app_id_but_no_secret_exits_2(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    env = {
        **os.environ,
        "ALLHANDS_DB": str(tmp_path / "r.db"),
        "ALLHANDS_PLAYBOOKS": str(book),
        "MICROSOFT_APP_ID": "4d1f3c52-7e1b-4f8a-9c0d-2b6e5a7f9e10",
        "MICROSOFT_APP_PASSWORD": "",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--port", str(free_port())],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "MICROSOFT_APP_PASSWORD: is not set, but MICROSOFT_APP_ID is" in result.stderr
    assert "Traceback" not in result.stderr
