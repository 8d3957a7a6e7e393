"""The RSS/Atom connector against a real HTTP feed host on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from html import escape
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.domain.mentions import Author, Mention, State
from bot.domain.normalise import MAX_TEXT, normalise
from bot.errors import FeedError
from connectors.base import Batch
from connectors.registry import connector_class
from connectors.rss import SEEN_LIMIT, RssConfig, RssConnector
from tests.fakes.feeds import FeedServer, closed_port, fixture

FEED = "/feed.xml"
# Markup that must never survive normalising, and script code that must never be shown.
MARKUP = re.compile(r"<\s*/?\s*(?:script|style|a|p|img|iframe|svg|object|form|input|em|b)\b", re.I)
SCRIPT_CODE = ("document.cookie", "document.location", "alert(1)", "steal()", "fetch(", "display:")


@pytest.fixture
async def feeds() -> AsyncIterator[FeedServer]:
    """A feed host on a random port of 127.0.0.1."""
    async with FeedServer() as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The HTTP client the connector is given, as the app would give it."""
    async with aiohttp.ClientSession() as session:
        yield session


def make(http: aiohttp.ClientSession, url: str, **settings: Any) -> RssConnector:
    """An RSS connector for `url` with the given settings."""
    return RssConnector(source_id="blog", config=RssConfig(url=url, **settings), http=http)


def ids(batch: Batch) -> list[str]:
    """The external ids of a batch, in order."""
    return [item.external_id for item in batch.items]


def rss(entries: list[tuple[str, str]], *, title: str = "Generated") -> bytes:
    """An RSS 2.0 document with (guid, description) entries, listed as given."""
    items = "".join(
        f"<item><title>{guid}</title><guid isPermaLink='false'>{guid}</guid>"
        f"<link>https://gen.example/{guid}</link><description>{body}</description></item>"
        for guid, body in entries
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>{title}</title>'
        f"<link>https://gen.example/</link><description>g</description>{items}</channel></rss>"
    ).encode()


# --- reading a feed ---------------------------------------------------------------------


async def test_first_fetch_returns_every_entry_oldest_first(feeds, http):
    conn = make(http, feeds.serve(FEED, fixture("blog.rss")))

    batch = await conn.fetch(None)

    assert ids(batch) == ["blog.example:post:1", "blog.example:post:2", "blog.example:post:3"]
    first, second, third = batch.items
    assert first.title == "First look at Acme"
    assert first.url == "https://blog.example/2026/01/first-look"
    assert first.author == Author(handle="Acme Watch")  # no author: the feed's title
    assert second.author.handle == "Sam Ops"  # from "sam@example.com (Sam Ops)"
    assert third.author.handle == "Dana Writes"
    assert second.created_at == datetime(2026, 1, 5, 16, 5, tzinfo=UTC)  # +0100 made UTC
    assert all(item.created_at and item.created_at.tzinfo is UTC for item in batch.items)
    assert all(item.is_html and item.raw == {} for item in batch.items)
    # content:encoded wins over the summary: a mention can sit past the end of a summary.
    assert normalise(third).text == "I was charged twice and Acme refunded it the same morning."
    assert normalise(first).text == "Setting it up took an afternoon & a coffee."
    request = feeds.requests_to(FEED)[0]
    assert request.headers["User-Agent"] == "allhands/0.1 (+feed reader)"
    assert "application/rss+xml" in request.headers["Accept"]
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers


async def test_second_fetch_returns_only_entries_added_since(feeds, http):
    conn = make(http, feeds.serve(FEED, fixture("blog.rss")))
    first = await conn.fetch(None)

    feeds.serve(FEED, fixture("blog-updated.rss"))
    second = await conn.fetch(first.cursor)
    third = await conn.fetch(second.cursor)

    assert ids(second) == ["blog.example:post:4"]
    assert second.items[0].title == "Acme's new pricing page is confusing"
    assert third.items == []
    seen = json.loads(third.cursor or "")["seen"]
    assert seen[0] == "blog.example:post:4"  # newest first


