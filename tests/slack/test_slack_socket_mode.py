"""Socket Mode: with SLACK_APP_TOKEN the bot connects out to Slack; no public URL needed."""

from __future__ import annotations

import asyncio
import io
import itertools
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import write_posts
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, TEAM, Failure, SlackFake
from tests.slack.conftest import BILLING, DANA, PLAYBOOK, POSTS, workspace


@pytest.fixture
async def socket_parts(tmp_path: Path) -> AsyncIterator[tuple[App, SlackFake]]:
    """An App for Socket Mode on the fake Slack, not started yet."""
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
    try:
        yield app, fake
    finally:
        await app.stop()
        await fake.close()


@pytest.fixture
async def socket_app(socket_parts: tuple[App, SlackFake]) -> tuple[App, SlackFake]:
    await socket_parts[0].start()
    return socket_parts


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


def _gaps(fake: SlackFake) -> list[float]:
    """Seconds (by the Clock) between the app's calls to apps.connections.open."""
    opened = [c.at for c in fake.calls_to("apps.connections.open")]
    return [round(b - a, 3) for a, b in itertools.pairwise(opened)]


def _said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "bot.chat.slack.socket_mode"]


async def _logged(caplog: pytest.LogCaptureFixture, line: str) -> None:
    """Wait (briefly, in real time: the local websocket) until the watch has logged `line`."""
    for _ in range(500):
        if line in _said(caplog):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never logged: {line}")


async def _command_over_socket(fake: SlackFake, envelope: str, text: str = "list") -> None:
    """Type `/allhands text` over the newest connection; it must be acknowledged."""
    command = {
        "token": "x", "team_id": TEAM["id"], "channel_id": BILLING, "channel_name": "billing",
        "user_id": DANA, "command": "/allhands", "text": text,
        "response_url": fake.response_url(envelope), "trigger_id": "1.1.t",
    }  # fmt: skip
    await fake.socket_send({"envelope_id": envelope, "type": "slash_commands",
                            "payload": command, "accepts_response_payload": True})  # fmt: skip
    assert await fake.socket_ack(envelope) == {"envelope_id": envelope}


