"""Crash drill: `allhands run` killed with SIGKILL again and again during traffic; nothing may
be lost or shown twice.

Run from the repository root:

    .venv/bin/python benchmarks/crash_drill.py [--mentions 5000] [--replies 300]
        [--kills 20] [--window 150] [--latency 0.2] [--channels 50] [--seed 1]

`allhands run` runs as a child process on a temporary store, with Slack (the fake Slack Web
API, tests/fakes/slack_api.py) and a Bluesky source (tests/fakes/bluesky.py), both
answering every call `--latency` seconds after it took effect. Meanwhile:

- senders push `--mentions` mentions to a signed webhook source, ten a request, each
  request sent again (byte for byte) until it gets a 2xx, as a sender does after a failure;
- `--replies` posts mention the Bluesky account; each gets an answer by a signed
  `/allhands reply N ...` slash command (sent again, after the kills, for a mention whose
  answer the store does not hold: the person would see the card still unanswered);
- the process is killed with SIGKILL `--kills` times, at random moments spread over
  `--window` seconds (while webhooks are stored, cards go out and replies are posted),
  and started again at once.

Printed: lost mentions (sent, never stored or never shown as a card), doubled cards (a
mention's card posted more than once), doubled public replies (more than one post in
answer to one customer post), lost replies, replies flagged for a person, and the time
taken. A benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.outbox_lanes import unrelated_words  # noqa: E402
from connectors.webhook import sign  # noqa: E402
from tests.fakes.bluesky import HANDLE, PASSWORD, FakeBluesky  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, SlackFake  # noqa: E402

HOOK_SECRET = "crash-drill-webhook-secret-0123"
SLACK_SECRET = "crash-drill-slack-signing-secret"
PERSON = "U0DRILL001"
PER_REQUEST = 10


async def start_allhands(
    env: dict[str, str], *, log: Any, url: str, wait: float
) -> asyncio.subprocess.Process:
    """Start `allhands run` with `env` (no Socket Mode) and wait for its /healthz to answer."""
    env = {k: v for k, v in env.items() if k != "SLACK_APP_TOKEN"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--host", "127.0.0.1",
        env=env, stdout=log, stderr=log, cwd=ROOT,
    )  # fmt: skip
    async with aiohttp.ClientSession() as http:
        for _ in range(int(wait / 0.05)):
            try:
                async with http.get(f"{url}/healthz") as r:
                    if r.status == 200:
                        return proc
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"allhands run at {url} did not start; see run.log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def playbook(channels: int, sky_url: str) -> str:
    teams = "\n".join(
        f"  t{n:02d}:\n    channel: slack:#drill-{n:02d}\n    keywords: [kw{n:02d}]"
        for n in range(channels)
    )
    return f"""\
sources:
  - id: hooks
    kind: webhook
    secret: {HOOK_SECRET}
    max_bytes: 1048576
  - id: sky
    kind: bluesky
    service: {sky_url}
    identifier: {HANDLE}
    app_password: {PASSWORD}
    every: 2s
