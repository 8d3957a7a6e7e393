"""Two replicas under load, one killed with SIGKILL every 30 s and started again: nothing
may be lost or shown twice, and every job must move to another replica within 30 s.

Run from the repository root, PostgreSQL beside it:

    scripts/with_postgres.sh .venv/bin/python benchmarks/replicas.py [--kills 10]
        [--every 30] [--mentions 3000] [--replies 150] [--latency 0.05] [--seed 1]

Two `allhands run` processes (replicas `a` and `b`, each reporting its own host, as on two
machines) share a fresh PostgreSQL database (ALLHANDS_TEST_POSTGRES names the server),
with Slack (the fake Slack Web API, tests/fakes/slack_api.py) and a Mastodon account
(tests/fakes/mastodon.py) answering `--latency` seconds late. What a load balancer would
spread, the drill spreads over both replicas (and sends to the other one when one does
not answer):

- `--mentions` mentions pushed to a signed webhook source, ten a request, each request
  sent again until it gets a 2xx, as a sender does after a failure;
- `claim N` slash commands on the webhook mentions as their cards appear;
- `--replies` Mastodon posts mentioning the account (read by the polling job, which runs
  on one replica), each answered by a signed `/allhands reply N ...`;
- every `--every` seconds the replica holding the polling lease is killed with SIGKILL,
  `--kills` times, and started again at once (a new replica to the others).

Printed: mentions sent and stored, lost and doubled cards (per mention, in the Slack fake),
lost and doubled public replies (per answered post, in the Mastodon fake), and for each
kill the seconds until each lease the killed replica held was held by a live replica.

Without ALLHANDS_TEST_POSTGRES, `--sqlite` runs the same drill with one replica on a
SQLite file (the run lock allows no second): a crash drill, not a replicas drill.
A benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.crash_drill import free_port, start_allhands  # noqa: E402
from benchmarks.outbox_lanes import unrelated_words  # noqa: E402
from connectors.webhook import sign  # noqa: E402
from tests.fakes.mastodon import TOKEN, FakeMastodon  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, SlackFake  # noqa: E402

HOOK_SECRET = "replicas-drill-webhook-secret-01"
SLACK_SECRET = "replicas-drill-slack-signing-secret"
PERSON = "U0DRILL001"
PER_REQUEST = 10
CHANNELS = 20
LEASES = ("poll", "sla-sweep", "digests", "retention", "outbox-prune", "triage-learn", "recover")


def playbook(masto_url: str) -> str:
    # Budgets that take every card and no spike folding: one card per mention.
    teams = "\n".join(
        f"  t{n:02d}:\n    channel: slack:#drill-{n:02d}\n    keywords: [kw{n:02d}]\n"
        "    chat_budget: {messages: 10000, per: 10m}\n    spike: {enabled: false}"
        for n in range(CHANNELS)
    )
    return f"""\
sources:
  - id: hooks
    kind: webhook
    secret: {HOOK_SECRET}
    max_bytes: 1048576
  - id: masto
    kind: mastodon
    instance: {masto_url}
    token: {TOKEN}
    every: 2s
teams:
{teams}
default_team: t00
"""


def fresh_postgres(server: str) -> str:
    """A new, empty database on the PostgreSQL server `server`: its URL."""
    import psycopg

    name = f"drill_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}"


@dataclass
class Proc:
    """One replica's process."""

    name: str
    port: int
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None


@dataclass
class Takeover:
    """One kill: which replica, and the seconds until each of its leases moved."""

    killed: str
    held: list[str]
    moved: dict[str, float] = field(default_factory=dict)
    to: dict[str, str] = field(default_factory=dict)


