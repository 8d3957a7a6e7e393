"""Outbox lanes under load: customers first, every channel at Slack's pace, a quick stop.

Run from the repository root (about four minutes):

    .venv/bin/python benchmarks/outbox_lanes.py [--cards 2000] [--replies 100]
        [--over 60] [--per-channel 40] [--people 20] [--parts 1,2,3,4]

Everything runs in real time against the local fakes (tests/fakes/): the Slack Web API
keeps Slack's pace (a token bucket of one message a second per channel, HTTP 429 with
Retry-After beyond it), Mastodon records each status it is sent.

1. Replies during a card backlog: `--cards` cards are queued for one Slack channel, then
   `--replies` `reply N ...` slash commands (signed, over HTTP to /slack/events) are typed
   over `--over` seconds, each to a different Mastodon mention. Printed: the time from
   sending the command to the fake Mastodon receiving the status (p50, p99, max), and how
   the card channel fared meanwhile.
2. Four channels and `--people` private chats at once: `--per-channel` cards for each
   channel and three private notes per person. Printed: messages a second per channel,
   429s seen, and whether every message arrived exactly once.
3. SIGTERM under that load: `allhands run` as a process against the fake Slack, stopped
   with SIGTERM mid-burst and started again. Printed: seconds from SIGTERM to exit (each
   time), what the log says was left queued, and after the restart whether every card
   arrived exactly once (nothing lost, nothing doubled).
4. Taking the next effect of a lane with 100,000 pending.

A benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import os
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fakes live with the tests

from aiohttp import web  # noqa: E402

from bot.app import App  # noqa: E402
from bot.chat.console import ConsoleAdapter  # noqa: E402
from bot.clock import SystemClock  # noqa: E402
from bot.playbooks import load_playbooks  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import lanes, outbox  # noqa: E402
from bot.store.db import Database  # noqa: E402
from bot.web import build_web_app  # noqa: E402
from tests.fakes.mastodon import TOKEN, FakeMastodon  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, SlackFake  # noqa: E402
from tests.slack.conftest import SECRET, SlackHarness, workspace  # noqa: E402

CHANNELS = ("C0BENCH001", "C0BENCH002", "C0BENCH003", "C0BENCH004")


class TimedMastodon(FakeMastodon):
    """The fake Mastodon, noting when each status arrives (by its text)."""

    arrived: dict[str, float]

    async def _create(self, request: web.Request, body: dict[str, Any]) -> web.Response:
        answer = await super()._create(request, body)
        self.__dict__.setdefault("arrived", {})[str(body.get("status", ""))] = time.perf_counter()
        return answer


def unrelated_words(n: int) -> str:
    """Three made-up words of post `n`, shared with no other post: a backlog of ordinary
    cards, not a storm (which would become one incident card)."""
    letters = "bcdfghjklmnpqrstvwxz"
    word = ""
    while True:
        n, digit = divmod(n, len(letters))
        word += letters[digit] + "aeiou"[digit % 5]
        if not n:
            break
    return f"{word}x {word}y {word}z"


def book(tmp: Path, *, channels: int, cards: int, mastodon: str = "") -> Path:
    """A playbook: replay sources of `cards` cards spread over `channels` Slack channels
    (one source a channel, routed by source), and (if given) a Mastodon source whose
    mentions go to a console channel. Each channel's budget takes every card, so the
    backlog is one card per mention."""
    sources = ""
    routes = ""
    for channel in range(1, channels + 1):
        replay = tmp / f"posts{channel}.jsonl"
        lines = [
            {"id": f"p{n}", "text": unrelated_words(n), "author": {"handle": f"u{n}"}}
            for n in range(cards)
            if n % channels + 1 == channel
        ]
        replay.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
        sources += (
            f"  - id: bench{channel}\n    kind: replay\n    file: {replay}\n    batch: {cards}\n"
        )
        routes += f"  - team: team{channel}\n    sources: [bench{channel}]\n"
    teams = "".join(
        f"  team{n}:\n    channel: slack:#bench-{n}\n"
        f"    chat_budget: {{messages: 10000, per: 10m}}\n    spike: {{enabled: false}}\n"
        for n in range(1, channels + 1)
    )
    if mastodon:
        sources += (
            f"  - id: masto\n    kind: mastodon\n    instance: {mastodon}\n    token: {TOKEN}\n"
        )
        teams += "  care:\n    channel: console:#care\n    keywords: [care]\n"
    path = tmp / "book.yaml"
    path.write_text(
        f"sources:\n{sources}routes:\n{routes}teams:\n{teams}default_team: team1\n",
        encoding="utf-8",
    )
    return path


async def poll_backlog(app: App) -> None:
    """Store every replay source's cards (the backlog)."""
    for source in [s for s in app.connectors if s.startswith("bench")]:
        await app.poll_source(source)


