"""The `allhands` command: run, demo, check, sources, digest."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import logging
import os
import signal
import sys
import tempfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

import click
from aiohttp import web

from bot.chat.console import ConsoleAdapter, ConsoleSession
from bot.cli_options import db_option
from bot.cli_options import settings as _settings
from bot.errors import AllhandsError, ConfigError
from bot.playbooks import Playbooks, SourceSpec, load_playbooks
from bot.settings import Settings
from bot.store import sql
from bot.workflow import Context
from connectors.replay import ReplayConfig

log = logging.getLogger(__name__)

EXAMPLE_PLAYBOOKS = Path(__file__).parent / "playbooks" / "examples"
# After SIGTERM `run` is gone within 5 s: web requests, jobs and sends in flight get this
# long to finish, side by side; nothing new starts, and what is queued waits for a restart.
SHUTDOWN_GRACE = 3.0


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
        _refuse(f"no store at {settings.db_path} (ALLHANDS_DB): allhands has not run there yet")
    click.echo(stats_report.render(figures))


def _refuse(message: str) -> NoReturn:
    """A one-line error and exit status 2: the command was asked something it cannot do."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


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
        _refuse("the running bot sends digests at the playbook's time; add --preview to print one")
    settings = _settings()
    playbooks = load_playbooks(playbooks_path or settings.playbooks)
    try:
        text, png = preview_digest(
            playbooks, team_id=team_id, day=day, weekly=weekly, db_path=settings.db_path
        )
    except PreviewError as exc:
        _refuse(str(exc))
    click.echo(text)
    if chart is not None:
        try:
            chart.write_bytes(png)
        except OSError as exc:
            _refuse(f"cannot write the chart to {chart}: {exc.strerror or exc}")
        click.echo(f"\nChart: {chart}")


@main.command()
@click.option("--port", type=int, default=None, help="Port to listen on (default: $PORT or 8080).")
@click.option("--host", default=None, help="Address to listen on (default 0.0.0.0).")
@db_option
def run(port: int | None, host: str | None) -> None:
    """Run the service: web server, source polling, outbox delivery."""
    settings = _settings()
    settings = replace(settings, port=port or settings.port, host=host or settings.host)
    with _run_lock(settings.db_path):  # `restore` refuses while this is held
        asyncio.run(_serve(settings))


def _run_lock(db_path: str) -> contextlib.AbstractContextManager[object]:
    from bot.store.runlock import RunLock

    if db_path == ":memory:" or sql.is_postgres(db_path):  # replicas share a server
        return contextlib.nullcontext()
    return RunLock(db_path)


async def _serve(settings: Settings) -> None:
    from bot.app import App
    from bot.scheduler import build_scheduler
    from bot.web import build_web_app

    console = ConsoleAdapter()
    # The App builds the Slack adapter when SLACK_BOT_TOKEN is set. A chat that is not
    # configured has its channels' cards printed by the console adapter, so nothing is lost.
    adapters = {"console": console, "teams": console}
    if not settings.slack_bot_token:
        adapters["slack"] = console
        log.info(
            "Slack is not configured (SLACK_BOT_TOKEN is not set): cards for slack: channels"
            " are printed on the console instead"
        )
    app = App(settings=settings, adapters=adapters)
    teams = None
    if settings.microsoft_app_id or settings.teams_emulator:
        from bot.chat.teams.adapter import TeamsAdapter

        teams = TeamsAdapter.from_settings(settings, database=app.database, clock=app.clock)
        app.adapters["teams"] = teams
    await app.start()
    runner = web.AppRunner(build_web_app(app), shutdown_timeout=SHUTDOWN_GRACE)
    scheduler = build_scheduler(app)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runner.setup()
        await web.TCPSite(runner, settings.host, settings.port).start()
        app.outbox.start()
        app.replica.start()
        scheduler.start()
        log.info("allhands listening on %s:%d", settings.host, settings.port)
        await stop.wait()
    finally:
        stopping = loop.time()
        await asyncio.gather(runner.cleanup(), app.deliver_before_stopping(grace=SHUTDOWN_GRACE))
        if teams is not None:
            await teams.close()
        await app.stop()
        log.info("allhands stopped in %.1f s", loop.time() - stopping)


