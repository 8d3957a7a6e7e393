"""A whole allhands on Slack: the fake Slack Web API, the app, and signed requests over HTTP."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from slack_sdk.signature import SignatureVerifier

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import served, write_book
from tests.fakes.slack_api import BOT_TOKEN, TEAM, SlackFake

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DANA, FELIX, OMAR = "U0DANA0001", "U0FELIX001", "U0OMAR0001"
BILLING, SUPPORT, GENERAL = "C0BILLING1", "C0SUPPORT1", "C0GENERAL1"

PLAYBOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 50
teams:
  billing:
    name: Billing
    channel: slack:#billing
    keywords: [refund, invoice, charged]
  support:
    name: Support
    channel: slack:C0SUPPORT1
default_team: support
templates:
  sorry: "Hi @{{author}}, sorry about this! {{agent}} from {{team}} is on it."
  back-soon: "Hi @{{author}}, we are back {{opens_at}}."
"""

POSTS = [
    {"id": "a1", "text": "I was charged twice, I want a refund", "author": {"handle": "ann"}},
    {"id": "a2", "text": "How do I change my password?", "author": {"handle": "bob"}},
    {"id": "a3", "text": "Love the new release!", "author": {"handle": "cy", "followers": 90}},
]


class SlackHarness:
    """An App on the fake Slack, served over HTTP on 127.0.0.1, and a way to be Slack."""

    def __init__(self, app: App, fake: SlackFake, clock: FakeClock, url: str, replay: Path):
        self.app = app
        self.fake = fake
        self.clock = clock
        self.url = url
        self.replay = replay
        self.signer = SignatureVerifier(SECRET)
        self._triggers = 0

    @property
    def slack(self) -> Any:
        assert self.app.slack is not None
        return self.app.slack

    def headers(self, body: str, *, timestamp: int | None = None) -> dict[str, str]:
        """Headers Slack sends with `body`, signed at `timestamp` (default: now)."""
        ts = str(timestamp if timestamp is not None else int(self.clock.now().timestamp()))
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": self.signer.generate_signature(timestamp=ts, body=body) or "",
        }

    async def send(
        self,
        body: str,
        *,
        content_type: str = "application/x-www-form-urlencoded",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, str, float]:
        """POST a body to /slack/events; (status, response text, seconds it took)."""
        signed = headers if headers is not None else self.headers(body)
        sent = {"Content-Type": content_type, **signed}
        started = time.perf_counter()
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"{self.url}/slack/events", data=body.encode(), headers=sent) as response,
        ):
            text = await response.text()
        return response.status, text, time.perf_counter() - started

    def command_body(self, text: str, *, user: str = DANA, channel: str = BILLING) -> str:
        """A slash command as Slack posts it (form-encoded)."""
        self._triggers += 1
        name = next((c.name for c in self.fake.channels.values() if c.id == channel), "x")
        return urlencode(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM["id"],
                "team_domain": "lumo",
                "channel_id": channel,
                "channel_name": name,
                "user_id": user,
                "user_name": user.lower(),
                "command": "/allhands",
                "text": text,
                "api_app_id": "A0ALLHANDS",
                "response_url": self.fake.response_url(f"command-{self._triggers}"),
                "trigger_id": f"{self._triggers}.1.trigger",
            }
        )

    async def command(self, text: str, *, user: str = DANA, channel: str = BILLING) -> int:
        """Type `/allhands text`; the HTTP status (the ack)."""
        status, _, _ = await self.send(self.command_body(text, user=user, channel=channel))
        return status

    def action_body(
        self, action: dict[str, Any], *, user: str = DANA, channel: str = BILLING,
        message_ts: str = "", view: dict[str, Any] | None = None,
    ) -> str:  # fmt: skip
        """A block_actions payload: a click on a card (or in a view, when `view` is given)."""
        self._triggers += 1
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0ALLHANDS",
            "token": "legacy-verification-token",
            "team": {"id": TEAM["id"], "domain": "lumo"},
            "trigger_id": f"{self._triggers}.2.trigger",
            "actions": [{"action_ts": f"{self._triggers}.0", **action}],
        }
        if view is not None:
            payload["container"] = {"type": "view", "view_id": view["id"]}
            payload["view"] = view
        else:
            payload["container"] = {
                "type": "message", "message_ts": message_ts, "channel_id": channel,
                "is_ephemeral": False,
            }  # fmt: skip
            payload["channel"] = {"id": channel, "name": "billing"}
            payload["message"] = {"ts": message_ts, "type": "message"}
            payload["response_url"] = self.fake.response_url(f"action-{self._triggers}")
        return urlencode({"payload": json.dumps(payload)})

    async def click(self, action: dict[str, Any], **kwargs: Any) -> tuple[int, str, float]:
        """Click a button or pick from a menu."""
        return await self.send(self.action_body(action, **kwargs))

    def submission_body(self, view: dict[str, Any], text: str, *, user: str = DANA) -> str:
        """A view_submission payload for the reply dialog with `text` typed in."""
        block_id = next(
            b["block_id"]
            for b in view["blocks"]
            if b.get("block_id", "").startswith("allhands_reply_text")
        )
        submitted = {**view, "state": {"values": {block_id: {
            "allhands_reply_text": {"type": "plain_text_input", "value": text}}}}}  # fmt: skip
        payload = {
            "type": "view_submission",
            "team": {"id": TEAM["id"], "domain": "lumo"},
            "user": {"id": user, "username": user.lower(), "team_id": TEAM["id"]},
            "api_app_id": "A0ALLHANDS",
            "trigger_id": "9.9.trigger",
            "view": submitted,
        }
        return urlencode({"payload": json.dumps(payload)})

    def event_body(self, event: dict[str, Any], *, event_id: str) -> str:
        """An Events API callback (JSON)."""
        return json.dumps(
            {
                "token": "legacy-verification-token",
                "team_id": TEAM["id"],
                "api_app_id": "A0ALLHANDS",
                "event": event,
                "type": "event_callback",
                "event_id": event_id,
                "event_time": int(self.clock.now().timestamp()),
                "authorizations": [
                    {"team_id": TEAM["id"], "user_id": "U0ALLHANDS", "is_bot": True}
                ],
            }
        )

    async def settle(self) -> None:
        """Let work after the acks finish and deliver what it queued, until all is quiet."""
        for _ in range(4):
            await asyncio.sleep(0.02)  # a listener started after its ack gets going
            await self.slack.idle()
            await self.app.outbox.drain()
        await self.slack.idle()

    def card_ts(self, channel: str, number: int) -> str:
        """The ts of the card of mention `number` in `channel`."""
        for message in self.fake.messages(channel):
            if message["blocks"] and message["blocks"][0]["text"]["text"].startswith(f"#{number} "):
                return str(message["ts"])
        raise AssertionError(f"no card #{number} in {channel}")

    def card(self, channel: str, number: int) -> dict[str, Any]:
        """The card of mention `number` in `channel`, as the fake holds it now."""
        return self.fake.channels[channel].messages[self.card_ts(channel, number)]


