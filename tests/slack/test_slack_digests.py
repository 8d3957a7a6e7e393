"""Digests on Slack: the chart shared in the lead's DM as an image, the text as its comment.

Through the outbox and the fake's three upload steps; retries after any step post once;
a workspace or app that cannot take the upload gets the text and the chart's table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, timedelta

import aiohttp
import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.adapter import SlackAdapter
from bot.clock import FakeClock
from bot.domain.digest_periods import day_period
from bot.errors import DeliveryError
from bot.store import digests, outbox
from bot.store.db import Database
from tests.fakes.slack_api import BOT_TOKEN, UPLOAD, Failure, SlackFake
from tests.slack.conftest import DANA, SUPPORT, SlackHarness, workspace

DM = "D" + DANA[1:]
# A PNG's signature and header chunk, and bytes no text encoding would keep intact.
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 3
TABLE = "day        in  first answer\nMon 05 Jan   3  20m"
COMPLETE = "files.completeUploadExternal"
GET_URL = "files.getUploadURLExternal"


async def record(slack: SlackHarness, text: str, *, day: int = 4, chart: bytes = PNG) -> int:
    """A digest for Dana, queued in the outbox as the digest job queues one."""
    digest_id = await slack.app.database.write(
        digests.record,
        team="support",
        period=day_period(date(2026, 1, day), UTC),
        text=text,
        chart_text=TABLE,
        chart=chart,
        recipients=[DANA],
        platform="slack",
        channel=SUPPORT,
        now=slack.clock.now(),
    )
    assert digest_id is not None
    return int(digest_id)


def shared_file(fake: SlackFake, message: dict[str, object]) -> bytes | None:
    """The bytes of the one file a message shares."""
    files = message.get("files")
    assert isinstance(files, list) and len(files) == 1
    return fake.uploads[files[0]["id"]].data


async def test_a_digest_reaches_the_leads_dm_as_its_chart_with_the_text_as_comment(
    slack: SlackHarness,
) -> None:
    book = slack.app.playbooks
    team = replace(book.teams["support"], leads=(DANA,))
    slack.app.playbooks = replace(book, teams={**book.teams, "support": team})
    period = day_period((slack.clock.now() - timedelta(days=1)).date(), UTC)
    assert await slack.app.digests.queue(slack.app.playbooks, team, period)
    await slack.settle()
    stored = await slack.app.database.read(digests.load, id=1)
    assert stored is not None and stored.chart is not None
    [message] = slack.fake.messages(DM)
    assert shared_file(slack.fake, message) == stored.chart  # the very PNG the job drew
    assert message["text"] == stored.text  # plain words: nothing to escape
    assert message["text"].startswith("Daily digest · Support · Sun 4 Jan 2026 (UTC)")
    [upload] = slack.fake.uploads.values()
    assert upload.filename == "digest-support-day-2026-01-04.png"
    assert upload.alt_txt == stored.chart_text  # screen readers get the figures
    assert upload.shared_in == [DM]
    assert [c.args["users"] for c in slack.fake.calls_to("conversations.open")] == [DANA]
    assert not [c for c in slack.fake.calls_to("chat.postMessage") if c.args["channel"] == DANA]
    assert await slack.app.database.read(outbox.counts) == {"done": 1}


async def test_strangers_text_in_the_digest_stays_escaped_in_the_comment(
    slack: SlackHarness,
) -> None:
    hostile = (
        "Daily digest\nOpen: #7 @x: <!channel> pay at <https://evil.example|yourbank.com>"
        " @here &lt;@U123&gt; \u202eevil see https://lumo.example/a?b=1&c=2."
    )
    await record(slack, hostile)
    await slack.settle()
    [message] = slack.fake.messages(DM)
    comment = message["text"]
    assert shared_file(slack.fake, message) == PNG
    assert "<!" not in comment and "<@" not in comment
    assert "&lt;!channel&gt;" in comment and "&amp;lt;@U123&amp;gt;" in comment
    assert "@\u2060here" in comment  # broken by a word joiner: it notifies nobody
    assert "\u202e" not in comment and "&lt;U+202E&gt;" in comment
    # Links are real addresses shown as themselves: none wears a label of its own.
    assert re.findall(r"<([^<>]*)>", comment) == [
        "https://evil.example",
        "https://lumo.example/a?b=1&amp;c=2",
    ]
    assert "<https://evil.example>|yourbank.com&gt;" in comment


@pytest.mark.parametrize(
    ("step", "gets", "uploads", "completes"),
    [(GET_URL, 2, 1, 1), (UPLOAD, 2, 2, 1), (COMPLETE, 1, 1, 2)],
)
async def test_a_429_on_any_step_is_retried_after_retry_after_and_posts_once(
    slack: SlackHarness, step: str, gets: int, uploads: int, completes: int
) -> None:
    slack.fake.fail(step, Failure(status=429, error="ratelimited", retry_after=30))
    started = slack.clock.now()
    await record(slack, "Daily digest · Support")
    await slack.settle()
    assert slack.fake.messages(DM) == []
    due = await slack.app.database.read(outbox.next_due)
    assert due is not None and timedelta(seconds=30) <= due - started <= timedelta(seconds=31)
    slack.clock.advance(due - slack.clock.now() - timedelta(seconds=1))
    await slack.settle()
    assert slack.fake.messages(DM) == []  # a second early: still waiting
    slack.clock.advance(timedelta(seconds=1))
    await slack.settle()
    [message] = slack.fake.messages(DM)
    assert shared_file(slack.fake, message) == PNG
    assert len(slack.fake.calls_to(GET_URL)) == gets
    assert len([c for c in slack.fake.calls_to(UPLOAD) if c.status == 200]) == 1
    assert len(slack.fake.calls_to(UPLOAD)) == uploads
    shares = slack.fake.calls_to(COMPLETE)
    assert len(shares) == completes
    # A file uploaded before the 429 is shared on the retry, not uploaded again.
    assert len({str(c.args["files"]) for c in shares}) == 1
    assert await slack.app.database.read(outbox.counts) == {"done": 1}


@pytest.mark.parametrize("scope", ["files:write", "im:write"])
async def test_an_app_without_the_scope_sends_the_text_and_table_and_says_why_once(
    slack: SlackHarness, scope: str, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fake.withheld = {scope}
    caplog.set_level(logging.WARNING, logger="bot.chat.slack.adapter")
    await record(slack, "Daily digest · Support · Sun 4 Jan 2026", day=4)
    await record(slack, "Daily digest · Support · Mon 5 Jan 2026", day=5)
    await slack.settle()
    first, second = slack.fake.messages(DM)
    assert first["text"].startswith("Daily digest · Support · Sun 4 Jan 2026")
    assert second["text"].startswith("Daily digest · Support · Mon 5 Jan 2026")
    for message in (first, second):
        assert "files" not in message
        assert f"```\n{TABLE}\n```" in message["blocks"][0]["text"]["text"]
    assert slack.fake.uploads == {}
    said = [r.getMessage() for r in caplog.records if "chart" in r.getMessage()]
    assert len(said) == 1 and f"missing_scope (needs {scope})" in said[0]
    assert await slack.app.database.read(outbox.counts) == {"done": 2}


async def test_a_report_without_a_chart_is_its_text_and_table(slack: SlackHarness) -> None:
    adapter = slack.app.adapters["slack"]
    await adapter.send_report(DANA, "Digest for support: 3 in", image_text=TABLE)
    [message] = slack.fake.messages(DM)
    assert message["text"].startswith("Digest for support: 3 in")
    assert f"```\n{TABLE}\n```" in message["blocks"][0]["text"]["text"]
    assert slack.fake.calls_to(GET_URL) == []


@dataclass
class Alone:
    """An adapter on its own fake Slack, with Web API calls cut off after 0.2 s."""

    fake: SlackFake
    adapter: SlackAdapter


@pytest.fixture
async def alone(database: Database) -> AsyncIterator[Alone]:
    clock = FakeClock()
    fake = await SlackFake(clock=lambda: clock.now().timestamp()).start()
    workspace(fake)
    http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.2))
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url, session=http)
    try:
        yield Alone(fake, SlackAdapter(client=client, clock=clock, database=database))
    finally:
        await http.close()
        await fake.close()


async def send(alone: Alone) -> None:
    await alone.adapter.send_report(
        DANA, "Daily digest", image=PNG, image_name="d.png", image_text=TABLE
    )


async def test_a_share_whose_answer_was_lost_is_not_shared_again(
    alone: Alone, caplog: pytest.LogCaptureFixture
) -> None:
    # Slack shares the file, but its answer comes after the client gave up.
    alone.fake.fail(COMPLETE, Failure(delay=0.5))
    with pytest.raises(DeliveryError) as lost:
        await send(alone)
    assert lost.value.transient and "timed out" in str(lost.value)
    await alone.fake.until(lambda: len(alone.fake.messages(DM)) == 1)
    await send(alone)  # the outbox's retry: Slack completes a file id once
    assert len(alone.fake.messages(DM)) == 1
    first, second = alone.fake.calls_to(COMPLETE)
    assert first.args["files"] == second.args["files"] and second.error == "file_not_found"
    assert len(alone.fake.calls_to(GET_URL)) == 1
    assert "not sending it again" in caplog.text


async def test_an_upload_that_expired_unshared_is_uploaded_again(alone: Alone) -> None:
    alone.fake.fail(COMPLETE, Failure(status=429, error="ratelimited", retry_after=1))
    with pytest.raises(DeliveryError) as limited:
        await send(alone)
    assert limited.value.retry_after == 1
    alone.fake.expire_uploads()  # Slack drops uploads never completed
    await send(alone)
    [message] = alone.fake.messages(DM)
    assert shared_file(alone.fake, message) == PNG
    assert len(alone.fake.calls_to(GET_URL)) == 2
    assert [c.error for c in alone.fake.calls_to(COMPLETE)] == [
        "ratelimited",
        "file_not_found",
        None,
    ]


async def test_an_upload_outage_waits_and_a_workspace_without_uploads_gets_text(
    alone: Alone,
) -> None:
    alone.fake.fail(UPLOAD, Failure(status=503, error="unavailable"))
    with pytest.raises(DeliveryError) as down:
        await send(alone)
    assert down.value.transient and not down.value.permanent
    alone.fake.fail(GET_URL, Failure(status=200, error="file_uploads_disabled"))
    await send(alone)
    [message] = alone.fake.messages(DM)
    assert "files" not in message and TABLE in message["blocks"][0]["text"]["text"]
    assert alone.fake.uploads[next(iter(alone.fake.uploads))].completed is False


async def test_the_fake_checks_lengths_and_file_ids(alone: Alone) -> None:
    client = alone.adapter.client
    got = await client.files_getUploadURLExternal(filename="a.png", length=10)
    assert got["upload_url"].startswith(f"http://127.0.0.1:{alone.fake.port}/upload/v1/")
    http = client.session
    assert http is not None
    async with http.post(got["upload_url"], data=b"12345") as short:
        assert short.status == 400
    with pytest.raises(Exception, match="file_not_found"):  # no bytes arrived
        await client.files_completeUploadExternal(files=[{"id": got["file_id"]}])
    with pytest.raises(Exception, match="file_not_found"):
        await client.files_completeUploadExternal(files=[{"id": "F99999999"}])
    async with http.post(got["upload_url"], data=b"0123456789") as right:
        assert right.status == 200
    done = await client.files_completeUploadExternal(files=[{"id": got["file_id"]}])
    assert done["files"] == [{"id": got["file_id"], "title": "a.png"}]
    assert alone.fake.uploads[got["file_id"]].shared_in == []  # no channel: private


async def test_a_team_without_leads_gets_the_chart_in_its_channel(slack: SlackHarness) -> None:
    book = slack.app.playbooks
    team = replace(book.teams["support"], leads=(), digest=None)
    slack.app.playbooks = replace(book, teams={**book.teams, "support": team})
    period = day_period((slack.clock.now() - timedelta(days=1)).date(), UTC)
    assert await slack.app.digests.queue(slack.app.playbooks, team, period)
    await slack.settle()
    stored = await slack.app.database.read(digests.load, id=1)
    assert stored is not None and stored.chart is not None
    [message] = [m for m in slack.fake.messages(SUPPORT) if m.get("files")]
    assert shared_file(slack.fake, message) == stored.chart
    assert message["text"] == stored.text
    [upload] = slack.fake.uploads.values()
    assert upload.shared_in == [SUPPORT]
    assert not slack.fake.calls_to("conversations.open")  # no DM for a channel's digest
