"""The lock a running bot holds on its database, so that `restore` can tell it is in use.

An advisory lock (flock) on a file beside the database: the kernel drops it when the
process ends, however it ends, so a crashed bot never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO

from bot.errors import AllhandsError


class DatabaseInUse(AllhandsError):
    """Another process runs allhands on this database."""


def lock_path(db_path: str) -> Path:
    """The lock file that belongs to a database file."""
    return Path(f"{db_path}.run-lock")


class RunLock:
    """Held by `run` (and `demo`) for as long as they use the database."""

    def __init__(self, db_path: str):
        self.path = lock_path(db_path)
        self._file: IO[str] | None = None

    def acquire(self) -> RunLock:
        """Take the lock; DatabaseInUse when another process holds it."""
        file = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise DatabaseInUse(
                f"{self.path.name.removesuffix('.run-lock')} is in use by allhands ({holder})"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"pid {os.getpid()}")
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        """Let go of the lock."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
