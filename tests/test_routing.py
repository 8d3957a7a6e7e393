"""Routing by the playbooks' rules: conditions, order, fallback, and `check --route`."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.app import build_router
from bot.cli import main
from bot.domain.routes import Post, Route, Router
from bot.playbooks import load_playbooks

BOOK = """\
teams:
  network:
    channel: slack:#net
    keywords: [outage, router]
  billing:
    channel: slack:#billing
    keywords: [refund, bill]
  support:
    channel: slack:#support
  security:
    channel: slack:#security
default_team: support
sources:
  - {id: status, kind: replay}
  - {id: social, kind: replay}
routes:
  - name: security first
    team: security
    phrases: ["someone logged in", "hacked"]
  - team: network
    regex: '\\b(is|are|all) down\\b'
  - name: Portuguese complaints
    team: billing
    languages: [pt]
    kinds: [complaint]
  - name: the status page
    team: network
    sources: [status]
  - name: our biggest customer
    team: billing
    authors: ["@MegaCorp"]
    keywords: [invoice]
"""


@pytest.fixture
def router(tmp_path: Path) -> Router:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK, encoding="utf-8")
    return build_router(load_playbooks(path))


WHERE = "book.yaml"


@pytest.mark.parametrize(
    ("post", "kind", "team", "why"),
    [
        (
            Post("I think I was HACKED, refund me"),
            "complaint",
            "security",
            f"route 'security first' ({WHERE}:17): phrase 'hacked' -> security",
        ),
        (
            Post("Someone   logged in\nto my account"),
            "other",
            "security",
            f"route 'security first' ({WHERE}:17): phrase 'someone logged in' -> security",
        ),
        (
            Post("Are all down in Leeds? my bill is late"),
            "question",
            "network",
            f"route routes[1] ({WHERE}:20): regex matched 'all down' -> network",
        ),
        (
            Post("A minha fatura veio errada", language="pt-BR"),
            "complaint",
            "billing",
            f"route 'Portuguese complaints' ({WHERE}:22): kind complaint, language pt-br"
            " -> billing",
        ),
        # The language holds but the kind does not: every condition must hold.
        (
            Post("Obrigado pela ajuda", language="pt"),
            "praise",
            "support",
            "no rule matched -> default team support",
        ),
        (
            Post("Maintenance tonight", source="status"),
            "other",
            "network",
            f"route 'the status page' ({WHERE}:26): source 'status' -> network",
        ),
        (
            Post("Where is my invoice?", author="megacorp"),
            "question",
            "billing",
            f"route 'our biggest customer' ({WHERE}:29): keyword 'invoice', author @megacorp"
            " -> billing",
        ),
        # Someone else asking about an invoice: the author condition fails, and no team
        # keyword matches 'invoice'.
        (
            Post("Where is my invoice?", author="someone"),
            "question",
            "support",
            "no rule matched -> default team support",
        ),
        # Routes come before team keywords: 'router' is network's keyword, but the
        # security route matches first.
        (
            Post("My router was hacked"),
            "complaint",
            "security",
            f"route 'security first' ({WHERE}:17): phrase 'hacked' -> security",
        ),
        (Post("My router reboots"), "complaint", "network", "keyword 'router' -> network"),
        (Post("Nice weather"), "other", "support", "no rule matched -> default team support"),
    ],
)
def test_routes_in_order_then_team_keywords_then_default(
    router: Router, tmp_path: Path, post: Post, kind: str, team: str, why: str
) -> None:
    got_team, rule = router.route(post, kind=kind)
    assert (got_team, rule.replace(f"{tmp_path}/", "")) == (team, why)


def test_rule_names_the_file_and_line(router: Router, tmp_path: Path) -> None:
    _, rule = router.route(Post("we got hacked"), kind="complaint")
    assert rule == f"route 'security first' ({tmp_path}/book.yaml:17): phrase 'hacked' -> security"


def test_a_runaway_admin_regex_gives_up_instead_of_hanging() -> None:
    router = Router([Route("slow", regex=r"(a|a)+b")], default_team="support")
    # Catastrophic backtracking: 2**60 ways to fail. Without the engine's timeout this
    # would run for years; with it, the post is simply not matched by this rule.
    assert router.route("a" * 60)[0] == "support"
    assert router.route("aab")[0] == "slow"


def test_check_route_shows_team_kind_urgency_and_rule(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK, encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["check", str(path), "--route", "Our accounts were hacked, this is a disaster!"],
    )
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == (
        "ok: 1 file(s), 2 source(s), 4 team(s), 5 route(s), 4 team keyword(s); default team support"
    )
    assert lines[1] == "team:    security (security, slack:#security)"
    assert lines[2].startswith("kind:    complaint 0.")
    assert "· urgency critical · sentiment -" in lines[2]
    assert lines[2].endswith("· severity data breach · language en")
    assert lines[3] == (f"rule:    route 'security first' ({path}:17): phrase 'hacked' -> security")
    assert lines[4].startswith("model:   the ")  # shipped, or learned in $ALLHANDS_DB's store


def test_check_route_uses_source_author_and_language(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK, encoding="utf-8")
    runner = CliRunner()
    by_source = runner.invoke(main, ["check", str(path), "--route", "hi", "--source", "status"])
    assert "source 'status' -> network" in by_source.output
    by_author = runner.invoke(
        main, ["check", str(path), "--route", "my invoice?", "--author", "@MegaCorp"]
    )
    assert "author @megacorp -> billing" in by_author.output


def test_check_route_on_bad_playbooks_lists_problems_not_a_route(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text(BOOK.replace("team: security", "team: securty"), encoding="utf-8")
    result = CliRunner().invoke(main, ["check", str(path), "--route", "hacked"])
    assert result.exit_code == 2
    assert "routes[0].team: unknown team 'securty' (did you mean 'security'?)" in result.output
    assert "Traceback" not in result.output


async def test_polled_posts_are_routed_by_their_source(tmp_path: Path) -> None:
    from bot.app import App
    from bot.chat.console import ConsoleAdapter
    from bot.settings import Settings
    from bot.store import mentions
    from tests.conftest import write_posts

    posts = tmp_path / "posts.jsonl"
    write_posts(posts, [{"id": "1", "text": "Scheduled maintenance", "author": {"handle": "s"}}])
    book = tmp_path / "book.yaml"
    book.write_text(
        BOOK.replace("{id: status, kind: replay}", f"{{id: status, kind: replay, file: {posts}}}"),
        encoding="utf-8",
    )
    app = App(
        settings=Settings(db_path=str(tmp_path / "a.db")),
        adapters={"console": ConsoleAdapter()},
        playbooks=load_playbooks(book),
    )
    await app.start()
    try:
        await app.poll_source("status")
        stored = await app.database.read(mentions.get, number=1)
    finally:
        await app.stop()
    assert stored is not None and stored.team == "network"
