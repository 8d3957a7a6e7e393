"""The `allhands` command: check, sources, stats, digest; run and demo in bot/run_cli.py."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from bot.cli_options import db_option, refuse
from bot.cli_options import settings as _settings
from bot.errors import AllhandsError, ConfigError
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import sql


def _fail_config(exc: ConfigError) -> None:
    click.echo(f"{len(exc.problems)} problem(s):", err=True)
    for problem in exc.problems:
        click.echo(f"  {problem}", err=True)
    sys.exit(2)


class _Group(click.Group):
    """Turns allhands' own errors into a clean message and exit status, never a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            _fail_config(exc)
        except AllhandsError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except sql.UNUSABLE as exc:  # not a store, a damaged one, a server out of reach
            click.echo(
                f"error: the store cannot be used: {exc} (check --db or ALLHANDS_DB)", err=True
            )
            sys.exit(2)
        return None


@click.group(cls=_Group)
@click.option("-v", "--verbose", is_flag=True, help="Log more.")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one object a line (with mention, team, effect where they apply).",
)
def main(verbose: bool, log_format: str) -> None:
    """allhands: public customer mentions into your team chat, where anyone can answer them."""
    from bot import logs

    logs.configure(verbose=verbose, format=log_format)


@main.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--route", "sample", metavar="TEXT", help="Show where a post with this text goes.")
@click.option("--source", default="", help="With --route: the source id the post came from.")
@click.option("--author", default="", help="With --route: the author's handle.")
@click.option("--language", default=None, help="With --route: the post's language, e.g. pt.")
@db_option
def check(
    path: Path | None, sample: str | None, source: str, author: str, language: str | None
) -> None:
    """Check the playbooks (default: $ALLHANDS_PLAYBOOKS or ./playbooks); exit 2 on problems."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from bot.app import build_triager
    from bot.domain.mentions import Author, Item
    from bot.domain.normalise import normalise
    from bot.triage_model import newest_installed

    target = path or Path(Settings.from_env().playbooks)
    playbooks = load_playbooks(target)
    keywords = sum(len(t.keywords) for t in playbooks.teams.values())
    click.echo(
        f"ok: {len(playbooks.files)} file(s), {len(playbooks.sources)} source(s),"
        f" {len(playbooks.teams)} team(s), {len(playbooks.routes)} route(s),"
        f" {keywords} team keyword(s); default team {playbooks.default_team}"
    )
    if sample is None:
        return
    model, which = newest_installed(_settings().db_path)  # the model the bot there uses
    triager = build_triager(playbooks, SentimentIntensityAnalyzer(), model=model)
    item = normalise(
        Item(external_id="sample", text=sample, author=Author(author), language=language)
    )
    triage = triager(item, source=source)
    team = playbooks.teams[triage.team]
    click.echo(f"team:    {team.id} ({team.name}, {team.channel})")
    score = f" {triage.score:.2f}" if triage.score is not None else ""
    click.echo(
        f"kind:    {triage.kind}{score} · urgency {triage.urgency}"
        f" · sentiment {triage.sentiment:+.2f}"
        + (f" · severity {triage.severity}" if triage.severity else "")
        + (f" · language {triage.language}" if triage.language else "")
    )
    click.echo(f"rule:    {triage.rule}")
    click.echo(f"model:   {which}")
    if triager.matcher is not None:
        scores = triager.matcher.scores(item.text)
        shown = " · ".join(f"{t} {v:.2f}" for t, v in scores)
        click.echo(f"meaning: {shown} (threshold {triager.settings.route_threshold:.2f})")
        parts = triager.matcher.parts(item.text)[:3]
        click.echo(
            "parts:   " + " · ".join(f"{t} meaning {m:.2f} letters {v:.2f}" for t, _, m, v in parts)
        )
    if triage.note:
        click.echo(f"note:    {triage.note}")


@main.command(name="sources")
@db_option
def sources_command() -> None:
    """Show how each source is doing: last success, last error, items seen.

    Reads the store at $ALLHANDS_DB and the playbooks; exits 1 when a source is failing.
    """
    from bot import source_report
    from bot.clock import SystemClock

    settings = _settings()
    configured: dict[str, tuple[str, bool]] = {}
    try:
        playbooks = load_playbooks(settings.playbooks)
        configured = {s.id: (s.kind, s.enabled) for s in playbooks.sources}
    except AllhandsError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        click.echo(f"(playbooks not read: {first}; showing what the store knows)", err=True)
    health = source_report.read_health(settings.db_path)
    if health is None:
        click.echo(f"No store at {settings.db_path} (ALLHANDS_DB): nothing was read yet.", err=True)
        health = {}
    found = source_report.lines(health, configured, now=SystemClock().now())
    click.echo(source_report.render(found))
    if any(not line.healthy for line in found):
        sys.exit(1)


@main.command()
@db_option
def stats() -> None:
    """Show where mentions stand per team, what waits in the outbox, and what needs a person.

    Reads the store at $ALLHANDS_DB (read-only).
    """
    from bot import stats_report
    from bot.clock import SystemClock

    settings = _settings()
    figures = stats_report.read_store(settings.db_path, now=SystemClock().now())
    if figures is None:
        refuse(f"no store at {settings.db_path} (ALLHANDS_DB): allhands has not run there yet")
    click.echo(stats_report.render(figures))


@main.command()
@click.option("--team", "team_id", required=True, help="The team's id in the playbooks.")
@click.option("--preview", is_flag=True, help="Print the digest here instead of sending it.")
@click.option("--date", "day", metavar="YYYY-MM-DD", help="The day (default: yesterday).")
@click.option("--weekly", is_flag=True, help="The weekly digest of the seven days to --date.")
@click.option("--chart", type=click.Path(path_type=Path), default=None, help="Save the chart here.")
@click.option("--playbooks", "playbooks_path", default=None, help="Playbooks file or folder.")
@db_option
def digest(
    team_id: str,
    preview: bool,
    day: str | None,
    weekly: bool,
    chart: Path | None,
    playbooks_path: str | None,
) -> None:
    """Print a team's digest as its leads get it, from the store at $ALLHANDS_DB."""
    from bot.digests import PreviewError, preview_digest

    if not preview:
        refuse("the running bot sends digests at the playbook's time; add --preview to print one")
    settings = _settings()
    playbooks = load_playbooks(playbooks_path or settings.playbooks)
    try:
        text, png = preview_digest(
            playbooks, team_id=team_id, day=day, weekly=weekly, db_path=settings.db_path
        )
    except PreviewError as exc:
        refuse(str(exc))
    click.echo(text)
    if chart is not None:
        try:
            chart.write_bytes(png)
        except OSError as exc:
            refuse(f"cannot write the chart to {chart}: {exc.strerror or exc}")
        click.echo(f"\nChart: {chart}")


def _add_operations() -> None:
    from bot import operations

    for command in operations.COMMANDS:
        main.add_command(command)


_add_operations()


def _add_triage_commands() -> None:
    from bot.triage_cli import triage

    main.add_command(triage)


_add_triage_commands()


def _add_store_commands() -> None:
    from bot.store_commands import store

    main.add_command(store)


_add_store_commands()


def _add_run_commands() -> None:
    from bot.run_cli import demo, run

    main.add_command(run)
    main.add_command(demo)


_add_run_commands()
