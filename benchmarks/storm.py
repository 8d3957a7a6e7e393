"""A storm at Slack's pace: 10,000 mentions in 10 minutes into one team, on the local fake.

Run from the repository root:

    .venv/bin/python benchmarks/storm.py [--count 10000] [--minutes 10] [--speed 10] [--seed 7]
        [--family network|payments] [--calm]

70% of the mentions are one outage written many ways with noise, 30% ordinary unrelated
complaints (benchmarks/storm_gen.py), from three sources, all routed to one team whose
channel is on the local fake Slack Web API (tests/fakes/slack_api.py: one message a second
per channel, 429 + Retry-After beyond). They are stored through the bot's own ingest (with
its incident grouping, spike watch and channel budget) as they arrive, and delivered by its
own outbox worker and Slack adapter. Time is simulated `--speed` times faster than real
time, for the bot, its pacing and the fake alike (so 10 minutes take one).

Printed: chat API calls (chat.postMessage and chat.update) per mention, 429s, when the spike
alert reached Slack after the storm began, whether every mention is stored and reachable
(an incident's member, its own card, or in the roll-up), and grouping precision and recall
against the generator's labels, and the time grouping and spike watching took per mention.
With `--calm`, a calm day instead (one ordinary mention a minute for 24 hours; use a
`--speed` of 600 or so): cards posted, incidents and alerts. A benchmark, not a test: it
asserts nothing, it reports.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import logging
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Slack lives with the tests

from benchmarks.storm_gen import calm_day, score, storm  # noqa: E402
from bot.app import App  # noqa: E402
from bot.chat.console import ConsoleAdapter  # noqa: E402
from bot.domain.mentions import Author, Item  # noqa: E402
from bot.playbooks import load_playbooks  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.store import outbox  # noqa: E402
from connectors.base import Batch  # noqa: E402
from tests.fakes.slack_api import BOT_TOKEN, SlackFake  # noqa: E402

START = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
SOURCES = ("mastodon", "bluesky", "reddit")
PLAYBOOK = """\
teams:
  network:
    channel: slack:#network
    leads: [U0LEAD]
default_team: network
"""


class ScaledClock:
    """Simulated time running `speed` times faster than real time, from START."""

    def __init__(self, speed: float):
        self.speed = speed
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        """The simulated time."""
        return START + timedelta(seconds=(time.monotonic() - self._t0) * self.speed)

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of simulated time."""
        await asyncio.sleep(max(0.0, seconds) / self.speed)

    def timestamp(self) -> float:
        """Seconds since the epoch, simulated (the fake Slack's clock)."""
        return self.now().timestamp()


