"""Setting Slack up: the manifest, the settings checks, and `allhands run` talking to Slack."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import sys
import time
from pathlib import Path

import aiohttp
import pytest
from ruamel.yaml import YAML
from slack_sdk.signature import SignatureVerifier

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.chat.slack.adapter import SCOPES
from bot.chat.slack.app import COMMAND, EVENTS
from bot.chat.slack.settings import check_settings
from bot.clock import FakeClock
from bot.errors import ConfigError
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import write_posts
from tests.fakes.slack_api import BOT_TOKEN, SCOPE_OF, Failure, SlackFake
from tests.slack.conftest import BILLING, DANA, PLAYBOOK, POSTS, SECRET, SUPPORT, workspace

ROOT = Path(__file__).resolve().parents[2]
SIGNER = SignatureVerifier(SECRET)


def test_manifest_asks_for_what_the_code_uses_and_no_more() -> None:
    manifest = YAML(typ="safe").load((ROOT / "docs" / "slack" / "manifest.yaml").read_text())
    assert manifest["oauth_config"]["scopes"]["bot"] == list(SCOPES)
    assert "user" not in manifest["oauth_config"]["scopes"]
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == COMMAND and command["should_escape"] is True
    settings = manifest["settings"]
    assert settings["event_subscriptions"]["bot_events"] == list(EVENTS)
    assert settings["interactivity"]["is_enabled"] is True
    for url in (command["url"], settings["event_subscriptions"]["request_url"],
                settings["interactivity"]["request_url"]):  # fmt: skip
        assert url.startswith("https://") and url.endswith("/slack/events")
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_every_scope_the_fake_slack_checks_is_asked_for() -> None:
    assert set(SCOPE_OF.values()) <= set(SCOPES)


def test_readme_walks_through_the_slack_set_up() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    needed = ("docs/slack/manifest.yaml", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
              "SLACK_APP_TOKEN", "SLACK_API_URL", "/slack/events", "/invite @allhands")  # fmt: skip
    for text in needed:
        assert text in readme, text


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        (Settings(slack_bot_token="xoxp-user-token", slack_signing_secret="s"),
         "SLACK_BOT_TOKEN: is not a bot token (it starts with xoxb-"),
        (Settings(slack_bot_token="xoxb-1"),
         "SLACK_SIGNING_SECRET: is not set (Basic Information > App Credentials"),
        (Settings(slack_bot_token="xoxb-1", slack_app_token="xoxb-2"),
         "SLACK_APP_TOKEN: is not an app-level token"),
        (Settings(slack_bot_token="xoxb-1", slack_signing_secret="s", slack_api_url="slack.com"),
         "SLACK_API_URL: 'slack.com' is not a URL"),
    ],
)  # fmt: skip
def test_settings_that_cannot_work_are_refused_with_a_hint(
    settings: Settings, problem: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        check_settings(settings)
    assert problem in str(refused.value)


async def _app(tmp_path: Path, fake: SlackFake, token: str) -> App:
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.format(replay=replay), encoding="utf-8")
    settings = Settings(db_path=str(tmp_path / "a.db"), slack_bot_token=token,
                        slack_signing_secret=SECRET, slack_api_url=fake.api_url)  # fmt: skip
    return App(settings=settings, adapters={"console": ConsoleAdapter(io.StringIO())},
               clock=FakeClock(), playbooks=load_playbooks(book))  # fmt: skip


async def test_a_token_slack_refuses_stops_the_start(tmp_path: Path) -> None:
    fake = await SlackFake().start()
    app = await _app(tmp_path, fake, "xoxb-revoked")
    try:
        with pytest.raises(ConfigError) as refused:
            await app.start()
        assert "SLACK_BOT_TOKEN: Slack refused it: Slack auth.test: invalid_auth" in str(
            refused.value
        )
    finally:
        await app.stop()
        await fake.close()


async def test_slack_down_at_start_is_not_fatal(tmp_path: Path) -> None:
    fake = await SlackFake().start()
    workspace(fake)
    fake.fail("auth.test", Failure(status=503, times=1))
    app = await _app(tmp_path, fake, BOT_TOKEN)
    try:
        await app.start()
        await app.poll_all()
        await app.outbox.drain()
        assert len(fake.messages(BILLING)) == 1
    finally:
        await app.stop()
        await fake.close()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_allhands_run_serves_slack(tmp_path: Path) -> None:
    fake = await SlackFake().start()  # real time, as `allhands run` lives in it
    workspace(fake)
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "playbook.yaml"
    book.write_text(PLAYBOOK.format(replay=replay), encoding="utf-8")
    port = _free_port()
    env = {**os.environ, "ALLHANDS_DB": str(tmp_path / "run.db"), "ALLHANDS_PLAYBOOKS": str(book),
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SECRET,
           "SLACK_API_URL": fake.api_url}  # fmt: skip
    env.pop("SLACK_APP_TOKEN", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--host", "127.0.0.1", "--port", str(port),
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        await fake.until(lambda: len(fake.messages(SUPPORT)) == 2, within=30)
        assert len(fake.messages(BILLING)) == 1 and len(fake.messages(SUPPORT)) == 2
        body = (f"command=%2Fallhands&text=claim+1&user_id={DANA}&channel_id={BILLING}"
                f"&team_id=T0ALLHANDS&response_url={fake.response_url('run')}")  # fmt: skip
        ts = str(int(time.time()))
        headers = {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": SIGNER.generate_signature(timestamp=ts, body=body) or "",
            "Content-Type": "application/x-www-form-urlencoded",
        }  # fmt: skip
        async with (
            aiohttp.ClientSession() as http,
            http.post(f"http://127.0.0.1:{port}/slack/events", data=body, headers=headers) as r,
        ):
            assert r.status == 200
        await fake.until(lambda: bool(fake.responses), within=10)
        assert fake.responses[0][1]["text"].startswith("#1 is yours.")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=30)
        await fake.close()
    text = err.decode()
    assert proc.returncode == 0, text
    assert "Slack: connected to Lumo as @allhands" in text
    assert "Slack is not configured" not in text and "Traceback" not in text
    assert "will be unused" not in text  # bolt's warning about SLACK_BOT_TOKEN, at start
