"""Printing a benchmark's figures for SQLite beside PostgreSQL's."""

from __future__ import annotations


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
