"""An erasure request's sweep: what identified the person, as it may be written, replaced
by MARK as whole words in every text cell of every table the store keeps about customers
(bot.store.erasure blanks their own mentions first)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from bot.store import sql
from bot.store.sql import Conn

MARK = "[erased]"
# Tables that hold our own staff and chat plumbing, not customers; searched apart.
NOT_SWEPT = frozenset(
    {
        "_sqlite_migrations",
        "allhands_migrations",
        "sqlite_sequence",
        "erasures",
        "erasing",
        "digest_day_figures",
        "digest_days",
        "people",
        "people_aliases",
        "teams_members",
        "teams_conversations",
    }
)
# Columns that name things of ours (states, teams, kinds, ids), never people's words, and
# other authors' own identity (someone else may share the erased person's name).
STRUCTURAL = frozenset(
    {
        "state",
        "team",
        "kind",
        "platform",
        "channel",
        "source",
        "action",
        "from_state",
        "to_state",
        "urgency",
        "rule",
        "step",
        "anchor",
        "period",
        "status",
        "language",
        "target",
        "at",
        "created_at",
        "received_at",
        "updated_at",
        "next_at",
        "done_at",
        "erased_at",
        "claimed_by",
        "claimed_at",
        "responder",
        "decided_by",
        "lead",
        "reason",
        "author_handle",
        "author_name",
        "author_url",
    }
)
# The only columns of the append-only event log that may be blanked.
EVENT_COLUMNS = ("actor", "detail")


def as_written(needles: Iterable[str]) -> set[str]:
    """The needles as they may be written: as they are, and escaped inside JSON."""
    return {w for n in needles if n for w in (n, json.dumps(n)[1:-1])}


def whole_words(variants: set[str]) -> re.Pattern[str] | None:
    """The variants as whole words in any case (None: there are none)."""
    if not variants:
        return None
    return re.compile(
        "|".join(rf"(?<!\w){re.escape(w)}(?!\w)" for w in sorted(variants, key=len, reverse=True)),
        re.IGNORECASE,
    )


def sweep(db: Conn, *, variants: set[str]) -> int:
    """Replace the variants, as whole words in any case, in every text cell of every table."""
    pattern = whole_words(variants)
    if pattern is None:
        return 0
    if isinstance(db, sql.SqliteConn):
        db.conn.create_function(
            "allhands_erase", 1, lambda v: pattern.sub(MARK, v) if isinstance(v, str) else v
        )
    cells = 0
    lowered = sorted({v.lower() for v in variants})
    for table, found_columns in sql.text_columns(db).items():
        if table in NOT_SWEPT:
            continue
        columns = [c for c in found_columns if c not in STRUCTURAL]
        if table == "events":
            columns = [c for c in columns if c in EVENT_COLUMNS]
        for column in columns:
            cells += _sweep_column(db, table, column, pattern=pattern, lowered=lowered)
    return cells


def _sweep_column(
    db: Conn, table: str, column: str, *, pattern: re.Pattern[str], lowered: list[str]
) -> int:
    """One pass a column: the store finds the candidates, the regex decides."""
    found = " OR ".join(f'instr(lower("{column}"), ?) > 0' for _ in lowered)
    if db.dialect != sql.POSTGRESQL:
        cursor = db.execute(
            f'UPDATE "{table}" SET "{column}" = allhands_erase("{column}")'
            f' WHERE ({found}) AND allhands_erase("{column}") IS NOT "{column}"',
            lowered,
        )
        return max(cursor.rowcount, 0)
    # PostgreSQL runs no Python inside SQL: the rows are read, changed here, written back
    # (by their place in the table, which this transaction keeps).
    found = found.replace("instr(", "strpos(")
    cells = 0
    for place, value in db.execute(
        f'SELECT ctid, "{column}" FROM "{table}" WHERE {found}', lowered
    ).fetchall():
        erased = pattern.sub(MARK, value)
        if erased != value:
            db.execute(f'UPDATE "{table}" SET "{column}" = ? WHERE ctid = ?', [erased, place])
            cells += 1
    return cells
