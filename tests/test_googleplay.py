"""The Google Play connector against fakes of Google's token endpoint and the Android
Publisher API, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import FakeClock
from bot.domain.mentions import Mention
from bot.errors import DeliveryError, SourceError
from bot.store import replies
from connectors.googleplay import GooglePlayConfig, GooglePlayConnector
from tests.fakes.googleplay import PACKAGE, FakeGooglePlay
from tests.source_app import claimed_mention, console_app, first_card


@pytest.fixture
async def fake() -> AsyncIterator[FakeGooglePlay]:
    async with FakeGooglePlay() as server:
        yield server


def make(
    fake: FakeGooglePlay, http: aiohttp.ClientSession, clock: FakeClock, **config: Any
) -> GooglePlayConnector:
    base = {"api": fake.address, "package_name": PACKAGE, "service_account": fake.key_json()}
    settings = GooglePlayConfig(**{**base, **config})
    return GooglePlayConnector(source_id="play", config=settings, http=http, clock=clock)


def mention_of(review: dict[str, Any]) -> Mention:
    return claimed_mention("play", review["reviewId"], author="Ann", kind="complaint")


async def test_reviews_with_stars_titles_and_a_service_account_token(
    fake: FakeGooglePlay, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.review("Logs me out\tEvery single day.", stars=1, by="Ann")
    fake.review("\tWorks great", stars=5, by="Bob")
    batch = await make(fake, http, clock).fetch(None)
    assert [(i.title, i.text, i.rating, i.author.handle) for i in batch.items] == [
        ("Logs me out", "Every single day.", 1, "Ann"),
        ("", "Works great", 5, "Bob"),
    ]
    token = fake.requests[0]
    assert token[1] == "/token" and token[2]["grant_type"].endswith("jwt-bearer")


async def test_pages_back_to_the_last_poll_and_only_the_last_week_is_listed(
    fake: FakeGooglePlay, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.review("too old", stars=3, at=fake.now - timedelta(days=8))
    connector = make(fake, http, clock, page_size=2)
    fake.review("first", stars=4)
    batch = await connector.fetch(None)
    assert [i.text for i in batch.items] == ["first"]
    new = [fake.review(f"new {n}", stars=2) for n in range(5)]
    batch = await connector.fetch(batch.cursor)
    assert [i.text for i in batch.items] == [f"new {n}" for n in range(5)]
    assert [q.get("token") for _, p, q in fake.requests if p.endswith("/reviews")][1:] == [
        None,
        "2",
        "4",
    ]
    batch = await connector.fetch(batch.cursor)
    assert batch.items == [] and new


async def test_the_token_is_renewed_when_it_expires_or_is_refused(
    fake: FakeGooglePlay, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    await connector.fetch(None)
    await connector.fetch(None)
    assert connector.keeper.renewals == 1
    fake.access = "revoked"
    await connector.fetch(None)
    assert connector.keeper.renewals == 2
    clock.advance(timedelta(hours=1))
    await connector.fetch(None)
    assert connector.keeper.renewals == 3


async def test_bad_keys_and_bad_answers_are_clear_errors(
    fake: FakeGooglePlay, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    with pytest.raises(SourceError, match="unusable"):
        await make(fake, http, clock, service_account="{not json").fetch(None)
    with pytest.raises(SourceError, match="client_email"):
        await make(fake, http, clock, service_account=json.dumps({"type": "x"})).fetch(None)
    wrong = json.loads(fake.key_json())
    wrong["client_email"] = "someone@else.example"
    with pytest.raises(SourceError, match="Google refused the service account"):
        await make(fake, http, clock, service_account=json.dumps(wrong)).fetch(None)
    connector = make(fake, http, clock)
    fake.fail(
        "/androidpublisher",
        429,
        {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}},
    )
    with pytest.raises(SourceError, match="Quota exceeded") as limited:
        await connector.fetch(None)
    assert limited.value.retry_after == 60
    fake.fail("/androidpublisher", 200, {"reviews": {"no": "list"}})
    with pytest.raises(SourceError, match="list of reviews"):
        await connector.fetch(None)
    fake.review("fine", stars=4)
    fake.reviews.append({"reviewId": "bad", "comments": [{"developerComment": {"text": "x"}}]})
    assert [i.text for i in (await connector.fetch(None)).items] == ["fine"]


async def test_a_reply_is_set_replaced_and_refusals_are_final(
    fake: FakeGooglePlay, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    review = fake.review("Crashes", stars=1)
    connector = make(fake, http, clock)
    await connector.reply(mention_of(review), "Sorry! Fixed in 2.1.", key="k1")
    await connector.reply(mention_of(review), "Fixed in 2.1.1.", key="k2")
    assert fake.replies == {review["reviewId"]: "Fixed in 2.1.1."}
    with pytest.raises(DeliveryError, match="350") as long:
        await connector.reply(mention_of(review), "x" * 351, key="k3")
    assert long.value.permanent
    fake.reviews.clear()
    with pytest.raises(DeliveryError, match="review may be gone") as gone:
        await connector.reply(mention_of(review), "Hello", key="k4")
    assert gone.value.permanent


async def test_end_to_end_a_low_rating_is_a_complaint_and_the_reply_is_set(
    tmp_path: Path, clock: FakeClock, fake: FakeGooglePlay
) -> None:
    review = fake.review("Great look\tBut I was charged twice for premium.", stars=1, by="Ann")
    async with console_app(tmp_path, clock, fake.source_yaml(tmp_path)) as harness:
        card = await first_card(harness)
        assert "#billing  #1 complaint" in card and "★☆☆☆☆ 1/5 · Great look" in card
        assert (await harness.say("claim 1")).startswith("#1 is yours.")
        answer = await harness.say("reply 1 " + "x" * 351)
        assert "351" in answer and "350" in answer  # refused before anything is sent
        await harness.say("reply 1 Sorry Ann! The second charge is refunded.")
        assert fake.replies == {review["reviewId"]: "Sorry Ann! The second charge is refunded."}
        [reply] = await harness.app.database.read(replies.for_mention, mention=1)
        assert reply.status == "sent"
