"""The operator's commands on the store: backup, restore, forget (erasure), export."""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot.cli_options import db_option, refuse, settings
from bot.store import sql

if TYPE_CHECKING:
    from bot.store.erasure import Erased

PROGRESS_FROM = 1000  # rows from which `export` shows a progress bar


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
    from bot.store.erasure import checkpoint

    db_path = settings().db_path
    if not sql.store_exists(db_path):
        refuse(f"no store at {db_path}: nothing to erase")
    if not yes:
        click.confirm(f"Erase everything about {author} from {source} in {db_path}?", abort=True)
    from bot.store.erasure import ErasureError

    try:
        erased = asyncio.run(_forget(db_path, source=source, author=author))
    except ErasureError as exc:
        refuse(str(exc))
    emptied = sql.is_postgres(db_path) or checkpoint(db_path)
    click.echo(
        f"Erased {author} from {source}: {erased.mentions:,} mention(s) blanked,"
        f" {erased.cells:,} other place(s) naming them mended,"
        f" {erased.models:,} kept complaint model(s) cleaned of their posts;"
        " the erasure is recorded."
    )
    if sql.is_postgres(db_path):
        click.echo(
            "note: PostgreSQL keeps old row versions until VACUUM reclaims them;"
            " run VACUUM on the allhands database (autovacuum does it in time).",
            err=True,
        )
    if not emptied:
        click.echo(
            "note: a running allhands kept the write-ahead log busy; its old frames are"
            " overwritten at its next checkpoint (or run this again after stopping it).",
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


def _day(value: str, option: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        refuse(f"{option} {value!r}: write the date as YYYY-MM-DD, e.g. 2026-01-31")


@click.command()
@click.option("--since", required=True, metavar="YYYY-MM-DD", help="First day (UTC) to export.")
@click.option("--until", default=None, metavar="YYYY-MM-DD", help="Day after the last one.")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv")
@click.option("--output", "-o", type=click.Path(), default="-", help="File to write (default: -).")
@click.option("--with-authors", is_flag=True, help="Real handles instead of pseudonyms.")
@db_option
def export(since: str, until: str | None, fmt: str, output: str, with_authors: bool) -> None:
    """Export conversations: kind, team, times to first answer and resolution, who answered.

    Authors are pseudonyms (the same within one export) unless --with-authors is given.
    """
    from bot import export as exporting

    start = _day(since, "--since")
    end = _day(until, "--until") if until else datetime.now(UTC) + timedelta(days=1)
    if end <= start:
        refuse(f"--until {until} is not after --since {since}")
    db_path = settings().db_path
    if not sql.store_exists(db_path):
        refuse(f"no store at {db_path}: nothing to export")
    if output != "-" and not Path(output).parent.is_dir():
        refuse(f"no folder {Path(output).parent} to write {Path(output).name} into")
    try:
        with sql.read_only(db_path) as conn:
            total = exporting.count(conn, since=start, until=end)
            found = exporting.rows(conn, since=start, until=end, with_authors=with_authors)
            with click.open_file(output, "w", encoding="utf-8") as out:
                writer = exporting.Writer(out, format=fmt)
                with click.progressbar(
                    found,
                    length=total,
                    label=f"Exporting {total:,} conversation(s)",
                    file=sys.stderr,
                    hidden=total < PROGRESS_FROM,
                ) as bar:
                    for row in bar:
                        writer.write(row)
    except sql.ERRORS as exc:
        refuse(f"cannot read {db_path}: {exc}")
    if output != "-":
        click.echo(f"Exported {total:,} conversation(s) to {output}.", err=True)


COMMANDS = (backup, restore, forget, export)
