"""Socket Mode with two replicas on one store: only the holder of its lease keeps the socket;
when it dies, the other opens one."""

from __future__ import annotations

import io
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.replicas import LEASE_TTL, SLACK_SOCKET
from bot.settings import Settings
from tests.conftest import write_book
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, SlackFake
from tests.slack.conftest import PLAYBOOK, POSTS, workspace
from tests.slack.test_slack_socket_mode import _command_over_socket, _logged


@pytest.fixture
async def two_replicas(
    tmp_path: Path, store_url: str
) -> AsyncIterator[tuple[App, App, SlackFake, FakeClock]]:
    """Two Apps for Socket Mode on one store and the fake Slack, as replicas of a shared
    store (on SQLite too, whose one replica would take every other for dead)."""
    clock = FakeClock()
    fake = await SlackFake(clock=lambda: clock.now().timestamp(), burst=2).start()
    workspace(fake)
    _, book = write_book(tmp_path, PLAYBOOK, POSTS)
    settings = Settings(
        db_path=store_url,
        slack_bot_token=BOT_TOKEN,
        slack_app_token=APP_TOKEN,
        slack_api_url=fake.api_url,
    )
    apps = [
        App(settings=settings, adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock, playbooks=load_playbooks(book))
        for _ in range(2)
    ]  # fmt: skip
    for app in apps:
        app.replica.exclusive = False
    try:
        yield apps[0], apps[1], fake, clock
    finally:
        for app in apps:
            await app.stop()
        await fake.close()


async def test_one_replica_keeps_the_socket_and_another_takes_over_when_it_dies(
    two_replicas: tuple[App, App, SlackFake, FakeClock], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.chat.slack.socket_mode")
    a, b, fake, clock = two_replicas
    await a.start()
    await _logged(caplog, "Slack Socket Mode: connected (connection 1)")
    await b.start()
    assert a.replica.holds(SLACK_SOCKET) and not b.replica.holds(SLACK_SOCKET)
    assert b.slack is not None and b.slack.socket is None
    assert fake.sockets_opened == 1
    # a stops beating (killed; its socket is closed with it). b's beats take over once
    # a's lease has run out: one term and a beat at most.
    assert a.slack is not None
    await a.slack.close_socket()
    clock.advance(timedelta(seconds=5))
    await b.replica.beat()
    assert b.slack.socket is None
    clock.advance(LEASE_TTL)
    caplog.clear()  # b's socket may connect while its beat still settles the rest
    await b.replica.beat()
    assert b.replica.holds(SLACK_SOCKET) and b.slack.socket is not None
    await _logged(caplog, "Slack Socket Mode: connected (connection 1)")
    assert fake.sockets_opened == 2 and fake.sockets_open == 1
    await _command_over_socket(fake, "env-after-takeover")
