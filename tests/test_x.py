"""The X connector against a fake X API v2 on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.clock import FakeClock
from bot.domain.mentions import Mention
from bot.errors import DeliveryError, SourceError
from bot.store import replies, tokens
from connectors.base import MemoryTokens
from connectors.richtext import x_length
from connectors.x import XConfig, XConnector
from connectors.x_tokens import oauth1_header
from tests.fakes.x import CLIENT_ID, CONSUMER, OAUTH1, REFRESH, FakeX, weighted
from tests.source_app import claimed_mention, console_app, first_card


@pytest.fixture
async def fake() -> AsyncIterator[FakeX]:
    async with FakeX() as server:
        yield server


def make(
    fake: FakeX,
    http: aiohttp.ClientSession,
    clock: FakeClock,
    store: MemoryTokens | None = None,
    **config: Any,
) -> XConnector:
    settings = XConfig(
        **{"api": fake.address, "client_id": CLIENT_ID, "refresh_token": REFRESH, **config}
    )
    return XConnector(source_id="x", config=settings, http=http, clock=clock, tokens=store)


def mention_of(tweet: dict[str, Any]) -> Mention:
    return claimed_mention("x", tweet["id"], author="ann", kind="question")


async def test_mentions_and_search_with_authors_and_audience(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    first = fake.post("@acme my bill doubled", by="ann", followers=4321)
    fake.post("acme outage again?", by="bob")
    fake.post("@acme thanks!", by="acme")  # our own post
    fake.post("@acme outage", by="cy", retweet=True)
    connector = make(fake, http, clock, search=["acme outage"])
    batch = await connector.fetch(None)
    assert [i.text for i in batch.items] == ["@acme my bill doubled", "acme outage again?"]
    item = batch.items[0]
    assert item.external_id == first["id"] and item.author.audience == 4321
    assert item.url == f"https://x.com/ann/status/{first['id']}"
    assert item.conversation_id == first["id"]
    [query] = fake.requests_to("/2/users/1000/mentions")
    assert query["expansions"] == "author_id" and "public_metrics" in query["user.fields"]
    assert "since_id" not in query  # the first poll takes the newest page


async def test_pages_go_on_from_the_page_token_then_move_since_id(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, page_size=10, max_pages=2)
    fake.post("@acme first")
    batch = await connector.fetch(None)
    new = [fake.post(f"@acme n{n}") for n in range(25)]
    fake.requests.clear()
    batch = await connector.fetch(batch.cursor)
    assert len(batch.items) == 20  # two pages, newest first: n5..n24
    assert {i.text for i in batch.items} == {t["text"] for t in new[5:]}
    state = json.loads(batch.cursor or "")["mentions"]
    assert state["token"] and state["since"] != new[-1]["id"]
    later = fake.post("@acme later")
    batch = await connector.fetch(batch.cursor)  # the rest of the run, not the new one
    assert [i.text for i in batch.items] == [t["text"] for t in new[:5]]
    assert json.loads(batch.cursor or "")["mentions"] == {
        "since": new[-1]["id"],
        "token": None,
        "top": None,
    }
    batch = await connector.fetch(batch.cursor)
    assert [i.external_id for i in batch.items] == [later["id"]]
    batch = await connector.fetch(batch.cursor)
    assert batch.items == []


async def test_an_expired_token_is_refreshed_once_and_the_new_pair_is_stored(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    store = MemoryTokens()
    connector = make(fake, http, clock, store)
    await connector.fetch(None)
    assert fake.refresh == "refresh-1" and store.saved["x"]["refresh_token"] == "refresh-1"
    fake.expire()
    fake.post("@acme hello")
    batch = await connector.fetch(None)
    assert len(batch.items) == 1 and fake.refresh == "refresh-2"
    assert store.saved["x"]["refresh_token"] == "refresh-2"
    # A restart uses the stored pair, not the spent refresh token from the playbook.
    again = make(fake, http, clock, store)
    await again.fetch(None)
    assert again.keeper.renewals == 1 and fake.refresh == "refresh-2"
    # Two hours later the stored access token has expired: renewed before any call.
    clock.advance(timedelta(hours=2))
    later = make(fake, http, clock, store)
    before = len(fake.requests)
    await later.fetch(None)
    assert fake.refresh == "refresh-3"
    assert fake.requests[before][1] == "/2/oauth2/token"


async def test_a_refused_refresh_token_is_a_clear_error(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.refresh = "someone-else"
    with pytest.raises(SourceError, match="authorise the account again"):
        await make(fake, http, clock).fetch(None)


async def test_the_rate_limit_window_is_honoured(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.window = 2
    connector = make(fake, http, clock, search=["acme"], rate_limit_reserve=1)
    fake.post("@acme one")
    batch = await connector.fetch(None)  # one call of two left on mentions: wait
    assert batch.retry_after == pytest.approx(900)
    assert "search:acme" not in json.loads(batch.cursor or "")  # waits for the window
    fake.remaining["mentions"] = 0
    with pytest.raises(SourceError) as raised:
        await connector.fetch(batch.cursor)
    assert "429" in str(raised.value) and raised.value.retry_after == pytest.approx(900)


async def test_garbage_and_outages_are_source_errors(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    fake.fail("/2/users/me", 200, "<html>")
    with pytest.raises(SourceError, match="not JSON"):
        await connector.fetch(None)
    fake.fail("/2/users/1000/mentions", 200, {"data": "nope"})
    with pytest.raises(SourceError, match="without a list"):
        await connector.fetch(None)
    fake.fail("/2/users/1000/mentions", 503, {"title": "Service Unavailable"})
    with pytest.raises(SourceError, match="503"):
        await connector.fetch(None)
    fake.post("@acme fine")
    fake.tweets["bad"] = {"id": "bad", "text": "@acme", "author_id": "9"}
    batch = await connector.fetch(None)
    assert [i.text for i in batch.items] == ["@acme fine"]


@pytest.mark.parametrize(
    ("text", "length"),
    [("hello", 5), ("日本語のテキスト", 16), ("see https://example.com/" + "a" * 80 + " ok", 30),
     ("👨‍👩‍👧 🇩🇪", 5), ("café", 4), ("“quotes” — fine…", 17)],
)  # fmt: skip
def test_length_is_counted_as_x_counts(text: str, length: int) -> None:
    assert x_length(text) == length == weighted(text)


async def test_reply_in_thread_once_and_its_failures(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    tweet = fake.post("@acme help")
    connector = make(fake, http, clock)
    ref = await connector.reply(mention_of(tweet), "Sorry! DM us.", key="k1")
    [posted] = fake.posted
    assert posted["referenced_tweets"] == [{"type": "replied_to", "id": tweet["id"]}]
    assert ref.id == posted["id"] and ref.url.endswith(f"/acme/status/{posted['id']}")
    with pytest.raises(DeliveryError, match="280") as long:
        await connector.reply(mention_of(tweet), "漢" * 141, key="k2")
    assert long.value.permanent
    fake.delete(tweet)
    with pytest.raises(DeliveryError, match="deleted") as gone:
        await connector.reply(mention_of(tweet), "Hello again", key="k3")
    assert gone.value.permanent and len(fake.posted) == 1


async def test_a_retry_after_an_unknown_outcome_does_not_post_twice(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    tweet = fake.post("@acme help")
    fake.delay_first_post = 1.0
    connector = make(fake, http, clock, timeout=0.3)
    with pytest.raises(DeliveryError):
        await connector.reply(mention_of(tweet), "See https://help.example/a", key="k")
    ref = await connector.reply(mention_of(tweet), "See https://help.example/a", key="k")
    assert len(fake.posted) == 1 and ref.id == fake.posted[0]["id"]


async def test_end_to_end_card_claim_reply_in_thread(
    tmp_path: Path, clock: FakeClock, fake: FakeX
) -> None:
    tweet = fake.post("@acme I was charged twice this month", by="ann", followers=12000)
    async with console_app(tmp_path, clock, fake.source_yaml()) as harness:
        card = await first_card(harness)
        assert "#billing  #1 complaint" in card and "12,000 followers" in card
        assert (await harness.say("claim 1")).startswith("#1 is yours.")
        await harness.say("reply 1 Sorry Ann, refunded today.")
        [posted] = fake.posted
        assert posted["text"] == "Sorry Ann, refunded today."
        assert posted["referenced_tweets"][0]["id"] == tweet["id"]
        [reply] = await harness.app.database.read(replies.for_mention, mention=1)
        assert reply.status == "sent" and posted["id"] in reply.url
        saved = await harness.app.database.read(tokens.load, source="x")
        assert saved is not None and saved["refresh_token"] == fake.refresh


def test_oauth1_signatures_match_xs_documented_example() -> None:
    header = oauth1_header(
        "POST",
        "https://api.twitter.com/1.1/statuses/update.json",
        [
            ("include_entities", "true"),
            ("status", "Hello Ladies + Gentlemen, a signed OAuth request!"),
        ],
        consumer=("xvz1evFS4wEEPTGEFPHBog", "kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw"),
        token=(
            "370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb",
            "LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE",
        ),
        now=datetime.fromtimestamp(1318622958, UTC),
        nonce="kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg",
    )
    assert 'oauth_signature="hCtSmYh%2BiHYCEqBWrE7C7hYmtUk%3D"' in header


async def test_oauth1_signed_reading_and_replying(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    keys = {"consumer_key": CONSUMER[0], "consumer_secret": CONSUMER[1],
            "access_token": OAUTH1[0], "access_token_secret": OAUTH1[1]}  # fmt: skip
    settings = XConfig(api=fake.address, search=["acme help"], **keys)
    connector = XConnector(source_id="x", config=settings, http=http, clock=clock)
    tweet = fake.post("@acme help me")
    batch = await connector.fetch(None)
    assert [i.external_id for i in batch.items] == [tweet["id"]]
    await connector.reply(mention_of(tweet), "On it!", key="k")
    assert [p["text"] for p in fake.posted] == ["On it!"]
    assert not fake.requests_to("/2/oauth2/token", method="POST")
    wrong = XConfig(api=fake.address, **{**keys, "access_token_secret": "wrong"})
    with pytest.raises(SourceError, match="401"):
        await XConnector(source_id="x", config=wrong, http=http, clock=clock).fetch(None)
    with pytest.raises(ValueError, match=r"OAuth 1\.0a needs"):
        XConfig(consumer_key="k", access_token_secret="s")
    with pytest.raises(ValueError, match="client_id and refresh_token"):
        XConfig(client_id="only")


async def test_a_refused_page_token_or_stale_since_id_starts_the_stream_anew(
    fake: FakeX, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, mentions=False, search=["acme"], page_size=10, max_pages=1)
    fake.post("acme 0")
    batch = await connector.fetch(None)
    posts = [fake.post(f"acme {n}") for n in range(1, 13)]
    batch = await connector.fetch(batch.cursor)
    assert json.loads(batch.cursor or "")["search:acme"]["token"]  # two left for later
    invalid = {
        "title": "Invalid Request",
        "detail": "The `next_token` query parameter value is invalid",
    }
    fake.fail("/2/tweets/search/recent", 400, invalid)
    batch = await connector.fetch(batch.cursor)
    state = json.loads(batch.cursor or "")["search:acme"]
    assert state["token"] is None and state["since"]  # the run starts again from since_id
    seen: set[str] = set()
    for _ in range(2):  # the run again, page by page: nothing skipped
        batch = await connector.fetch(batch.cursor)
        seen |= {i.external_id for i in batch.items}
    assert seen == {p["id"] for p in posts}
    stale = {"title": "Invalid Request", "detail": "Invalid 'since_id': must be within 7 days"}
    fake.fail("/2/tweets/search/recent", 400, stale)
    batch = await connector.fetch(batch.cursor)
    assert json.loads(batch.cursor or "")["search:acme"] == {
        "since": None,
        "token": None,
        "top": None,
    }
    fake.post("acme fresh")
    batch = await connector.fetch(batch.cursor)
    assert "acme fresh" in [i.text for i in batch.items]
