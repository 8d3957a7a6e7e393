"""The chat budget and the spike watch hold across replicas and restarts: they count in the
store, so two allhands on one store (a load balancer dealing mentions to either) spend one
budget and send one alert per cooldown, and a restarted one remembers both."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.stores import rows
from tests.test_incident_replicas import burst, ingest

BUDGET = """\
teams:
  support:
    channel: console:#support
    chat_budget: {messages: 3, per: 10m}
    spike: {enabled: false}
default_team: support
"""

SPIKES = """\
teams:
  support:
    channel: console:#support
    leads: [dana]
    spike: {floor: 6, window: 5m, cooldown: 1h, sensitivity: 1.1}
default_team: support
"""


@asynccontextmanager
async def replica(
    tmp_path: Path, clock: FakeClock, store: str, book: str, name: str
) -> AsyncIterator[App]:
    """One allhands on the store `store` with the playbook `book`, started."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(book, encoding="utf-8")
    app = App(
        settings=Settings(db_path=store),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(path),
    )
    await app.start()
    try:
        yield app
    finally:
        await app.stop()


def unrelated(start: int, n: int) -> list[Item]:
    """`n` posts that share no word (none joins another in an incident)."""
    return [
        Item(
            external_id=f"p{i}",
            text=f"note{i} about widget{i} colour{i}",
            author=Author(handle=f"u{i}"),
        )
        for i in range(start, start + n)
    ]


def cards(store: str) -> tuple[int, int]:
    """Cards let through (to be posted or posted), and cards rolled up."""
    found = [r or "" for (r,) in rows(store, "SELECT result FROM outbox WHERE kind = 'card_post'")]
    return sum("skipped" not in r for r in found), sum("rolled up" in r for r in found)


def alerts(store: str) -> list[str]:
    """The spike alerts sent to the channel, oldest first."""
    found = rows(store, "SELECT payload FROM outbox WHERE kind = 'channel_note' ORDER BY id")
    return [payload for (payload,) in found]


async def test_two_replicas_spend_one_budget_and_a_restart_keeps_it(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with (
        replica(tmp_path, clock, store_url, BUDGET, "a") as a,
        replica(tmp_path, clock, store_url, BUDGET, "b") as b,
    ):
        for i, post in enumerate(unrelated(0, 8)):  # dealt in turn, one at a time
            await ingest((a, b)[i % 2], [post])
            clock.advance(timedelta(seconds=20))
        assert cards(store_url) == (3, 5)  # one budget in all, not one per replica
    clock.advance(timedelta(minutes=5))
    async with replica(tmp_path, clock, store_url, BUDGET, "again") as again:
        await ingest(again, unrelated(8, 1))
        assert cards(store_url) == (3, 6)  # restarted: the budget is still spent
        clock.advance(timedelta(seconds=150))  # ten minutes after the first card only
        await ingest(again, unrelated(9, 2))
        assert cards(store_url) == (4, 7)  # the first card's place is free again, once


async def test_cards_an_incident_shows_before_they_are_posted_free_the_budget(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with replica(tmp_path, clock, store_url, BUDGET, "one") as app:
        for post in burst(8):  # one outage: three cards, four rolled up, then an incident
            await ingest(app, [post])
            clock.advance(timedelta(seconds=10))
        held = rows(store_url, "SELECT count(*) FROM outbox WHERE result LIKE '%incident''s card%'")
        # The three let through were never posted, nor the card of the post that opened it.
        assert held == [(4,)] and cards(store_url) == (0, 4)
        await ingest(app, unrelated(0, 4))
        assert cards(store_url) == (3, 5)  # so the budget takes three more, and no more


async def test_two_replicas_send_one_spike_alert_when_their_arrivals_add_up(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with (
        replica(tmp_path, clock, store_url, SPIKES, "a") as a,
        replica(tmp_path, clock, store_url, SPIKES, "b") as b,
    ):
        posts = unrelated(0, 16)
        for i, post in enumerate(posts[:5]):
            await ingest((a, b)[i % 2], [post])
            clock.advance(timedelta(seconds=10))
        assert alerts(store_url) == []  # five in the window, the floor is six
        await ingest(b, posts[5:6])  # the sixth, three on each replica
        sent = alerts(store_url)
        assert len(sent) == 1 and "Spike for team support: 6 new mentions" in sent[0]
        leads = rows(store_url, "SELECT count(*) FROM outbox WHERE kind = 'private_note'")
        assert leads == [(1,)]
        for i, post in enumerate(posts[6:]):  # the burst goes on, on both
            await ingest((a, b)[i % 2], [post])
        assert len(alerts(store_url)) == 1  # one alert per cooldown, in all
    clock.advance(timedelta(minutes=30))
    async with replica(tmp_path, clock, store_url, SPIKES, "again") as again:
        await ingest(again, unrelated(100, 8))
        assert len(alerts(store_url)) == 1  # restarted within the cooldown: still quiet
        clock.advance(timedelta(minutes=31))  # the cooldown is over
        await ingest(again, unrelated(200, 5))
        assert len(alerts(store_url)) == 1  # five in the window now: not yet
        await ingest(again, unrelated(300, 1))
        assert len(alerts(store_url)) == 2
        assert "6 new mentions" in alerts(store_url)[1]


async def test_replicas_storing_at_once_spend_one_budget_and_send_one_alert(
    tmp_path: Path, clock: FakeClock, pg_url: str
) -> None:
    book = SPIKES.replace("    leads: [dana]\n", "    chat_budget: {messages: 3, per: 10m}\n")
    posts = unrelated(0, 24)
    async with (
        replica(tmp_path, clock, pg_url, book, "a") as a,
        replica(tmp_path, clock, pg_url, book, "b") as b,
    ):

        async def feed(app: App, half: list[Item]) -> None:
            for post in half:
                await ingest(app, [post])

        # Both read the same counts at once: one of two writes that both spend the last
        # card, or both send the alert, is refused and run again, and sees the other's.
        await asyncio.gather(feed(a, posts[0::2]), feed(b, posts[1::2]))
    assert cards(pg_url) == (3, 21)
    sent = alerts(pg_url)
    assert len(sent) == 1 and "Spike for team support: 6 new mentions" in sent[0]
