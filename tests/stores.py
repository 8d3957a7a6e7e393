"""Test stores on both databases: a SQLite file, or a fresh PostgreSQL database.

The PostgreSQL server is the one `scripts/with_postgres.sh` starts (`make test` runs pytest
through it) and names in ALLHANDS_TEST_POSTGRES. One template database is migrated once
per session; each test gets a copy of it (`CREATE DATABASE … TEMPLATE …`), dropped after.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from bot.store import migrate, sql

STORES = ["sqlite", "postgresql"]

_names = itertools.count(1)


def server_url() -> str:
    """The test server's URL, or skip the test (saying why) when there is none."""
    url = os.environ.get("ALLHANDS_TEST_POSTGRES", "")
    if not url:
        pytest.skip("no PostgreSQL: ALLHANDS_TEST_POSTGRES is not set (make test sets it)")
    if url == "off":
        pytest.skip("PostgreSQL tests are off (ALLHANDS_TEST_POSTGRES=off)")
    return url


def with_database(url: str, name: str) -> str:
    """`url` with its database replaced by `name`."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def _admin(url: str) -> psycopg.Connection:
    return psycopg.connect(url, autocommit=True)


class Server:
    """The test server, with a migrated template to copy each test's database from.

    A thread keeps a couple of copies ready and drops the ones tests are done with, so
    that a test seldom waits for the server to copy or remove a database.
    """

    AHEAD = 2

    def __init__(self, url: str):
        self.url = url
        self.template = f"allhands_template_{os.getpid()}"
        with _admin(url) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.template}")
            conn.execute(f"CREATE DATABASE {self.template}")
        db = sql.connect_postgres(with_database(url, self.template))
        try:
            migrate.apply(db)
        finally:
            db.close()
        self._made: queue.Queue[str | BaseException] = queue.Queue()
        self._chores: queue.Queue[str | None] = queue.Queue()  # "": one was taken
        self._worker = threading.Thread(target=self._work, name="pg-test-databases", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        try:
            with _admin(self.url) as conn:
                while True:
                    while self._made.qsize() < self.AHEAD:
                        name = f"allhands_test_{os.getpid()}_{next(_names)}"
                        # FILE_COPY: copying a small template's files is several times
                        # faster than PostgreSQL 15's default of writing it to the WAL.
                        conn.execute(
                            f"CREATE DATABASE {name} TEMPLATE {self.template} STRATEGY FILE_COPY"
                        )
                        self._made.put(with_database(self.url, name))
                    chore = self._chores.get()
                    if chore is None:
                        return
                    if chore:
                        conn.execute(f"DROP DATABASE IF EXISTS {chore} WITH (FORCE)")
        except BaseException as exc:  # the test waiting for a database fails with it
            self._made.put(exc)

    def fresh(self) -> str:
        """A new, migrated database's URL."""
        self._chores.put("")
        made = self._made.get(timeout=120)
        if isinstance(made, BaseException):
            raise made
        return made

    def fresh_empty(self) -> str:
        """A new database with no tables at all."""
        name = f"allhands_test_{os.getpid()}_{next(_names)}"
        with _admin(self.url) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return with_database(self.url, name)

    def drop(self, url: str) -> None:
        """Drop a database `fresh` made (soon, whoever is still connected)."""
        self._chores.put(urlsplit(url).path.lstrip("/"))

    def close(self) -> None:
        """Drop what is left, and the template."""
        self._chores.put(None)
        self._worker.join(timeout=120)
        with _admin(self.url) as conn:
            while not self._made.empty():
                made = self._made.get()
                if isinstance(made, str):
                    name = urlsplit(made).path.lstrip("/")
                    conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"DROP DATABASE IF EXISTS {self.template} WITH (FORCE)")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Server]:
    """The PostgreSQL test server (skips when there is none)."""
    server = Server(server_url())
    yield server
    server.close()


@pytest.fixture
def pg_url(pg_server: Server) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database for this test."""
    url = pg_server.fresh()
    yield url
    pg_server.drop(url)


@pytest.fixture(params=STORES)
def store_kind(request: pytest.FixtureRequest) -> str:
    """Which store the test runs on: SQLite, then PostgreSQL."""
    if request.param == "postgresql" and request.node.get_closest_marker("sqlite_only"):
        pytest.skip("SQLite only: the test reads the store's file directly")
    return str(request.param)


def store_at(request: pytest.FixtureRequest, kind: str, path: os.PathLike[str]) -> str:
    """The store setting for `kind`: the SQLite file `path`, or a fresh PostgreSQL database."""
    if kind == "sqlite":
        return os.fspath(path)
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store_url(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> str:
    """Where the test's app keeps its store: `app.db` in tmp_path, or a PostgreSQL database."""
    return store_at(request, store_kind, tmp_path / "app.db")


def rows(target: str, statement: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    """What a query returns from the store at `target`, read directly (either store)."""
    with sql.read_only(target) as db:
        return [tuple(r) for r in db.execute(statement, params or [])]
