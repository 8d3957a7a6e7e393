"""Routing by meaning: the shipped static embedding model, its absence or corruption (a
clear error naming the file), posts that share no word with any team's description, the
unsure case, and hostile text."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.domain.meaning import HOW
from bot.domain.mentions import Author, Item
from bot.domain.routes import Router
from bot.domain.team_match import TeamMatcher, TeamProfile
from bot.domain.triager import Triager, TriageSettings
from bot.errors import ModelError
from bot.meaning_model import SHIPPED, TOKENIZER, VECTORS, load_meaning, shipped_meaning
from bot.triage_model import load_model

# A playbook's teams, described in a few words each, as an admin would.
TEAMS = [
    TeamProfile("billing", "Billing", "payments, invoices, refunds"),
    TeamProfile("network", "Network", "internet connection, wifi, mobile signal"),
    TeamProfile("delivery", "Delivery", "parcels, couriers and delivery times"),
    TeamProfile("accounts", "Accounts", "logins, passwords and account settings"),
]
# Posts as customers write them, sharing no word with their team's name or description.
UNLIKE_IN_WORDS = [
    ("I was charged twice for one order", "billing"),
    ("you took the money but never sent the receipt", "billing"),
    ("My broadband keeps cutting out every evening", "network"),
    ("no bars on my phone at home", "network"),
    ("The box never arrived", "delivery"),
    ("My package is lost, the tracking has not moved in a week", "delivery"),
    ("Can't get into my profile, it says wrong code", "accounts"),
]
THRESHOLD = TriageSettings().route_threshold


@pytest.fixture(scope="module")
def analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def test_the_shipped_model_is_small_and_reads_meaning() -> None:
    # Its load time is printed by benchmarks/routing.py (speed is not a test here).
    assert sum(p.stat().st_size for p in SHIPPED.iterdir()) <= 20 * 1024 * 1024
    model = shipped_meaning()
    assert shipped_meaning() is model  # once per process
    refund, money_back, weather = (
        model.embed(t) for t in ("refund", "I want my money back", "sunny weather today")
    )
    assert refund is not None and money_back is not None and weather is not None
    assert float(refund @ refund) == pytest.approx(1.0, abs=1e-4)
    assert float(refund @ money_back) > float(refund @ weather)


def test_a_missing_or_broken_model_file_is_a_clear_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=rf"no meaning model file at .*{TOKENIZER}"):
        load_meaning(tmp_path)
    shutil.copyfile(SHIPPED / TOKENIZER, tmp_path / TOKENIZER)
    with pytest.raises(ModelError, match=rf"no meaning model file at .*{VECTORS}"):
        load_meaning(tmp_path)
    (tmp_path / VECTORS).write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not a header")
    with pytest.raises(ModelError, match=rf"{VECTORS} is not a readable vectors file"):
        load_meaning(tmp_path)
    save_file({"vectors": np.zeros((3, 4), dtype=np.int8)}, str(tmp_path / VECTORS))
    with pytest.raises(ModelError, match=rf"{VECTORS} is not a meaning model: it needs"):
        load_meaning(tmp_path)
    short = {"vectors": np.zeros((3, 4), dtype=np.int8), "scales": np.ones(3, dtype=np.float32)}
    save_file(short, str(tmp_path / VECTORS))
    with pytest.raises(ModelError, match=rf"{VECTORS} does not fit its tokenizer"):
        load_meaning(tmp_path)
    (tmp_path / TOKENIZER).write_text('{"version": "1.0", "model": ')
    with pytest.raises(ModelError, match=rf"{TOKENIZER} is not a readable tokenizer"):
        load_meaning(tmp_path)


def test_posts_sharing_no_word_with_a_description_go_to_its_team() -> None:
    both, letters = TeamMatcher(TEAMS, shipped_meaning()), TeamMatcher(TEAMS)
    for text, team in UNLIKE_IN_WORDS:
        best, score = both.scores(text)[0]
        assert (best, score >= THRESHOLD) == (team, True), (text, both.parts(text))
        # Letters alone (the matcher before meaning) would not send it there.
        best, score = letters.scores(text)[0]
        assert best != team or score < THRESHOLD, (text, letters.scores(text))


def test_unsure_still_goes_to_the_default_team_with_the_note(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    triager = Triager(
        analyzer,
        Router([], default_team="accounts"),
        model=load_model(),
        matcher=TeamMatcher(TEAMS, shipped_meaning()),
    )
    routed = triager(Item("1", "I was charged twice for one order", Author("ana")))
    assert routed.team == "billing" and routed.rule.startswith("most like team billing (0.")
    for text in ("Zebra crossing outside looks nice", "🙂🙂🙂", ""):
        unsure = triager(Item("2", text, Author("ana")))
        assert unsure.team == "accounts", (text, unsure)
        assert unsure.note.startswith("unsure: ") and " · " in unsure.note


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n\t ",
        "😡" * 25_000,  # 100 KB of emoji, one word
        "🙂 " * 25_000,
        "\u200b\u200c\u200d\ufeff" * 500 + "refund\u200bplease",
        "\u202eدفع مرتين\u202c لطلب واحد",  # Arabic, with an RTL override
        "x" * 100_000,
        "\x00\x01\x7f charged \ud800 twice",
        "ｃｈａｒｇｅｄ ｔｗｉｃｅ",  # fullwidth letters
    ],
)
def test_hostile_text_never_raises(text: str) -> None:
    scores = TeamMatcher(TEAMS, shipped_meaning()).parts(text)
    assert sorted(t for t, *_ in scores) == sorted(p.team for p in TEAMS)
    assert all(0.0 <= v <= 1.0 for _, *values in scores for v in values)


def test_check_route_shows_meaning_and_letters(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    book = tmp_path / "teams.yaml"
    book.write_text(
        "teams:\n"
        "  accounts: {channel: 'console:#accounts', description: logins and passwords}\n"
        "  billing: {channel: 'console:#billing', description: 'payments, invoices, refunds'}\n"
        "default_team: accounts\n"
    )
    result = CliRunner().invoke(
        main, ["check", str(book), "--route", "I was charged twice for one order"]
    )
    assert result.exit_code == 0, result.output
    assert "team:    billing" in result.output
    assert "parts:   billing meaning 0." in result.output and " letters 0." in result.output


@pytest.mark.parametrize("how", HOW)
def test_each_way_of_taking_a_teams_meaning_routes(how: str) -> None:
    examples = {
        "billing": "why did my direct debit go up",
        "network": "my connection keeps dropping",
        "delivery": "the courier left it in the rain",
        "accounts": "locked out after the update",
    }
    taught = [replace(p, examples=(examples[p.team],)) for p in TEAMS]
    matcher = TeamMatcher(taught, shipped_meaning(), how=how)
    best, score = matcher.scores("My broadband keeps cutting out every evening")[0]
    assert best == "network" and THRESHOLD <= score <= 1.0
    with pytest.raises(ValueError, match="how: one of"):
        TeamMatcher(TEAMS, shipped_meaning(), how="median")
