"""The Mastodon connector against a fake instance on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.clock import FakeClock
from bot.domain.mentions import Author, Mention, State
from bot.domain.normalise import normalise
from bot.errors import DeliveryError, SourceError
from connectors.mastodon import MastodonConnector
from connectors.mastodon_config import MastodonConfig
from tests.fakes.feeds import closed_port
from tests.fakes.mastodon import TOKEN, FakeMastodon


@pytest.fixture
async def fake() -> AsyncIterator[FakeMastodon]:
    async with FakeMastodon() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def make(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock, **config: Any
) -> MastodonConnector:
    settings = MastodonConfig(**{"instance": fake.url, "token": TOKEN, **config})
    return MastodonConnector(source_id="masto", config=settings, http=http, clock=clock)


def mention_of(status: dict[str, Any], number: int = 1) -> Mention:
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return Mention(
        number=number, source="masto", external_id=status["id"], url=status["url"],
        author=Author(handle=status["account"]["acct"]), text="…", state=State.CLAIMED,
        team="support", kind="question", urgency="normal", sentiment=0.0,
        created_at=now, received_at=now, language=status.get("language"),
    )  # fmt: skip


async def test_mentions_hashtags_and_search_become_items_once(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    first = fake.post("@lumo my router keeps dropping", acct="ann@other.example", followers=321)
    fake.post("Loving the #LumoFibre speeds", acct="bob", mention=False, tags=("lumofibre",))
    both = fake.post("@lumo #lumofibre is down again", acct="cy", tags=("lumofibre",))
    fake.post("anyone else with lumo outage today?", acct="dee", mention=False)
    fake.notify("favourite")
    fake.notify("follow")
    connector = make(fake, http, clock, hashtags=["#LumoFibre"], search=["lumo outage"])

    batch = await connector.fetch(None)

    ids = [item.external_id for item in batch.items]
    assert len(ids) == len(set(ids)) == 4  # `both` came through two streams, handed over once
    assert ids == sorted(ids, key=lambda i: (len(i), i))  # oldest first
    item = next(i for i in batch.items if i.external_id == first["id"])
    assert item.is_html and item.text == first["content"]
    assert item.author.handle == "ann@other.example" and item.author.audience == 321
    assert item.url == first["url"]
    assert both["id"] in ids
    mentions = fake.requests_to("/api/v1/notifications")[0]
    assert ("types[]", "mention") in mentions.query
    assert mentions.headers["Authorization"] == f"Bearer {TOKEN}"
    assert set(json.loads(batch.cursor or "")) == {
        "mentions",
        "tag:lumofibre",
        "search:lumo outage",
    }


async def test_own_posts_and_boosts_are_not_mentions(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.post("we fixed #lumofibre", account=fake.me, mention=False, tags=("lumofibre",))
    boost = fake.post("boosted #lumofibre", acct="eve", mention=False, tags=("lumofibre",))
    boost["reblog"] = {"id": "1"}
    batch = await make(fake, http, clock, hashtags=["lumofibre"]).fetch(None)
    assert batch.items == []


async def test_pages_forward_from_the_cursor_without_gaps(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    for n in range(3):
        fake.post(f"@lumo old {n}")
    connector = make(fake, http, clock, page_size=2, max_pages=2)
    batch = await connector.fetch(None)
    assert [i.text for i in batch.items] == ["<p>@lumo old 1</p>", "<p>@lumo old 2</p>"]
    assert len(fake.requests_to("/api/v1/notifications")) == 1  # the first poll: newest page

    new = [fake.post(f"@lumo new {n}") for n in range(5)]
    fake.requests.clear()
    batch = await connector.fetch(batch.cursor)
    assert [i.external_id for i in batch.items] == [s["id"] for s in new[:4]]
    pages = fake.requests_to("/api/v1/notifications")
    assert len(pages) == 2
    assert ("min_id", dict(pages[1].query)["min_id"]) in pages[1].query
    assert dict(pages[1].query)["min_id"] != dict(pages[0].query)["min_id"]  # from rel="prev"

    batch = await connector.fetch(batch.cursor)  # the rest, next time: nothing skipped
    assert [i.external_id for i in batch.items] == [new[4]["id"]]
    batch = await connector.fetch(batch.cursor)
    assert batch.items == []


async def test_low_rate_limit_stops_paging_and_asks_to_wait_until_reset(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    for n in range(2):
        fake.post(f"@lumo first {n}")
    connector = make(fake, http, clock, page_size=2, rate_limit_reserve=5)
    cursor = (await connector.fetch(None)).cursor
    for n in range(6):
        fake.post(f"@lumo later {n}")
    fake.remaining = 6  # one page, and the reserve of 5 is reached
    fake.requests.clear()
    batch = await connector.fetch(cursor)
    assert len(fake.requests_to("/api/v1/notifications")) == 1
    assert len(batch.items) == 2
    assert batch.retry_after == pytest.approx(300, abs=1)  # X-RateLimit-Reset - Date


async def test_429_is_a_source_error_with_the_reset_time(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.remaining = 0
    with pytest.raises(SourceError) as caught:
        await make(fake, http, clock).fetch(None)
    assert "429" in str(caught.value)
    assert caught.value.retry_after == pytest.approx(300, abs=1)


@pytest.mark.parametrize(
    ("status", "body", "raw", "expected"),
    [
        (502, {"error": "Bad gateway"}, None, "HTTP 502"),
        (200, None, b"<html>maintenance</html>", "not JSON"),
        (200, {"statuses": []}, None, "not a list"),
        (401, {"error": "The access token is invalid"}, None, "access token is invalid"),
    ],
)
async def test_a_source_that_is_down_or_answers_garbage_raises(
    fake: FakeMastodon,
    http: aiohttp.ClientSession,
    clock: FakeClock,
    status: int,
    body: Any,
    raw: bytes | None,
    expected: str,
) -> None:
    connector = make(fake, http, clock)
    await connector.fetch(None)  # learns the instance and the account first
    fake.fail("/api/v1/notifications", status, body=body, raw=raw)
    with pytest.raises(SourceError, match=expected):
        await connector.fetch(None)


async def test_an_unreachable_instance_raises(
    http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    settings = MastodonConfig(instance=f"http://127.0.0.1:{closed_port()}", token="t")
    connector = MastodonConnector(source_id="masto", config=settings, http=http, clock=clock)
    with pytest.raises(SourceError, match="cannot reach"):
        await connector.fetch(None)


async def test_entries_that_are_not_statuses_are_skipped(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    good = fake.post("@lumo fine")
    bad = fake.post("@lumo broken")
    fake.notifications[-1]["status"] = {"id": bad["id"], "content": "no account"}
    fake.notifications.append({"id": "not-a-dict-notification"})
    batch = await make(fake, http, clock).fetch(None)
    assert [i.external_id for i in batch.items] == [good["id"]]


async def test_a_hashtag_nobody_used_yet_is_empty(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    batch = await make(fake, http, clock, mentions=False, hashtags=["nobodyyet"]).fetch(None)
    assert batch.items == []


async def test_hostile_html_and_unicode_become_plain_text(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.post(
        content=(
            '<p><span class="h-card"><a href="https://x.example/@lumo">@<span>lumo</span></a>'
            "</span> refund &amp; now <script>alert(1)</script><b>!</b></p>"
            "<p>\u202eevil\u200b <img src=x onerror=alert(1)> 👨\u200d👩\u200d👧"
            " &lt;!channel&gt;</p>"
        ),
        spoiler_text="<b>billing</b> & stuff",
    )
    [item] = (await make(fake, http, clock).fetch(None)).items
    clean = normalise(item)
    assert clean.text == "@lumo refund & now !\n\n\u202eevil\u200b 👨\u200d👩\u200d👧 <!channel>"
    assert "<script" not in clean.text and "alert" not in clean.text
    assert clean.title == "<b>billing</b> & stuff"  # a content warning is plain text


async def test_the_instance_sets_the_length_and_replies_are_counted_its_way(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.max_characters = 60
    status = fake.post("@lumo help", acct="ann@far.example")
    connector = make(fake, http, clock)
    assert connector.limits.max_length == 500  # until the instance has been asked
    await connector.fetch(None)
    assert connector.limits.max_length == 60
    mention = mention_of(status)
    link = "https://lumo.example/" + "x" * 100
    text = connector.reply_text(mention, f"See {link} 👨\u200d👩\u200d👧")
    assert text.startswith("@ann@far.example ")
    assert connector.limits.count(text) == len("@ann ") + 4 + 23 + 2
    with pytest.raises(DeliveryError) as caught:
        await connector.reply(mention, "x" * 60, key="k-long")
    assert caught.value.permanent and "60" in str(caught.value)
    assert fake.posted == []


async def test_reply_threads_names_the_author_and_uses_the_playbook_visibility(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    status = fake.post("@lumo my bill is wrong", acct="ann@other.example", language="de")
    connector = make(fake, http, clock, visibility="unlisted")
    ref = await connector.reply(mention_of(status), "Sorry! Fixed.", key="allhands-7")
    [posted] = fake.posted
    assert posted["in_reply_to_id"] == status["id"]
    assert posted["text"] == "@ann@other.example Sorry! Fixed."
    assert posted["visibility"] == "unlisted" and posted["language"] == "de"
    assert ref.id == posted["id"] and ref.url == posted["url"]
    [sent] = fake.requests_to("/api/v1/statuses", method="POST")
    assert sent.headers["Idempotency-Key"] == "allhands-7"
    # Named already: not named twice.
    assert connector.reply_text(mention_of(status), "@ANN@other.example thanks") == (
        "@ANN@other.example thanks"
    )


async def test_a_reply_is_never_more_public_than_the_post(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    status = fake.post("@lumo my account number is 1234", visibility="direct")
    await make(fake, http, clock).reply(mention_of(status), "Let's talk here", key="k1")
    assert fake.posted[0]["visibility"] == "direct"


async def test_the_same_key_posts_once(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    status = fake.post("@lumo hi")
    connector = make(fake, http, clock)
    first = await connector.reply(mention_of(status), "Hello!", key="k-same")
    again = await connector.reply(mention_of(status), "Hello!", key="k-same")
    assert first == again and len(fake.posted) == 1


async def test_reply_failures_say_whether_to_try_again(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    status = fake.post("@lumo hi")
    connector = make(fake, http, clock)
    gone = mention_of(status)
    fake.statuses.pop(status["id"])
    with pytest.raises(DeliveryError) as caught:
        await connector.reply(gone, "Hello", key="k2")
    assert caught.value.permanent and "gone" in str(caught.value)

    status = fake.post("@lumo hi again")
    fake.fail("/api/v1/statuses", 503)
    with pytest.raises(DeliveryError) as caught:
        await connector.reply(mention_of(status), "Hello", key="k3")
    assert not caught.value.permanent

    fake.remaining = 0
    with pytest.raises(DeliveryError) as caught:
        await connector.reply(mention_of(status), "Hello", key="k4")
    assert not caught.value.permanent and caught.value.retry_after == pytest.approx(300, abs=1)


def test_config_is_checked() -> None:
    with pytest.raises(ValidationError, match="token"):
        MastodonConfig(instance="https://m.example")
    with pytest.raises(ValidationError, match="not an instance address"):
        MastodonConfig(instance="m.example", token="t")
    with pytest.raises(ValidationError, match="not a hashtag"):
        MastodonConfig(instance="https://m.example", mentions=False, hashtags=["two words"])
    with pytest.raises(ValidationError, match="nothing to read"):
        MastodonConfig(instance="https://m.example", mentions=False)
    config = MastodonConfig(instance="https://m.example/", mentions=False, hashtags=["#Lumo"])
    assert config.instance == "https://m.example" and config.hashtags == ["Lumo"]


async def test_an_earlier_reply_is_found_as_mastodon_renders_it(
    fake: FakeMastodon, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    status = fake.post("@lumo is checkout down?", acct="ann@other.example")
    # How Mastodon renders "@ann@other.example Yes: see https://status.lumo.example/now"
    content = (
        '<p><span class="h-card"><a href="https://other.example/@ann" class="u-url mention">'
        '@<span>ann</span></a></span> Yes: see <a href="https://status.lumo.example/now">'
        '<span class="invisible">https://</span><span class="">status.lumo.example/now</span>'
        "</a></p>"
    )
    fake.post(content=content, account=fake.me, mention=False, in_reply_to=status["id"])
    connector = make(fake, http, clock)
    text = "Yes: see https://status.lumo.example/now"
    found = await connector.sent_before(mention_of(status), text, key="allhands-3")
    assert found is not None and found.id != status["id"]
    other = await connector.sent_before(mention_of(status), "Something else", key="allhands-4")
    assert other is None
