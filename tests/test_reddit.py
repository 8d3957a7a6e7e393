"""The Reddit connector against a fake of Reddit's OAuth API on 127.0.0.1, over real HTTP."""

from __future__ import annotations

import json
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
from bot.store import replies
from connectors.reddit import RedditConfig, RedditConnector
from connectors.richtext import escape_markdown
from tests.fakes.reddit import CLIENT_ID, ME, PASSWORD, SECRET, FakeReddit
from tests.source_app import claimed_mention, console_app, first_card


@pytest.fixture
async def fake() -> AsyncIterator[FakeReddit]:
    async with FakeReddit() as server:
        yield server


def settings(fake: FakeReddit, **config: Any) -> RedditConfig:
    base = {"api": fake.address, "auth_url": fake.address, "client_id": CLIENT_ID,
            "client_secret": SECRET, "username": ME, "password": PASSWORD,
            "subreddits": ["AcmeUsers"]}  # fmt: skip
    return RedditConfig(**{**base, **config})


def make(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock, **config: Any
) -> RedditConnector:
    return RedditConnector(
        source_id="reddit", config=settings(fake, **config), http=http, clock=clock
    )


def mention_of(thing: dict[str, Any]) -> Mention:
    return claimed_mention("reddit", thing["name"], author="ann", kind="question")