async def test_an_etag_is_sent_back_and_304_leaves_the_cursor_as_it_was(feeds, http):
    conn = make(http, feeds.serve(FEED, fixture("blog.rss"), etag='"v1"'))
    first = await conn.fetch(None)
    assert json.loads(first.cursor or "")["etag"] == '"v1"'

    unchanged = await conn.fetch(first.cursor)

    assert unchanged.items == []
    assert unchanged.cursor == first.cursor
    requests = feeds.requests_to(FEED)
    assert [r.status for r in requests] == [200, 304]
    assert requests[1].headers["If-None-Match"] == '"v1"'

    feeds.serve(FEED, fixture("blog-updated.rss"), etag='"v2"')
    changed = await conn.fetch(unchanged.cursor)
    assert ids(changed) == ["blog.example:post:4"]
    assert json.loads(changed.cursor or "")["etag"] == '"v2"'
    assert len(feeds.requests_to(FEED)) == 3


async def test_last_modified_is_sent_back_as_if_modified_since(feeds, http):
    stamp = "Tue, 06 Jan 2026 09:30:00 GMT"
    conn = make(http, feeds.serve(FEED, fixture("blog.rss"), last_modified=stamp))
    first = await conn.fetch(None)

    unchanged = await conn.fetch(first.cursor)

    assert (unchanged.items, unchanged.cursor) == ([], first.cursor)
    requests = feeds.requests_to(FEED)
    assert [r.status for r in requests] == [200, 304]
    assert requests[1].headers["If-Modified-Since"] == stamp
    assert "If-None-Match" not in requests[1].headers

    later = "Wed, 07 Jan 2026 12:00:00 GMT"
    feeds.serve(FEED, fixture("blog-updated.rss"), last_modified=later)
    changed = await conn.fetch(unchanged.cursor)
    assert ids(changed) == ["blog.example:post:4"]
    assert json.loads(changed.cursor or "")["modified"] == later


async def test_an_atom_feed_is_read(feeds, http):
    conn = make(
        http, feeds.serve(FEED, fixture("status.atom"), content_type="application/atom+xml")
    )

    batch = await conn.fetch(None)

    tips, outage = batch.items
    assert outage.external_id == "tag:forum.example,2026:t/502"
    assert outage.url == feeds.url("/t/502")  # relative link resolved against the feed
    assert outage.author == Author(handle="Rae", url="https://forum.example/u/rae")
    assert outage.created_at == datetime(2026, 1, 6, 10, 0, tzinfo=UTC)  # published, in UTC
    assert normalise(outage).title == "Acme API returns 502"  # type="html" title
    assert normalise(outage).text == "Since this morning every call fails."
    assert tips.url == "https://forum.example/t/webhooks"
    assert tips.created_at == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # only updated
    assert tips.author.handle == "Acme on Example Forum"
    # A plain-text Atom title keeps its angle brackets as text instead of losing them.
    assert normalise(tips).title == "Tips for Acme <webhooks> & retries"
    assert normalise(tips).text == "Retry with backoff & keep the delivery id."


async def test_an_old_feed_with_harmless_entity_declarations_is_read(feeds, http):
    conn = make(http, feeds.serve(FEED, fixture("old-entities.rss")))

    batch = await conn.fetch(None)

    assert [normalise(item).title for item in batch.items] == ["Acme works"]
    assert normalise(batch.items[0]).text == "Café review © 2003"


async def test_a_feed_with_a_few_bad_bytes_is_still_read(feeds, http):
    doc = (
        b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>T</title>'
        b"<item><guid>g1</guid><title>caf\xe9 \x80</title></item></channel></rss>"
    )
    conn = make(http, feeds.serve(FEED, doc))

    batch = await conn.fetch(None)

    assert ids(batch) == [feeds.url("/g1")]  # a guid is a permalink unless it says otherwise
    assert normalise(batch.items[0]).title.startswith("caf")


async def test_entries_without_guid_use_link_then_a_hash(feeds, http):
    doc = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        b"<item><title>linked</title><link>https://x.example/1</link></item>"
        b"<item><title>bare</title><description>no link</description></item>"
        b"</channel></rss>"
    )
    conn = make(http, feeds.serve(FEED, doc))

    batch = await conn.fetch(None)
    again = await conn.fetch(batch.cursor)

    bare, linked = batch.items
    assert linked.external_id == "https://x.example/1"
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", bare.external_id)
    assert again.items == []  # the hash is stable, so nothing comes twice


