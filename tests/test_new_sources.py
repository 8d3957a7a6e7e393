"""The five new source kinds in one playbook: `allhands check` takes it, `allhands sources`
lists each with its health, and a source answering garbage loses nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.clock import FakeClock
from bot.store import mentions
from tests.fakes.appstore import FakeAppStore
from tests.fakes.googleplay import FakeGooglePlay
from tests.fakes.hackernews import FakeHackerNews
from tests.fakes.reddit import FakeReddit
from tests.fakes.x import FakeX
from tests.source_app import TEAMS, console_app


async def test_check_sources_and_nothing_lost_when_a_source_answers_garbage(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with (
        FakeHackerNews() as hn, FakeX() as x, FakeReddit() as reddit,
        FakeAppStore() as ios, FakeGooglePlay() as play,
    ):  # fmt: skip
        sources = "".join(
            (hn.source_yaml(), x.source_yaml(), reddit.source_yaml(),
             ios.source_yaml(tmp_path), play.source_yaml(tmp_path))
        )  # fmt: skip
        book = tmp_path / "check" / "book.yaml"
        book.parent.mkdir()
        book.write_text(f"sources:\n{sources}\n{TEAMS}", encoding="utf-8")
        checked = CliRunner().invoke(main, ["check", str(book)])
        assert checked.exit_code == 0, checked.output
        assert "5 source(s)" in checked.output

        hn.story("Acme is down")
        x.post("@acme is down for me")
        reddit.post("Acme down?")
        ios.review("Down", "Cannot log in", rating=1)
        play.review("Down\tCannot log in", stars=2)
        x.fail("/2/users/me", 200, "<html>over capacity</html>")
        async with console_app(tmp_path, clock, sources) as harness:
            results = {r.source: r for r in await harness.app.poll_all()}
            assert {s: r.new for s, r in results.items()} == {
                "hn": 1, "x": 0, "reddit": 1, "ios": 1, "play": 1
            }  # fmt: skip
            assert "not JSON" in (results["x"].error or "")
            env = {"ALLHANDS_DB": harness.app.settings.db_path, "ALLHANDS_PLAYBOOKS": str(book)}
            listed = CliRunner().invoke(main, ["sources"], env=env)
            assert listed.exit_code == 1, listed.output
            lines = listed.output.splitlines()
            for source, kind in (("hn", "hackernews"), ("reddit", "reddit"),
                                 ("ios", "appstore"), ("play", "googleplay")):  # fmt: skip
                line = next(line for line in lines if line.startswith(source + " "))
                assert kind in line and " ok " in line, line
            x_line = next(line for line in lines if line.startswith("x "))
            assert "FAILING (1 in a row)" in x_line
            assert any("last error" in line and "not JSON" in line for line in lines)

            clock.advance(timedelta(minutes=10))  # past the backoff; X answers again
            again = {r.source: r for r in await harness.app.poll_all()}
            assert again["x"].new == 1 and again["x"].error is None
            stored = await harness.app.database.read(mentions.get, number=5)
            assert stored is not None and stored.source == "x"


def test_the_readme_examples_of_each_new_source_pass_check(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    examples = re.findall(r"The source: `(\{id: [^`]+\})`", readme)
    examples.append(re.search(r"`(\{id: hn, kind: hackernews[^`]+\})`", readme).group(1))  # type: ignore[union-attr]
    kinds = {re.search(r"kind: (\w+)", e).group(1) for e in examples}  # type: ignore[union-attr]
    assert kinds == {"x", "reddit", "hackernews", "appstore", "googleplay"}
    book = tmp_path / "book.yaml"
    listed = "".join(f"  - {example}\n" for example in examples)
    book.write_text(f"sources:\n{listed}{TEAMS}", encoding="utf-8")
    env = {name: "set" for name in re.findall(r"\$\{(\w+)\}", listed)}
    result = CliRunner().invoke(main, ["check", str(book)], env=env)
    assert result.exit_code == 0, result.output
    assert "5 source(s)" in result.output


def test_a_bad_source_of_each_new_kind_is_refused_with_a_hint(tmp_path: Path) -> None:
    book = tmp_path / "book.yaml"
    book.write_text(
        "sources:\n"
        "  - {id: x, kind: x, client_id: abc}\n"
        "  - {id: r, kind: reddit, client_id: abc, subreddits: ['bad name']}\n"
        "  - {id: r2, kind: reddit, client_id: abc, subreddits: [AcmeUsers]}\n"
        "  - {id: ios, kind: appstore, app_id: '12ab', issuer_id: i, key_id: k}\n"
        "  - {id: play, kind: googleplay, package_name: nope, service_account_file: /k.json}\n"
        "  - {id: hn, kind: hackernews, search: ['']}\n" + TEAMS,
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["check", str(book)])
    assert result.exit_code == 2
    for expected in (
        ":2: sources[0]: X needs client_id and refresh_token",
        ":3: sources[1].subreddits: 'bad name' is not a subreddit name",
        ":4: sources[2]: Reddit needs username and password",
        ":5: sources[3].app_id: '12ab' is not an Apple ID",
        ":6: sources[4].package_name: 'nope' is not a package name",
        ":7: sources[5].search: a search term cannot be empty",
    ):
        assert expected in result.output, result.output
