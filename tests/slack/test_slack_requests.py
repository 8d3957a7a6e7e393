"""Requests to /slack/events: signatures, replays, event retries, and hostile bodies."""

from __future__ import annotations

import json
from datetime import timedelta

import aiohttp
from slack_sdk.signature import SignatureVerifier

from tests.slack.conftest import DANA, SlackHarness


async def test_forged_stale_and_unsigned_requests_get_401(slack: SlackHarness) -> None:
    body = slack.command_body("list")
    now = int(slack.clock.now().timestamp())
    forged = SignatureVerifier("not-the-secret").generate_signature(timestamp=str(now), body=body)
    cases = {
        "forged": {"X-Slack-Request-Timestamp": str(now), "X-Slack-Signature": forged or ""},
        "stale": slack.headers(body, timestamp=now - 301),
        "from the future": slack.headers(body, timestamp=now + 301),
        "unsigned": {},
        "timestamp not a number": {**slack.headers(body), "X-Slack-Request-Timestamp": "soon"},
        "signature of another body": slack.headers(slack.command_body("claim 1")),
    }
    for case, headers in cases.items():
        status, text, _ = await slack.send(body, headers=headers)
        assert status == 401, case
        assert json.loads(text) == {"error": "invalid request"}, case
    await slack.settle()
    assert slack.fake.responses == []  # nothing was acted on
    # Within the window and signed: accepted.
    assert (await slack.send(body, headers=slack.headers(body, timestamp=now - 299)))[0] == 200


async def test_a_replayed_request_is_refused(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    body = slack.command_body("claim 1")
    headers = slack.headers(body)
    assert (await slack.send(body, headers=headers))[0] == 200
    assert (await slack.send(body, headers=headers))[0] == 401
    await slack.settle()
    assert len(slack.fake.responses) == 1


async def test_bodies_that_are_not_utf8_or_not_slack_are_refused(slack: SlackHarness) -> None:
    raw = b"payload=%7B\xff\xfe"
    async with (
        aiohttp.ClientSession() as http,
        http.post(f"{slack.url}/slack/events", data=raw) as response,
    ):
        assert response.status == 400
    # Signed but not a request bolt knows: answered (404), not crashed.
    status, _, _ = await slack.send("payload=%7B%22type%22%3A%22nonsense%22%7D")
    assert status == 404
    status, _, _ = await slack.send("payload=not-json")
    assert status == 400


async def test_url_verification_is_answered(slack: SlackHarness) -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = json.dumps({"token": "x", "challenge": challenge, "type": "url_verification"})
    status, text, _ = await slack.send(body, content_type="application/json")
    assert status == 200
    assert challenge in text


async def test_event_retries_are_not_processed_twice(slack: SlackHarness) -> None:
    event = {"type": "app_home_opened", "user": DANA, "channel": "D0DANA0001", "tab": "home",
             "event_ts": "1767603600.000100"}  # fmt: skip
    body = slack.event_body(event, event_id="Ev0HOME0001")
    assert (await slack.send(body, content_type="application/json"))[0] == 200
    await slack.settle()
    # Slack retries with a new signature and X-Slack-Retry-Num when it thinks we missed it.
    slack.clock.advance(timedelta(seconds=2))
    retry_headers = {**slack.headers(body), "X-Slack-Retry-Num": "1",
                     "X-Slack-Retry-Reason": "http_timeout"}  # fmt: skip
    status, _, _ = await slack.send(body, content_type="application/json", headers=retry_headers)
    assert status == 200
    await slack.settle()
    assert len(slack.fake.calls_to("views.publish")) == 1
    # A different event is processed.
    other = slack.event_body(event, event_id="Ev0HOME0002")
    await slack.send(other, content_type="application/json")
    await slack.settle()
    assert len(slack.fake.calls_to("views.publish")) == 2
