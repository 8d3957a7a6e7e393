"""The Bluesky connector against a fake PDS on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from bot.clock import FakeClock
from bot.domain.mentions import Author, Mention, State
from bot.domain.normalise import normalise
from bot.errors import DeliveryError, SourceError
from connectors.bluesky import BlueskyConfig, BlueskyConnector
from connectors.bluesky_records import record_key
from tests.fakes.bluesky import DID, HANDLE, PASSWORD, FakeBluesky

FAMILY = "👨\u200d👩\u200d👧\u200d👦"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBluesky]:
    async with FakeBluesky() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock, **config: Any
) -> BlueskyConnector:
    settings = BlueskyConfig(
        **{"service": fake.url, "identifier": HANDLE, "app_password": PASSWORD, **config}
    )
    return BlueskyConnector(source_id="sky", config=settings, http=http, clock=clock)


def mention_of(post: dict[str, Any]) -> Mention:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return Mention(
        number=1, source="sky", external_id=post["uri"], url="", text=post["record"]["text"],
        author=Author(handle=post["author"]["handle"]), state=State.CLAIMED, team="support",
        kind="question", urgency="normal", sentiment=0.0, created_at=now, received_at=now,
        language="en",
    )  # fmt: skip


async def test_mentions_replies_and_quotes_with_audience(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    root = fake.post("@lumo.bsky.social is my fibre down?", followers=1234)
    reply = fake.post("still down", handle="bob.bsky.social", reply_to=root["uri"], reason="reply")
    fake.post("quoting lumo", handle="cy.bsky.social", reason="quote")
    fake.post("liked", handle="dee.bsky.social", reason="like")
    fake.post("we are on it", handle=HANDLE, reason="mention")  # our own

    batch = await make(fake, http, clock).fetch(None)

    assert [i.text for i in batch.items] == [
        "@lumo.bsky.social is my fibre down?",
        "still down",
        "quoting lumo",
    ]
    first, second, _ = batch.items
    assert first.external_id == root["uri"] and not first.is_html
    assert first.author.handle == "ann.bsky.social" and first.author.audience == 1234
    rkey = root["uri"].rsplit("/", 1)[-1]
    assert first.url == f"https://bsky.app/profile/ann.bsky.social/post/{rkey}"
    assert second.parent_id == root["uri"] and second.external_id == reply["uri"]
    assert fake.logins == 1
    [profiles] = fake.calls("app.bsky.actor.getProfiles")
    assert sorted(v for k, v in profiles.query) == [
        "ann.bsky.social",
        "bob.bsky.social",
        "cy.bsky.social",
    ]


async def test_pages_back_to_where_the_last_poll_stopped(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    for n in range(3):
        fake.post(f"old {n}")
    connector = make(fake, http, clock, page_size=2)
    batch = await connector.fetch(None)
    assert [i.text for i in batch.items] == ["old 1", "old 2"]  # the newest page only

    for n in range(5):
        fake.post(f"new {n}")
    fake.requests.clear()
    batch = await connector.fetch(batch.cursor)
    assert [i.text for i in batch.items] == [f"new {n}" for n in range(5)]
    assert len(fake.calls("app.bsky.notification.listNotifications")) == 3
    batch = await connector.fetch(batch.cursor)
    assert batch.items == []
    assert fake.logins == 1


async def test_search_terms_and_notifications_hand_a_post_over_once(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.post("lumo outage in Leeds", reason=None, handle="eve.bsky.social")
    fake.post("@lumo.bsky.social lumo outage here too")
    batch = await make(fake, http, clock, search=["lumo outage"]).fetch(None)
    assert sorted(i.text for i in batch.items) == [
        "@lumo.bsky.social lumo outage here too",
        "lumo outage in Leeds",
    ]
    [search] = fake.calls("app.bsky.feed.searchPosts")
    assert ("q", "lumo outage") in search.query and ("sort", "latest") in search.query


async def test_an_expired_access_token_is_refreshed_not_logged_in_again(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    cursor = (await connector.fetch(None)).cursor
    fake.post("hello after a while")
    fake.expire_access()
    batch = await connector.fetch(cursor)
    assert [i.text for i in batch.items] == ["hello after a while"]
    assert fake.logins == 1 and fake.refreshes == 1


async def test_an_expired_refresh_token_logs_in_again(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    await connector.fetch(None)
    fake.expire_refresh()
    await connector.fetch(None)
    assert fake.logins == 2 and fake.refreshes == 0


async def test_a_rate_limited_login_is_not_retried_before_the_reset(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.logins_allowed = 0
    connector = make(fake, http, clock)
    with pytest.raises(SourceError) as caught:
        await connector.fetch(None)
    assert "429" in str(caught.value)
    assert caught.value.retry_after == pytest.approx(300, abs=1)
    with pytest.raises(SourceError, match="rate limited"):
        await connector.fetch(None)
    assert fake.logins == 1  # the second fetch did not ask again
    fake.logins_allowed = 5
    clock.advance(timedelta(minutes=5, seconds=1))
    await connector.fetch(None)
    assert fake.logins == 2


async def test_refused_credentials_are_a_clear_error(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, app_password="wrong-password")
    with pytest.raises(SourceError, match=r"could not log in.*app_password"):
        await connector.fetch(None)


async def test_a_failing_or_garbled_service_raises(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    await connector.fetch(None)
    fake.fail("app.bsky.notification.listNotifications", 502)
    with pytest.raises(SourceError, match="HTTP 502"):
        await connector.fetch(None)
    fake.notifications.append({"uri": "at://x", "record": "not a record", "reason": "mention"})
    fake.post("fine")
    batch = await connector.fetch(None)
    assert [i.text for i in batch.items] == ["fine"]  # the malformed entry is skipped


async def test_hostile_text_stays_text(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.post(f"<script>alert(1)</script> &amp; \u202eevil\x07 {FAMILY} <!channel>")
    [item] = (await make(fake, http, clock).fetch(None)).items
    assert not item.is_html
    clean = normalise(item)
    assert clean.text == f"<script>alert(1)</script> & \u202eevil {FAMILY} <!channel>"


async def test_a_reply_to_a_top_level_post_has_it_as_root_and_parent(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("@lumo.bsky.social help")
    connector = make(fake, http, clock)
    text = f"Café {FAMILY}: see https://lumo.example/status."
    ref = await connector.reply(mention_of(post), text, key="allhands-1")
    [created] = fake.created
    record = created["record"]
    strong = {"uri": post["uri"], "cid": post["cid"]}
    assert record["reply"] == {"root": strong, "parent": strong}
    assert record["text"] == text and record["langs"] == ["en"]
    assert record["createdAt"] == "2026-01-05T09:00:00.000Z"  # from the app's clock
    [facet] = record["facets"]
    raw = text.encode("utf-8")
    start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
    assert raw[start:end] == b"https://lumo.example/status"
    assert created["repo"] == DID
    rkey = ref.id.rsplit("/", 1)[-1]
    assert ref.url == f"https://bsky.app/profile/{HANDLE}/post/{rkey}"


async def test_a_reply_deep_in_a_thread_keeps_the_thread_root(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    root = fake.post("original post", handle="news.bsky.social", reason=None)
    middle = fake.post("@lumo.bsky.social what about you?", reply_to=root["uri"])
    await make(fake, http, clock).reply(mention_of(middle), "We are fine", key="k")
    reply = fake.created[0]["record"]["reply"]
    assert reply["root"] == {"uri": root["uri"], "cid": root["cid"]}
    assert reply["parent"] == {"uri": middle["uri"], "cid": middle["cid"]}


async def test_replies_are_limited_to_300_graphemes_and_3000_bytes(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("@lumo.bsky.social hi")
    connector = make(fake, http, clock)
    assert connector.limits.remaining("x" * 300) == 0
    assert connector.limits.remaining(FAMILY * 300) == 0  # 300 graphemes, 7,500 bytes
    for text in ("x" * 301, FAMILY * 300):
        with pytest.raises(DeliveryError) as caught:
            await connector.reply(mention_of(post), text, key=f"k{len(text)}")
        assert caught.value.permanent
    await connector.reply(mention_of(post), "é" * 300, key="ok")  # 600 bytes is fine
    assert len(fake.created) == 1


async def test_a_retry_after_an_unanswered_send_does_not_post_twice(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("@lumo.bsky.social hi")
    fake.delay_first_create = 1.0
    connector = make(fake, http, clock, timeout=0.3)
    with pytest.raises(DeliveryError) as caught:
        await connector.reply(mention_of(post), "Hello!", key="allhands-9")
    assert not caught.value.permanent
    ref = await connector.reply(mention_of(post), "Hello!", key="allhands-9")
    assert len(fake.created) == 1
    [mine] = [uri for uri, view in fake.posts.items() if view["author"]["did"] == DID]
    assert ref.id == mine


async def test_a_deleted_post_cannot_be_answered(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("@lumo.bsky.social hi")
    fake.posts.pop(post["uri"])
    with pytest.raises(DeliveryError) as caught:
        await make(fake, http, clock).reply(mention_of(post), "Hello", key="k")
    assert caught.value.permanent and "gone" in str(caught.value)


async def test_an_expired_token_while_replying_is_refreshed(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("@lumo.bsky.social hi")
    connector = make(fake, http, clock)
    await connector.fetch(None)
    fake.expire_access()
    await connector.reply(mention_of(post), "Hello", key="k")
    assert len(fake.created) == 1 and fake.refreshes == 1 and fake.logins == 1


async def test_a_successful_answer_with_no_calls_left_stops_reading_until_the_reset(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.post("@lumo.bsky.social is my fibre down?", followers=10)
    connector = make(fake, http, clock, search=["fibre"])
    await connector.fetch(None)  # signed in; the window starts now
    fake.rate_remaining = 1
    before = len(fake.requests)
    batch = await connector.fetch(None)
    # The notifications answer said 0 left: no search, no profiles, rest until the reset.
    assert len(fake.requests) == before + 1
    assert batch.retry_after == pytest.approx(300, abs=1)
    assert [i.external_id for i in batch.items]  # what was read is kept


async def test_the_same_answer_tried_again_after_a_restart_is_found_not_posted(
    fake: FakeBluesky, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("@lumo.bsky.social hi")
    first = make(fake, http, clock)
    ref = await first.reply(mention_of(post), "Hello!", key="allhands-7")
    # A new process (no memory of the first) tries the same effect again.
    again = make(fake, http, clock)
    assert await again.sent_before(mention_of(post), "Hello!", key="allhands-7") == ref
    assert await again.reply(mention_of(post), "Hello!", key="allhands-7") == ref
    assert len(fake.created) == 1
    # Another answer (another effect) to the same post is posted.
    other = await again.reply(mention_of(post), "Hello!", key="allhands-8")
    assert other != ref and len(fake.created) == 2
    assert await again.sent_before(mention_of(post), "Bye", key="allhands-9") is None


async def test_record_keys_are_valid_tids_stable_per_answer() -> None:
    post = {"uri": "at://did:plc:x/app.bsky.feed.post/1", "record": {"text": "t"},
            "author": {"handle": "ann"}}  # fmt: skip
    mention = mention_of(post)
    keys = {record_key(mention, f"allhands-{n}") for n in range(1000)}
    assert len(keys) == 1000
    assert all(re.fullmatch(r"[234567abcdefghij][2-7a-z]{12}", k) for k in keys)
    assert record_key(mention, "allhands-1") == record_key(mention, "allhands-1")
