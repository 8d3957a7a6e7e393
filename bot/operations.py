"""The operator's commands on the store: backup, restore, forget (erasure), export."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli_options import db_option, refuse, settings

if TYPE_CHECKING:
    from bot.store.erasure import Erased


@click.command()
@click.argument("file", type=click.Path())
@click.option("--overwrite", is_flag=True, help="Replace FILE if it exists.")
@db_option
def backup(file: str, overwrite: bool) -> None:
    """Copy the store to FILE; safe while `allhands run` is running."""
    from bot.store.backup import BackupError
    from bot.store.backup import backup as copy_store

    db_path = settings().db_path
    try:
        copied = copy_store(db_path, file, overwrite=overwrite)
    except BackupError as exc:
        refuse(str(exc))
    click.echo(
        f"Backed up {db_path} to {copied.path}: {copied.mentions:,} mention(s),"
        f" {copied.size / 1e6:,.1f} MB."
    )


@click.command()
@click.argument("file", type=click.Path())
@db_option
def restore(file: str) -> None:
    """Replace the store with the backup in FILE; refused while `allhands run` uses it."""
    from bot.store.backup import BackupError
    from bot.store.backup import restore as restore_store

    db_path = settings().db_path
    try:
        copied = restore_store(file, db_path)
    except BackupError as exc:
        refuse(str(exc))
    click.echo(f"Restored {db_path} from {file}: {copied.mentions:,} mention(s).")


@click.command()
@click.option("--source", required=True, help="The source id the person wrote on, e.g. masto.")
@click.option("--author", required=True, help="Their handle there, e.g. @ann@example.social.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@db_option
def forget(source: str, author: str, yes: bool) -> None:
    """Erase a person's text and identity everywhere the store keeps them (erasure request).

    What is kept: that they wrote, when, to which team, and how it was handled (the digest
    numbers). The erasure itself is recorded, not what was erased.
    """
    from bot.store.erasure import compact

    db_path = settings().db_path
    if not Path(db_path).is_file():
        refuse(f"no store at {db_path}: nothing to erase")
    if not yes:
        click.confirm(f"Erase everything about {author} from {source} in {db_path}?", abort=True)
    from bot.store.erasure import ErasureError

    try:
        erased = asyncio.run(_forget(db_path, source=source, author=author))
    except ErasureError as exc:
        refuse(str(exc))
    emptied = compact(db_path)
    click.echo(
        f"Erased {author} from {source}: {erased.mentions:,} mention(s) blanked,"
        f" {erased.cells:,} other place(s) naming them mended; the erasure is recorded."
    )
    if not emptied:
        click.echo(
            "note: a running allhands kept the write-ahead log busy; old pages leave it at"
            " the next checkpoint (or run `allhands forget` again after stopping it).",
            err=True,
        )


async def _forget(db_path: str, *, source: str, author: str) -> Erased:
    from bot.clock import SystemClock
    from bot.store.db import Database
    from bot.store.erasure import forget as erase

    database = await Database(db_path).open()
    try:
        return await database.write(
            erase,
            source=source,
            handle=author,
            now=SystemClock().now(),
            requested_by=_whoami(),
        )
    finally:
        await database.close()


def _whoami() -> str:
    with contextlib.suppress(Exception):
        return getpass.getuser()
    return ""


COMMANDS = (backup, restore, forget)
