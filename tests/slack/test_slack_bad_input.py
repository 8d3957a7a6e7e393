"""Bad and hostile requests to /slack/events: a short 4xx each, never a 500 or a traceback."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.slack.conftest import SlackHarness


async def test_an_absurd_timestamp_is_refused_without_a_signature(
    slack: SlackHarness, caplog: pytest.LogCaptureFixture
) -> None:
    for stamp in ("9" * 309, "1" * 5000, "١٢٣"):
        headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": "v0=" + "0" * 64}
        status, text, _ = await slack.send("x=1", headers=headers)
        assert status == 401 and "invalid request" in text
    assert "Traceback" not in caplog.text


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def payload(**fields: object) -> str:
    """An interaction payload, form-encoded as Slack posts it."""
    return urlencode({"payload": json.dumps(fields)})


def event(**fields: object) -> str:
    """An Events API callback."""
    return json.dumps({"type": "event_callback", **fields})


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("[1, 2]", JSON),
        ('"text"', JSON),
        ("null", JSON),
        ("{not json", JSON),
        ("[" * 100_000 + "]" * 100_000, JSON),
        ("payload=[1]", FORM),
        ("payload=1", FORM),
        ("payload=%7Bnot", FORM),
        (payload(type="view_submission"), FORM),
        (payload(type="view_submission", view={}), FORM),
        (payload(type="view_submission", user=5, view={"callback_id": "allhands_reply"}), FORM),
        (payload(type="block_actions", user={"id": "U1"}, actions=[1]), FORM),
        (payload(type="block_actions", actions=[{"action_id": "allhands_claim"}]), FORM),
        (urlencode({"command": "/allhands", "text": "claim 1"}), FORM),
        (event(event=[1], event_id="Ev1"), JSON),
        (event(event={"type": "app_home_opened", "user": 5}, event_id="Ev2"), JSON),
        (json.dumps({"type": "url_verification"}), JSON),
        (json.dumps({"type": None, "event": -109, "event_id": -109}), JSON),
        (json.dumps({"event": None}), JSON),
    ],
)
async def test_signed_bodies_slack_never_sends_get_a_4xx(
    slack: SlackHarness, body: str, content_type: str, caplog: pytest.LogCaptureFixture
) -> None:
    status, text, _ = await slack.send(body, content_type=content_type)
    await slack.settle()
    assert status < 500, text
    assert "Traceback" not in caplog.text
    status, _, _ = await slack.send(slack.command_body("help"))
    assert status == 200
