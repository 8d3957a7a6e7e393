"""Measuring on SQLite and on PostgreSQL, and printing the figures side by side."""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

Measure = Callable[..., Awaitable[dict[str, float]]]


def postgres_target() -> tuple[str | None, str]:
    """A fresh PostgreSQL database to measure on, or None and why not."""
    server = os.environ.get("ALLHANDS_TEST_POSTGRES")
    if not server:
        return None, "not measured: ALLHANDS_TEST_POSTGRES is not set (see the docstring)"
    try:
        import psycopg

        from bot.store import sql  # noqa: F401  (the store speaks PostgreSQL)
    except ImportError:
        return None, "not measured: this build's store does not speak PostgreSQL"
    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return server.rsplit("/", 1)[0] + f"/{name}", ""


def measure_both(
    measure: Measure, **options: Any
) -> tuple[dict[str, float], dict[str, float], str]:
    """`measure(target, **options)` on a SQLite file in a temporary folder, then on a fresh
    PostgreSQL database where there is one: (SQLite's figures, PostgreSQL's, why none)."""
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = asyncio.run(measure(str(Path(tmp) / "bench.db"), **options))
    target, why = postgres_target()
    postgres = asyncio.run(measure(target, **options)) if target else {}
    return sqlite, postgres, why


def print_side_by_side(
    sqlite: dict[str, float], postgres: dict[str, float], why: str, *, decimals: int = 2
) -> None:
    """One line a figure, SQLite's then PostgreSQL's (a dash where it was not measured, and
    why PostgreSQL was not, when it was not)."""
    width = max(len(k) for k in sqlite)
    print(f"{'':{width}}  {'SQLite':>10}  {'PostgreSQL':>10}")
    for key, value in sqlite.items():
        pg = f"{postgres[key]:10.{decimals}f}" if key in postgres else f"{'-':>10}"
        print(f"{key:{width}}  {value:10.{decimals}f}  {pg}")
    if why:
        print(f"PostgreSQL: {why}")