teams:
{teams}
default_team: t00
"""


class Drill:
    """The child process, the fakes, and the traffic."""

    def __init__(self, args: argparse.Namespace, workdir: Path):
        self.args = args
        self.workdir = workdir
        self.db = workdir / "drill.db"
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.kills = 0
        self.starts = 0
        self.resends = 0
        self.slack = SlackFake()
        self.sky = FakeBluesky()
        self.signer = SignatureVerifier(SLACK_SECRET)
        self.log = open(workdir / "run.log", "ab")  # noqa: SIM115

    async def start_fakes(self) -> None:
        await self.slack.start()
        await self.sky.start()
        self.slack.page_size = 1000
        self.slack.latency = self.sky.latency = self.args.latency
        self.slack.add_user(PERSON, "Drill Person")
        for n in range(self.args.channels):
            self.slack.add_channel(f"C0DRILL{n:03d}", f"drill-{n:02d}", members=(PERSON,))
        self.slack.add_channel("C0DRILLSKY", "drill-sky", members=(PERSON,))
        self.sky.post(self.sky_text(0), handle="p0.bsky.social")
        book = self.workdir / "book.yaml"
        book.write_text(playbook(self.args.channels, self.sky.url), encoding="utf-8")

    async def start_bot(self) -> None:
        env = {
            **os.environ,
            "ALLHANDS_DB": str(self.db),
            "ALLHANDS_PLAYBOOKS": str(self.workdir / "book.yaml"),
            "PORT": str(self.port),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": self.slack.api_url,
        }
        self.starts += 1
        self.proc = await start_allhands(env, log=self.log, url=self.url, wait=30)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        self.kills += 1

    # -- traffic ------------------------------------------------------------------

    async def send_until_accepted(self, http: aiohttp.ClientSession, body: bytes) -> None:
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Allhands-Timestamp": stamp,
            "X-Allhands-Signature": sign(HOOK_SECRET, stamp, body),
        }
        tries = 0
        while True:
            tries += 1
            try:
                async with http.post(f"{self.url}/webhooks/hooks", data=body, headers=headers) as r:
                    if 200 <= r.status < 300:
                        self.resends += tries - 1
                        return
                    if r.status < 500:
                        raise RuntimeError(f"webhook refused: {r.status} {await r.text()}")
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)

    async def webhooks(self) -> None:
        bodies = []
        for start in range(0, self.args.mentions, PER_REQUEST):
            mentions = [
                {
                    "id": f"m{n}",
                    # Words no other post shares: ordinary cards, not a storm (which storm
                    # mode would rightly show as one incident card).
                    "text": f"kw{n % self.args.channels:02d} {unrelated_words(n)} "
                    + f"{unrelated_words(n)}, " * 8,
                    "author": {"handle": f"user{n}"},
                }
                for n in range(start, min(start + PER_REQUEST, self.args.mentions))
            ]
            bodies.append(json.dumps({"mentions": mentions}).encode())
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            queue: asyncio.Queue[bytes] = asyncio.Queue()
            for body in bodies:
                queue.put_nowait(body)

            async def sender() -> None:
                while not queue.empty():
                    await self.send_until_accepted(http, queue.get_nowait())

            await asyncio.gather(*(sender() for _ in range(8)))

    async def command(self, http: aiohttp.ClientSession, text: str) -> None:
        body = urlencode(
            {
                "command": "/allhands",
                "text": text,
                "user_id": PERSON,
                "channel_id": "C0DRILLSKY",
                "team_id": "T0ALLHANDS",
                "response_url": self.slack.response_url("drill"),
                "trigger_id": "1.1.trigger",
            }
        )
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": stamp,
            "X-Slack-Signature": self.signer.generate_signature(timestamp=stamp, body=body) or "",
        }
        for _ in range(100):
            try:
                async with http.post(f"{self.url}/slack/events", data=body, headers=headers) as r:
                    if r.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
            stamp = str(int(time.time()))  # a new request (Slack signs each anew)
            headers["X-Slack-Request-Timestamp"] = stamp
            headers["X-Slack-Signature"] = (
                self.signer.generate_signature(timestamp=stamp, body=body) or ""
            )

    def sky_text(self, n: int) -> str:
        # Routed by keyword like the webhook mentions: one channel would make one slow lane.
        return f"@{HANDLE} kw{n % self.args.channels:02d} my internet is down again ({n})"

    def sky_mentions(self) -> dict[int, str]:
        rows = self.query(
            "SELECT number, external_id FROM mentions WHERE source = 'sky' AND root_number IS NULL"
        )
        return {int(n): str(e) for n, e in rows}

    def answered(self) -> set[int]:
        return {int(n) for (n,) in self.query("SELECT DISTINCT mention FROM replies")}

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        for _ in range(50):
            try:
                conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=5)
                try:
                    return list(conn.execute(sql))
                finally:
                    conn.close()
            except sqlite3.OperationalError:
                time.sleep(0.1)
        return []

    async def replies(self) -> None:
        # A source's first read takes only its newest page: the rest are posted once the
        # first post has been read (the source then pages back to it).
        while not self.sky_mentions():  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        for n in range(1, self.args.replies):
            self.sky.post(self.sky_text(n), handle=f"p{n}.bsky.social")
        deadline = time.monotonic() + 120
        while len(self.sky_mentions()) < self.args.replies and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for number in sorted(self.sky_mentions()):
                await self.command(http, f"reply {number} Thanks, a fix is on its way ({number}).")

    async def kills_at_random(self, rng: random.Random) -> None:
        # Spread over `--window` seconds, so that kills fall while webhooks are stored,
        # while cards go out and while replies are posted.
        gap = self.args.window / max(1, self.args.kills)
        for _ in range(self.args.kills):
            await asyncio.sleep(rng.uniform(0.2, 2 * gap - 0.2))
            await self.kill()
            await self.start_bot()

    async def settle(self) -> None:
        """Wait until nothing is left to deliver."""
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(1.0)
            busy = self.query("SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending')")
            quiet = quiet + 1 if busy and busy[0][0] == 0 else 0

    # -- the figures ----------------------------------------------------------------

    def report(self, elapsed: float) -> None:
        stored = {
            str(e) for (e,) in self.query("SELECT external_id FROM mentions WHERE source = 'hooks'")
        }
        numbers = {
            int(n): str(e)
            for n, e in self.query(
                "SELECT number, external_id FROM mentions WHERE root_number IS NULL"
            )
        }
        cards: collections.Counter[int] = collections.Counter()
        for channel in self.slack.channels.values():
            for message in channel.messages.values():
                meta = message.get("metadata") or {}
                blocks = message.get("blocks") or []
                if "thread_ts" in message or meta.get("event_type") != "allhands_card":
                    continue
                title = blocks[0]["text"]["text"] if blocks else ""
                cards[int(title.split()[0].lstrip("#"))] += 1
        sent = {f"m{n}" for n in range(self.args.mentions)}
        lost_stored = len(sent - stored)
        lost_cards = sum(1 for number in numbers if cards[number] == 0)
        doubled_cards = sum(c - 1 for c in cards.values() if c > 1)
        answers: collections.Counter[str] = collections.Counter()
        for body in self.sky.created:
            answers[body["record"]["reply"]["parent"]["uri"]] += 1
        sky = self.sky_mentions()
        doubled_replies = sum(c - 1 for c in answers.values() if c > 1)
        lost_replies = sum(1 for uri in sky.values() if answers[uri] == 0)
        unknown = self.query("SELECT count(*) FROM outbox WHERE state = 'unknown'")[0][0]
        failed = self.query("SELECT count(*) FROM outbox WHERE state = 'failed'")[0][0]
        print(f"kills (SIGKILL): {self.kills}, starts: {self.starts}, elapsed: {elapsed:.0f} s")
        requests = len(sent) // PER_REQUEST
        print(f"webhook mentions sent: {self.args.mentions:,} in {requests} requests,"
              f" {self.resends} resends after a failure")  # fmt: skip
        print(f"public replies asked for: {len(sky)}, slash commands sent again: {self.resent}")
        print(f"lost mentions (never stored): {lost_stored}")
        print(f"lost cards (stored, never shown): {lost_cards}")
        print(f"doubled cards: {doubled_cards}")
        print(f"doubled public replies: {doubled_replies}")
        print(f"lost public replies: {lost_replies}")
        print(
            f"replies flagged for a person (outcome unknown): {unknown}; failed effects: {failed}"
        )
        log = (self.workdir / "run.log").read_text(encoding="utf-8", errors="replace")
        found_cards = log.count("was posted by an earlier try; not posted again")
        found_replies = log.count("bot.sent_once: reply for #")
        print(f"sends cut off and found on the platform instead of sent again: {found_cards}"
              f" cards, {found_replies} public replies")  # fmt: skip

    resent = 0

    async def run(self) -> None:
        rng = random.Random(self.args.seed)
        await self.start_fakes()
        await self.start_bot()
        started = time.monotonic()
        try:
            traffic = asyncio.gather(self.webhooks(), self.replies())
            await self.kills_at_random(rng)
            await traffic
            await self.settle()
            # An answer whose command was lost to a kill is asked again, as its writer would.
            missing = sorted(set(self.sky_mentions()) - self.answered())
            self.resent = len(missing)
            async with aiohttp.ClientSession() as http:
                for number in missing:
                    await self.command(
                        http, f"reply {number} Thanks, a fix is on its way ({number})."
                    )
            await self.settle()
            self.report(time.monotonic() - started)
        finally:
            if self.proc is not None and self.proc.returncode is None:
                self.proc.send_signal(signal.SIGTERM)
                await self.proc.wait()
            await self.slack.close()
            await self.sky.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mentions", type=int, default=5000)
    parser.add_argument("--replies", type=int, default=300)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--window", type=float, default=150.0, help="seconds the kills span")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="allhands-drill-") as tmp:
        asyncio.run(Drill(args, Path(tmp)).run())


if __name__ == "__main__":
    main()
