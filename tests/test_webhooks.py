"""`POST /webhooks/{source}` over real HTTP: signed mentions become cards; nothing else is."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import mentions
from bot.web import build_web_app
from connectors.webhook import sign

SECRET = "s3cret-for-the-monitoring-tool"
BOOK = f"""\
sources:
  - id: monitor
    kind: webhook
    secret: {SECRET}
    max_bytes: 65536
  - id: blog
    kind: rss
    url: http://127.0.0.1:9/feed.xml
teams:
  support:
    channel: console:#support
"""


@dataclass
class Site:
    app: App
    url: str
    out: io.StringIO
    http: aiohttp.ClientSession
    clock: FakeClock

    async def send(
        self,
        body: bytes | dict[str, Any] | list[Any],
        *,
        source: str = "monitor",
        secret: str = SECRET,
        timestamp: str | None = None,
        signature: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, Any]]:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        stamp = timestamp if timestamp is not None else str(int(self.clock.now().timestamp()))
        sent = {
            "Content-Type": "application/json",
            "X-Allhands-Timestamp": stamp,
            "X-Allhands-Signature": sign(secret, stamp, raw) if signature is None else signature,
            **(headers or {}),
        }
        sent = {k: v for k, v in sent.items() if v != ""}
        async with self.http.post(f"{self.url}/webhooks/{source}", data=raw, headers=sent) as resp:
            return resp.status, await resp.json()

    async def stored(self) -> list[str]:
        return [
            m.external_id for m in await self.app.database.read(mentions.find, roots_only=False)
        ]


@pytest.fixture
async def site(tmp_path: Path, clock: FakeClock, store_url: str) -> AsyncIterator[Site]:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    out = io.StringIO()
    app = App(
        settings=Settings(db_path=store_url),
        adapters={"console": ConsoleAdapter(out)},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    runner = web.AppRunner(build_web_app(app))
    await runner.setup()
    server = web.TCPSite(runner, "127.0.0.1", 0)
    await server.start()
    port = server._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession() as http:
        yield Site(app, f"http://127.0.0.1:{port}", out, http, clock)
    await runner.cleanup()
    await app.stop()


MENTION = {
    "id": "alert-17",
    "text": "Checkout <b>fails</b> for @everyone with error 502",
    "author": {"handle": "uptime-bot", "name": "Uptime", "followers": 3},
    "url": "https://status.example/alerts/17",
    "created_at": "2026-01-05T08:59:00Z",
    "html": True,
}


async def test_a_signed_mention_becomes_a_card(site: Site) -> None:
    status, answer = await site.send(MENTION)
    assert (status, answer) == (202, {"accepted": 1, "new": 1, "follow_ups": 0, "duplicates": 0})
    await site.app.outbox.drain()
    printed = site.out.getvalue()
    assert "#support  #1" in printed and "Checkout fails for" in printed
    [mention] = await site.app.database.read(mentions.find)
    assert mention.source == "monitor" and mention.author.handle == "uptime-bot"
    assert mention.author.audience == 3 and mention.text.startswith("Checkout fails")


async def test_several_mentions_at_once_and_repeats_are_not_doubled(site: Site) -> None:
    second = {**MENTION, "id": "alert-18", "in_reply_to": "alert-17", "html": False}
    status, answer = await site.send({"mentions": [MENTION, second, MENTION]})
    assert status == 202 and answer["accepted"] == 2 and answer["follow_ups"] == 1
    site.clock.advance(timedelta(seconds=1))
    status, answer = await site.send({"mentions": [MENTION]})
    assert status == 202 and answer["duplicates"] == 1 and answer["new"] == 0
    assert sorted(await site.stored()) == ["alert-17", "alert-18"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"{not json", "body is not JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b"[1, 2]", "must be a JSON object"),
        (b'"text"', "must be a JSON object"),
        (b"[" * 20000 + b"]" * 20000, "nested too deeply"),
        ({"text": "hi", "author": {"handle": "a"}}, "id: is required"),
        ({**MENTION, "id": 17}, "id: Input should be a valid string"),
        ({**MENTION, "author": "someone"}, "author"),
        ({**MENTION, "author": {"handle": "a", "followers": "12"}}, "author.followers"),
        ({**MENTION, "author": {"handle": "a", "followers": -1}}, "author.followers"),
        ({**MENTION, "text": ""}, "text"),
        ({**MENTION, "url": "javascript:alert(1)"}, "url: must be an http"),
        ({**MENTION, "created_at": "yesterday"}, "created_at"),
        ({**MENTION, "created_at": "2026-01-05T08:59:00"}, "needs a time zone"),
        ({**MENTION, "html": "yes"}, "html"),
        ({**MENTION, "extra": 1}, "extra: is not a known field"),
        ({"mentions": []}, "mentions"),
        ({"mentions": [MENTION] * 101}, "mentions"),
        ({"mentions": [MENTION, {"id": "x"}]}, "mentions[1].text: is required"),
        # Signed requests that can never be stored: refused at once, not 500 "try again".
        ({**MENTION, "author": {"handle": "a", "followers": 10**30}}, "author.followers"),
        (b'{"id": ' + b"7" * 5000 + b', "text": "x"}', "a number is too long"),
        ({**MENTION, "created_at": "9999-12-31T23:59:59-23:59"}, "between 1970 and 2200"),
        ({**MENTION, "created_at": "0001-01-01T00:00:00+23:59"}, "between 1970 and 2200"),
    ],
)
async def test_bad_bodies_get_400_and_store_nothing(site: Site, body: Any, expected: str) -> None:
    status, answer = await site.send(body)
    assert status == 400, answer
    assert expected in answer["error"] + " ".join(answer.get("problems", []))
    assert await site.stored() == []


async def test_oversized_bodies_get_413(site: Site) -> None:
    big = {**MENTION, "text": "x" * 70_000}
    status, answer = await site.send(big)
    assert status == 413 and "max_bytes" in answer["error"]
    # A body that says it is small but keeps going is cut off as well.
    raw = json.dumps(big).encode()

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(raw), 10_000):
            yield raw[start : start + 10_000]

    stamp = str(int(site.clock.now().timestamp()))
    headers = {"X-Allhands-Timestamp": stamp, "X-Allhands-Signature": sign(SECRET, stamp, raw)}
    async with site.http.post(
        f"{site.url}/webhooks/monitor", data=chunks(), headers=headers
    ) as resp:
        assert resp.status == 413
    assert await site.stored() == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"timestamp": ""}, "missing X-Allhands-Timestamp"),
        ({"signature": ""}, "missing X-Allhands-Signature"),
        ({"timestamp": "yesterday"}, "whole seconds"),
        ({"timestamp": "-5"}, "whole seconds"),
        ({"signature": "md5=abc"}, "sha256="),
        ({"signature": "sha256=" + "0" * 64}, "does not match"),
        ({"secret": "another-secret-of-16+"}, "does not match"),
    ],
)
async def test_unsigned_or_badly_signed_requests_get_401(
    site: Site, change: dict[str, str], expected: str
) -> None:
    status, answer = await site.send(MENTION, **change)
    assert status == 401 and expected in answer["error"]
    assert await site.stored() == []


async def test_stale_and_future_timestamps_get_401(site: Site) -> None:
    now = int(site.clock.now().timestamp())
    for stamp in (now - 301, now + 301):
        status, answer = await site.send(MENTION, timestamp=str(stamp))
        assert status == 401 and "away from our clock" in answer["error"]
    status, _ = await site.send(MENTION, timestamp=str(now - 299))
    assert status == 202


async def test_a_repeated_request_gets_200_and_stores_nothing_more(site: Site) -> None:
    raw = json.dumps(MENTION).encode()
    stamp = str(int(site.clock.now().timestamp()))
    signature = sign(SECRET, stamp, raw)
    assert (await site.send(raw, timestamp=stamp, signature=signature))[0] == 202
    site.clock.advance(timedelta(seconds=30))
    status, answer = await site.send(raw, timestamp=stamp, signature=signature)
    assert status == 200 and answer["received_before"] is True and answer["new"] == 0
    assert await site.stored() == ["alert-17"]
    # Once the timestamp is stale the request is refused as stale, and old signatures go.
    site.clock.advance(timedelta(minutes=10))
    assert (await site.send(raw, timestamp=stamp, signature=signature))[0] == 401


async def test_unknown_or_non_webhook_sources_get_404(site: Site) -> None:
    for source in ("nope", "blog"):
        status, answer = await site.send(MENTION, source=source)
        assert status == 404 and "no webhook source" in answer["error"]


async def test_webhook_sources_are_not_polled(site: Site) -> None:
    results = await site.app.poll_all()
    assert [r.source for r in results] == ["blog"]


async def test_the_largest_audience_allowed_is_stored_on_either_store(site: Site) -> None:
    huge = {**MENTION, "author": {"handle": "celebrity", "followers": 10**12}}
    status, answer = await site.send(huge)
    assert status == 202 and answer["new"] == 1
    found = await site.app.database.read(mentions.find, roots_only=False)
    assert [m.author.audience for m in found] == [10**12]


async def test_a_request_whose_mentions_cannot_be_stored_leaves_no_trace(site: Site) -> None:
    # The store refuses one mention (as a full disk would): nothing of the request is kept,
    # not even its signature, so the sender's identical resend is stored in full later.
    def refuse(db: Any) -> None:
        if db.dialect == "postgresql":
            db.executescript(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
                " $$ BEGIN RAISE EXCEPTION 'disk I/O error' USING ERRCODE = '58030'; END $$;"
                " CREATE TRIGGER refuse BEFORE INSERT ON mentions FOR EACH ROW"
                " WHEN (NEW.external_id = 'alert-18') EXECUTE FUNCTION refuse()"
            )
            return
        db.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON mentions WHEN NEW.external_id = 'alert-18'"
            " BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"
        )

    await site.app.database.write(refuse)
    second = {**MENTION, "id": "alert-18"}
    raw = json.dumps({"mentions": [MENTION, second]}).encode()
    stamp = str(int(site.clock.now().timestamp()))
    status, answer = await site.send(raw, timestamp=stamp)
    assert status == 503 and "send the request again" in answer["error"]
    assert await site.stored() == []
    await site.app.database.write(
        lambda db: db.execute(
            "DROP TRIGGER refuse ON mentions"
            if db.dialect == "postgresql"
            else "DROP TRIGGER refuse"
        )
    )
    status, answer = await site.send(raw, timestamp=stamp)
    assert status == 202 and answer["new"] == 2
    assert sorted(await site.stored()) == ["alert-17", "alert-18"]