async def test_posts_comments_search_and_mentions_become_items(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("Acme charged me twice", "Is this <normal> & fine?", by="ann")
    fake.comment("same here", on=post, by="bob")
    fake.comment(f"u/{ME} can you help?", on=post, by="cy", mention=True)
    fake.post("Acme elsewhere", sub="Other", by="dee")
    fake.comment("ours", on=post, by=ME)
    connector = make(fake, http, clock, search=["acme elsewhere"])
    batch = await connector.fetch(None)
    texts = [(i.author.handle, i.title, i.text) for i in batch.items]
    assert texts == [
        ("ann", "Acme charged me twice", "Is this <normal> & fine?"),  # raw_json=1: no entities
        ("bob", "Re: Acme charged me twice", "same here"),
        ("cy", "Re: Acme charged me twice", f"u/{ME} can you help?"),
        ("dee", "Acme elsewhere", ""),
    ]
    comment = batch.items[1]
    assert comment.parent_id == post["name"] and comment.conversation_id == post["name"]
    assert comment.url.startswith("https://www.reddit.com/r/AcmeUsers/comments/")
    agents = {headers["User-Agent"] for _, _, _, headers in fake.requests}
    assert agents == {f"server:allhands-{CLIENT_ID}:0.1 (by /u/{ME})"}
    assert set(json.loads(batch.cursor or "")) == {
        "posts:acmeusers", "comments:acmeusers", "search:acme elsewhere", "mentions",
    }  # fmt: skip


async def test_pages_back_to_the_edge_without_skipping_or_repeating(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, page_size=2, comments=False, mentions=False)
    fake.post("first")
    batch = await connector.fetch(None)
    new = [fake.post(f"new {n}") for n in range(5)]
    fake.delete(new[0])  # deleted before we read it: not a mention, and not in the way
    batch = await connector.fetch(batch.cursor)
    assert [i.title for i in batch.items] == [p["title"] for p in new[1:]]
    assert len(fake.requests_to("/r/AcmeUsers/new")) == 4  # 1 + three pages back to the edge
    batch = await connector.fetch(batch.cursor)
    assert batch.items == []
    last = fake.post("last")
    batch = await connector.fetch(batch.cursor)
    assert [i.external_id for i in batch.items] == [last["name"]]


async def test_tokens_are_renewed_when_expired_or_refused(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock)
    await connector.fetch(None)
    fake.access = "revoked"  # refused: renewed once, the call goes through
    await connector.fetch(None)
    assert connector.keeper.renewals == 2
    clock.advance(timedelta(hours=1))  # the hour is up: renewed before calling
    before = len(fake.requests)
    await connector.fetch(None)
    assert fake.requests[before][1] == "/api/v1/access_token" and connector.keeper.renewals == 3


async def test_refused_sign_in_is_a_clear_error(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    with pytest.raises(SourceError, match=r"invalid_grant.*username and password"):
        await make(fake, http, clock, password="wrong").fetch(None)
    with pytest.raises(SourceError, match="check client_id and client_secret"):
        await make(fake, http, clock, client_secret="nope").fetch(None)
    with pytest.raises(ValidationError, match="refresh_token"):
        settings(fake, username="", password="")
    with pytest.raises(ValidationError, match="subreddit name"):
        settings(fake, subreddits=["no spaces"])


async def test_rate_limit_headers_are_honoured(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    fake.remaining, fake.reset = 8.0, 240
    batch = await make(fake, http, clock).fetch(None)
    assert batch.retry_after == 240
    assert "mentions" not in json.loads(batch.cursor or "")  # left for after the reset
    fake.remaining = 0
    with pytest.raises(SourceError) as raised:
        await make(fake, http, clock).fetch(None)
    assert "429" in str(raised.value)


async def test_garbage_is_a_source_error_and_bad_entries_are_skipped(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    connector = make(fake, http, clock, comments=False, mentions=False)
    fake.fail("/r/AcmeUsers/new", 200, {"kind": "t3"})
    with pytest.raises(SourceError, match="not a listing"):
        await connector.fetch(None)
    fake.fail("/r/AcmeUsers/new", 502, "<html>bad gateway</html>")
    with pytest.raises(SourceError, match="502"):
        await connector.fetch(None)
    fake.post("fine")
    fake.things.append({"kind": "t3", "name": "x", "subreddit": "AcmeUsers", "title": "bad"})
    batch = await connector.fetch(None)
    assert [i.title for i in batch.items] == ["fine"]


def test_markdown_is_escaped_outside_links() -> None:
    text = "# Sorry *really*\n> quoted [x](y) 1. not a list https://acme.example/a_b_c ~~no~~"
    assert escape_markdown(text) == (
        "\\# Sorry \\*really\\*  \n\\> quoted \\[x\\]\\(y\\) 1. not a list"
        " https://acme.example/a_b_c \\~\\~no\\~\\~"
    )
    assert escape_markdown("1. first\n2) second") == "\\1. first  \n2\\) second"


async def test_reply_posts_a_comment_once_and_reports_refusals(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("help")
    connector = make(fake, http, clock)
    ref = await connector.reply(mention_of(post), "Sorry *Ann*", key="k1")
    [posted] = fake.posted
    assert posted["parent_id"] == post["name"] and posted["body"] == "Sorry \\*Ann\\*"
    assert ref.id == posted["name"] and ref.url.endswith(posted["permalink"])
    fake.comment_errors.append(
        ["RATELIMIT", "you are doing that too much. try again in 3 minutes.", "ratelimit"]
    )
    with pytest.raises(DeliveryError) as limited:
        await connector.reply(mention_of(post), "again", key="k2")
    assert not limited.value.permanent and limited.value.retry_after == 180
    fake.locked.add(post["name"])
    with pytest.raises(DeliveryError, match="THREAD_LOCKED") as locked:
        await connector.reply(mention_of(post), "again", key="k3")
    assert locked.value.permanent
    fake.delete(post)
    with pytest.raises(DeliveryError, match="deleted"):
        await connector.reply(mention_of(post), "again", key="k4")
    with pytest.raises(DeliveryError, match="10,000") as long:
        await connector.reply(mention_of(post), "*" * 5001, key="k5")  # 10,002 once escaped
    assert long.value.permanent and len(fake.posted) == 1


async def test_a_retry_after_an_unknown_outcome_does_not_post_twice(
    fake: FakeReddit, http: aiohttp.ClientSession, clock: FakeClock
) -> None:
    post = fake.post("help")
    fake.delay_first_post = 1.0
    connector = make(fake, http, clock, timeout=0.3)
    with pytest.raises(DeliveryError):
        await connector.reply(mention_of(post), "Fixed!", key="k")
    ref = await connector.reply(mention_of(post), "Fixed!", key="k")
    assert len(fake.posted) == 1 and ref.id == fake.posted[0]["name"]


async def test_end_to_end_card_claim_reply_in_thread(
    tmp_path: Path, clock: FakeClock, fake: FakeReddit
) -> None:
    post = fake.post("Acme charged me twice", "Second charge on my card this month.")
    async with console_app(tmp_path, clock, fake.source_yaml()) as harness:
        card = await first_card(harness)
        assert "#billing  #1 complaint" in card and "Acme charged me twice" in card
        assert (await harness.say("claim 1")).startswith("#1 is yours.")
        refused = await harness.say("reply 1 " + "*" * 5001)  # 10,002 once escaped
        assert "10,002 characters" in refused and not fake.posted
        await harness.say("reply 1 Sorry! Refunded_today.")
        [posted] = fake.posted
        assert posted["parent_id"] == post["name"] and posted["body"] == "Sorry! Refunded\\_today."
        [reply] = await harness.app.database.read(replies.for_mention, mention=1)
        assert reply.status == "sent" and reply.url.endswith(posted["permalink"])
