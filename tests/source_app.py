"""A whole allhands on the console with the sources a test names, for end-to-end tests of
one connector: poll, card, claim, reply, and what was posted (or recorded); and the
claimed mention a connector's `reply` is handed."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.mentions import Author, Mention, State
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import ConsoleHarness

TEAMS = """\
teams:
  billing:
    channel: console:#billing
    keywords: [refund, charged, invoice, bill]
  support:
    channel: console:#support
default_team: support
"""


@asynccontextmanager
async def console_app(
    tmp_path: Path, clock: FakeClock, sources: str
) -> AsyncIterator[ConsoleHarness]:
    """An App on the console reading `sources` (the YAML of a `sources:` list)."""
    book = tmp_path / "book.yaml"
    book.write_text(f"sources:\n{sources}\n{TEAMS}", encoding="utf-8")
    out = io.StringIO()
    app = App(
        settings=Settings(db_path=str(tmp_path / "app.db")),
        adapters={"console": ConsoleAdapter(out)},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        yield ConsoleHarness(app, out, tmp_path / "unused.jsonl")
    finally:
        await app.stop()


async def first_card(harness: ConsoleHarness) -> str:
    """Poll every source once, one new mention and no error expected; the card it got."""
    [polled] = await harness.app.poll_all()
    assert polled.new == 1 and polled.error is None
    await harness.app.outbox.drain()
    return harness.output()


def claimed_mention(source: str, external_id: str, *, author: str, kind: str) -> Mention:
    """Mention #1 of `source`, the post `external_id`, as claimed in the support team."""
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    return Mention(
        number=1, source=source, external_id=external_id, url="", author=Author(handle=author),
        text="…", state=State.CLAIMED, team="support", kind=kind, urgency="normal",
        sentiment=0.0, created_at=now, received_at=now,
    )  # fmt: skip
