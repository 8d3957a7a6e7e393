"""Property-based fuzzing of the three endpoints strangers can reach: whatever arrives at
/webhooks/{source}, /slack/events or /api/messages, the answer is never a 5xx, and the
server keeps answering (/healthz) afterwards.

The whole bot runs on its own event loop in a thread, with Slack and Bot Framework fakes on
127.0.0.1; hypothesis sends requests to it over real HTTP, signed with the right secrets
where that lets the body reach the parsers.
"""

from __future__ import annotations

import asyncio
import http.client
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.chat.teams.adapter import TeamsAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.web import build_web_app
from connectors.webhook import sign
from tests.fakes.slack_api import BOT_TOKEN, SlackFake
from tests.fakes.teams_connector import BotFrameworkFake

HOOK_SECRET = "fuzzing-secret-of-24-chars"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOOK = f"""\
sources:
  - id: monitor
    kind: webhook
    secret: {HOOK_SECRET}
teams:
  support:
    channel: console:#support
"""
FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@dataclass
class Server:
    port: int
    clock: FakeClock
    teams: BotFrameworkFake

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            return response.status
        finally:
            conn.close()

    def healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        finally:
            conn.close()

    def stamp(self) -> str:
        return str(int(self.clock.now().timestamp()))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """allhands with a webhook source, Slack and Teams, served from a thread of its own."""
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop = asyncio.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        clock = FakeClock()
        slack = await SlackFake(clock=lambda: clock.now().timestamp()).start()
        teams = await BotFrameworkFake().start()
        book = tmp / "book.yaml"
        book.write_text(BOOK, encoding="utf-8")
        config = Settings(
            db_path=str(tmp / "fuzz.db"),
            slack_bot_token=BOT_TOKEN,
            slack_signing_secret=SLACK_SECRET,
            slack_api_url=slack.api_url,
            microsoft_app_id=teams.app_id,
            microsoft_app_password=teams.password,
            teams_openid_url=teams.openid_url,
            teams_token_url=teams.token_url,
        )
        app = App(
            settings=config,
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        adapter = TeamsAdapter.from_settings(config, database=app.database, clock=clock)
        app.adapters["teams"] = adapter
        await app.start()
        runner = web.AppRunner(build_web_app(app))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        box["server"] = Server(port, clock, teams)
        started.set()
        await stop.wait()
        await runner.cleanup()
        await adapter.close()
        await app.stop()
        await teams.close()
        await slack.close()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    assert started.wait(60), "the server did not start"
    yield box["server"]
    loop.call_soon_threadsafe(stop.set)
    thread.join(60)


# JSON of any shape, and JSON shaped almost like what each endpoint reads.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False),
    st.text(max_size=40),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)


def near(fields: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Objects with these keys, each holding its usual value or anything at all."""
    return st.fixed_dictionaries({k: st.one_of(st.just(v), values) for k, v in fields.items()})


MENTION = {
    "id": "m1",
    "text": "hello",
    "author": {"handle": "ann", "followers": 3},
    "url": "https://x.example/1",
    "created_at": "2026-01-05T08:59:00Z",
    "in_reply_to": "m0",
    "language": "en",
}
webhook_bodies = st.one_of(
    st.binary(max_size=300),
    values.map(lambda v: json.dumps(v).encode()),
    near(MENTION).map(lambda v: json.dumps(v).encode()),
    st.lists(near(MENTION), min_size=1, max_size=3).map(
        lambda ms: json.dumps({"mentions": ms}).encode()
    ),
)


@FUZZ
@given(body=webhook_bodies, signed=st.booleans(), stamp=st.text(max_size=20))
def test_webhooks_never_answer_5xx(server: Server, body: bytes, signed: bool, stamp: str) -> None:
    timestamp = server.stamp() if signed else stamp
    headers = {
        "X-Allhands-Timestamp": timestamp,
        "X-Allhands-Signature": sign(HOOK_SECRET, server.stamp(), body) if signed else "x",
    }
    headers = {k: v for k, v in headers.items() if v.isascii() and v.isprintable()}
    assert server.post("/webhooks/monitor", body, headers) < 500
    assert server.healthy()


ACTION = {"type": "block_actions", "user": {"id": "U1"}, "actions": [{"action_id": "x"}]}
slack_bodies = st.one_of(
    st.text(max_size=200).map(lambda t: (t, "application/x-www-form-urlencoded")),
    values.map(lambda v: (json.dumps(v), "application/json")),
    values.map(
        lambda v: (urlencode({"payload": json.dumps(v)}), "application/x-www-form-urlencoded")
    ),
    near(ACTION).map(
        lambda v: (urlencode({"payload": json.dumps(v)}), "application/x-www-form-urlencoded")
    ),
    near({"type": "event_callback", "event": {"type": "app_home_opened"}, "event_id": "E"}).map(
        lambda v: (json.dumps(v), "application/json")
    ),
    st.dictionaries(
        st.sampled_from(["command", "user_id", "channel_id", "text", "response_url"]),
        st.text(max_size=20),
    ).map(lambda v: (urlencode(v), "application/x-www-form-urlencoded")),
)


@FUZZ
@given(
    body=slack_bodies,
    stamp=st.one_of(
        st.none(), st.text(max_size=40), st.integers(min_value=0, max_value=10**400).map(str)
    ),
)
def test_slack_events_never_answer_5xx(
    server: Server, body: tuple[str, str], stamp: str | None
) -> None:
    text, content_type = body
    timestamp = server.stamp() if stamp is None else stamp
    signature = SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=timestamp, body=text)
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature or "",
    }
    headers = {k: v for k, v in headers.items() if v.isascii() and v.isprintable()}
    assert server.post("/slack/events", text.encode("utf-8", "replace"), headers) < 500
    assert server.healthy()


@FUZZ
@given(
    body=st.one_of(values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
    token=st.one_of(st.none(), st.text(max_size=60)),
)
def test_api_messages_never_answer_5xx(server: Server, body: bytes, token: str | None) -> None:
    bearer = "Bearer " + (server.teams.sign() if token is None else token)
    headers = {"Content-Type": "application/json"}
    if bearer.isascii() and bearer.isprintable():
        headers["Authorization"] = bearer
    assert server.post("/api/messages", body, headers) < 500
    assert server.healthy()
