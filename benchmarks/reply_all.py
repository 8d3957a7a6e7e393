"""`reply-all` to 3,000 Mastodon customers, killed with SIGKILL half-way and restarted.

Run from the repository root:

    .venv/bin/python benchmarks/reply_all.py [--count 3000] [--limit 300] [--window 10]

This process runs the local fake Mastodon (tests/fakes/mastodon.py) with a rate limit of
`--limit` calls per `--window` seconds (its `X-RateLimit-*` headers say so; beyond, HTTP
429), and `--count` posts about one outage, each from a different customer. It starts the
bot in a child process (this file with `--child`): the child stores the posts through the
bot's own ingest (they become one incident), types `reply-all I1 ...` and delivers with
its own outbox worker. When half the answers are posted, the child is killed with SIGKILL
and started again; it carries on from its store. At the end: how many customers were
answered once, twice, never (and of those, how many are flagged for a person because the
kill cut a send off), the 429s, and the busiest window against the limit. A benchmark, not
a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import logging
import os
import random
import signal
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiohttp import web  # noqa: E402

from benchmarks.storm_gen import OUTAGE_PHRASINGS, _fill  # noqa: E402
from tests.fakes.mastodon import TOKEN, FakeMastodon  # noqa: E402

TEXT = "Hi {name}, we know about the outage in the north and are on it. Updates on our status page."


class WindowedMastodon(FakeMastodon):
    """The fake, with its rate limit renewed every `window` seconds of real time."""

    window: float = 10.0
    window_end: float = 0.0
    limited: int = 0
    per_window: Counter[int]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        now = time.time()
        if now >= self.window_end:
            self.window_end = now + self.window
            self.remaining = self.rate_limit
        self.now = datetime.fromtimestamp(now, UTC)
        self.reset_in = timedelta(seconds=self.window_end - now)
        if self.remaining > 0:
            self.per_window[int(self.window_end)] += 1
        else:
            self.limited += 1
        return await super()._handle(request)


def playbook(instance: str) -> str:
    """One Mastodon source and one team on the console."""
    return (
        "sources:\n  - id: mastodon\n    kind: mastodon\n"
        f"    instance: {instance}\n    token: {TOKEN}\n    every: 1d\n"
        "teams:\n  network:\n    channel: console:#network\ndefault_team: network\n"
    )


async def parent(args: argparse.Namespace) -> None:
    """Run the fake, the child, the kill and the restart; then count."""
    fake = WindowedMastodon(rate_limit=args.limit, remaining=args.limit)
    fake.window = args.window
    fake.per_window = Counter()
    await fake.start()
    rng = random.Random(5)
    posts = []
    for i in range(args.count):
        status = fake.post(_fill(rng.choice(OUTAGE_PHRASINGS), rng), acct=f"c{i}@other.example")
        posts.append(
            {
                "id": status["id"],
                "acct": status["account"]["acct"],
                "name": status["account"]["display_name"],
                "text": status["content"][3:-4],
            }
        )
    with tempfile.TemporaryDirectory(prefix="allhands-reply-all-") as tmp:
        db = Path(tmp) / "bot.db"
        (Path(tmp) / "posts.json").write_text(json.dumps(posts), encoding="utf-8")
        (Path(tmp) / "book.yaml").write_text(playbook(fake.url), encoding="utf-8")
        began = time.time()
        cmd = [sys.executable, __file__, "--child", tmp]
        child = await asyncio.create_subprocess_exec(*cmd)
        killed_at = None
        while child.returncode is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(child.wait(), timeout=0.2)
            if killed_at is None and len(fake.posted) >= args.count // 2:
                os.kill(child.pid, signal.SIGKILL)
                await child.wait()
                killed_at = len(fake.posted)
                print(f"killed the bot with SIGKILL after {killed_at:,} answers; restarting")
                child = await asyncio.create_subprocess_exec(*cmd)
        took = time.time() - began
        flagged = (
            sqlite3.connect(db)
            .execute(
                "SELECT count(*) FROM reply_all r JOIN replies p ON p.id = r.reply"
                " WHERE p.status IN ('unknown', 'failed')"
            )
            .fetchone()[0]
        )
        reasons = (
            sqlite3.connect(db)
            .execute(
                "SELECT reason, count(*) FROM reply_all WHERE status = 'refused' GROUP BY reason"
                " ORDER BY count(*) DESC LIMIT 3"
            )
            .fetchall()
        )
        by_status = dict(sqlite3.connect(db).execute(
            "SELECT status, count(*) FROM reply_all GROUP BY status"
        ).fetchall())  # fmt: skip
    await fake.close()
    answered = Counter(p["in_reply_to_id"] for p in fake.posted)
    ids = [p["id"] for p in posts]
    once = sum(1 for i in ids if answered[i] == 1)
    twice = sum(1 for i in ids if answered[i] > 1)
    never = [i for i in ids if answered[i] == 0]
    print(f"{args.count:,} customers, rate limit {args.limit} calls per {args.window:g} s;"
          f" {took:.0f} s in all; plan rows by status: {by_status}")  # fmt: skip
    print(f"answered exactly once: {once:,}; twice or more: {twice}; never: {len(never)}"
          f" (flagged for a person after the kill, or failed: {flagged})")  # fmt: skip
    for reason, n in reasons:
        print(f"  refused {n}: {reason}")
    busiest = max(fake.per_window.values()) if fake.per_window else 0
    print(f"429s answered by the fake: {fake.limited:,}; busiest window: {busiest} calls"
          f" (limit {args.limit})")  # fmt: skip


async def child(tmp: Path) -> None:
    """The bot: store the posts (once), reply to everyone (once), deliver until done."""
    from bot.app import App
    from bot.chat.console import ConsoleAdapter
    from bot.domain.mentions import Author, Item
    from bot.playbooks import load_playbooks
    from bot.settings import Settings
    from bot.store import incidents, outbox
    from bot.workflow import Context
    from connectors.base import Batch

    app = App(
        settings=Settings(db_path=str(tmp / "bot.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        playbooks=load_playbooks(tmp / "book.yaml"),
    )
    await app.start()
    try:
        stored = await app.database.read(
            lambda db: db.execute("SELECT count(*) FROM mentions").fetchone()[0]
        )
        if not stored:
            posts = json.loads((tmp / "posts.json").read_text(encoding="utf-8"))
            for start in range(0, len(posts), 500):
                items = [
                    Item(
                        external_id=p["id"],
                        text=p["text"],
                        author=Author(handle=p["acct"], name=p["name"]),
                    )
                    for p in posts[start : start + 500]
                ]
                await app.store(Batch(items=items, cursor=None), source="mastodon")
            found = await app.database.read(incidents.open_incidents)
            sizes = {
                i.number: len(await app.database.read(incidents.members, incident=i.number))
                for i in found
            }
            biggest = max(sorted(sizes), key=lambda n: sizes[n])
            print(f"stored {len(posts):,} posts; incident I{biggest} has {sizes[biggest]:,}")
            answer = await app.workflow.handle(
                f"reply-all I{biggest} {TEXT}", Context(actor="alice")
            )
            print(answer.text, flush=True)
        app.outbox.start()
        while True:
            await asyncio.sleep(0.5)
            counts = await app.database.read(outbox.counts)
            planned = await app.database.read(
                lambda db: db.execute(
                    "SELECT count(*) FROM reply_all WHERE status = 'planned'"
                ).fetchone()[0]
            )
            if not planned and counts.get("pending", 0) + counts.get("sending", 0) == 0:
                break
    finally:
        await app.stop()


def main() -> None:
    """Parse the options and run as the parent or the child."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--child", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    if args.child is not None:
        asyncio.run(child(args.child))
    else:
        asyncio.run(parent(args))


if __name__ == "__main__":
    main()
