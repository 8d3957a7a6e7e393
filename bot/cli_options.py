"""What every `allhands` command shares: `--db`, the settings it implies, a clean refusal."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import replace
from typing import Any, NoReturn, TypeVar

import click

from bot.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

_DB_KEY = "allhands.db"


def _remember_db(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[_DB_KEY] = value


def db_option(command: F) -> F:
    """Add `--db FILE|URL` (the store to use instead of $ALLHANDS_DB) to a command."""
    return click.option(
        "--db",
        metavar="FILE|URL",
        default=None,
        expose_value=False,
        callback=_remember_db,
        help="The store: a SQLite file or a postgresql:// URL"
        " (default: $ALLHANDS_DB or ./allhands.db).",
    )(command)


def settings() -> Settings:
    """The settings from the environment, with the store named by `--db` where it was given."""
    found = Settings.from_env()
    ctx = click.get_current_context(silent=True)
    chosen = ctx.meta.get(_DB_KEY) if ctx is not None else None
    return replace(found, db_path=chosen) if chosen else found


def refuse(message: str) -> NoReturn:
    """A one-line error and exit status 2: the command was asked something it cannot do."""
    click.echo(f"error: {message}", err=True)
    sys.exit(2)
