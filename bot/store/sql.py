"""The store's connection, one small protocol met by SQLite and by PostgreSQL.

Store functions take a `Conn` and write their SQL once, with `?` placeholders, in the part
of SQL both databases understand (`ON CONFLICT`, `RETURNING`, `IS NOT DISTINCT FROM`,
dates as ISO text). SQLite's handle is sqlite-utils' `Database`; PostgreSQL's wraps a
psycopg connection and turns `?` into `%s` once per statement. What cannot be written one
way for both goes through the few named switches at the end of this module.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import psycopg
import psycopg.adapt
import psycopg.errors
import sqlite_utils

SQLITE = "sqlite"
POSTGRESQL = "postgresql"


class Cursor(Protocol):
    """What a statement returns: rows and how many rows it changed."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


@runtime_checkable
class Conn(Protocol):
    """One connection to the store, as every store function sees it."""

    dialect: str

    def execute(self, sql: str, parameters: Any = None) -> Any: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def executescript(self, sql: str) -> Any: ...

    def atomic(self) -> contextlib.AbstractContextManager[Any]: ...

    def close(self) -> None: ...


# What in-memory state a write body changed, to undo when its transaction rolls back.
_rollback_hooks: dict[int, list[Callable[[], None]]] = {}


def on_rollback(db: Conn, fn: Callable[[], None]) -> None:
    """Have `fn()` run if the write under way on `db` rolls back.

    A write body may keep state outside the database (the incident desk's grouping): a
    rolled-back attempt must not leave it there. `db._transaction` runs these callbacks
    when an attempt rolls back (before it runs the body again on PostgreSQL, and when the
    write fails on either store) and forgets them when it commits. A callback is quick,
    touches no database, and must not raise (it marks state stale; the body rebuilds)."""
    _rollback_hooks.setdefault(id(db), []).append(fn)


def rolled_back(db: Conn) -> None:
    """The write under way on `db` rolled back: run what was registered with `on_rollback`."""
    for fn in _rollback_hooks.pop(id(db), []):
        fn()


def committed(db: Conn) -> None:
    """The write under way on `db` committed (or has not begun): forget its callbacks."""
    _rollback_hooks.pop(id(db), None)


def is_postgres(target: str) -> bool:
    """True when the store setting names a PostgreSQL server rather than a SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


class SqliteConn(sqlite_utils.Database):
    """sqlite-utils' handle, which the SQLite migrations runner needs, plus the protocol."""

    dialect = SQLITE

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        self.conn.executemany(sql, rows)


def connect_sqlite(path: str) -> SqliteConn:
    """Open one SQLite connection with the settings every connection here uses."""
    conn = sqlite3.connect(path, check_same_thread=False, timeout=30)
    db = SqliteConn(conn)
    if path != ":memory:":
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return db


class _NumericLoader(psycopg.adapt.Loader):
    """sum() and avg() give `numeric`; the store reads them as SQLite does: int or float."""

    def load(self, data: Any) -> int | float:
        text = bytes(data).decode()
        return int(text) if text.lstrip("-").isdigit() else float(text)


class PgConn:
    """A psycopg connection seen through the protocol (autocommit outside `atomic()`)."""

    dialect = POSTGRESQL

    def __init__(
        self,
        url: str,
        *,
        read_only: bool = False,
        serializable: bool = False,
        timeout: float | None = None,
    ):
        self.url = url
        self.read_only = read_only
        self.serializable = serializable
        # Seconds a statement may take (lock waits included), connecting may take, and the
        # server may leave what was sent unacknowledged (a network that went silent).
        self.timeout = timeout
        self.conn = self._open()

    def _open(self) -> psycopg.Connection[Any]:
        options = "-c default_transaction_read_only=on" if self.read_only else ""
        limits: dict[str, Any] = {}
        if self.timeout is not None:
            options += f" -c statement_timeout={int(self.timeout * 1000)}"
            limits = {
                "connect_timeout": max(2, round(self.timeout)),
                "tcp_user_timeout": int(self.timeout * 1000),
            }
        conn = psycopg.connect(self.url, autocommit=True, options=options, **limits)
        conn.adapters.register_loader("numeric", _NumericLoader)
        if self.serializable:
            conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        return conn

    def make_serializable(self) -> None:
        """Run every transaction from now on at SERIALIZABLE (also after reconnecting)."""
        self.serializable = True
        self.conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE

    def reopen_if_lost(self) -> None:
        """Connect again when the server dropped the connection (a restart, a fail-over).

        Only between transactions: a transaction cut off is not run again here, since it
        may have committed; its caller sees the error."""
        if self.conn.broken or self.conn.closed:
            with contextlib.suppress(psycopg.Error):
                self.conn.close()
            self.conn = self._open()

    def execute(self, sql: str, parameters: Any = None) -> psycopg.Cursor[Any]:
        """Run one statement with `?` placeholders."""
        # Never server-side prepared: a `SELECT *` prepared here would fail once another
        # replica's migration adds a column, and preparing gained nothing measurable.
        cursor = self.conn.cursor()
        if parameters:
            cursor.execute(placeholders(sql), _values(parameters), prepare=False)
        else:
            cursor.execute(sql.encode(), prepare=False)
        return cursor

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        with self.conn.cursor() as cursor:
            cursor.executemany(placeholders(sql), [_values(row) for row in rows], returning=False)

    def executescript(self, sql: str) -> None:
        """Run several statements (no parameters)."""
        self.conn.execute(sql.encode())

    def atomic(self) -> contextlib.AbstractContextManager[Any]:
        """A transaction, or a savepoint inside one."""
        return self.conn.transaction()

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()


