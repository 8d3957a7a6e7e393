"""Playbooks v1: the example is good; broken ones are refused with file:line and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.errors import ConfigError
from bot.playbooks import load_playbooks

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
teams:
  support:
    channel: slack:#support
"""


def test_example_playbooks_are_good() -> None:
    books = load_playbooks(ROOT / "playbooks")
    assert len(books.teams) >= 3
    assert books.default_team in books.teams
    assert {s.kind for s in books.sources} >= {"replay"}


def problems(tmp_path: Path, text: str, name: str = "book.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_playbooks(path)
    return [str(p).replace(str(path), name) for p in caught.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ["book.yaml: the file is empty (add sources: and teams:)"]),
        (
            "- a\n- b\n",
            [
                "book.yaml:1: the file is a list, not a mapping"
                " (start with keys such as sources: and teams:)"
            ],
        ),
        (
            "teams:\n  support:\n    channel: slack:#s\n  bad: [\n",
            ["book.yaml:5: YAML syntax error: expected the node content, but found '<stream end>'"],
        ),
        (GOOD + "teem: {}\n", ["book.yaml:4: teem: unknown key (did you mean 'teams'?)"]),
        (
            GOOD + "    chanel: x\n",
            ["book.yaml:4: teams.support.chanel: unknown key (did you mean 'channel'?)"],
        ),
        (
            "teams:\n  support:\n    channel: '#support'\n",
            [
                "book.yaml:3: teams.support.channel: '#support' is not a channel; write"
                " platform:channel, e.g. slack:#support (platforms: console, slack, teams)"
            ],
        ),
        (
            GOOD + "default_team: sales\n",
            ["book.yaml:4: default_team: unknown team 'sales' (known teams: support)"],
        ),
        (
            GOOD + "sources:\n  - id: a\n    kind: rsss\n",
            ["book.yaml:6: sources[0].kind: unknown source kind 'rsss' (did you mean 'rss'?)"],
        ),
        (
            GOOD + "sources:\n  - id: a\n    kind: rss\n    url: ftp://x\n    every: 5 minutes\n",
            [
                "book.yaml:8: sources[0].every: '5 minutes' is not a duration;"
                " write it like 90s, 15m, 4h or 2d",
            ],
        ),
        (
            GOOD + "sources:\n  - id: a\n    kind: rss\n    url: ${ALLHANDS_TEST_UNSET}\n",
            [
                "book.yaml:7: sources[0].url: environment variable ALLHANDS_TEST_UNSET is not set"
                " (export ALLHANDS_TEST_UNSET=... before starting allhands)",
            ],
        ),
        (
            GOOD + "sources:\n  - {id: a, kind: replay}\n  - {id: a, kind: replay}\n",
            ["book.yaml:6: sources[1].id: source id 'a' is used twice"],
        ),
        (
            "teams:\n\tsupport:\n",
            [
                "book.yaml:2: YAML syntax error: found character '\\t' that cannot start any token"
                " (indent with spaces, not tabs)"
            ],
        ),
        (
            "teams: 3\n",
            ["book.yaml:1: teams: should be a mapping (key: value on lines below), not a number"],
        ),
    ],
)
def test_broken_playbooks(tmp_path: Path, text: str, expected: list[str]) -> None:
    assert problems(tmp_path, text) == expected


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    found = problems(tmp_path, "teams:\n  a:\n    chanel: x\n  b:\n    channel: nope\n")
    assert len(found) == 3  # b's channel is bad; a's is missing and misspelt


def test_check_command_exit_codes(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(main, ["check", str(ROOT / "playbooks")])
    assert good.exit_code == 0
    assert good.output.startswith("ok: 4 file(s), 3 source(s), 3 team(s)")
    bad_file = tmp_path / "bad.yaml"
    bad_file.write_text("teem: {}\n", encoding="utf-8")
    bad = runner.invoke(main, ["check", str(bad_file)])
    assert bad.exit_code == 2
    assert "teem: unknown key (did you mean 'teams'?)" in bad.output
    assert "Traceback" not in bad.output
    missing = runner.invoke(main, ["check", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2
    assert "no such file or folder" in missing.output
