"""Copying a whole SQLite store into an empty PostgreSQL store (`allhands store copy`).

The PostgreSQL store is migrated first and must be empty; the SQLite store must be at the
same migration level. Every table is copied with psycopg's COPY, parents before children,
all in one transaction: a copy that fails leaves the PostgreSQL store as it was.

The count tables (`mention_counts`, `outbox_counts`) are copied as they are, with the
tables' own triggers (the counting and append-only ones) disabled for the transaction:
SQLite's triggers kept the same counts, a million rows are not counted again one plpgsql
call each, and `ALTER TABLE … DISABLE TRIGGER USER` needs only the tables' owner (the role
that migrated them), where `session_replication_role` would need a superuser. Foreign keys
stay checked. The replica registry, leases and lane holds are not copied: they describe
processes that ran on the SQLite file, not replicas of the server.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bot.errors import AllhandsError
from bot.store import migrate, sql
from bot.store.migrations import migrations

BATCH = 5000  # rows read from SQLite at a time
# Runtime state of the processes that used the SQLite file, not data (see above).
NOT_COPIED = frozenset({"replicas", "leases", "outbox_lanes"})
_SQLITE_OWN = ("sqlite_", "_sqlite_migrations")


class CopyError(AllhandsError):
    """The copy cannot be made as asked (a missing file, a store not empty, ...)."""


@dataclass
class Copied:
    """What a copy moved: rows per table, in the order copied, and how long it took."""

    tables: dict[str, int] = field(default_factory=dict)
    table_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def rows(self) -> int:
        """All rows copied."""
        return sum(self.tables.values())


def copy_store(
    source: str,
    target: str,
    *,
    batch: int = BATCH,
    progress: Callable[[str, int, float], None] | None = None,
) -> Copied:
    """Copy the SQLite store at `source` into the empty PostgreSQL store at `target`."""
    started = time.perf_counter()
    if sql.is_postgres(source):
        raise CopyError(f"FROM must be a SQLite file, not a server: {source}")
    if not sql.is_postgres(target):
        raise CopyError(f"TO must be a postgresql:// URL, not {target!r}")
    if not Path(source).is_file():
        raise CopyError(f"no SQLite store at {source}")
    lite = _open_source(source)
    try:
        pg = _open_target(target)
        try:
            migrate.apply(pg)
            copied = _copy(lite, pg, batch=batch, progress=progress)
            # Fresh statistics, or the planner guesses the copied tables empty at first.
            pg.execute("ANALYZE")
        finally:
            pg.close()
    finally:
        lite.close()
    copied.seconds = time.perf_counter() - started
    return copied


def _open_source(source: str) -> sqlite3.Connection:
    """The SQLite store, read-only, checked to be allhands' at this version's level."""
    uri = f"{Path(source).resolve().as_uri()}?mode=ro"
    lite = sqlite3.connect(uri, uri=True)
    try:
        names = {r[0] for r in lite.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "_sqlite_migrations" not in names or "mentions" not in names:
            raise CopyError(f"{source} is not an allhands store (no migrations, no mentions)")
        done = {
            r[0]
            for r in lite.execute(
                "SELECT name FROM _sqlite_migrations WHERE migration_set = 'allhands'"
            )
        }
        known = [m.name for m in migrations._migrations]
        missing = [name for name in known if name not in done]
        if missing:
            raise CopyError(
                f"{source} lacks migration(s) {', '.join(missing)}: start this version's"
                " `allhands run` on it once (it migrates the store as it starts), then copy"
            )
        unknown = sorted(done - set(known))
        if unknown:
            raise CopyError(
                f"{source} has migration(s) this allhands does not know ({', '.join(unknown)}):"
                " copy it with the allhands version that wrote it"
            )
    except sqlite3.DatabaseError as exc:
        lite.close()
        raise CopyError(f"{source} is not a SQLite store: {exc}") from exc
    except BaseException:
        lite.close()
        raise
    return lite


def _open_target(target: str) -> sql.PgConn:
    try:
        return sql.connect_postgres(target)
    except psycopg.OperationalError as exc:  # a server out of reach, a URL it cannot read
        raise CopyError(f"cannot connect to TO: {str(exc).strip()}") from exc
    except psycopg.Error as exc:
        raise CopyError(f"TO is not a usable PostgreSQL URL: {str(exc).strip()}") from exc


def _copy(
    lite: sqlite3.Connection,
    pg: sql.PgConn,
    *,
    batch: int,
    progress: Callable[[str, int, float], None] | None,
) -> Copied:
    tables = _tables(lite)
    pg_tables = _pg_columns(pg)
    missing = sorted(set(tables) - set(pg_tables))
    if missing:
        raise CopyError(f"the PostgreSQL store lacks table(s) {', '.join(missing)}")
    seeded = _what_migrating_writes()
    full = [
        t for t in pg_tables if t != "allhands_migrations" and _rows(pg, t) != seeded.get(t, [])
    ]
    if full:
        raise CopyError(
            "the PostgreSQL store is not empty (rows in " + ", ".join(sorted(full)) + "):"
            " copy into a new database"
        )
    order = _parents_first(lite, tables)
    copied = Copied()
    with pg.atomic():
        for table in order:
            pg.execute(f'ALTER TABLE "{table}" DISABLE TRIGGER USER')
        for table in order:
            if table in seeded:  # a migration's first row, which the copy brings again
                pg.execute(f'DELETE FROM "{table}"')
        for table in order:
            began = time.perf_counter()
            columns = [c for c in tables[table] if c in pg_tables[table]]
            try:
                copied.tables[table] = _copy_table(lite, pg, table, columns, batch=batch)
            except (psycopg.IntegrityError, psycopg.DataError) as exc:
                detail = exc.diag.message_detail or ""
                raise CopyError(
                    f"PostgreSQL refused a row of {table}: {exc.diag.message_primary or exc}"
                    f" {detail}; nothing was copied"
                ) from exc
            copied.table_seconds[table] = time.perf_counter() - began
            if progress is not None:
                progress(table, copied.tables[table], copied.table_seconds[table])
        for table in order:
            pg.execute(f'ALTER TABLE "{table}" ENABLE TRIGGER USER')
        _advance_identities(lite, pg, order)
    return copied


def _tables(lite: sqlite3.Connection) -> dict[str, list[str]]:
    """The store's tables to copy, each with its columns."""
    names = [
        r[0]
        for r in lite.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        if not r[0].startswith(_SQLITE_OWN) and r[0] not in NOT_COPIED
    ]
    return {
        name: [r[1] for r in lite.execute("SELECT * FROM pragma_table_info(?)", [name])]
        for name in names
    }


