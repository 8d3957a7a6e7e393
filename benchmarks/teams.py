"""How fast allhands serves Teams: authenticated requests to /api/messages, cards posted.

Run from the repository root:

    .venv/bin/python benchmarks/teams.py [--requests 400] [--concurrency 8] [--cards 300]

Everything runs on 127.0.0.1 against the test suite's fake Bot Framework (connector,
token endpoint, signing keys), so the figures are allhands' own cost plus local HTTP, not
Teams' latency. It prints:

- the token check alone (botframework-connector's JWT validation, on a worker thread);
- `@allhands show 1` requests over HTTP, each with a freshly signed token: requests a
  second and latency percentiles until the 200 (the answer is posted after);
- card clicks (Claim then Release, alternating) the same way: each writes a state change,
  its event and a card update to the outbox;
- mention cards posted through the outbox to the fake connector, cards a second.

A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the fake Bot Framework lives with the tests

from bot.clock import FakeClock  # noqa: E402
from tests.conftest import write_posts  # noqa: E402
from tests.teams_harness import BILLING, TeamsHarness, teams_app  # noqa: E402


def percentiles(seconds: list[float]) -> str:
    """p50 / p95 / max in milliseconds."""
    ordered = sorted(seconds)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return (
        f"p50 {statistics.median(ordered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms,"
        f" max {ordered[-1] * 1000:.1f} ms"
    )


async def timed_posts(h: TeamsHarness, bodies: list[dict[str, object]], concurrency: int) -> None:
    """POST every body (each with its own signed token) `concurrency` at a time; print figures."""
    latencies: list[float] = []
    queue = list(bodies)

    async def worker() -> None:
        while queue:
            body = queue.pop()
            headers = {"Authorization": f"Bearer {h.fake.sign()}"}
            started = time.perf_counter()
            async with h.http.post(h.url, json=body, headers=headers) as response:
                assert response.status == 200, response.status
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    await h.teams.settle()
    elapsed = time.perf_counter() - started
    print(f"  {len(bodies) / elapsed:,.0f} requests/s; {percentiles(latencies)}")


async def main(args: argparse.Namespace) -> None:
    """Run every measurement on one app."""
    clock = FakeClock()
    with tempfile.TemporaryDirectory(prefix="allhands-bench-") as tmp:
        async with teams_app(Path(tmp), clock) as h:
            await h.post(h.installed())
            await h.app.poll_all()
            await h.app.outbox.drain()
            [card] = h.fake.channel_posts(BILLING)

            token = h.fake.sign()
            body = h.command("show 1")
            header = f"Bearer {token}"
            checks = 200
            started = time.perf_counter()
            for _ in range(checks):
                await h.teams.authenticator.check(body, header)
            per_check = (time.perf_counter() - started) / checks
            print(f"token check alone: {per_check * 1e6:,.0f} µs")

            print(f"@allhands show 1 x {args.requests}, {args.concurrency} at a time:")
            await timed_posts(
                h, [h.command("show 1") for _ in range(args.requests)], args.concurrency
            )

            print(f"card clicks (claim/release) x {args.requests}, one clicker at a time:")
            clicks = [
                h.submit(card.id, {"allhands": "claim" if i % 2 == 0 else "release", "number": 1})
                for i in range(args.requests)
            ]
            # Claim and release must alternate, so these go one after another.
            await timed_posts(h, clicks, 1)
            await h.app.outbox.drain()

            posts = [
                {"id": f"b{i}", "text": f"my invoice {i} is wrong", "author": {"handle": f"u{i}"}}
                for i in range(args.cards)
            ]
            write_posts(h.replay, posts)
            await h.app.poll_all()
            started = time.perf_counter()
            await h.app.outbox.drain()
            elapsed = time.perf_counter() - started
            print(f"cards through the outbox x {args.cards}: {args.cards / elapsed:,.0f} cards/s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--cards", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