def connect_postgres(
    url: str, *, read_only: bool = False, serializable: bool = False, timeout: float | None = None
) -> PgConn:
    """Open one PostgreSQL connection (autocommit: writes go through `atomic()`)."""
    return PgConn(url, read_only=read_only, serializable=serializable, timeout=timeout)


def connect(target: str) -> Conn:
    """Open a connection to the store `target` names (a SQLite path or a PostgreSQL URL)."""
    if is_postgres(target):
        return connect_postgres(target)
    return connect_sqlite(target)


@contextlib.contextmanager
def read_only(target: str) -> Iterator[Conn]:
    """A read-only connection to an existing store, closed afterwards."""
    if is_postgres(target):
        pg = connect_postgres(target, read_only=True)
        try:
            yield pg
        finally:
            pg.close()
        return
    conn = sqlite3.connect(f"{Path(target).resolve().as_uri()}?mode=ro", uri=True)
    try:
        yield SqliteConn(conn)
    finally:
        conn.close()


def store_exists(target: str) -> bool:
    """True if there is a store at `target` (a server is taken as there)."""
    return is_postgres(target) or Path(target).is_file()


# The errors a read of a store can meet: a damaged file, a lost server, a missing table.
ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)
# A store that cannot be used at all: a file that is not one, a server that cannot be reached.
UNUSABLE: tuple[type[Exception], ...] = (sqlite3.DatabaseError, psycopg.OperationalError)
# A store allhands never migrated lacks the tables asked for.
MISSING_TABLE: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    psycopg.errors.UndefinedTable,
)
INTEGRITY_ERRORS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)


@functools.lru_cache(maxsize=2048)
def placeholders(sql: str) -> bytes:
    """`?` outside quotes becomes `%s`, and a literal `%` becomes `%%` (psycopg's style)."""
    out = []
    quote = ""
    for char in sql:
        if quote:
            if char == quote:
                quote = ""
        elif char in ("'", '"'):
            quote = char
        elif char == "?":
            out.append("%s")
            continue
        out.append("%%" if char == "%" else char)
    return "".join(out).encode()


def _values(parameters: Any) -> Any:
    # SQLite stores booleans as 0 and 1 in INTEGER columns; PostgreSQL would refuse them.
    if isinstance(parameters, Mapping):
        raise TypeError("store SQL takes positional ? parameters only")
    return [int(v) if isinstance(v, bool) else v for v in parameters]


# ---- The named dialect switches ----------------------------------------------------------


def in_list(db: Conn, column: str) -> str:
    """`column` is one of a list given as a single parameter (see `list_param`)."""
    if db.dialect == POSTGRESQL:
        return f"{column} = ANY(?)"
    return f"{column} IN (SELECT value FROM json_each(?))"


def in_select(db: Conn, column: str, select: str) -> str:
    """`column` is one of the values `select` gives, read once (PostgreSQL's planner, trusting
    its guess of their number, would otherwise join them against a scan of the whole table)."""
    if db.dialect == POSTGRESQL:
        return f"{column} = ANY(ARRAY({select}))"
    return f"{column} IN ({select})"


def list_param(db: Conn, values: Iterable[Any]) -> Any:
    """The parameter that `in_list` reads: a JSON array on SQLite, an array on PostgreSQL."""
    import json

    items = list(values)
    return items if db.dialect == POSTGRESQL else json.dumps(items)


def json_text(db: Conn, column: str, key: str) -> str:
    """The text at `key` of the JSON object stored in `column`."""
    if db.dialect == POSTGRESQL:
        return f"({column}::jsonb ->> '{key}')"
    return f"json_extract({column}, '$.{key}')"


def indexed_by(db: Conn, index: str) -> str:
    """SQLite's `INDEXED BY` (its planner needs the hint there); PostgreSQL plans alone."""
    return "" if db.dialect == POSTGRESQL else f"INDEXED BY {index}"


def unindexed(db: Conn, column: str) -> str:
    """`column`, kept out of SQLite's choice of index (its unary `+`); PostgreSQL needs no hint."""
    return column if db.dialect == POSTGRESQL else f"+{column}"


def table_exists(db: Conn, name: str) -> bool:
    """True if the store has a table `name` (a store not migrated yet may lack it)."""
    if db.dialect == POSTGRESQL:
        row = db.execute("SELECT to_regclass(?) IS NOT NULL", [name]).fetchone()
        return bool(row[0])
    found = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [name]
    ).fetchone()
    return found is not None


def text_columns(db: Conn) -> dict[str, list[str]]:
    """Every table of the store and its text columns."""
    if db.dialect == POSTGRESQL:
        rows = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = current_schema() AND data_type = 'text'"
            " ORDER BY table_name, ordinal_position"
        ).fetchall()
    else:
        rows = db.execute(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c"
            " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
            " AND upper(c.type) IN ('TEXT', '') ORDER BY m.name, c.cid"
        ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found
