"""`allhands run` and `allhands demo`: the service started, or tried in a terminal."""

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

import click
from aiohttp import web

from bot.chat.console import ConsoleAdapter, ConsoleSession
from bot.cli_options import db_option
from bot.cli_options import settings as _settings
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


@click.command()
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


@click.command()
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
