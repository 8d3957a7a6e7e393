"""The App Store connector against a fake App Store Connect API, over real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.clock import FakeClock
from bot.domain.mentions import Mention
from bot.errors import DeliveryError, SourceError
from bot.store import mentions, replies
from connectors.appstore import AppStoreConfig, AppStoreConnector
from tests.fakes.appstore import APP_ID, ISSUER, KEY_ID, FakeAppStore
from tests.source_app import claimed_mention, console_app, first_card


@pytest.fixture
async def fake() -> AsyncIterator[FakeAppStore]:
    async with FakeAppStore() as server:
        yield server


def make(
    fake: FakeAppStore, http: aiohttp.ClientSession, clock: FakeClock, **config: Any
) -> AppStoreConnector:
    base = {"api": fake.address, "app_id": APP_ID, "issuer_id": ISSUER, "key_id": KEY_ID,
            "private_key": fake.private_pem}  # fmt: skip
    settings = AppStoreConfig(**{**base, **config})
    return AppStoreConnector(source_id="ios", config=settings, http=http, clock=clock)


def mention_of(review: dict[str, Any]) -> Mention:
    return claimed_mention("ios", review["id"], author="Ann", kind="complaint")


async def test_reviews_with_ratings_and_titles_signed_as_apple_asks(
    fake: FakeAppStore, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.review("Crashes", "Every time I open it.", rating=1, by="Ann")
    fake.review("Love it", "Best app.", rating=5, by="Bob")
    batch = await make(fake, http, clock).fetch(None)
    assert [(i.title, i.text, i.rating, i.author.handle) for i in batch.items] == [
        ("Crashes", "Every time I open it.", 1, "Ann"),
        ("Love it", "Best app.", 5, "Bob"),
    ]
    [claims] = fake.tokens_seen
    assert claims["aud"] == "appstoreconnect-v1" and claims["exp"] - claims["iat"] <= 1200
    query = fake.requests[0][2]
    assert query["sort"] == "-createdDate"


async def test_pages_back_to_the_last_poll_without_gaps_or_repeats(
    fake: FakeAppStore, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, page_size=2)
    fake.review("old", "x", rating=3)
    batch = await connector.fetch(None)
    new = [fake.review(f"new {n}", "x", rating=4) for n in range(5)]
    batch = await connector.fetch(batch.cursor)
    assert [i.title for i in batch.items] == [r["attributes"]["title"] for r in new]
    assert [q.get("cursor") for _, _, q in fake.requests[1:]] == [None, "2", "4"]
    batch = await connector.fetch(batch.cursor)
    assert batch.items == []


async def test_the_token_is_reused_then_renewed_and_a_refused_one_is_replaced(
    fake: FakeAppStore, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    await connector.fetch(None)
    await connector.fetch(None)
    assert connector.keeper.renewals == 1
    clock.advance(timedelta(minutes=19))
    await connector.fetch(None)
    assert connector.keeper.renewals == 2
    fake.refuse_tokens.add((await connector.keeper.current()).value)
    await connector.fetch(None)
    assert connector.keeper.renewals == 3


async def test_a_bad_key_rate_limits_and_garbage_are_clear_errors(
    fake: FakeAppStore, http: aiohttp.ClientSession, clock: FakeClock, tmp_path: Path
) -> None:
    with pytest.raises(SourceError, match="cannot sign"):
        await make(fake, http, clock, private_key="not a key").fetch(None)
    with pytest.raises(SourceError, match="cannot read"):
        await make(
            fake, http, clock, private_key="", private_key_file=str(tmp_path / "no.p8")
        ).fetch(None)
    with pytest.raises(ValidationError, match="private_key"):
        AppStoreConfig(app_id=APP_ID, issuer_id=ISSUER, key_id=KEY_ID)
    connector = make(fake, http, clock, rate_limit_reserve=10)
    fake.remaining = 11  # one call leaves 10, the reserve
    batch = await connector.fetch(None)
    assert batch.retry_after == 3600
    fake.remaining = 1
    with pytest.raises(SourceError, match="429"):
        await connector.fetch(None)
    fake.remaining = 3600
    fake.fail(f"/v1/apps/{APP_ID}", 200, {"data": {"not": "a list"}})
    with pytest.raises(SourceError, match="list of reviews"):
        await connector.fetch(None)
    fake.review("fine", "ok", rating=4)
    fake.reviews.append({"id": "bad", "attributes": {"rating": 9}})
    assert [i.title for i in (await connector.fetch(None)).items] == ["fine"]


async def test_a_response_is_posted_replaced_and_refusals_are_final(
    fake: FakeAppStore, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    review = fake.review("Crashes", "x", rating=1)
    connector = make(fake, http, clock)
    await connector.reply(mention_of(review), "Sorry! Fixed in 2.1.", key="k1")
    await connector.reply(mention_of(review), "Fixed in 2.1.1 — please update.", key="k2")
    assert fake.responses[review["id"]]["attributes"]["responseBody"].startswith("Fixed in 2.1.1")
    assert len(fake.responses) == 1
    fake.reviews.clear()
    with pytest.raises(DeliveryError, match="review may be gone") as gone:
        await connector.reply(mention_of(review), "Hello", key="k3")
    assert gone.value.permanent
    with pytest.raises(DeliveryError, match="5,970"):
        await connector.reply(mention_of(review), "x" * 5971, key="k4")


async def test_end_to_end_a_one_star_review_is_a_complaint_with_stars_on_the_card(
    tmp_path: Path, clock: FakeClock, fake: FakeAppStore
) -> None:
    review = fake.review("Great design", "Lovely colours, but it logs me out daily.", rating=2)
    async with console_app(tmp_path, clock, fake.source_yaml(tmp_path)) as harness:
        card = await first_card(harness)
        assert "#1 complaint" in card and "★★☆☆☆ 2/5 · Great design" in card
        stored = await harness.app.database.read(mentions.get, number=1)
        assert stored is not None and stored.rating == 2
        assert (await harness.say("claim 1")).startswith("#1 is yours.")
        await harness.say("reply 1 Sorry! 2.1 fixes the log-outs.")
        assert fake.responses[review["id"]]["attributes"]["responseBody"] == (
            "Sorry! 2.1 fixes the log-outs."
        )
        [reply] = await harness.app.database.read(replies.for_mention, mention=1)
        assert reply.status == "sent"
