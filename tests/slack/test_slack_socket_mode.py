"""Socket Mode: with SLACK_APP_TOKEN the bot connects out to Slack; no public URL needed."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import write_posts
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, TEAM, SlackFake
from tests.slack.conftest import BILLING, DANA, PLAYBOOK, POSTS, workspace


@pytest.fixture
async def socket_app(tmp_path: Path) -> AsyncIterator[tuple[App, SlackFake]]:
    clock = FakeClock()
    fake = await SlackFake(clock=lambda: clock.now().timestamp(), burst=2).start()
    workspace(fake)
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.format(replay=replay), encoding="utf-8")
    settings = Settings(
        db_path=str(tmp_path / "app.db"),
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,  # and no signing secret: Socket Mode only
        slack_api_url=fake.api_url,
    )
    app = App(settings=settings, adapters={"console": ConsoleAdapter(io.StringIO())},
              clock=clock, playbooks=load_playbooks(book))  # fmt: skip
    await app.start()
    try:
        yield app, fake
    finally:
        await app.stop()
        await fake.close()


async def _quiet(app: App) -> None:
    assert app.slack is not None
    for _ in range(4):
        await asyncio.sleep(0.05)
        await app.slack.idle()
        await app.outbox.drain()


async def test_commands_and_events_arrive_over_socket_mode(
    socket_app: tuple[App, SlackFake],
) -> None:
    app, fake = socket_app
    await app.poll_all()
    await app.outbox.drain()
    command = {
        "token": "x", "team_id": TEAM["id"], "channel_id": BILLING, "channel_name": "billing",
        "user_id": DANA, "command": "/allhands", "text": "claim 1",
        "response_url": fake.response_url("socket-1"), "trigger_id": "1.1.t",
    }  # fmt: skip
    await fake.socket_send({"envelope_id": "env-1", "type": "slash_commands", "payload": command,
                            "accepts_response_payload": True})  # fmt: skip
    ack = await fake.socket_ack("env-1")
    assert ack == {"envelope_id": "env-1"}
    await _quiet(app)
    assert fake.responses[-1][1]["text"].startswith("#1 is yours.")
    assert "Claimed by Dana Scully" in str(fake.messages(BILLING)[0]["blocks"])

    callback = {
        "token": "x", "team_id": TEAM["id"], "api_app_id": "A0ALLHANDS", "type": "event_callback",
        "event_id": "Ev0SOCKET01", "event_time": 1767603600,
        "event": {"type": "app_home_opened", "user": DANA, "tab": "home", "event_ts": "1.2"},
    }  # fmt: skip
    for attempt, envelope in enumerate(("env-2", "env-3")):
        await fake.socket_send({
            "envelope_id": envelope, "type": "events_api", "payload": callback,
            "retry_attempt": attempt, "accepts_response_payload": False,
        })  # fmt: skip
        await fake.socket_ack(envelope)
        await _quiet(app)
    assert len(fake.calls_to("views.publish")) == 1  # the retry was recognised
    assert len(fake.calls_to("apps.connections.open")) == 1
