"""Proactive posting to Teams through the outbox: retries on 429, 412 and 5xx, nothing lost."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.store import outbox
from tests.conftest import POSTS, write_posts
from tests.teams_harness import BILLING, SUPPORT, TeamsHarness, teams_app


async def pending(h: TeamsHarness) -> list[outbox.Effect]:
    def rows(db: object) -> list[outbox.Effect]:
        found = db.execute(  # type: ignore[attr-defined]
            f"SELECT {outbox.COLUMNS} FROM outbox WHERE state != 'done' ORDER BY id"
        ).fetchall()
        return [outbox.read_effect(r) for r in found]

    return await h.app.database.read(rows)


async def test_429_waits_as_long_as_teams_asks(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        h.fake.fail(429, retry_after="7", conversation=BILLING)
        await h.deliver()
        [waiting] = await pending(h)
        assert waiting.kind == outbox.Kind.CARD_POST and waiting.attempts == 1
        assert waiting.next_at == clock.now() + timedelta(seconds=7)
        assert "429" in (waiting.last_error or "")
        clock.advance(timedelta(seconds=6))
        await h.deliver()
        assert len(await pending(h)) == 1  # not before Teams said
        clock.advance(timedelta(seconds=1))
        await h.deliver()
        assert await pending(h) == []
        assert len(h.fake.channel_posts(BILLING)) == 1
        assert len(h.fake.channel_posts(SUPPORT)) == 1 + 2


@pytest.mark.parametrize("status", [412, 500, 502, 503, 504])
async def test_412_and_5xx_are_retried_with_backoff(
    tmp_path: Path, clock: FakeClock, store_url: str, status: int
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        h.fake.fail(status, conversation=BILLING)
        await h.deliver()
        [first] = await pending(h)
        assert first.attempts == 1 and str(status) in (first.last_error or "")
        assert first.next_at == clock.now() + outbox.backoff(1)
        clock.advance(outbox.backoff(1))
        h.fake.fail(status, conversation=BILLING)
        await h.deliver()
        second = await pending(h)
        assert second[0].id == first.id and second[0].attempts == 2
        assert second[0].next_at == clock.now() + outbox.backoff(2)  # waits longer each time
        clock.advance(outbox.backoff(2))
        await h.deliver()
        assert await pending(h) == []
        assert len(h.fake.channel_posts(BILLING)) == 1  # posted once, not once per try


@pytest.mark.parametrize("status", [400, 403, 404, 413])
async def test_other_4xx_are_permanent(
    tmp_path: Path, clock: FakeClock, store_url: str, status: int
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        h.fake.fail(status)
        await h.deliver()
        failed = await h.app.database.read(outbox.counts)
        assert failed.get("failed") == 1
        assert (
            len(h.fake.channel_posts(BILLING)) + len(h.fake.channel_posts(SUPPORT)) == 1 + 3 - 1
        )  # welcome and three cards, one refused


async def test_nothing_is_lost_while_teams_is_unreachable(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        await h.deliver()
        [card] = h.fake.channel_posts(BILLING)
        assert await h.post(h.submit(card.id, {"allhands": "claim", "number": 1})) == 200

        await h.fake.stop_listening()
        more = [
            {"id": f"o{i}", "text": f"refund please, invoice {i}", "author": {"handle": f"u{i}"}}
            for i in range(5)
        ]
        write_posts(h.replay, [*POSTS, *more])
        await h.app.poll_all()
        for _ in range(4):  # the outage lasts through several tries
            await h.deliver()
            clock.advance(timedelta(minutes=10))
        waiting = await pending(h)
        assert {e.kind for e in waiting} == {outbox.Kind.CARD_POST, outbox.Kind.CARD_UPDATE}
        assert all(e.status == outbox.Status.PENDING and e.attempts >= 3 for e in waiting)
        assert all("unreachable" in (e.last_error or "") for e in waiting)

        await h.fake.resume()
        await h.deliver()
        assert await pending(h) == []
        assert len(h.fake.channel_posts(BILLING)) == 1 + 5  # each card exactly once
        assert "Claimed by Dana Scully" in str(h.fake.card(card)["body"])


async def test_the_bot_token_is_fetched_once_and_renewed_before_expiry(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        await h.deliver()
        assert len(h.fake.token_requests) == 1
        request = h.fake.token_requests[0]
        assert request["grant_type"] == "client_credentials"
        assert request["scope"] == "https://api.botframework.com/.default"
        clock.advance(timedelta(minutes=56))  # the token lasts an hour; renewed 5 minutes early
        [card] = h.fake.channel_posts(BILLING)
        assert await h.post(h.submit(card.id, {"allhands": "claim", "number": 1})) == 200
        await h.deliver()
        assert len(h.fake.token_requests) == 2


async def test_wrong_secret_is_retried_and_says_why(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url, microsoft_app_password="wrong") as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        await h.deliver()
        waiting = await pending(h)
        assert waiting and "refused the bot's credentials (401)" in (waiting[0].last_error or "")
        assert h.fake.connector_calls() == []


async def test_a_channel_the_bot_cannot_reach_waits(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        await h.app.poll_all()  # the app was never added to a team
        await h.deliver()
        waiting = await pending(h)
        assert len(waiting) == 3
        # Each channel's first card was tried; its lane then waits (card 3 shares card 2's).
        tried = [e for e in waiting if e.attempts]
        assert [e.mention for e in tried] == [1, 2]
        assert all("not installed" in (e.last_error or "") for e in tried)
        assert waiting[0].next_at == clock.now() + timedelta(minutes=5)
        assert await h.post(h.installed()) == 200
        clock.advance(timedelta(minutes=5))
        await h.deliver()
        assert await pending(h) == []