def workspace(fake: SlackFake) -> None:
    """Lumo's Slack: three people, the teams' channels and a few more (to page through)."""
    fake.add_user(DANA, "Dana Scully")
    fake.add_user(FELIX, "Felix", "Felix Ortega", email="felix@lumo.example")
    fake.add_user(OMAR, "omar")
    fake.add_channel(GENERAL, "general", members=(DANA, FELIX, OMAR))
    fake.add_channel("C0RANDOM01", "random")
    fake.add_channel("C0SECRET01", "secret", private=True, bot_member=False)
    fake.add_channel(BILLING, "billing", members=(DANA,))
    fake.add_channel(SUPPORT, "support", members=(DANA, FELIX))


@pytest.fixture
async def slack(tmp_path: Path, store_url: str) -> AsyncIterator[SlackHarness]:
    """allhands with Slack configured against the fake, its web app on 127.0.0.1."""
    clock = FakeClock()
    # A burst of two: the fake clock jumps when any task sleeps, so a message in flight
    # can seem to arrive later than it really left; Slack itself allows short bursts.
    fake = await SlackFake(clock=lambda: clock.now().timestamp(), burst=2).start()
    workspace(fake)
    replay, book = write_book(tmp_path, PLAYBOOK, POSTS)
    settings = Settings(
        db_path=store_url,
        slack_bot_token=BOT_TOKEN,
        slack_signing_secret=SECRET,
        slack_api_url=fake.api_url,
    )
    app = App(
        settings=settings,
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        async with served(app) as url:
            yield SlackHarness(app, fake, clock, url, replay)
    finally:
        await app.stop()
        await fake.close()
