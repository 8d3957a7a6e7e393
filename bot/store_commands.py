"""`allhands store copy FROM TO`: a whole SQLite store into an empty PostgreSQL store."""

from __future__ import annotations

import click

from bot.cli_options import refuse


@click.group()
def store() -> None:
    """Work on a store as a whole (moving it to PostgreSQL)."""


@store.command(name="copy")
@click.argument("source", metavar="FROM")
@click.argument("target", metavar="TO")
def copy_command(source: str, target: str) -> None:
    """Copy the SQLite store FROM into the empty PostgreSQL store TO (a postgresql:// URL).

    TO is migrated first and must hold no rows; FROM must be at this version's migration
    level. `allhands run` on FROM must be stopped first (the copy refuses while it runs).
    """
    from bot.store.copy import CopyError, copy_store

    def shown(table: str, rows: int, seconds: float) -> None:
        click.echo(f"  {table:<24} {rows:>12,} row(s) {seconds:>8.2f} s")

    from pathlib import Path

    from bot.store.runlock import DatabaseInUse, RunLock

    lock = RunLock(source)
    try:
        if Path(source).is_file():  # a running bot would write what the copy misses
            lock.acquire()
    except DatabaseInUse as exc:
        refuse(f"{exc}: stop it before copying its store")
    click.echo(f"Copying {source} into {_without_password(target)}:")
    try:
        copied = copy_store(source, target, progress=shown)
    except CopyError as exc:
        refuse(str(exc))
    finally:
        lock.release()
    click.echo(
        f"Copied {copied.rows:,} row(s) in {len(copied.tables)} table(s) in {copied.seconds:.1f} s."
    )


def _without_password(url: str) -> str:
    """The URL as it may be printed: its password hidden."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL at all: connecting says what is wrong with it
        return "TO"
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