def slack_fake_workspace(fake: SlackFake, people: int) -> None:
    """The bench channels and `people` people (plus the usual workspace)."""
    workspace(fake)
    fake.page_size = 200
    for n, channel in enumerate(CHANNELS, start=1):
        fake.add_channel(channel, f"bench-{n}")
    for n in range(people):
        fake.add_user(f"U0PEOPLE{n:02d}", f"person{n}")


async def serve(app: App) -> tuple[web.AppRunner, str]:
    """The app's web server on 127.0.0.1 (for slash commands)."""
    runner = web.AppRunner(build_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}"


def new_app(tmp: Path, fake: SlackFake, playbook: Path) -> App:
    """An App with Slack pointed at the fake, state in `tmp`."""
    settings = Settings(
        db_path=str(tmp / "bench.db"),
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
    )
    console = ConsoleAdapter(io.StringIO())
    return App(settings=settings, adapters={"console": console}, playbooks=load_playbooks(playbook))


async def until(condition: Any, limit: float) -> bool:
    """Wait until `condition()` holds, up to `limit` seconds; whether it did."""
    deadline = time.perf_counter() + limit
    while time.perf_counter() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.01)
    return bool(condition())


async def replies_during_backlog(args: argparse.Namespace) -> None:
    """Part 1: the p99 from `reply` to the customer's instance during a card backlog."""
    fake = await SlackFake(clock=time.time, per_second=1.0, burst=1).start()
    slack_fake_workspace(fake, 0)
    async with TimedMastodon() as mastodon:
        mastodon.remaining = 1_000_000
        with tempfile.TemporaryDirectory(prefix="allhands-lanes-") as name:
            tmp = Path(name)
            path = book(tmp, channels=1, cards=args.cards, mastodon=mastodon.url)
            app = new_app(tmp, fake, path)
            await app.start()
            runner, url = await serve(app)
            try:
                for start in range(0, args.replies, 30):  # a page of notifications at a time
                    for n in range(start, min(start + 30, args.replies)):
                        mastodon.post(f"@lumo I need care please {n}", acct=f"c{n}@other.example")
                    await app.poll_source("masto")
                await app.outbox.drain()  # their cards, on the console
                await poll_backlog(app)  # the backlog: cards for #bench-1
                app.outbox.start()
                await asyncio.sleep(3.0)
                harness = SlackHarness(app, fake, SystemClock(), url, tmp)  # type: ignore[arg-type]
                sent: dict[str, float] = {}
                began = time.perf_counter()
                for n in range(args.replies):
                    text = f"Sorry about that, we are on it (case {n + 1})."
                    sent[f"@c{n}@other.example {text}"] = time.perf_counter()
                    await harness.command(f"reply {n + 1} {text}", channel=CHANNELS[0])
                    wait = began + (n + 1) * args.over / args.replies - time.perf_counter()
                    await asyncio.sleep(max(0.0, wait))
                await until(lambda: len(mastodon.posted) >= args.replies, 30)
                arrived = mastodon.__dict__.get("arrived", {})
                cards_by_then = len(fake.messages(CHANNELS[0]))
                await app.outbox.stop(grace=3.0)
            finally:
                await runner.cleanup()
                await app.stop()
                await fake.close()
    waits = sorted(arrived[t] - sent[t] for t in sent if t in arrived)
    posted = [c for c in fake.calls_to("chat.postMessage") if c.args["channel"] == CHANNELS[0]]
    ok = [c for c in posted if c.status == 200]
    span = ok[-1].at - ok[0].at if len(ok) > 1 else 0.0
    print(f"1. {args.cards} cards queued for #bench-1, then {args.replies} `reply` commands"
          f" over {args.over:g} s to Mastodon mentions")  # fmt: skip
    if waits:
        p99 = waits[min(len(waits) - 1, round(0.99 * len(waits)) - 1)]
        p50 = statistics.median(waits)
        print(f"   command -> Mastodon status: p50 {p50:.3f} s, p99 {p99:.3f} s,"
              f" max {waits[-1]:.3f} s ({len(waits)}/{args.replies} arrived)")  # fmt: skip
    rate = (len(ok) - 1) / span if span else 0.0
    print(f"   #bench-1 meanwhile: {cards_by_then} cards posted, {rate:.3f} messages/s,"
          f" {len(posted) - len(ok)} x 429")  # fmt: skip