async def run(args: argparse.Namespace) -> None:
    """Feed the storm as it happens, deliver, then count."""
    clock = ScaledClock(args.speed)
    fake = await SlackFake(clock=clock.timestamp).start()
    fake.page_size = 200
    fake.add_channel("C0NETWORK", "network")
    fake.add_user("U0LEAD", "lead")
    span = timedelta(minutes=args.minutes)
    if args.calm:
        posts = calm_day(start=START)
    else:
        posts = storm(args.count, seed=args.seed, start=START, span=span, family=args.family)
    with tempfile.TemporaryDirectory(prefix="allhands-storm-") as tmp:
        book = Path(tmp) / "storm.yaml"
        book.write_text(PLAYBOOK, encoding="utf-8")
        settings = Settings(
            db_path=str(Path(tmp) / "storm.db"),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret="bench",
            slack_api_url=fake.api_url,
        )
        app = App(
            settings=settings,
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        await app.start()
        placing = 0.0
        place = app.incidents.place

        def timed_place(*a: object, **kw: object) -> None:
            nonlocal placing
            began = time.perf_counter()
            place(*a, **kw)  # type: ignore[arg-type]
            placing += time.perf_counter() - began

        try:
            app.outbox.start()
            i = 0
            behind = 0.0
            while i < len(posts):
                now = clock.now()
                due: dict[str, list[Item]] = {}
                while i < len(posts) and posts[i].at <= now:
                    p = posts[i]
                    item = Item(external_id=f"s{i}", text=p.text, author=Author(handle=p.author))
                    due.setdefault(SOURCES[i % len(SOURCES)], []).append(item)
                    i += 1
                for source, items in due.items():
                    await app.store(
                        Batch(items=items, cursor=None), source=source, after_store=timed_place
                    )
                if due:
                    app.outbox.wake()
                    behind = max(behind, (clock.now() - now).total_seconds())
                await asyncio.sleep(0.05)
            fed = clock.now()
            while True:  # until every effect is out, and the last redraws with them
                counts = await app.database.read(outbox.counts)
                if counts.get("pending", 0) + counts.get("sending", 0) == 0:
                    break
                await asyncio.sleep(0.2)
            ended = clock.now()
            stored = await app.database.read(_stored)
        finally:
            await app.stop()
            await fake.close()
    report(args, fake, posts, stored, fed, ended, placing, counts, behind)


def _stored(db: object) -> dict[str, object]:
    conn = db.conn  # type: ignore[attr-defined]
    rows = conn.execute(
        "SELECT m.external_id, im.incident, c.mention IS NOT NULL,"
        " EXISTS (SELECT 1 FROM outbox o WHERE o.mention = m.number AND o.kind = 'card_post'"
        "   AND o.result LIKE '%rolled up:%')"
        " FROM mentions m LEFT JOIN incident_members im ON im.mention = m.number"
        " LEFT JOIN cards c ON c.mention = m.number"
    ).fetchall()
    incidents = conn.execute("SELECT number, why, state FROM incidents ORDER BY number").fetchall()
    return {"rows": rows, "incidents": incidents}


def report(
    args: argparse.Namespace,
    fake: SlackFake,
    posts: list,
    stored: dict,
    fed: datetime,
    ended: datetime,
    placing: float,
    counts: dict[str, int],
    behind: float,
) -> None:
    """Print the figures."""
    calls = [c for c in fake.calls if c.method in ("chat.postMessage", "chat.update")]
    ok = [c for c in calls if c.status == 200]
    limited = [c for c in calls if c.status == 429]
    n = len(posts)
    if args.calm:
        cards = [c for c in ok if c.method == "chat.postMessage" and c.args.get("blocks")]
        print(f"calm day: {n:,} mentions, one a minute for 24 simulated hours (time"
              f" {args.speed:g}x real): {len(cards):,} cards posted, incidents:"
              f" {len(stored['incidents'])}, spike alerts:"
              f" {sum('Spike for' in str(c.args.get('text', '')) for c in ok)}")  # fmt: skip
        return
    print(f"{n:,} mentions in {args.minutes} simulated minutes into one team"
          f" (time {args.speed:g}x real; ingest at most {behind:.1f} s behind)")  # fmt: skip
    print(f"chat API calls: {len(ok)} ({sum(c.method == 'chat.postMessage' for c in ok)} posts,"
          f" {sum(c.method == 'chat.update' for c in ok)} updates) = {len(ok) / n:.4f} per"
          f" mention; 429s: {len(limited)}")  # fmt: skip
    alerts = [c for c in ok if "Spike for team" in str(c.args.get("text", ""))]
    onset = posts[0].at.timestamp()
    if alerts:
        print(f"spike alert in the channel {alerts[0].at - onset:.1f} s after the storm began;"
              f" {len(alerts)} alert messages (channel and leads)")  # fmt: skip
    else:
        print("spike alert: none")
    rows = stored["rows"]
    reachable = sum(1 for _, inc, card, rolled in rows if inc or card or rolled)
    print(f"stored: {len(rows):,} of {n:,}; reachable (incident, own card or roll-up):"
          f" {reachable:,}")  # fmt: skip
    by_id = {ext: inc for ext, inc, _, _ in rows}
    groups = [by_id.get(f"s{i}") for i in range(n)]
    precision, recall = score([p.outage for p in posts], groups)
    print(f"grouping precision {precision:.3f}, recall {recall:.3f} (outage mentions in its"
          f" incident); incidents: {len(stored['incidents'])}")  # fmt: skip
    for number, why, state in stored["incidents"][:8]:
        size = sum(1 for g in groups if g == number)
        print(f"  I{number} [{state}] {why}: {size:,} members")
    print(f"grouping and spike watch: {placing / n * 1e6:.0f} µs per mention in the ingest"
          f" transaction = {n / placing:,.0f} mentions/s")  # fmt: skip
    if args.verbose:
        for c in ok:
            print(f"  {c.at - onset:7.1f} {c.method} {str(c.args.get('text', ''))[:60]!r}")
    print(f"fed by {fed:%H:%M:%S}, all delivered by {ended:%H:%M:%S} (simulated); outbox {counts}")


def main() -> None:
    """Parse the options and run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--family", default="network", choices=("network", "payments"))
    parser.add_argument("--calm", action="store_true", help="a calm day instead of a storm")
    parser.add_argument("--verbose", action="store_true", help="list every chat call")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