class Drill:
    """The replicas, the fakes, and the traffic."""

    def __init__(self, args: argparse.Namespace, workdir: Path, target: str, replicas: int):
        self.args = args
        self.workdir = workdir
        self.target = target
        self.procs = [Proc(name, free_port()) for name in "ab"[:replicas]]
        self.slack = SlackFake()
        self.masto = FakeMastodon()
        self.signer = SignatureVerifier(SLACK_SECRET)
        self.log = open(workdir / "run.log", "ab")  # noqa: SIM115
        self.resends = 0
        self.turn = 0
        self.takeovers: list[Takeover] = []
        self.watching: set[asyncio.Task[None]] = set()
        self.claimed: set[int] = set()
        self.resent = 0

    # -- the store, read as an operator would ------------------------------------------

    def query(self, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of `sql` on the shared store (retried while it is busy)."""
        if self.target.startswith("postgresql://"):
            import psycopg

            with psycopg.connect(self.target) as conn:
                return [tuple(row) for row in conn.execute(sql.replace("?", "%s"), params)]
        for _ in range(50):
            try:
                conn = sqlite3.connect(f"file:{self.target}?mode=ro", uri=True, timeout=5)
                try:
                    return list(conn.execute(sql, params or []))
                finally:
                    conn.close()
            except sqlite3.OperationalError:
                time.sleep(0.1)
        return []

    def leases(self) -> dict[str, tuple[str, str]]:
        """Each lease: its holder and until when (ISO text)."""
        rows = self.query("SELECT name, holder, expires_at FROM leases")
        return {str(n): (str(h), str(e)) for n, h, e in rows}

    # -- processes -------------------------------------------------------------------

    async def start_fakes(self) -> None:
        await self.slack.start()
        await self.masto.start()
        self.masto.rate_limit = self.masto.remaining = 10**9
        self.slack.page_size = 1000
        self.slack.latency = self.args.latency
        self.slack.add_user(PERSON, "Drill Person")
        for n in range(CHANNELS):
            self.slack.add_channel(f"C0DRILL{n:03d}", f"drill-{n:02d}", members=(PERSON,))
        self.slack.add_channel("C0DRILLCMD", "drill-commands", members=(PERSON,))
        book = self.workdir / "book.yaml"
        book.write_text(playbook(self.masto.url), encoding="utf-8")

    async def start(self, proc: Proc) -> None:
        env = {
            **os.environ,
            "ALLHANDS_DB": self.target,
            "ALLHANDS_PLAYBOOKS": str(self.workdir / "book.yaml"),
            # A restart comes up as a new machine would (another name): only the heartbeat
            # tells the others that the killed one is gone (with --same-host, the restart
            # finds its predecessor's process gone on its own host at once).
            "ALLHANDS_REPLICA_HOST": f"host-{proc.name}"
            + ("" if self.args.same_host else f"{proc.starts + 1}"),
            "PORT": str(proc.port),
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SLACK_SECRET,
            "SLACK_API_URL": self.slack.api_url,
        }
        proc.proc = await start_allhands(env, log=self.log, url=proc.url, wait=60)
        proc.starts += 1

    def holder_of(self, lease: str) -> Proc | None:
        """The process holding `lease` now (replica ids carry their pid)."""
        holder = self.leases().get(lease, ("", ""))[0]
        for proc in self.procs:
            if proc.alive and proc.proc is not None and f"-{proc.proc.pid}-" in holder:
                return proc
        return None

    async def kill_and_restart(self) -> None:
        """Kill the replica running the polling job, start it again, time the takeover."""
        proc = await asyncio.to_thread(self.holder_of, "poll") or self.procs[0]
        assert proc.proc is not None
        pid = proc.proc.pid
        leases = await asyncio.to_thread(self.leases)
        held = [name for name, (holder, _) in leases.items() if f"-{pid}-" in holder]
        killed_at = time.monotonic()
        proc.proc.send_signal(signal.SIGKILL)
        await proc.proc.wait()
        takeover = Takeover(killed=f"{proc.name} (pid {pid})", held=held)
        self.takeovers.append(takeover)
        await self.start(proc)
        self.watching.add(asyncio.create_task(self.watch(takeover, pid, killed_at)))

    async def watch(self, takeover: Takeover, pid: int, killed_at: float) -> None:
        """Note when each lease the killed replica held is held by a live one."""
        held = takeover.held
        while set(takeover.moved) != set(held) and time.monotonic() - killed_at < 90:
            now = await asyncio.to_thread(self.leases)
            for name in held:
                holder, _ = now.get(name, ("", ""))
                if name not in takeover.moved and holder and f"-{pid}-" not in holder:
                    takeover.moved[name] = time.monotonic() - killed_at
                    takeover.to[name] = holder
            await asyncio.sleep(0.25)

    # -- traffic, spread over the replicas like a load balancer ---------------------------

    async def send(
        self, http: aiohttp.ClientSession, path: str, body: bytes, headers: dict[str, str]
    ) -> bool:
        """POST to the next replica in turn, to the other when it does not answer."""
        for _ in range(len(self.procs)):
            self.turn += 1
            proc = self.procs[self.turn % len(self.procs)]
            try:
                async with http.post(f"{proc.url}{path}", data=body, headers=headers) as r:
                    if 200 <= r.status < 300:
                        return True
                    if r.status < 500:
                        raise RuntimeError(f"{path} refused: {r.status} {await r.text()}")
            except (aiohttp.ClientError, TimeoutError):
                pass
        return False

    async def webhook(self, http: aiohttp.ClientSession, body: bytes) -> None:
        tries = 0
        while True:
            tries += 1
            stamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/json",
                "X-Allhands-Timestamp": stamp,
                "X-Allhands-Signature": sign(HOOK_SECRET, stamp, body),
            }
            if await self.send(http, "/webhooks/hooks", body, headers):
                self.resends += tries - 1
                return
            await asyncio.sleep(0.2)

    async def webhooks(self) -> None:
        """The mentions, pushed at a steady pace over the whole drill."""
        window = self.args.kills * self.args.every
        per_second = max(1.0, self.args.mentions / PER_REQUEST / max(1.0, window * 0.8))
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            pending: set[asyncio.Task[None]] = set()
            for start in range(0, self.args.mentions, PER_REQUEST):
                mentions = [
                    {
                        "id": f"m{n}",
                        "text": f"kw{n % CHANNELS:02d} {unrelated_words(n)} broke again",
                        "author": {"handle": f"user{n}"},
                    }
                    for n in range(start, min(start + PER_REQUEST, self.args.mentions))
                ]
                body = json.dumps({"mentions": mentions}).encode()
                task = asyncio.create_task(self.webhook(http, body))
                pending.add(task)
                task.add_done_callback(pending.discard)
                await asyncio.sleep(1 / per_second)
            await asyncio.gather(*pending)

    async def command(self, http: aiohttp.ClientSession, text: str) -> None:
        body = urlencode(
            {
                "command": "/allhands",
                "text": text,
                "user_id": PERSON,
                "channel_id": "C0DRILLCMD",
                "team_id": "T0ALLHANDS",
                "response_url": self.slack.response_url("drill"),
                "trigger_id": "1.1.trigger",
            }
        ).encode()
        for _ in range(100):
            stamp = str(int(time.time()))  # Slack signs each try anew
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": stamp,
                "X-Slack-Signature": self.signer.generate_signature(
                    timestamp=stamp, body=body.decode()
                )
                or "",
            }
            if await self.send(http, "/slack/events", body, headers):
                return
            await asyncio.sleep(0.2)

    async def claims(self, stop: asyncio.Event) -> None:
        """People claim the webhook mentions whose cards they see."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            while not stop.is_set():
                cards = set(self.cards())
                wanted = self.args.claims - len(self.claimed)
                for number in sorted(cards - self.claimed)[: min(40, max(0, wanted))]:
                    await self.command(http, f"claim {number}")
                    self.claimed.add(number)
                await asyncio.sleep(1.0)

    def masto_mentions(self) -> dict[int, str]:
        rows = self.query(
            "SELECT number, external_id FROM mentions"
            " WHERE source = 'masto' AND root_number IS NULL"
        )
        return {int(n): str(e) for n, e in rows}

    def answered(self) -> set[int]:
        return {int(n) for (n,) in self.query("SELECT DISTINCT mention FROM replies")}

    async def replies(self) -> None:
        """Customers write on Mastodon over the drill; each is answered once stored."""
        window = self.args.kills * self.args.every
        gap = window * 0.8 / max(1, self.args.replies)
        asked: set[int] = set()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
            for n in range(self.args.replies):
                self.masto.post(
                    f"@lumo kw{n % CHANNELS:02d} {unrelated_words(10**6 + n)} is down",
                    acct=f"p{n}@other.example",
                )
                await asyncio.sleep(gap)
                stored = await asyncio.to_thread(self.masto_mentions)
                for number in sorted(set(stored) - asked):
                    await self.command(http, f"reply {number} Thanks, a fix is on its way.")
                    asked.add(number)

    async def settle(self) -> None:
        """Wait until nothing is left to deliver."""
        quiet = 0
        while quiet < 3:
            await asyncio.sleep(1.0)
            busy = await asyncio.to_thread(
                self.query,
                "SELECT count(*) FROM outbox WHERE state IN ('pending', 'sending', 'waiting')",
            )
            quiet = quiet + 1 if busy and busy[0][0] == 0 else 0

    # -- the figures ----------------------------------------------------------------

    def cards(self) -> collections.Counter[int]:
        """How many cards each mention has in the Slack fake."""
        cards: collections.Counter[int] = collections.Counter()
        for channel in list(self.slack.channels.values()):
            for message in list(channel.messages.values()):
                meta = message.get("metadata") or {}
                blocks = message.get("blocks") or []
                if "thread_ts" in message or meta.get("event_type") != "allhands_card":
                    continue
                title = blocks[0]["text"]["text"] if blocks else ""
                cards[int(title.split()[0].lstrip("#"))] += 1
        return cards

    def report(self, elapsed: float) -> None:
        stored = {
            str(e) for (e,) in self.query("SELECT external_id FROM mentions WHERE source = 'hooks'")
        }
        numbers = [
            int(n) for (n,) in self.query("SELECT number FROM mentions WHERE root_number IS NULL")
        ]
        cards = self.cards()
        on_incidents = {
            int(n)
            for (n,) in self.query(
                "SELECT mention FROM outbox WHERE kind = 'card_post' AND result LIKE ?",
                ["%incident's card%"],
            )
        }
        sent = {f"m{n}" for n in range(self.args.mentions)}
        answers: collections.Counter[str] = collections.Counter()
        for status in self.masto.posted:
            answers[str(status.get("in_reply_to_id"))] += 1
        masto = self.masto_mentions()
        unknown = self.query("SELECT count(*) FROM outbox WHERE state = 'unknown'")[0][0]
        failed = self.query("SELECT count(*) FROM outbox WHERE state = 'failed'")[0][0]
        starts = sum(p.starts for p in self.procs)
        print(f"replicas: {len(self.procs)}, kills (SIGKILL): {len(self.takeovers)},"
              f" starts: {starts}, elapsed: {elapsed:.0f} s")  # fmt: skip
        print(f"webhook mentions sent: {len(sent):,}; stored: {len(sent & stored):,};"
              f" lost: {len(sent - stored)} ({self.resends} requests sent again)")  # fmt: skip
        print(f"cards: {sum(cards.values()):,} for {len(numbers):,} mentions;"
              f" shown on an incident's card instead: {len(on_incidents)};"
              f" mentions without a card: "
              f"{sum(1 for n in numbers if cards[n] == 0 and n not in on_incidents)};"
              f" doubled cards: {sum(c - 1 for c in cards.values() if c > 1)}")  # fmt: skip
        print(f"claims typed: {len(self.claimed):,}")
        print(f"Mastodon posts answered: {len(masto)} (replies typed again after a kill:"
              f" {self.resent}); public replies posted: {len(self.masto.posted)};"
              f" doubled: {sum(c - 1 for c in answers.values() if c > 1)};"
              f" missing: {sum(1 for e in masto.values() if answers[e] == 0)}")  # fmt: skip
        print(f"replies flagged for a person (outcome unknown): {unknown}; failed: {failed}")
        print(
            "takeovers (seconds from the kill until a live replica held each lease,"
            " and the host that took it):"
        )
        worst = 0.0
        for n, t in enumerate(self.takeovers, 1):
            moved = ", ".join(
                f"{name} {t.moved[name]:.1f} ({t.to[name].split('-')[1]})"
                for name in sorted(t.moved)
            )
            missing = sorted(set(t.held) - set(t.moved))
            worst = max([worst, *t.moved.values()])
            print(f"  kill {n:2d}: {t.killed} held {len(t.held)}; {moved}"
                  + (f"; never moved: {', '.join(missing)}" if missing else ""))  # fmt: skip
        print(f"slowest takeover: {worst:.1f} s")

    async def run(self) -> None:
        await self.start_fakes()
        for proc in self.procs:
            await self.start(proc)
        started = time.monotonic()
        stop = asyncio.Event()
        claims = asyncio.create_task(self.claims(stop))
        try:
            traffic = asyncio.gather(self.webhooks(), self.replies())
            for n in range(1, self.args.kills + 1):
                await asyncio.sleep(max(0.0, started + n * self.args.every - time.monotonic()))
                await self.kill_and_restart()
            await traffic
            await asyncio.gather(*self.watching)
            await self.settle()
            # An answer whose command a kill cut off is typed again, as its writer would.
            stored = await asyncio.to_thread(self.masto_mentions)
            missing = sorted(set(stored) - await asyncio.to_thread(self.answered))
            self.resent = len(missing)
            async with aiohttp.ClientSession() as http:
                for number in missing:
                    await self.command(http, f"reply {number} Thanks, a fix is on its way.")
            await self.settle()
            stop.set()
            await claims
            self.report(time.monotonic() - started)
        finally:
            stop.set()
            for proc in self.procs:
                if proc.alive and proc.proc is not None:
                    proc.proc.send_signal(signal.SIGTERM)
                    await proc.proc.wait()
            await self.slack.close()
            await self.masto.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--every", type=float, default=30.0, help="seconds between kills")
    parser.add_argument("--mentions", type=int, default=3000)
    parser.add_argument("--replies", type=int, default=150)
    parser.add_argument("--claims", type=int, default=300, help="cards claimed by command")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sqlite", action="store_true", help="one replica on SQLite")
    parser.add_argument("--keep", help="a folder to keep the store and run.log in")
    parser.add_argument(
        "--same-host", action="store_true", help="restart a killed replica under its old host"
    )
    args = parser.parse_args()
    random.seed(args.seed)
    server = os.environ.get("ALLHANDS_TEST_POSTGRES")
    with tempfile.TemporaryDirectory(prefix="allhands-replicas-") as tmp:
        if args.keep:
            tmp = args.keep
            Path(tmp).mkdir(parents=True, exist_ok=True)
        if args.sqlite:
            target, replicas = str(Path(tmp) / "drill.db"), 1
        elif server:
            target, replicas = fresh_postgres(server), 2
        else:
            print("ALLHANDS_TEST_POSTGRES is not set: run it through scripts/with_postgres.sh")
            raise SystemExit(2)
        asyncio.run(Drill(args, Path(tmp), target, replicas).run())


if __name__ == "__main__":
    main()
