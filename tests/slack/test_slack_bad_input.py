"""Bad and hostile requests to /slack/events: a short 4xx each, never a 500 or a traceback."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.slack.conftest import TEAM, SlackHarness


async def test_an_absurd_timestamp_is_refused_without_a_signature(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    for stamp in ("9" * 309, "1" * 5000, "١٢٣"):
        headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + "0" * 64}
        status, text, _ = await slack.send("x=1", headers=headers)
        assert status == 401 and "invalid request" in text
    assert "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[1, 2]", "application/json"),
        ('"text"', "application/json"),
        ("null", "application/json"),
        ("{not json", "application/json"),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        ("payload=[1]", "application/x-www-form-urlencoded"),
        ("payload=1", "application/x-www-form-urlencoded"),
        ("payload=%7Bnot", "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "view_submission"})}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "view_submission", "view": {}})}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "view_submission", "user": 5, "view": {"callback_id": "allhands_reply"}})}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "block_actions", "user": {"id": "U1"}, "actions": [1]})}), "application/x-www-form-urlencoded"),
        (urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "allhands_claim", "value": "1"}]})}), "application/x-www-form-urlencoded"),
        (urlencode({"command": "/allhands", "text": "claim 1"}), "application/x-www-form-urlencoded"),
        (json.dumps({"type": "event_callback", "event": [1], "event_id": "Ev1"}), "application/json"),
        (json.dumps({"type": "event_callback", "event": {"type": "app_home_opened"}, "event_id": "Ev2"}), "application/json"),
        (json.dumps({"type": "url_verification"}), "application/json"),
    ],
)  # fmt: skip
async def test_signed_bodies_slack_never_sends_get_a_4xx(
    slack: SlackHarness, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, text, _ = await slack.send(body, content_type=content_type)
    await slack.settle()
    assert status < 500, text
    assert "Traceback" not in caplog.text
    status, _, _ = await slack.send(slack.command_body("help"))
    assert status == 200