def _demo_playbooks(path: str | None, every: float) -> Playbooks:
    """The playbooks' teams with only replay sources (the demo reaches no network).

    Without playbooks named or found here, the examples shipped with allhands are used.
    """
    if path is None:
        path = str(EXAMPLE_PLAYBOOKS)
        click.echo(
            f"No playbooks here (./playbooks) or in $ALLHANDS_PLAYBOOKS: using the examples"
            f" shipped with allhands, in {path}. Copy them to ./playbooks to make your own.",
            err=True,
        )
    playbooks = load_playbooks(path)
    replays = tuple(
        replace(s, every=timedelta(seconds=every)) for s in playbooks.sources if s.kind == "replay"
    )
    if not replays:
        replays = (
            SourceSpec(
                id="demo", kind="replay", every=timedelta(seconds=every), config=ReplayConfig()
            ),
        )
    return replace(playbooks, sources=replays)


@main.command()
@click.option("--playbooks", "playbooks_path", default=None, help="Playbooks file or folder.")
@click.option("--db", default=None, help="Keep state in this file (default: a throwaway one).")
@click.option("--as", "actor", default=None, help="Who you are in the demo chat.")
@click.option("--every", default=20.0, show_default=True, help="Seconds between new posts.")
def demo(playbooks_path: str | None, db: str | None, actor: str | None, every: float) -> None:
    """Try allhands in the terminal: sample posts arrive as cards; type commands to handle them."""
    logging.getLogger().setLevel(logging.WARNING)
    settings = Settings.from_env()
    chosen = playbooks_path or os.environ.get("ALLHANDS_PLAYBOOKS")
    if chosen is None and Path(settings.playbooks).exists():
        chosen = settings.playbooks
    playbooks = _demo_playbooks(chosen, every)
    # The demo stays in the terminal and off the network, even where Slack is configured.
    settings = replace(settings, slack_bot_token="", slack_app_token="")
    with tempfile.TemporaryDirectory(prefix="allhands-demo-") as tmp:
        db_path = db or str(Path(tmp) / "demo.db")
        settings = replace(settings, db_path=db_path)
        with _run_lock(db_path):
            asyncio.run(_demo(settings, playbooks, actor or _whoami()))


def _whoami() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return "you"


async def _demo(settings: Settings, playbooks: Playbooks, actor: str) -> None:
    from bot.app import App
    from bot.scheduler import build_scheduler

    console = ConsoleAdapter()
    adapters = {"console": console, "slack": console, "teams": console}
    app = App(settings=settings, adapters=adapters, playbooks=playbooks)
    await app.start()
    interactive = sys.stdin.isatty()
    teams = ", ".join(f"{t.id} ({t.channel})" for t in playbooks.teams.values())
    console._print(
        f"allhands demo: sample posts arrive as cards for the teams {teams}.\n"
        f"You are {actor}. Type `help` for commands, `/as NAME` to be someone else,"
        " Ctrl-D to leave."
    )

    async def handle(line: str, who: str) -> str:
        answer = await app.workflow.handle(line, Context(actor=who, platform="console"))
        return answer.text

    session = ConsoleSession(handle=handle, adapter=console, actor=actor)
    # No digests in the demo: yesterday's would be empty and interrupt it.
    scheduler = (
        build_scheduler(app, poll_now=False, reload=False, digests=False) if interactive else None
    )
    try:
        await app.poll_all()
        await app.outbox.drain()
        if scheduler is not None:
            scheduler.start()
            app.outbox.start()
        while True:
            if interactive:
                console.out.write(f"{session.actor}> ")
                console.out.flush()
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            await session.feed(line)
            await app.outbox.drain()
    finally:
        await app.outbox.drain()
        await app.stop()
        if interactive:
            console._print("\nBye.")


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