async def channels_and_people(args: argparse.Namespace) -> None:
    """Part 2: four channels and many private chats at once, at Slack's pace."""
    fake = await SlackFake(clock=time.time, per_second=1.0, burst=1).start()
    slack_fake_workspace(fake, args.people)
    cards = args.per_channel * len(CHANNELS)
    with tempfile.TemporaryDirectory(prefix="allhands-lanes-") as name:
        tmp = Path(name)
        app = new_app(tmp, fake, book(tmp, channels=4, cards=cards))
        await app.start()
        try:
            now = datetime.now(UTC)

            def notes(db: Any) -> None:
                for n in range(args.people):
                    for k in range(3):
                        payload = {"person": f"U0PEOPLE{n:02d}", "text": f"note {k}"}
                        kind = outbox.Kind.PRIVATE_NOTE
                        outbox.enqueue(db, kind=kind, target="slack", now=now, payload=payload)

            await app.database.write(notes)
            await poll_backlog(app)
            began = time.perf_counter()
            app.outbox.start()
            await until(lambda: sum(len(fake.messages(c)) for c in CHANNELS) >= cards, 60 + cards)
            total = time.perf_counter() - began
            await asyncio.sleep(1.0)
            counts = await app.database.read(outbox.counts)
        finally:
            await app.stop()
            await fake.close()
    print(f"2. {len(CHANNELS)} channels x {args.per_channel} cards and {args.people} private chats"
          f" x 3 notes, at once ({total:.1f} s)")  # fmt: skip
    calls = fake.calls_to("chat.postMessage")
    for channel in CHANNELS:
        mine = [c for c in calls if c.args["channel"] == channel and c.status == 200]
        texts = Counter(c.args["text"] for c in mine)
        span = mine[-1].at - mine[0].at if len(mine) > 1 else 0.0
        rate = (len(mine) - 1) / span if span else 0.0
        doubled = sum(v > 1 for v in texts.values())
        print(f"   #{fake.channels[channel].name}: {len(mine)} messages, {rate:.3f} messages/s,"
              f" {fake.rate_limited.get(channel, 0)} x 429, doubled {doubled}")  # fmt: skip
    dms = [c for c in calls if c.args["channel"] not in CHANNELS and c.status == 200]
    limited = sum(1 for c in calls if c.status == 429)
    print(f"   private notes delivered: {len(dms)}/{args.people * 3};"
          f" 429s seen in all: {limited}; outbox: {counts}")  # fmt: skip


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_until_sigterm(env: dict[str, str], wanted: Any, limit: float) -> tuple[float, str]:
    """Start `allhands run`, wait for `wanted()`, SIGTERM it; (seconds to exit, its log)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    await until(wanted, limit)
    proc.send_signal(signal.SIGTERM)
    sent = time.perf_counter()
    _, err = await proc.communicate()
    return time.perf_counter() - sent, err.decode()


async def sigterm_under_load(args: argparse.Namespace) -> None:
    """Part 3: SIGTERM mid-burst, then a restart: nothing lost, nothing doubled."""
    fake = await SlackFake(clock=time.time, per_second=1.0, burst=1).start()
    slack_fake_workspace(fake, 0)
    cards = 4 * 15
    with tempfile.TemporaryDirectory(prefix="allhands-lanes-") as name:
        tmp = Path(name)
        env = {**os.environ, "ALLHANDS_DB": str(tmp / "run.db"), "PORT": str(free_port()),
               "ALLHANDS_PLAYBOOKS": str(book(tmp, channels=4, cards=cards)),
               "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
               "SLACK_API_URL": fake.api_url}  # fmt: skip
        env.pop("SLACK_APP_TOKEN", None)

        def posted() -> int:
            return sum(len(fake.messages(c)) for c in CHANNELS)

        first, log1 = await run_until_sigterm(env, lambda: posted() >= 16, 60)
        at_stop = posted()
        second, log2 = await run_until_sigterm(env, lambda: posted() >= cards, 60)
        await asyncio.sleep(0.5)
        texts = Counter(m["text"] for c in CHANNELS for m in fake.messages(c))
        await fake.close()
    queued = [
        line.split("INFO", 1)[-1].strip() for line in log1.splitlines() if "queued for" in line
    ]
    print(f"3. SIGTERM during a burst of {cards} cards to 4 channels, then a restart")
    print(f"   exit after SIGTERM: {first:.2f} s mid-burst ({at_stop} cards out),"
          f" {second:.2f} s after the restart")  # fmt: skip
    print(f"   left queued, as logged: {queued[0][:160] if queued else '(nothing logged)'}")
    stopped = [
        line.split("INFO", 1)[-1].strip() for line in log1.splitlines() if "stopped in" in line
    ]
    print(f"   its own account of the stop: {stopped[0] if stopped else '(not logged)'}")
    print(f"   after the restart: {len(texts)}/{cards} cards posted, doubled"
          f" {sum(v > 1 for v in texts.values())}, lost {cards - len(texts)};"
          f" tracebacks: {'Traceback' in log1 + log2}")  # fmt: skip


async def take_with_backlog() -> None:
    """Part 4: one lane's next effect with 100,000 pending in 24 lanes."""
    with tempfile.TemporaryDirectory(prefix="allhands-lanes-") as name:
        database = Database(str(Path(name) / "take.db"))
        await database.open()
        now = datetime.now(UTC)

        def fill(db: Any) -> None:
            for n in range(100_000):
                outbox.enqueue(db, kind=outbox.Kind.CHANNEL_NOTE, target=f"slack:#c{n % 4}",
                               payload={"text": "x"}, now=now)  # fmt: skip
            for n in range(20):
                outbox.enqueue(db, kind=outbox.Kind.PRIVATE_NOTE, target="slack",
                               payload={"person": f"U{n}", "text": "x"}, now=now)  # fmt: skip

        await database.write(fill)
        takes, looks = [], []
        for n in range(200):
            started = time.perf_counter()
            await database.write(lanes.take_next, lane=f"slack:#c{n % 4}", now=now)
            takes.append(time.perf_counter() - started)
            started = time.perf_counter()
            await database.read(lanes.pending_lanes)
            looks.append(time.perf_counter() - started)
        await database.close()
    print("4. 100,000 pending effects in 24 lanes (through the writer / a reader thread)")
    print(f"   take a lane's next effect: median {statistics.median(takes) * 1000:.2f} ms,"
          f" max {max(takes) * 1000:.2f} ms; find the lanes with work: median"
          f" {statistics.median(looks) * 1000:.2f} ms, max {max(looks) * 1000:.2f} ms")  # fmt: skip


async def run(args: argparse.Namespace) -> None:
    """Every part, one after another."""
    parts = {int(p) for p in args.parts.split(",")}
    if 1 in parts:
        await replies_during_backlog(args)
    if 2 in parts:
        await channels_and_people(args)
    if 3 in parts:
        await sigterm_under_load(args)
    if 4 in parts:
        await take_with_backlog()


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cards", type=int, default=2000)
    parser.add_argument("--replies", type=int, default=100)
    parser.add_argument("--over", type=float, default=60.0, help="seconds to type the replies in")
    parser.add_argument("--per-channel", type=int, default=40)
    parser.add_argument("--people", type=int, default=20)
    parser.add_argument("--parts", default="1,2,3,4", help="which parts to run, e.g. 2,3")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