async def test_the_cursor_remembers_at_most_the_newest_ids(feeds, http):
    conn = make(http, feeds.serve(FEED, rss([(f"old-{n}", "x") for n in range(SEEN_LIMIT + 20)])))
    first = await conn.fetch(None)
    assert len(json.loads(first.cursor or "")["seen"]) == SEEN_LIMIT + 20  # all still listed

    feeds.serve(FEED, rss([(f"new-{n}", "y") for n in range(5)]))
    second = await conn.fetch(first.cursor)

    assert ids(second) == [f"new-{n}" for n in reversed(range(5))]  # undated: feed order reversed
    seen = json.loads(second.cursor or "")["seen"]
    assert len(seen) == SEEN_LIMIT
    assert seen[:6] == ["new-0", "new-1", "new-2", "new-3", "new-4", "old-0"]


async def test_an_unreadable_cursor_reads_the_feed_afresh(feeds, http):
    conn = make(http, feeds.serve(FEED, fixture("blog.rss"), etag='"v1"'))

    batch = await conn.fetch("not json {")

    assert len(batch.items) == 3
    assert "If-None-Match" not in feeds.requests_to(FEED)[0].headers


# --- failures: a FeedError, and the caller's cursor still good ---------------------------


@pytest.mark.parametrize("status", [404, 500])
async def test_an_error_status_is_a_feed_error_and_the_cursor_stays_usable(feeds, http, status):
    conn = make(http, feeds.serve(FEED, fixture("blog.rss")))
    cursor = (await conn.fetch(None)).cursor
    kept = cursor

    feeds.serve(FEED, b"oops", status=status)
    with pytest.raises(FeedError, match=f"HTTP {status}") as failure:
        await conn.fetch(cursor)

    assert failure.value.source == "blog"
    assert cursor == kept  # nothing came back, so the caller still holds its old cursor
    feeds.serve(FEED, fixture("blog-updated.rss"))
    assert ids(await conn.fetch(cursor)) == ["blog.example:post:4"]


async def test_an_html_page_is_not_a_feed(feeds, http):
    url = feeds.serve(FEED, fixture("not-a-feed.html"), content_type="text/html; charset=utf-8")

    with pytest.raises(FeedError, match="HTML page that is not an RSS or Atom feed"):
        await make(http, url).fetch(None)


@pytest.mark.parametrize(
    "body",
    [
        random.Random(7).randbytes(4096),
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
        b"\xff\xfe" + bytes(range(0xD8, 0xE0)) * 50,  # a UTF-16 mark, then lone surrogates
        b'{"items": [{"title": "json is not a feed"}]}',
        b"",
    ],
    ids=["random", "binary", "undecodable", "json", "empty"],
)
async def test_garbage_is_a_feed_error(feeds, http, body):
    url = feeds.serve(FEED, body, content_type="application/octet-stream")

    with pytest.raises(FeedError, match=r"not an RSS or Atom feed|empty document, not a feed"):
        await make(http, url).fetch(None)


async def test_a_body_over_max_bytes_is_refused(feeds, http):
    url = feeds.serve(FEED, rss([(f"e{n}", "z" * 200) for n in range(50)]))

    with pytest.raises(FeedError, match="more than 4,096 bytes"):
        await make(http, url, max_bytes=4096).fetch(None)


async def test_a_feed_that_never_ends_is_cut_at_max_bytes(feeds, http):
    url = feeds.serve(FEED, b"<rss>" + b"a" * 60_000, endless=True)  # chunked, no length

    with pytest.raises(FeedError, match="more than 1,000,000 bytes"):
        await asyncio.wait_for(make(http, url, max_bytes=1_000_000).fetch(None), 5)


async def test_a_closed_port_is_a_feed_error(http):
    url = f"http://127.0.0.1:{closed_port()}/feed.xml"

    with pytest.raises(FeedError, match="cannot reach"):
        await make(http, url).fetch(None)


async def test_a_slow_server_runs_into_the_timeout(feeds, http):
    url = feeds.serve(FEED, fixture("blog.rss"), delay=2)

    with pytest.raises(FeedError, match=r"no answer from .* within 0\.2 s"):
        await make(http, url, timeout=0.2).fetch(None)


# --- hostile feeds ----------------------------------------------------------------------


