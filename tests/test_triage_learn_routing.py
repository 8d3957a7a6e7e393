"""`triage learn` measures routing too: with ten moves or more, one in five is held out of the
teams' examples, and the share of those the playbooks' teams route to where people moved them
is printed before and after the refit."""

from __future__ import annotations

import random
from pathlib import Path

from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.store import mentions
from bot.store.db import Database
from tests.conftest import move_to
from tests.test_triage_store import labelled, learn

BOOK = """teams:
  billing: {channel: 'console:#billing'}
  accounts: {channel: 'console:#accounts'}
  support: {channel: 'console:#support'}
default_team: support
"""
# Posts people moved, in the order they moved them: one in five (the 5th, 10th, 15th) is held out.
MOVED = [
    ("@shop charged twice for order 1041, refund the duplicate", "billing"),
    ("@shop I cannot log in, the password reset email never arrives", "accounts"),
    ("@shop the invoice shows a payment I never made", "billing"),
    ("@shop my login keeps failing after the password change", "accounts"),
    ("@shop charged twice for my order, where is the refund", "billing"),
    ("@shop double payment taken from my card for one invoice", "billing"),
    ("@shop locked out of my account, password reset link expired", "accounts"),
    ("@shop refund still missing for the duplicate charge", "billing"),
    ("@shop two-factor code never arrives so I cannot log in", "accounts"),
    ("@shop the password reset email never arrives again", "accounts"),
    ("@shop my card was charged twice this month", "billing"),
    ("@shop invoice total is wrong, I paid twice", "billing"),
    ("@shop account locked after three login attempts", "accounts"),
    ("@shop payment taken twice, please refund one", "billing"),
    ("@shop still cannot log in to my account", "accounts"),
]


async def store_moves(target: str, clock: FakeClock, moves: list[tuple[str, str]]) -> None:
    """Ingest the posts, then move each to its team as people do in chat (`move N team`)."""
    db = await Database(target).open()
    try:
        triage = Triage(kind="other", sentiment=0.0, urgency="low", team="support", rule="test")
        items = [(Item(str(i), text, Author(f"u{i}")), triage) for i, (text, _) in enumerate(moves)]
        await db.write(
            mentions.ingest, source="s", items=items, cursor=None, now=clock.now(), channel_of={}
        )
        for number, (_, team) in enumerate(moves, start=1):
            await move_to(db, number, team, clock=clock)
    finally:
        await db.close()


def data_and_book(tmp_path: Path) -> tuple[Path, Path]:
    """A small labelled CSV and the playbook with the three teams, in `tmp_path`."""
    data = tmp_path / "labelled.csv"
    labelled(data, random.Random(5), 240)
    book = tmp_path / "playbook.yaml"
    book.write_text(BOOK, encoding="utf-8")
    return data, book


async def test_learn_measures_routing_on_held_out_moves(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data, book = data_and_book(tmp_path)
    await store_moves(store_url, clock, MOVED)

    result = await learn(
        "--data", str(data), "--db", store_url, "--playbooks", str(book), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    assert "routing: 15 moved post(s) become teams' examples (accounts 5, billing 7)" in (
        result.stdout
    )
    # Before, no team described itself or had examples: nothing was routed by meaning. After,
    # the held-out posts go where people moved them.
    line = next(x for x in result.stdout.splitlines() if x.startswith("routed right"))
    assert line.split()[-2:] == ["0%", "100%"], line
    assert "3 held-out move(s)" in line


async def test_learn_with_few_moves_keeps_them_all_as_examples(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data, book = data_and_book(tmp_path)
    await store_moves(store_url, clock, MOVED[:4])
    result = await learn("--data", str(data), "--db", store_url, "--playbooks", str(book))
    assert result.exit_code == 0, result.output
    assert "routing: 4 moved post(s) become teams' examples (accounts 2, billing 2)" in (
        result.stdout
    )
    assert "routed right" not in result.stdout


async def test_learn_without_playbooks_measures_with_the_moved_to_teams_alone(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    data, _ = data_and_book(tmp_path)
    await store_moves(store_url, clock, MOVED)
    result = await learn(
        "--data", str(data), "--db", store_url, "--playbooks", str(tmp_path / "none"), "--dry-run"
    )
    assert result.exit_code == 0, result.output
    line = next(x for x in result.stdout.splitlines() if x.startswith("routed right"))
    assert line.split()[-2:] == ["0%", "100%"], line
