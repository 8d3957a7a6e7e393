"""The newcomer's first hour: what someone trying allhands for the first time meets."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.clock import FakeClock
from bot.domain.normalise import clean_text
from bot.playbooks import load_playbooks
from bot.run_cli import EXAMPLE_PLAYBOOKS
from bot.settings import Settings
from bot.workflow import Context
from tests.conftest import write_posts

REPO = Path(__file__).resolve().parent.parent
BOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 500
teams:
  support:
    channel: console:#support
    leads: [dana]
"""


def test_packaged_examples_are_the_repositorys_playbooks() -> None:
    ours = {p.name: p.read_bytes() for p in (REPO / "playbooks").glob("*.yaml")}
    shipped = {p.name: p.read_bytes() for p in EXAMPLE_PLAYBOOKS.glob("*.yaml")}
    assert ours and shipped == ours  # edit playbooks/ and copy to bot/playbooks/examples/


def test_demo_runs_from_an_empty_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALLHANDS_", "SLACK_"))}
    env["PYTHONPATH"] = str(REPO)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "demo"],
        cwd=tmp_path, env=env, input="list\nclaim 1\n", capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "using the examples shipped with allhands" in result.stderr
    assert "#1 complaint" in result.stdout and "Open (6)" in result.stdout
    assert "#1 is yours" in result.stdout
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the folder


async def test_list_pages_say_how_many_and_how_to_see_the_rest(tmp_path: Path) -> None:
    posts = [
        {"id": f"p{i}", "text": f"Post {i}: " + "the router blinks red again " * 20,
         "author": {"handle": f"customer_{i}_" + "x" * 60}}
        for i in range(45)
    ]  # fmt: skip
    async with console_app(tmp_path, posts) as app:
        first = await say(app, "list")
        # 45 posts about one thing are an incident too: it stands above the list.
        assert first.startswith("Incidents (1):\n  I1 ")
        assert "\nOpen (45; 1–20, oldest first):\n" in first
        assert "25 more: `list open 2` shows the next 20; `list mine` or `list team`" in first
        assert len(first) <= 3000 and all(len(line) <= 150 for line in first.splitlines())
        third = await say(app, "list open 3")
        assert "\nOpen (45; 41–45, oldest first):\n" in third and "more:" not in third
        assert "#45 " in third and "#40 " not in third
        assert "there is no page 4" in await say(app, "list 4")
        assert "list [open|mine|team|all] [page]" in await say(app, "help")


@contextlib.asynccontextmanager
async def console_app(tmp_path: Path, posts: list[dict[str, Any]]) -> AsyncIterator[App]:
    """An App on the console with a replay source of `posts`, all polled and delivered."""
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, posts)
    book = tmp_path / "book.yaml"
    book.write_text(BOOK.format(replay=replay), encoding="utf-8")
    app = App(
        settings=Settings(db_path=str(tmp_path / "app.db")),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=FakeClock(),
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        await app.poll_all()
        await app.outbox.drain()
        yield app
    finally:
        await app.stop()


async def say(app: App, line: str, actor: str = "alice") -> str:
    answer = await app.workflow.handle(line, Context(actor=actor, platform="console"))
    await app.outbox.drain()
    return answer.text


async def test_joined_emoji_stay_whole_and_hiding_characters_are_shown(tmp_path: Path) -> None:
    from bot.chat.slack.text import mrkdwn

    family, flag = "👨\u200d👩\u200d👧", "🏳️\u200d🌈"
    text = f"Our {family} loves it {flag}, but pay\u200dpal\u200b and \u202eevil look odd"
    async with console_app(
        tmp_path, [{"id": "e1", "text": text, "author": {"handle": "e"}}]
    ) as app:
        printed = app.adapters["console"].out.getvalue()  # type: ignore[attr-defined]
    for shown in (printed, mrkdwn(text).replace("&lt;", "<").replace("&gt;", ">")):
        assert family in shown and flag in shown
        assert "pay<U+200D>pal<U+200B>" in shown and "<U+202E>evil" in shown


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        (
            '<p>Log in at <a href="https://evil.example/login">paypal.com</a> now</p>',
            "Log in at paypal.com (https://evil.example/login) now",
        ),
        ('<a href="https://x.example/">click here</a>', "click here (https://x.example/)"),
        (
            '<a href="https://lumo.example/help"><span class="invisible">https://</span>'
            '<span>lumo.example/help</span></a> <a href="https://m.social/@bob">@<span>bob'
            '</span></a> <a href="https://m.social/tags/fail">#fail</a>',
            "https://lumo.example/help @bob #fail",
        ),
        ('<a href="https://x.example/a/long/path">x.example/a/lo…</a>', "x.example/a/lo…"),
        ('<a href="https://t.example/x"></a>', "https://t.example/x"),
        ('<a href="javascript:alert(1)">ok</a>', "ok"),
    ],
)
def test_a_link_shows_its_real_target(markup: str, text: str) -> None:
    assert clean_text(markup, is_html=True) == text


def test_every_command_is_in_the_readme() -> None:
    from bot.cli import main

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [name for name in main.commands if f"allhands {name}" not in readme]
    assert not missing
