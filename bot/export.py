"""`allhands export`: one row per conversation, for a spreadsheet or a data warehouse.

Authors are pseudonymised unless asked for: the same author gets the same pseudonym
within one export, and a keyed hash with a key made for that export only, so that an
export cannot be joined to another, nor reversed by hashing known handles.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator
from datetime import datetime
from typing import IO, Any

from bot.store.sql import Conn

COLUMNS = (
    "number", "source", "received_at", "team", "kind", "urgency", "sentiment", "state",
    "author", "author_audience", "first_answer_at", "first_answer_seconds", "answered_by",
    "resolved_at", "resolution_seconds",
)  # fmt: skip

_QUERY = """
SELECT m.number, m.source, m.received_at, m.team, m.kind, m.urgency, m.sentiment, m.state,
       m.author_handle, m.author_audience,
       (SELECT e.at FROM events e WHERE e.mention = m.number AND e.action = 'answer'
        ORDER BY e.id LIMIT 1) AS answered_at,
       (SELECT e.actor FROM events e WHERE e.mention = m.number AND e.action = 'answer'
        ORDER BY e.id LIMIT 1) AS answered_by,
       (SELECT e.at FROM events e WHERE e.mention = m.number AND e.action = 'resolve'
        ORDER BY e.id LIMIT 1) AS resolved_at
FROM mentions m
WHERE m.root_number IS NULL AND m.received_at >= ? AND m.received_at < ?
ORDER BY m.received_at, m.number
"""


def count(conn: Conn, *, since: datetime, until: datetime) -> int:
    """How many conversations an export of this period holds."""
    row = conn.execute(
        "SELECT count(*) FROM mentions WHERE root_number IS NULL"
        " AND received_at >= ? AND received_at < ?",
        [since.isoformat(), until.isoformat()],
    ).fetchone()
    return int(row[0])


def rows(
    conn: Conn, *, since: datetime, until: datetime, with_authors: bool
) -> Iterator[dict[str, Any]]:
    """The conversations received in [since, until), oldest first, as export rows."""
    names = dict(conn.execute("SELECT id, name FROM people").fetchall())
    key = secrets.token_bytes(16)
    cursor = conn.execute(_QUERY, [since.isoformat(), until.isoformat()])
    for row in cursor:
        (number, source, received, team, kind, urgency, sentiment, state, handle, audience,
         answered, answered_by, resolved) = row  # fmt: skip
        author = f"{source}:{handle}"
        yield {
            "number": number,
            "source": source,
            "received_at": received,
            "team": team,
            "kind": kind,
            "urgency": urgency,
            "sentiment": round(sentiment, 3),
            "state": state,
            "author": author if with_authors else _pseudonym(key, author),
            "author_audience": audience,
            "first_answer_at": answered,
            "first_answer_seconds": _seconds(received, answered),
            "answered_by": names.get(answered_by, answered_by) if answered_by else None,
            "resolved_at": resolved,
            "resolution_seconds": _seconds(received, resolved),
        }


def _pseudonym(key: bytes, author: str) -> str:
    return "a-" + hmac.new(key, author.casefold().encode(), hashlib.sha256).hexdigest()[:12]


def _seconds(start: str, end: str | None) -> int | None:
    if not end:
        return None
    return max(
        0, round((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
    )


class Writer:
    """Writes export rows as CSV (with a header) or JSON Lines."""

    def __init__(self, out: IO[str], *, format: str):
        self.out = out
        self.format = format
        self._csv: csv.DictWriter[str] | None = None
        if format == "csv":
            self._csv = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
            self._csv.writeheader()

    def write(self, row: dict[str, Any]) -> None:
        """Write one row."""
        if self._csv is not None:
            self._csv.writerow({k: "" if v is None else v for k, v in row.items()})
        else:
            self.out.write(json.dumps(row, ensure_ascii=False) + "\n")
