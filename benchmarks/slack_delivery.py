"""How fast cards reach Slack within its limits: 2,000 mentions, 4 channels, the fake Slack.

Run from the repository root:

    .venv/bin/python benchmarks/slack_delivery.py [--count 2000] [--channels 4]
        [--budget 1.0] [--pace 1.0] [--burst 1]

Mentions come from a replay source, routed by keyword to `--channels` teams whose
channels the playbook names as `#bench-N` (looked up with conversations.list). They are
delivered by the bot's own outbox worker and Slack adapter to the local fake Slack Web
API (tests/fakes/slack_api.py), in real time. The fake enforces a posting budget of
`--budget` messages a second per channel (a token bucket of `--burst`), answering HTTP 429
with Retry-After beyond it, as Slack does; the adapter paces itself at `--pace` messages a
second per channel (Slack's guidance is about one). Set `--pace` above `--budget` to watch
429s being answered.

Printed: messages a second per channel, 429s seen, total time; and the checks that every
mention was delivered exactly once, to its team's channel, with no 429 left unhandled.
A benchmark, not a test: it asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Slack lives with the tests

from bot.app import App  # noqa: E402
from bot.chat.console import ConsoleAdapter  # noqa: E402
from bot.playbooks import load_playbooks  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import outbox  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, SlackFake  # noqa: E402


def playbook(replay: Path, channels: int, count: int) -> str:
    """A playbook with one team per channel, routed by the keyword `topicN`."""
    teams = "\n".join(
        f"  team{n}:\n    channel: slack:#bench-{n}\n    keywords: [topic{n}]"
        for n in range(1, channels + 1)
    )
    return (
        f"sources:\n  - id: bench\n    kind: replay\n    file: {replay}\n    batch: {count}\n"
        f"teams:\n{teams}\ndefault_team: team1\n"
    )


def posts(count: int, channels: int) -> str:
    """JSON Lines of `count` posts, each about one channel's topic, round robin."""
    return "".join(
        json.dumps(
            {
                "id": f"p{i}",
                "text": f"Post {i} about topic{i % channels + 1}: my router keeps dropping",
                "author": {"handle": f"user{i}", "followers": i * 7},
            }
        )
        + "\n"
        for i in range(count)
    )


async def run(args: argparse.Namespace) -> None:
    """Ingest, deliver, check and print."""
    fake = await SlackFake(per_second=args.budget, burst=args.burst).start()
    fake.page_size = 200
    for n in range(1, args.channels + 1):
        fake.add_channel(f"C0BENCH{n:03d}", f"bench-{n}")
    with tempfile.TemporaryDirectory(prefix="allhands-bench-") as tmp:
        replay = Path(tmp) / "posts.jsonl"
        replay.write_text(posts(args.count, args.channels), encoding="utf-8")
        book = Path(tmp) / "bench.yaml"
        book.write_text(playbook(replay, args.channels, args.count), encoding="utf-8")
        settings = Settings(
            db_path=str(Path(tmp) / "bench.db"),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret="bench",
            slack_api_url=fake.api_url,
        )
        app = App(
            settings=settings,
            adapters={"console": ConsoleAdapter(io.StringIO())},
            playbooks=load_playbooks(book),
        )
        await app.start()
        assert app.slack is not None
        app.slack.adapter.pacer.set_rate(args.pace)
        try:
            await app.poll_all()
            started = time.perf_counter()
            app.outbox.start()
            while True:
                counts = await app.database.read(outbox.counts)
                if counts.get("pending", 0) + counts.get("sending", 0) == 0:
                    break
                await asyncio.sleep(0.25)
            total = time.perf_counter() - started
            counts = await app.database.read(outbox.counts)
        finally:
            await app.stop()
            await fake.close()
    report(fake, args, total, counts)


def report(fake: SlackFake, args: argparse.Namespace, total: float, counts: dict[str, int]) -> None:
    """Print the figures and the delivery checks."""
    posted = [c for c in fake.calls_to("chat.postMessage") if c.status == 200]
    limited = [c for c in fake.calls_to("chat.postMessage") if c.status == 429]
    seen: Counter[int] = Counter()
    wrong_channel = 0
    print(f"{args.count} mentions, {args.channels} channels, budget {args.budget:g}/s per channel"
          f" (burst {args.burst:g}), adapter pace {args.pace:g}/s per channel")  # fmt: skip
    for channel in sorted(fake.channels):
        mine = [c for c in posted if c.args["channel"] == channel]
        for call in mine:
            number = int(call.args["blocks"][0]["text"]["text"].split()[0].lstrip("#"))
            seen[number] += 1
            topic = int(call.args["blocks"][2]["text"]["text"].split("topic")[1].split(":")[0])
            wrong_channel += f"C0BENCH{topic:03d}" != channel
        span = mine[-1].at - mine[0].at if len(mine) > 1 else 0.0
        rate = (len(mine) - 1) / span if span else 0.0
        print(f"  #{fake.channels[channel].name}: {len(mine)} messages, {rate:.3f} messages/s,"
              f" {fake.rate_limited.get(channel, 0)} x 429")  # fmt: skip
    once = sum(1 for n in range(1, args.count + 1) if seen[n] == 1)
    print(f"total time {total:.1f} s; {len(posted) / total:.2f} messages/s in all")
    print(f"429s seen: {len(limited)}; outbox at the end: {counts}")
    print(f"delivered exactly once: {once}/{args.count}; twice or more:"
          f" {sum(1 for n in seen.values() if n > 1)}; missing: {args.count - len(seen)};"
          f" in the wrong channel: {wrong_channel}")  # fmt: skip
    unhandled = counts.get("failed", 0) + counts.get("pending", 0)
    print(f"429s left unhandled (effects failed or still pending): {unhandled}")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--budget", type=float, default=1.0, help="fake Slack: messages/s/channel")
    parser.add_argument("--burst", type=float, default=1.0, help="fake Slack: burst allowed")
    parser.add_argument("--pace", type=float, default=1.0, help="adapter: messages/s/channel")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
