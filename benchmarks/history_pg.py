"""The PostgreSQL half of `history.py --postgres URL`: each cached SQLite store copied into a
fresh database on that server with `allhands store copy`'s code, its size there, and the
database dropped afterwards."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bot.store import sql
from bot.store.copy import Copied, copy_store


def fresh_database(server: str, size: int) -> str:
    """A new, empty database on the server at `server` for this size; its URL."""
    name = f"allhands_history_{size}_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())
        conn.execute(f"CREATE DATABASE {name}".encode())
    return urlunsplit(urlsplit(server)._replace(path="/" + name))


def copy_into(path: Path, url: str) -> Copied:
    """Copy the SQLite store at `path` into the database at `url`, then ANALYZE it (as
    autovacuum soon would: the figures are for a store that has been running)."""
    copied = copy_store(str(path), url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(b"VACUUM ANALYZE")
    return copied


def drop_database(server: str, url: str) -> None:
    """Drop the database `fresh_database` made."""
    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)".encode())


def size_figures(url: str) -> dict[str, float]:
    """The PostgreSQL twin of history.py's `_size_figures`: the database's bytes per mention
    (tables, indexes and TOAST; "in use" leaves out the catalog and free space)."""
    with sql.read_only(url) as db:
        count = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
        effects = db.execute("SELECT count(*) FROM outbox").fetchone()[0]
        whole = db.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        used = db.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
        ).fetchone()[0]
    return {
        "mentions": count,
        "bytes per mention": whole / count,
        "live bytes per mention": used / count,
        "outbox rows per mention": effects / count,
    }
