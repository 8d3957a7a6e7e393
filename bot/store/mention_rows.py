"""Rows of the `mentions` and `events` tables read back as the domain's Mention and Event."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bot.domain.mentions import Action, Author, Event, Mention, State
from bot.store.sql import Conn


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def row_to_mention(row: dict[str, Any]) -> Mention:
    """Build a Mention from a `mentions` row."""
    return Mention(
        number=row["number"],
        source=row["source"],
        external_id=row["external_id"],
        url=row["url"],
        author=Author(
            handle=row["author_handle"],
            name=row["author_name"],
            audience=row["author_audience"],
            url=row["author_url"],
        ),
        text=row["text"],
        state=State(row["state"]),
        team=row["team"],
        kind=row["kind"],
        urgency=row["urgency"],
        sentiment=row["sentiment"],
        created_at=datetime.fromisoformat(row["created_at"]),
        received_at=datetime.fromisoformat(row["received_at"]),
        language=row["language"],
        title=row["title"],
        parent_id=row["parent_id"],
        conversation_id=row["conversation_id"],
        claimed_by=row["claimed_by"],
        snoozed_until=_time(row["snoozed_until"]),
        root_number=row["root_number"],
        rating=row.get("rating"),
        complaint_score=row.get("complaint_score"),
        triage_note=row.get("triage_note") or "",
    )


def query_rows(db: Conn, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
    """The rows a query returns, each as a dict of column name to value."""
    cursor = db.execute(sql, list(params))
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


# Look-ups by value, quicker than calling the enums: a digest builds events by the thousand.
_ACTIONS = {a.value: a for a in Action}
_STATES = {s.value: s for s in State}


EVENT_COLUMNS = "id, mention, action, actor, at, from_state, to_state, detail"


def event_of(values: tuple[Any, ...]) -> Event:
    """Build an Event from the values of `EVENT_COLUMNS`, in that order."""
    id_, mention, action, actor, at, from_state, to_state, detail = values
    return Event(
        id=id_,
        mention=mention,
        action=_ACTIONS[action],
        actor=actor,
        at=datetime.fromisoformat(at),
        from_state=_STATES[from_state] if from_state else None,
        to_state=_STATES[to_state],
        detail={} if detail == "{}" else json.loads(detail),
    )


def row_to_event(row: dict[str, Any]) -> Event:
    """Build an Event from an `events` row."""
    return event_of(tuple(row[c] for c in EVENT_COLUMNS.split(", ")))
