"""Lanes on the fake Slack (which keeps Slack's pace) and the fake Mastodon: a rate-limited
channel delays no other channel and no customer; an answer typed during a card backlog
reaches the customer first; a card's update goes before the channel's new cards; a stop
leaves nothing half-sent."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

import sqlite_utils

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import Clock, FakeClock, SystemClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import outbox
from tests.conftest import served
from tests.fakes.mastodon import TOKEN, FakeMastodon
from tests.fakes.slack_api import BOT_TOKEN, Failure, SlackFake
from tests.slack.conftest import BILLING, SECRET, SUPPORT, SlackHarness, workspace

BOOK = """\
sources:
  - id: masto
    kind: mastodon
    instance: {instance}
    token: {token}
    visibility: unlisted
teams:
  billing:
    channel: slack:#billing
    keywords: [invoice]
  support:
    channel: slack:C0SUPPORT1
default_team: support
"""

_WORDS = """apple banana cherry damson elder fig grape hazel iris juniper kiwi lemon mango nectar
    olive peach quince rowan sloe tansy umber violet walnut yarrow zinnia amber bronze cobalt
    denim ebony fawn garnet henna indigo jade alpha bravo charlie delta echo foxtrot golf hotel
    india juliet kilo lima mike november oscar papa quebec romeo sierra tango uniform victor
    whiskey xray yankee zulu one two three four five six seven eight nine""".split()  # noqa: SIM905
UNRELATED = [f"{a} {b}" for a, b in zip(_WORDS[:35], _WORDS[35:], strict=True)]


@asynccontextmanager
async def lanes_app(
    tmp_path: Path, clock: Clock, now: Callable[[], float], per_second: float = 1.0
) -> AsyncIterator[tuple[SlackHarness, FakeMastodon]]:
    """allhands on the fake Slack (at `per_second` per channel) and the fake Mastodon."""
    slack = await SlackFake(clock=now, per_second=per_second, burst=2).start()
    workspace(slack)
    async with FakeMastodon() as mastodon:
        mastodon.remaining = 10_000
        book = tmp_path / "book.yaml"
        book.write_text(BOOK.format(instance=mastodon.url, token=TOKEN), encoding="utf-8")
        settings = Settings(
            db_path=str(tmp_path / "app.db"),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SECRET,
            slack_api_url=slack.api_url,
        )
        app = App(
            settings=settings,
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        await app.start()
        assert app.slack is not None
        app.slack.adapter.pacer.set_rate(per_second)
        try:
            async with served(app) as url:
                yield SlackHarness(app, slack, clock, url, tmp_path), mastodon  # type: ignore[arg-type]
        finally:
            await app.stop()
            await slack.close()


def posts(h: SlackHarness, channel: str) -> list[str | None]:
    """The chat.postMessage calls to a channel: None for each one Slack took, else its error."""
    return [c.error for c in h.fake.calls_to("chat.postMessage") if c.args["channel"] == channel]


async def test_a_429_storm_on_one_channel_delays_no_other_channel_and_no_customer(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    async with lanes_app(tmp_path, clock, lambda: clock.now().timestamp()) as (h, mastodon):
        for n in range(4):
            mastodon.post(f"@lumo where is my invoice {n}?", acct=f"payer{n}@other.example")
        for n in range(3):
            mastodon.post(f"@lumo my router is down {n}", acct=f"user{n}@other.example")
        await h.app.poll_all()
        storm = Failure(status=429, error="ratelimited", times=3, retry_after=30, channel=BILLING)
        h.fake.fail("chat.postMessage", storm)
        await h.app.outbox.drain()
        # Billing was told to wait and is left alone meanwhile; support is not held up.
        assert posts(h, BILLING) == ["ratelimited"]
        assert posts(h, SUPPORT) == [None] * 3
        number = 5  # a support mention: its card is posted
        assert await h.command(f"reply {number} Sorry, a technician calls today.") == 200
        await h.settle()
        assert [p["text"] for p in mastodon.posted] == [
            "@user0@other.example Sorry, a technician calls today."
        ]
        assert posts(h, BILLING) == ["ratelimited"]  # still resting: the customer did not wait
        for _ in range(3):  # each Retry-After is waited out, then tried once
            h.clock.advance(timedelta(seconds=30))
            await h.app.outbox.drain()
        assert posts(h, BILLING) == ["ratelimited"] * 3 + [None] * 4
        assert len(h.fake.messages(BILLING)) == 4  # every card once: no 429 went unhandled
        assert await h.app.database.read(outbox.counts) == {"done": await done(h)}


async def done(h: SlackHarness) -> int:
    """How many outbox rows there are (all of them done, when asserted)."""
    return int(
        await h.app.database.read(
            lambda db: db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        )
    )


def states(db: sqlite_utils.Database) -> dict[str, int]:
    """How many outbox rows are in each state."""
    return {s: n for s, n in db.execute("SELECT state, count(*) FROM outbox GROUP BY state")}


async def until(condition: Callable[[], bool], *, within: float = 10.0) -> None:
    """Wait until `condition()` holds (looking every 5 ms); TimeoutError after `within` s."""
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.005)


async def test_an_answer_typed_during_a_card_backlog_goes_out_first(tmp_path: Path) -> None:
    # Real time, with Slack's pace scaled up tenfold so the test is short: 35 cards for one
    # channel take three and a half seconds.
    async with lanes_app(tmp_path, SystemClock(), time.time, per_second=10) as (
        h,
        mastodon,
    ):
        mastodon.post("@lumo my router is down", acct="ann@other.example")  # support, #1
        # One page of notifications, about unrelated things (a storm of one thing would
        # become one incident card instead of a backlog of cards).
        for n, thing in enumerate(UNRELATED):
            mastodon.post(f"@lumo invoice: {thing}", acct=f"payer{n}@other.example")
        await h.app.poll_all()
        h.app.outbox.start()
        await until(lambda: len(h.fake.messages(SUPPORT)) >= 1)
        await until(lambda: len(h.fake.messages(BILLING)) >= 3)
        assert await h.command("claim 3", channel=BILLING) == 200  # a billing card, posted
        assert await h.command("reply 1 Sorry Ann, a technician calls today.") == 200
        await until(lambda: bool(mastodon.posted))
        assert len(h.fake.messages(BILLING)) < 15  # of 35: the answer did not wait its turn
        await until(
            lambda: any(c.args["channel"] == BILLING for c in h.fake.calls_to("chat.update"))
        )
        # The claimed card's update went before the billing cards still queued.
        assert len(h.fake.messages(BILLING)) < 20
        await h.app.outbox.stop(grace=3.0)
        left = await h.app.database.read(states)
        assert "sending" not in left and left.get("pending", 0) > 0
        posted = len(h.fake.messages(BILLING))
        await asyncio.sleep(0.3)
        assert len(h.fake.messages(BILLING)) == posted  # stopped means stopped
