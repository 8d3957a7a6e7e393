"""A webhook sender that resends after a failure loses nothing and doubles nothing, even
when `allhands run` is killed (SIGKILL) while storing: the request's signature and its
mentions are stored in one transaction, and an identical resend then gets a 2xx."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from connectors.webhook import sign
from tests.test_run import free_port

# A killed process and its SQLite file.
pytestmark = pytest.mark.sqlite_only

SECRET = "a-webhook-secret-for-the-kill-test"
BOOK = f"""\
sources:
  - id: hooks
    kind: webhook
    secret: {SECRET}
    max_bytes: 1048576
teams:
  support:
    channel: console:#support
"""


def start(tmp_path: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "ALLHANDS_DB": str(tmp_path / "hooks.db"),
        "ALLHANDS_PLAYBOOKS": str(tmp_path / "book.yaml"),
        "PORT": str(port),
    }
    env.pop("SLACK_BOT_TOKEN", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "--host", "127.0.0.1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                return proc
        except OSError:
            time.sleep(0.05)
    raise AssertionError("allhands run did not start")


def post(port: int, body: bytes, stamp: str) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/webhooks/hooks",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Allhands-Timestamp": stamp,
            "X-Allhands-Signature": sign(SECRET, stamp, body),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_resends_after_a_kill_store_each_mention_once(tmp_path: Path) -> None:
    (tmp_path / "book.yaml").write_text(BOOK, encoding="utf-8")
    port = free_port()
    # Long posts, so that storing a batch takes a while (triage on a worker thread).
    bodies = [
        json.dumps({"mentions": [
            {"id": f"r{r}-m{m}", "text": f"post {m} of request {r}. " + "Checkout fails. " * 100,
             "author": {"handle": f"u{m}"}}
            for m in range(30)
        ]}).encode()
        for r in range(5)
    ]  # fmt: skip
    stamps = [str(int(time.time())) for _ in bodies]
    proc = start(tmp_path, port)
    statuses: dict[int, int] = {}

    def send(i: int) -> None:
        try:
            statuses[i] = post(port, bodies[i], stamps[i])
        except OSError:
            statuses[i] = 0  # the connection died with the process

    senders = [threading.Thread(target=send, args=(i,)) for i in range(len(bodies))]
    for thread in senders:
        thread.start()
    time.sleep(0.15)  # some stored, some in flight (where exactly does not matter)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for thread in senders:
        thread.join()
    proc = start(tmp_path, port)
    try:
        # Each sender resends its identical request until it gets a 2xx.
        for i, body in enumerate(bodies):
            for _ in range(3):
                if 200 <= statuses[i] < 300:
                    break
                statuses[i] = post(port, body, stamps[i])
        assert all(200 <= s < 300 for s in statuses.values()), statuses
        # ... and a resend of an accepted request is answered 200, storing nothing more.
        assert post(port, bodies[0], stamps[0]) == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    conn = sqlite3.connect(tmp_path / "hooks.db")
    ids = [row[0] for row in conn.execute("SELECT external_id FROM mentions")]
    conn.close()
    assert len(ids) == len(set(ids)) == 150