async def test_connecting_is_retried_with_backoff_on_the_clock(
    socket_parts: tuple[App, SlackFake], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.chat.slack.socket_mode")
    app, fake = socket_parts
    fake.fail("apps.connections.open", Failure(status=503, error="service_unavailable", times=2))
    fake.refuse_sockets = 1  # then the websocket itself is refused once
    await app.start()
    await _logged(caplog, "Slack Socket Mode: connected (connection 1)")
    assert fake.sockets_open == 1
    assert _gaps(fake) == [1.0, 2.0, 4.0]
    assert _said(caplog) == [
        "Slack Socket Mode: could not connect (Slack apps.connections.open: service_unavailable"
        " (HTTP 503)); trying again in 1s (attempt 1)",
        "Slack Socket Mode: could not connect (Slack apps.connections.open: service_unavailable"
        " (HTTP 503)); trying again in 2s (attempt 2)",
        "Slack Socket Mode: could not connect (the websocket was refused (HTTP 503));"
        " trying again in 4s (attempt 3)",
        "Slack Socket Mode: connected (connection 1)",
    ]
    await _command_over_socket(fake, "env-1")


async def test_a_dropped_connection_is_opened_again(
    socket_parts: tuple[App, SlackFake], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.chat.slack.socket_mode")
    app, fake = socket_parts
    await app.start()
    await _logged(caplog, "Slack Socket Mode: connected (connection 1)")
    # Dropped at once: a failure, tried again after a second.
    await fake.socket_drop()
    await _logged(caplog, "Slack Socket Mode: connected (connection 2)")
    assert _gaps(fake) == [1.0]
    # Dropped after a good while: reconnected at once.
    app.clock.advance(timedelta(minutes=5))  # type: ignore[attr-defined]
    await fake.socket_drop(code=1011)
    await _logged(caplog, "Slack Socket Mode: connected (connection 3)")
    assert _gaps(fake) == [1.0, 300.0]
    assert _said(caplog) == [
        "Slack Socket Mode: connected (connection 1)",
        "Slack Socket Mode: connection 1 dropped (closed by Slack, code 1001); reconnecting in 1s",
        "Slack Socket Mode: connected (connection 2)",
        "Slack Socket Mode: connection 2 dropped (closed by Slack, code 1011); reconnecting now",
        "Slack Socket Mode: connected (connection 3)",
    ]
    await _command_over_socket(fake, "env-after-drop", "claim 9")
    await _quiet(app)
    assert fake.responses[-1][1]["text"].startswith("There is no #9.")


async def test_slack_asks_for_a_new_connection_and_the_old_one_is_let_go(
    socket_parts: tuple[App, SlackFake], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.chat.slack.socket_mode")
    app, fake = socket_parts
    await app.start()
    await _logged(caplog, "Slack Socket Mode: connected (connection 1)")
    first = fake._sockets[0]
    await fake.socket_disconnect("refresh_requested")
    # A second connection is opened before the first is closed (by the app, not Slack).
    await _logged(caplog, "Slack Socket Mode: connection 1 closed")
    assert first.closed and fake.sockets_opened == 2
    assert _gaps(fake) == [0.0]
    assert _said(caplog) == [
        "Slack Socket Mode: connected (connection 1)",
        "Slack Socket Mode: Slack will close connection 1 (refresh_requested); opening another",
        "Slack Socket Mode: connected (connection 2)",
        "Slack Socket Mode: connection 1 closed",
    ]
    await _command_over_socket(fake, "env-on-the-new-one")
    assert fake.sockets_open == 1


async def test_stopping_ends_the_retries_and_closes_the_connection(
    socket_parts: tuple[App, SlackFake], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.chat.slack.socket_mode")
    app, fake = socket_parts
    fake.fail("apps.connections.open", Failure(status=200, error="invalid_auth", times=10**6))
    await app.start()
    await fake.until(lambda: len(fake.calls_to("apps.connections.open")) >= 10)
    assert app.slack is not None and app.slack.socket is not None
    await app.slack.socket.stop()
    # A request already on the wire when the watch was cancelled may still reach the fake.
    await asyncio.sleep(0.1)
    tried = len(fake.calls_to("apps.connections.open"))
    await asyncio.sleep(0.2)
    assert len(fake.calls_to("apps.connections.open")) == tried  # no more attempts
    assert _gaps(fake)[:9] == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 120.0, 120.0]
    said = _said(caplog)
    assert said[0] == (
        "Slack Socket Mode: could not connect (Slack apps.connections.open: invalid_auth:"
        " check SLACK_APP_TOKEN (xapp-, scope connections:write)); trying again in 1s (attempt 1)"
    )
    assert said[-1] == "Slack Socket Mode: closed"

    # Connected, stopping closes the websocket from our side.
    fake.failures.clear()
    socket = app.slack.socket
    socket.start()
    await fake.until(lambda: fake.sockets_open == 1)
    await socket.stop()
    await fake.until(lambda: fake.sockets_open == 0)


async def test_dialog_errors_go_back_in_the_socket_acknowledgement(
    socket_app: tuple[App, SlackFake],
) -> None:
    app, fake = socket_app
    await app.poll_all()
    await app.outbox.drain()
    view = {
        "id": "V1", "type": "modal", "callback_id": "allhands_reply", "blocks": [],
        "private_metadata": '{"number": 1, "version": 0, "origin": {"channel": "C0BILLING1"}}',
        "state": {"values": {"allhands_reply_text_0": {
            "allhands_reply_text": {"type": "plain_text_input", "value": " "}}}},
    }  # fmt: skip
    submission = {"type": "view_submission", "team": {"id": TEAM["id"]},
                  "user": {"id": DANA}, "api_app_id": "A0ALLHANDS", "view": view}  # fmt: skip
    await fake.socket_send({"envelope_id": "env-v", "type": "interactive", "payload": submission,
                            "accepts_response_payload": True})  # fmt: skip
    assert await fake.socket_ack("env-v") == {
        "envelope_id": "env-v",
        "payload": {
            "response_action": "errors",
            "errors": {"allhands_reply_text_0": "Write a reply first."},
        },
    }
    # Messages that are not envelopes are ignored; the connection stays up.
    for junk in (
        "not json", "[1, 2]", '{"type": "surprise"}', '{"envelope_id": "x"}',
        '{"type": "events_api", "envelope_id": "e", "payload": 5}',
        '{"type": "events_api", "envelope_id": "e", "payload": {"type": "nonsense"}}',
    ):  # fmt: skip
        await fake._sockets[-1].send_str(junk)
    await _command_over_socket(fake, "env-after-junk")
    assert fake.sockets_opened == 1
