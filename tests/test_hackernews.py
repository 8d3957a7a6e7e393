"""The Hacker News connector against a fake of the Algolia search API, over real HTTP."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bot.clock import FakeClock
from bot.domain.normalise import normalise
from bot.errors import SourceError
from bot.store import replies
from connectors.hackernews import HackerNewsConfig, HackerNewsConnector
from tests.fakes.hackernews import FakeHackerNews
from tests.source_app import console_app, first_card


@pytest.fixture
async def fake() -> AsyncIterator[FakeHackerNews]:
    async with FakeHackerNews() as server:
        yield server


def make(
    fake: FakeHackerNews, http: aiohttp.ClientSession, clock: FakeClock, **config: Any
) -> HackerNewsConnector:
    settings = HackerNewsConfig(**{"api": fake.url, "search": ["acme"], **config})
    return HackerNewsConnector(source_id="hn", config=settings, http=http, clock=clock)


async def test_stories_and_comments_become_items_with_titles_and_links(
    fake: FakeHackerNews, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    story = fake.story("Acme billed me twice", author="pat", text="Anyone <i>else</i>?")
    fake.comment("Same here, acme support is silent", story=story, author="kim")
    fake.story("Unrelated launch")
    batch = await make(fake, http, clock).fetch(None)
    first, second = (normalise(i) for i in batch.items)
    assert first.title == "Acme billed me twice" and first.text.startswith("Anyone else?")
    assert first.url == f"https://news.ycombinator.com/item?id={story['objectID']}"
    assert first.author.handle == "pat" and "user?id=pat" in first.author.url
    assert second.title == "Re: Acme billed me twice" and second.parent_id == story["objectID"]
    query = fake.requests[0]
    assert query["tags"] == "(story,comment)" and query["query"] == "acme"
    assert query["numericFilters"] == f"created_at_i<={int(clock.now().timestamp())}"


async def test_paging_oldest_first_never_skips_or_repeats(
    fake: FakeHackerNews, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, page_size=2, max_pages=2, overlap=5)
    fake.story("acme old")
    batch = await connector.fetch(None)
    assert [i.title for i in batch.items] == ["acme old"]
    new = [fake.story(f"acme new {n}") for n in range(7)]
    fake.requests.clear()
    batch = await connector.fetch(batch.cursor)
    # Four pages of two (the old one is inside the overlap, and dropped as seen): the
    # oldest two pages come now, the rest next time.
    assert [i.title for i in batch.items] == [s["title"] for s in new[:3]]
    assert [r["page"] for r in fake.requests] == ["0", "3", "2"]
    late = fake.story("acme late", at=new[2]["created_at_i"])  # indexed late, same second
    batch = await connector.fetch(batch.cursor)
    assert [i.title for i in batch.items] == ["acme late"] + [s["title"] for s in new[3:5]]
    batch = await connector.fetch(batch.cursor)
    assert [i.title for i in batch.items] == [s["title"] for s in new[5:]]
    batch = await connector.fetch(batch.cursor)
    assert batch.items == []
    assert late["objectID"] in json.loads(batch.cursor or "")["acme"]["seen"]


async def test_deleted_and_malformed_hits_are_skipped(
    fake: FakeHackerNews, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    story = fake.story("acme works")
    gone = fake.comment("acme", story=story)
    gone["author"], gone["comment_text"] = None, None  # [deleted]
    fake.hits.append(
        {"objectID": "", "title": "acme broken", "_tags": ["story"], "created_at_i": 1}
    )
    batch = await make(fake, http, clock).fetch(None)
    assert [i.title for i in batch.items] == ["acme works"]


async def test_rate_limits_and_garbage_are_source_errors(
    fake: FakeHackerNews, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    fake.fail(429, {"message": "Too many requests"}, {"Retry-After": "120"})
    with pytest.raises(SourceError) as raised:
        await connector.fetch(None)
    assert raised.value.retry_after == 120 and "429" in str(raised.value)
    fake.fail(200, "<html>maintenance</html>")
    with pytest.raises(SourceError, match="not JSON"):
        await connector.fetch(None)
    fake.fail(200, {"results": []})
    with pytest.raises(SourceError, match="without hits"):
        await connector.fetch(None)


def test_config_is_checked() -> None:
    with pytest.raises(ValidationError):
        HackerNewsConfig(search=[])
    with pytest.raises(ValidationError):
        HackerNewsConfig(search=["acme"], api="ftp://x")
    with pytest.raises(ValueError, match="nothing to read"):
        HackerNewsConfig(search=["acme"], stories=False, comments=False).tags()


async def test_end_to_end_the_answer_is_recorded_with_where_to_post_it(
    tmp_path: Path, clock: FakeClock, fake: FakeHackerNews
) -> None:
    story = fake.story("Acme charged me twice for one month")
    async with console_app(tmp_path, clock, fake.source_yaml()) as harness:
        card = await first_card(harness)
        assert "#billing  #1 complaint" in card and "Acme charged me twice" in card
        assert (await harness.say("claim 1")).startswith("#1 is yours.")
        answer = await harness.say("reply 1 Sorry! We refunded the second charge.")
        link = f"https://news.ycombinator.com/item?id={story['objectID']}"
        assert "by hand" in answer and link in answer
        [reply] = await harness.app.database.read(replies.for_mention, mention=1)
        assert reply.status == "manual"
