"""Copies of the store: SQLite's online backup, consistent while the bot writes.

The copy is taken inside one read transaction (WAL lets the bot keep writing meanwhile),
written to a temporary file beside the target, checked, and only then put in place.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bot.errors import AllhandsError
from bot.store.runlock import RunLock
from bot.store.sql import is_postgres


class BackupError(AllhandsError):
    """A backup or restore cannot be done; nothing was changed."""


@dataclass(frozen=True, slots=True)
class Copied:
    """What a backup or restore copied."""

    path: str
    mentions: int
    size: int


# On PostgreSQL, the server's own tools copy a live database consistently.
ON_POSTGRESQL = (
    "the store is a PostgreSQL database: back it up with pg_dump"
    " (e.g. `pg_dump --format=custom --file=allhands.dump URL`) and restore it with"
    " pg_restore; `allhands backup` and `restore` copy SQLite stores only"
)


def backup(db_path: str, target: str, *, overwrite: bool = False) -> Copied:
    """Copy the store at `db_path` to `target` while it may be in use; BackupError if not."""
    if is_postgres(db_path):
        raise BackupError(ON_POSTGRESQL)
    source = Path(db_path)
    if not source.is_file():
        raise BackupError(f"no store at {db_path}: there is nothing to back up")
    out = Path(target)
    if out.is_dir():
        raise BackupError(f"{target} is a folder; name the backup file, e.g. {out / 'allhands.db'}")
    if out.exists() and not overwrite:
        raise BackupError(f"{target} exists; choose another name or add --overwrite")
    if not out.parent.is_dir():
        raise BackupError(f"no folder {out.parent} to write {out.name} into")
    if out.exists() and out.resolve() == source.resolve():
        raise BackupError("the backup would overwrite the store itself")
    partial = out.with_name(f".{out.name}.partial")
    try:
        _copy(_open_existing(db_path), partial)
        mentions = _check(str(partial))
        os.replace(partial, out)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {db_path}: {exc}") from None
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()
    return Copied(path=str(out), mentions=mentions, size=out.stat().st_size)


def restore(backup_file: str, db_path: str) -> Copied:
    """Put a backup in place of the store at `db_path`; BackupError while a bot runs on it."""
    if is_postgres(db_path):
        raise BackupError(ON_POSTGRESQL)
    if not Path(backup_file).is_file():
        raise BackupError(f"no backup file at {backup_file}")
    try:
        mentions = _check(backup_file)
    except sqlite3.Error as exc:
        raise BackupError(f"{backup_file} is not an allhands backup: {exc}") from None
    lock = RunLock(db_path)
    try:
        lock.acquire()  # held while restoring: `run` cannot start half-way through
    except AllhandsError as exc:
        raise BackupError(f"{exc}; stop it before restoring") from None
    except OSError as exc:
        raise BackupError(f"cannot restore to {db_path}: {exc.strerror or exc}") from None
    try:
        target = sqlite3.connect(db_path, timeout=5)
        try:
            target.execute("PRAGMA journal_mode=WAL")
            _copy(_open_existing(backup_file), None, into=target)
            target.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(f"cannot restore to {db_path}: {exc}") from None
    finally:
        lock.release()
    return Copied(path=db_path, mentions=mentions, size=Path(db_path).stat().st_size)


def _open_existing(path: str) -> sqlite3.Connection:
    """A read-only connection to a database file that must already exist."""
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True, timeout=30)


def _copy(
    source: sqlite3.Connection, target: Path | None, *, into: sqlite3.Connection | None = None
) -> None:
    """All pages of `source` in one step (one consistent snapshot), into a file or connection."""
    dest = into if into is not None else sqlite3.connect(target)  # type: ignore[arg-type]
    try:
        source.backup(dest, pages=-1)
        if into is None:  # a backup is one self-contained file, not a WAL database
            dest.execute("PRAGMA journal_mode=DELETE")
    finally:
        source.close()
        if into is None:
            dest.close()


def _check(path: str) -> int:
    """The number of mentions in a sound allhands database; sqlite3.Error if it is not one."""
    conn = _open_existing(path)
    try:
        verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise sqlite3.DatabaseError(f"damaged ({verdict})")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "mentions" not in tables or "_sqlite_migrations" not in tables:
            raise sqlite3.DatabaseError("it has no allhands tables")
        return int(conn.execute("SELECT count(*) FROM mentions").fetchone()[0])
    finally:
        conn.close()