async def test_a_hostile_feed_becomes_harmless_plain_text(feeds, http):
    conn = make(http, feeds.serve(FEED, fixture("hostile.rss")))

    batch = await asyncio.wait_for(conn.fetch(None), 5)

    nameless, cdata, scripted = batch.items  # undated entry present: reverse feed order
    assert scripted.url == ""  # a javascript: link is never handed over
    texts = [normalise(item) for item in batch.items]
    for item in texts:
        assert not MARKUP.search(item.title), item.title
        assert not any(code in item.text + item.title for code in SCRIPT_CODE), item
        assert "javascript:" not in item.text + item.url
        assert "onclick" not in item.text and "onerror" not in item.text
    assert normalise(scripted).title == "urgent"
    assert not MARKUP.search(normalise(scripted).text)
    # Markup the author escaped is text they wrote, and stays text; the chat adapters
    # escape every string they send, so it is shown, never acted on.
    assert normalise(scripted).text == "Hello click\n<!channel> <!here> <@U123>"
    assert normalise(cdata).text == "svg textbold <script>x</script>"
    assert normalise(nameless).text == "An entry with neither guid, link nor title."
    assert nameless.external_id.startswith("sha256:")


def _utf16(doc: bytes) -> bytes:
    return doc.decode().replace('<?xml version="1.0"?>', "").encode("utf-16")


def _quadratic() -> bytes:
    big = "x" * 50_000
    refs = "&big;" * 20_000
    return (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY big "{big}">]><rss version="2.0">'
        f"<channel><title>q</title><item><guid>q</guid><description>{refs}</description>"
        "</item></channel></rss>"
    ).encode()


def _parameter_entities() -> bytes:
    return (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % a "aaaaaaaa">'
        b'<!ENTITY % b "%a;%a;%a;%a;%a;%a;%a;%a;">]><rss version="2.0"><channel>'
        b"<title>p</title></channel></rss>"
    )


@pytest.mark.parametrize(
    "body",
    [
        fixture("billion-laughs.rss"),
        _utf16(fixture("billion-laughs.rss")),
        _quadratic(),
        _parameter_entities(),
        fixture("external-entity.rss"),
    ],
    ids=["billion-laughs", "billion-laughs-utf16", "quadratic", "parameter", "external"],
)
async def test_entity_expansion_tricks_are_refused_quickly(feeds, http, body):
    url = feeds.serve(FEED, body)

    with pytest.raises(FeedError, match="entity-expansion"):
        await asyncio.wait_for(make(http, url).fetch(None), 2)


async def test_a_100_kb_entry_is_read_and_cut_when_normalised(feeds, http):
    paragraph = "<p>Acme is <b>fine</b> &amp; fast.</p><script>alert(1)</script>"
    body = escape(paragraph * (100_000 // len(paragraph) + 1))
    conn = make(http, feeds.serve(FEED, rss([("long", body)])))

    batch = await asyncio.wait_for(conn.fetch(None), 5)

    (item,) = batch.items
    assert len(item.text) > 60_000
    text = normalise(item).text
    assert len(text) <= MAX_TEXT + len(" …[cut]")
    assert text.endswith("…[cut]")
    assert text.startswith("Acme is fine & fast.")
    assert not MARKUP.search(text) and "alert" not in text


# --- configuration and the rest of the contract -----------------------------------------


def test_config_defaults():
    config = RssConfig(url="https://blog.example/feed.xml")

    assert (config.timeout, config.max_bytes) == (20.0, 5_000_000)
    assert config.user_agent == "allhands/0.1 (+feed reader)"


@pytest.mark.parametrize(
    "url", ["ftp://blog.example/feed", "file:///etc/passwd", "javascript:alert(1)", "blog.example"]
)
def test_config_refuses_an_address_that_is_not_http(url):
    with pytest.raises(ValidationError, match="not a feed address"):
        RssConfig(url=url)


def test_config_refuses_unknown_keys_and_bad_numbers():
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RssConfig.model_validate({"url": "https://blog.example/feed", "urll": "x"})
    with pytest.raises(ValidationError, match="timeout"):
        RssConfig(url="https://blog.example/feed", timeout=0)


def test_the_connector_is_registered_and_cannot_reply():
    assert connector_class("rss") is RssConnector
    assert RssConnector.Config is RssConfig
    assert RssConnector.can_reply is False


async def test_where_to_answer_is_the_entry_page(http):
    conn = make(http, "https://blog.example/feed.xml")
    when = datetime(2026, 1, 6, tzinfo=UTC)
    mention = Mention(
        number=7,
        source="blog",
        external_id="blog.example:post:3",
        url="https://blog.example/2026/01/invoice",
        author=Author(handle="Dana Writes"),
        text="…",
        state=State.OPEN,
        team="support",
        kind="praise",
        urgency="low",
        sentiment=0.5,
        created_at=when,
        received_at=when,
    )

    assert conn.where_to_answer(mention) == "https://blog.example/2026/01/invoice"
