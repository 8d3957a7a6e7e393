"""A Teams card whose send was cut off (the process died while the Bot Connector had the
post in flight) is not posted twice: the card carries its outbox key as its first
element's id, and the try after the restart reads the channel back with Microsoft Graph
before posting."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest

from bot.clock import FakeClock
from bot.mention_cards import card_ref, load_card
from bot.sent_once import effect_key
from bot.settings import TEAMS_GRAPH_URL, Settings
from bot.stats_report import read, render
from bot.store import outbox
from tests.teams_harness import BILLING, GROUP, TeamsHarness, teams_app


async def cut_off(h: TeamsHarness, *, post: bool, install: bool = True) -> outbox.Effect:
    """Take the billing card's effect as the worker would, post it (or not), then "crash"
    before recording it; the restart's recovery puts the effects back."""
    if install:
        assert await h.post(h.installed()) == 200
    await h.app.poll_all()
    taken = await h.app.database.write(outbox.take_due, now=h.app.clock.now())
    [effect] = [e for e in taken if e.target == f"teams:{BILLING}"]
    if post:
        card = await h.app.database.read(load_card, number=effect.mention, now=h.app.clock.now())
        await h.teams.post_card(BILLING, card, key=effect_key(effect))
    await h.app.outbox.recover()
    return effect


def billing_lookups(h: TeamsHarness) -> list[str]:
    channel = quote(BILLING, safe="")
    return [r for r in h.fake.graph.requests if f"/teams/{GROUP}/channels/{channel}/" in r]


async def test_a_card_posted_before_a_crash_is_found_not_posted_again(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        effect = await cut_off(h, post=True)
        [posted] = h.fake.channel_posts(BILLING)
        assert h.fake.card(posted)["body"][0]["id"] == f"allhands-effect:{effect_key(effect)}"
        for n in range(3):  # newer posts put the card on Graph's second page
            clock.advance(timedelta(seconds=1))
            await h.teams.post_message(BILLING, f"note {n}")
        await h.deliver()
        assert len(h.fake.channel_posts(BILLING)) == 4  # the card once, and the three notes
        ref = await h.app.database.read(card_ref, number=effect.mention)
        assert ref is not None and ref.id == posted.id
        lookups = billing_lookups(h)
        assert len(lookups) == 2 and "$skiptoken=2" in lookups[1]
        assert (await h.app.database.read(outbox.counts)).get("pending", 0) == 0


async def test_a_card_not_posted_before_a_crash_is_posted_once(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        await cut_off(h, post=False)
        await h.deliver()
        assert len(h.fake.channel_posts(BILLING)) == 1
        assert len(billing_lookups(h)) == 1  # looked for, not found, posted


async def test_only_posts_since_the_effect_was_queued_are_read(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        for n in range(6):  # an hour of older posts: three pages Graph need not be asked for
            await h.teams.post_message(BILLING, f"older {n}")
        clock.advance(timedelta(hours=1))
        await cut_off(h, post=False, install=False)
        await h.deliver()
        assert len(billing_lookups(h)) == 1
        assert len(h.fake.channel_posts(BILLING)) == 7


async def test_a_refused_graph_permission_is_told_and_the_card_still_goes_out(
    tmp_path: Path, clock: FakeClock, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        h.fake.graph.refuse = True
        await cut_off(h, post=True)
        await h.deliver()
        assert len(h.fake.channel_posts(BILLING)) == 2  # the known cost without the permission
        assert caplog.text.count("ChannelMessage.Read.Group") == 1  # said once, not per card
        stats = render(await h.app.database.read(read, since=clock.now()))
        assert "Teams (since" in stats and "may show twice" in stats and "403" in stats
        # Once the permission is given, the warning goes from stats.
        h.fake.graph.refuse = False
        assert await h.teams.find_card(BILLING, "another", since=clock.now()) is None
        assert "Teams (since" not in render(await h.app.database.read(read, since=clock.now()))


async def test_a_login_refusing_graph_tokens_is_told_and_the_card_still_goes_out(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        h.fake.graph.no_token = True
        await cut_off(h, post=True)
        await h.deliver()
        assert len(h.fake.channel_posts(BILLING)) == 2
        assert h.fake.graph.requests == []
        stats = render(await h.app.database.read(read, since=clock.now()))
        assert "Teams (since" in stats and "AADSTS700016" in stats


async def test_a_busy_graph_is_waited_for_and_the_card_not_doubled(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        effect = await cut_off(h, post=True)
        h.fake.graph.failures = [(429, "7")] * 3 + [(503, None)]
        await h.deliver()
        for _ in range(10):  # the outbox's backoff, as long as Graph is busy
            clock.advance(timedelta(minutes=10))
            await h.deliver()
        assert h.fake.graph.failures == []
        assert len(h.fake.channel_posts(BILLING)) == 1
        assert (await h.app.database.read(card_ref, number=effect.mention)) is not None


async def test_a_next_link_away_from_graph_is_not_followed(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        effect = await cut_off(h, post=True)
        for n in range(3):  # the card is on the second page, behind a hostile next link
            clock.advance(timedelta(seconds=1))
            await h.teams.post_message(BILLING, f"note {n}")
        h.fake.graph.next_link = "http://127.0.0.1:9/steal?$skiptoken=2"
        await h.deliver()
        assert len(billing_lookups(h)) == 1  # the token went nowhere else
        assert len(h.fake.channel_posts(BILLING)) == 5  # not found there: posted again
        assert (await h.app.database.read(card_ref, number=effect.mention)) is not None


async def test_hostile_graph_answers_do_not_stop_the_card(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        h.fake.graph.groups.clear()  # the team's details say no group id: nothing to read
        await cut_off(h, post=False)
        await h.deliver()
        assert len(h.fake.channel_posts(BILLING)) == 1
        assert billing_lookups(h) == []


def test_a_card_is_recognised_only_by_its_own_key() -> None:
    from bot.chat.teams.graph import carries

    def message(content: object) -> dict[str, object]:
        return {"attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                                 "content": content}]}  # fmt: skip

    card = {"type": "AdaptiveCard", "body": [{"type": "TextBlock", "id": "allhands-effect:k1"}]}
    assert carries(message(json.dumps(card)), "k1")
    assert not carries(message(json.dumps(card)), "k2")
    assert not carries(message("{not json"), "k1")
    assert not carries(message("[" * 100_000), "k1")
    assert not carries(message(json.dumps({"body": "k1"})), "k1")
    assert not carries({"attachments": [{"contentType": "text/html", "content": "k1"}]}, "k1")
    assert not carries({"attachments": "k1"}, "k1")


def test_the_graph_address_is_a_setting() -> None:
    assert Settings.from_env({}).teams_graph_url == TEAMS_GRAPH_URL
    local = Settings.from_env({"TEAMS_GRAPH_URL": "http://127.0.0.1:9/graph/v1.0"})
    assert local.teams_graph_url == "http://127.0.0.1:9/graph/v1.0"