def _pg_columns(pg: sql.PgConn) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for table, column in pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema()"
    ):
        found.setdefault(table, set()).add(column)
    return found


def _rows(pg: sql.PgConn, table: str, most: int = 10) -> list[tuple[Any, ...]]:
    """A few of the table's rows, sorted (enough to tell an empty store from one in use)."""
    return sorted(tuple(r) for r in pg.execute(f'SELECT * FROM "{table}" LIMIT {most}'))


def _what_migrating_writes() -> dict[str, list[tuple[Any, ...]]]:
    """The rows the migrations write into a new store (a store holding only these is empty)."""
    fresh = sql.connect_sqlite(":memory:")
    try:
        migrate.apply(fresh)
        names = [r[0] for r in fresh.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        found = {
            name: sorted(tuple(r) for r in fresh.execute(f'SELECT * FROM "{name}"'))
            for name in names
            if not name.startswith(_SQLITE_OWN)
        }
    finally:
        fresh.close()
    return {name: rows for name, rows in found.items() if rows}


def _parents_first(lite: sqlite3.Connection, tables: dict[str, list[str]]) -> list[str]:
    """The tables ordered so that a table comes after every table its foreign keys name."""
    parents = {
        name: {
            r[0]
            for r in lite.execute('SELECT "table" FROM pragma_foreign_key_list(?)', [name])
            if r[0] != name and r[0] in tables
        }
        for name in tables
    }
    order: list[str] = []
    while len(order) < len(tables):
        ready = [t for t in tables if t not in order and parents[t] <= set(order)]
        if not ready:
            raise CopyError("the store's foreign keys form a cycle: " + ", ".join(parents))
        order.extend(ready)
    return order


def _self_references(lite: sqlite3.Connection, table: str) -> list[str]:
    """The columns of `table` naming a row of the same table (filled in after the copy)."""
    return [
        r[1]
        for r in lite.execute('SELECT "table", "from" FROM pragma_foreign_key_list(?)', [table])
        if r[0] == table
    ]


def _copy_table(
    lite: sqlite3.Connection, pg: sql.PgConn, table: str, columns: list[str], *, batch: int
) -> int:
    """COPY one table's rows; a column naming rows of its own table is set afterwards."""
    later = _self_references(lite, table)
    key = _primary_key(lite, table)
    if later and len(key) != 1:
        raise CopyError(f"{table} refers to itself without a one-column key")
    names = ", ".join(f'"{c}"' for c in columns)
    blank = [columns.index(c) for c in later]
    rows = lite.execute(f'SELECT {names} FROM "{table}"')
    count = 0
    with pg.conn.cursor() as cursor:
        with cursor.copy(f'COPY "{table}" ({names}) FROM STDIN'.encode()) as copy:
            while chunk := rows.fetchmany(batch):
                for row in chunk:
                    if blank:
                        row = tuple(None if i in blank else v for i, v in enumerate(row))
                    copy.write_row(row)
                count += len(chunk)
        for column in later:
            _fill_column(lite, cursor, table, key[0], column, batch=batch)
    return count


def _fill_column(
    lite: sqlite3.Connection, cursor: Any, table: str, key: str, column: str, *, batch: int
) -> None:
    """Set `column` of the copied rows from the SQLite store (through a temporary table)."""
    cursor.execute(b"CREATE TEMPORARY TABLE allhands_copy_refs (k BIGINT, v BIGINT) ON COMMIT DROP")
    rows = lite.execute(f'SELECT "{key}", "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL')
    with cursor.copy(b"COPY allhands_copy_refs (k, v) FROM STDIN") as copy:
        while chunk := rows.fetchmany(batch):
            for row in chunk:
                copy.write_row(row)
    cursor.execute(
        f'UPDATE "{table}" SET "{column}" = r.v FROM allhands_copy_refs r'
        f' WHERE "{table}"."{key}" = r.k'.encode()
    )
    cursor.execute(b"DROP TABLE allhands_copy_refs")


def _primary_key(lite: sqlite3.Connection, table: str) -> list[str]:
    info = lite.execute("SELECT name, pk FROM pragma_table_info(?) WHERE pk > 0", [table])
    return [name for name, _ in sorted(info, key=lambda r: r[1])]


def _advance_identities(lite: sqlite3.Connection, pg: sql.PgConn, tables: list[str]) -> None:
    """Set each identity past the ids copied (and past ids SQLite handed out and deleted)."""
    handed = {}
    if lite.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        handed = {name: seq for name, seq in lite.execute("SELECT name, seq FROM sqlite_sequence")}
    identities = pg.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ).fetchall()
    for table, column in identities:
        if table not in tables:
            continue
        top = pg.execute(f'SELECT coalesce(max("{column}"), 0) FROM "{table}"').fetchall()[0][0]
        after = max(int(top), int(handed.get(table) or 0))
        if after:
            pg.execute(
                "SELECT setval(pg_get_serial_sequence(?, ?), ?)", [f'"{table}"', column, after]
            )
