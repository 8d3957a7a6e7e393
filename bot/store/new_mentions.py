"""New mentions stored a run at a time: one INSERT for their rows, one for their events,
one for their cards, instead of a round trip to the server for each statement of each."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.domain.mentions import SYSTEM, Action, Event, Item, Mention, State, Triage
from bot.store import outbox
from bot.store.sql import Conn

# Rows per INSERT: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters a statement.
ROWS_PER_INSERT = 200


def mention_row(
    *, source: str, item: Item, triage: Triage, now: datetime, root: Mention | None
) -> dict[str, Any]:
    """The `mentions` row of a stored item (a follow-up to `root`, if one is given)."""
    return {
        "source": source,
        "external_id": item.external_id,
        "url": item.url,
        "author_handle": item.author.handle,
        "author_name": item.author.name,
        "author_audience": item.author.audience,
        "author_url": item.author.url,
        "text": item.text,
        "title": item.title,
        "language": item.language or triage.language or None,
        "created_at": (item.created_at or now).isoformat(),
        "received_at": now.isoformat(),
        "parent_id": item.parent_id,
        "conversation_id": item.conversation_id,
        "root_number": root.number if root else None,
        "state": State.NEW.value if root is None else root.state.value,
        "team": root.team if root else triage.team,
        "kind": triage.kind,
        "urgency": triage.urgency,
        "sentiment": triage.sentiment,
        "rule": triage.rule,
        "complaint_score": triage.score,
        "severity": triage.severity,
        "triage_note": triage.note,
        "updated_at": now.isoformat(),
        "rating": item.rating,
    }


def insert_rows(db: Conn, rows: list[dict[str, Any]]) -> list[int]:
    """Insert `mentions` rows of one source (distinct external ids), in their order; their
    numbers, in the same order."""
    numbers: list[int] = []
    for start in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[start : start + ROWS_PER_INSERT]
        columns = list(chunk[0])
        marks = f"({', '.join('?' * len(columns))})"
        cursor = db.execute(
            f"INSERT INTO mentions ({', '.join(columns)}) VALUES"
            f" {', '.join([marks] * len(chunk))} RETURNING number, external_id",
            [row[c] for row in chunk for c in columns],
        )
        # Neither database promises RETURNING's order: match the rows by their external id.
        number_of = {external_id: number for number, external_id in cursor.fetchall()}
        numbers.extend(int(number_of[row["external_id"]]) for row in chunk)
    return numbers


@dataclass
class NewRun:
    """New mentions of one batch waiting to be stored together, in the order they came."""

    source: str
    now: datetime
    channel_of: dict[str, str]
    rows: list[dict[str, Any]] = field(default_factory=list)
    triages: list[Triage] = field(default_factory=list)
    places: list[int] = field(default_factory=list)  # where each goes in the batch's results

    def add(self, item: Item, triage: Triage, *, place: int) -> None:
        """Queue a new mention; `place` is its index in the batch's results."""
        self.rows.append(
            mention_row(source=self.source, item=item, triage=triage, now=self.now, root=None)
        )
        self.triages.append(triage)
        self.places.append(place)

    def store(self, db: Conn) -> list[tuple[int, int]]:
        """Store the queued mentions with their ingest events and cards; (place, number) of
        each, and the run is empty again."""
        if not self.rows:
            return []
        numbers = insert_rows(db, self.rows)
        record_ingests(db, numbers=numbers, triages=self.triages, now=self.now)
        outbox.enqueue_many(
            db,
            kind=outbox.Kind.CARD_POST,
            effects=[
                (number, self.channel_of.get(t.team, ""))
                for number, t in zip(numbers, self.triages, strict=True)
            ],
            now=self.now,
        )
        stored = list(zip(self.places, numbers, strict=True))
        self.rows, self.triages, self.places = [], [], []
        return stored


def record_ingests(db: Conn, *, numbers: list[int], triages: list[Triage], now: datetime) -> None:
    """Append the `ingest` event of each new mention to the log, in one statement."""
    for start in range(0, len(numbers), ROWS_PER_INSERT):
        values = [
            event_values(
                Event(
                    mention=number,
                    action=Action.INGEST,
                    actor=SYSTEM,
                    at=now,
                    from_state=None,
                    to_state=State.NEW,
                    detail={"team": t.team, "kind": t.kind, "rule": t.rule},
                )
            )
            for number, t in zip(
                numbers[start : start + ROWS_PER_INSERT],
                triages[start : start + ROWS_PER_INSERT],
                strict=True,
            )
        ]
        db.execute(
            f"{EVENT_INSERT} VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?)'] * len(values))}",
            [v for row in values for v in row],
        )


EVENT_INSERT = "INSERT INTO events (mention, action, actor, at, from_state, to_state, detail)"


def event_values(event: Event) -> list[Any]:
    """The values of an `events` row, in `EVENT_INSERT`'s order."""
    return [
        event.mention,
        event.action.value,
        event.actor,
        event.at.isoformat(),
        event.from_state.value if event.from_state else None,
        event.to_state.value,
        json.dumps(event.detail, ensure_ascii=False, sort_keys=True),
    ]
