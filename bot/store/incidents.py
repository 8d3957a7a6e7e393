"""Incidents, their members, their cards and spike alerts; run inside the writer's transaction."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store import outbox, sql
from bot.store.mention_rows import query_rows
from bot.store.sql import Conn


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident as stored; `ref` (I7) is what people type."""

    number: int
    team: str
    channel: str
    why: str
    state: str  # open | resolved | merged
    claimed_by: str | None
    opened_at: datetime
    merged_into: int | None = None

    @property
    def ref(self) -> str:
        """`I7`."""
        return f"I{self.number}"


def _incident(row: dict[str, Any]) -> Incident:
    return Incident(
        number=row["number"],
        team=row["team"],
        channel=row["channel"],
        why=row["why"],
        state=row["state"],
        claimed_by=row["claimed_by"],
        opened_at=datetime.fromisoformat(row["opened_at"]),
        merged_into=row["merged_into"],
    )


def create(db: Conn, *, team: str, channel: str, why: str, now: datetime) -> Incident:
    """Open a new incident."""
    cursor = db.execute(
        "INSERT INTO incidents (team, channel, why, state, opened_at, updated_at)"
        " VALUES (?, ?, ?, 'open', ?, ?) RETURNING number",
        [team, channel, why, now.isoformat(), now.isoformat()],
    )
    found = get(db, number=int(cursor.fetchone()[0]))
    assert found is not None
    return found


def get(db: Conn, *, number: int) -> Incident | None:
    """The incident with this number, or None."""
    rows = query_rows(db, "SELECT * FROM incidents WHERE number = ?", [number])
    return _incident(rows[0]) if rows else None


def open_incidents(db: Conn, *, team: str | None = None) -> list[Incident]:
    """Open incidents, oldest first."""
    sql = "SELECT * FROM incidents WHERE state = 'open'"
    params: list[Any] = []
    if team is not None:
        sql += " AND team = ?"
        params.append(team)
    return [_incident(r) for r in query_rows(db, sql + " ORDER BY number", params)]


def update(db: Conn, *, number: int, now: datetime, **changes: Any) -> None:
    """Change an incident's why, state, claimer, merge target or closing."""
    allowed = {"why", "state", "claimed_by", "merged_into", "closed_by", "closed_at"}
    sets = {k: v for k, v in changes.items() if k in allowed}
    assert len(sets) == len(changes), f"cannot change {set(changes) - allowed}"
    sets["updated_at"] = now.isoformat()
    db.execute(
        f"UPDATE incidents SET {', '.join(f'{k} = ?' for k in sets)} WHERE number = ?",
        [*sets.values(), number],
    )


def add_members(
    db: Conn,
    *,
    incident: int,
    mentions: list[int],
    now: datetime,
    own_card: set[int] | None = None,
) -> None:
    """Make mentions members of an incident (moving them from any other)."""
    keep = own_card or set()
    db.executemany(
        "INSERT INTO incident_members (mention, incident, joined_at, own_card) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(mention) DO UPDATE SET incident = excluded.incident",
        [(m, incident, now.isoformat(), int(m in keep)) for m in mentions],
    )


def remove_members(db: Conn, *, mentions: list[int]) -> int:
    """Take mentions out of their incident; how many were in one."""
    if not mentions:  # `IN ()` is SQLite's alone
        return 0
    marks = ", ".join("?" * len(mentions))
    cursor = db.execute(f"DELETE FROM incident_members WHERE mention IN ({marks})", mentions)
    return cursor.rowcount


def members(db: Conn, *, incident: int) -> list[int]:
    """The numbers of an incident's members, oldest first."""
    rows = db.execute(
        "SELECT mention FROM incident_members WHERE incident = ? ORDER BY mention", [incident]
    )
    return [r[0] for r in rows]


def incident_of(db: Conn, *, mention: int) -> int | None:
    """The incident a mention belongs to, or None."""
    row = db.execute(
        "SELECT incident FROM incident_members WHERE mention = ?", [mention]
    ).fetchone()
    return int(row[0]) if row else None


def summary(db: Conn, *, incident: int) -> dict[str, Any]:
    """Counts by source, kind and state, the newest examples and the people involved."""
    base = "FROM incident_members im JOIN mentions m ON m.number = im.mention WHERE im.incident = ?"
    by = {}
    for column in ("source", "kind", "state"):
        rows = db.execute(
            f"SELECT m.{column}, count(*) {base} GROUP BY m.{column} ORDER BY count(*) DESC,"
            f" m.{column}",
            [incident],
        ).fetchall()
        by[column] = {k: n for k, n in rows}
    newest = query_rows(
        db,
        f"SELECT m.number, m.source, m.author_handle, m.text, m.url {base}"
        " ORDER BY m.number DESC LIMIT 3",
        [incident],
    )
    authors = db.execute(f"SELECT count(DISTINCT m.author_handle) {base}", [incident]).fetchone()
    return {
        "size": sum(by["source"].values()),
        "authors": int(authors[0]),
        **by,
        "newest": newest,
    }


def pending_cards(
    db: Conn,
    *,
    mentions: list[int],
    now: datetime,
    reason: str = "shown on an incident's card",
    keep: tuple[int, tuple[str, ...]] | None = None,
) -> list[int]:
    """Of these mentions, those whose own card is still waiting to be posted: they are
    held back (an incident's card or a roll-up shows them) and returned. `keep` (an
    audience and urgencies) spares those whose authors have more followers than that, or
    with one of those urgencies: they keep their own card."""
    if not mentions:
        return []
    marks = ", ".join("?" * len(mentions))
    spare, params = "", list[Any]()
    if keep is not None:
        audience, urgencies = keep
        spare = " AND coalesce(m.author_audience, 0) <= ?"
        params.append(audience)
        if urgencies:
            spare += f" AND m.urgency NOT IN ({', '.join('?' * len(urgencies))})"
            params.extend(urgencies)
    rows = db.execute(
        f"SELECT o.id, o.mention FROM outbox o JOIN mentions m ON m.number = o.mention"
        f" WHERE o.kind = ? AND o.state = 'pending' AND o.mention IN ({marks}){spare}",
        [outbox.Kind.CARD_POST.value, *mentions, *params],
    ).fetchall()
    for id_, _ in rows:
        outbox.finish(db, id=id_, now=now, result={"skipped": reason})
    return [m for _, m in rows]


# Summary cards (an incident's card, a channel's roll-up): posted once, updated in place.


def summary_key(incident: int) -> str:
    """The key of an incident's card."""
    return f"incident:{incident}"


def queue_card(
    db: Conn,
    *,
    key: str,
    target: str,
    now: datetime,
    every: timedelta,
    slot: timedelta = timedelta(seconds=10),
) -> None:
    """Queue drawing a summary card again: at most once per `every`, and one card of the
    channel per `slot` (a storm's many incidents share the channel). One row waits at most."""
    payload = json.dumps({"summary": key}, ensure_ascii=False)
    waiting = db.execute(
        "SELECT 1 FROM outbox WHERE kind = ? AND state = 'pending' AND target = ? AND payload = ?",
        [outbox.Kind.SUMMARY_CARD.value, target, payload],
    ).fetchone()
    if waiting:
        return
    row = db.execute("SELECT drawn_at FROM summary_cards WHERE key = ?", [key]).fetchone()
    at = now
    if row and row[0]:
        at = max(now, datetime.fromisoformat(row[0]) + every)
        latest = db.execute(
            "SELECT max(next_at) FROM outbox WHERE kind = ? AND target = ?"
            " AND state IN ('pending', 'sending')",
            [outbox.Kind.SUMMARY_CARD.value, target],
        ).fetchone()[0]
        drawn = db.execute(
            "SELECT max(drawn_at) FROM summary_cards WHERE target = ?", [target]
        ).fetchone()[0]
        for taken in (latest, drawn):
            if taken:
                at = max(at, datetime.fromisoformat(taken) + slot)
    db.execute(
        "INSERT INTO outbox (kind, mention, target, payload, next_at, created_at)"
        " VALUES (?, NULL, ?, ?, ?, ?)",
        [outbox.Kind.SUMMARY_CARD.value, target, payload, at.isoformat(), now.isoformat()],
    )


def queue_roll_up(db: Conn, *, target: str, payload: dict[str, Any], now: datetime) -> None:
    """Queue a summary card whose content is in `payload` (a team's SLA roll-up): a row
    still waiting for the same card takes the newer content, so one message is sent."""
    text = json.dumps(payload, ensure_ascii=False)
    waiting = db.execute(
        "UPDATE outbox SET payload = ? WHERE kind = ? AND state = 'pending' AND target = ?"
        f" AND {sql.json_text(db, 'payload', 'summary')} = ?",
        [text, outbox.Kind.SUMMARY_CARD.value, target, payload["summary"]],
    ).rowcount
    if not waiting:
        db.execute(
            "INSERT INTO outbox (kind, mention, target, payload, next_at, created_at)"
            " VALUES (?, NULL, ?, ?, ?, ?)",
            [outbox.Kind.SUMMARY_CARD.value, target, text, now.isoformat(), now.isoformat()],
        )


def recent_card_ref(
    db: Conn, *, key: str, target: str, since: datetime
) -> tuple[tuple[str, str, str], datetime] | None:
    """Where a summary card was posted in `target` and when, if that was after `since`."""
    row = db.execute(
        "SELECT platform, channel, message_id, drawn_at FROM summary_cards"
        " WHERE key = ? AND target = ?",
        [key, target],
    ).fetchone()
    if not row or not row[2] or not row[3] or datetime.fromisoformat(row[3]) <= since:
        return None
    return (row[0], row[1], row[2]), datetime.fromisoformat(row[3])


def card_ref(db: Conn, *, key: str) -> tuple[str, str, str] | None:
    """Where a summary card was posted: platform, channel, message id."""
    row = db.execute(
        "SELECT platform, channel, message_id FROM summary_cards WHERE key = ?", [key]
    ).fetchone()
    return (row[0], row[1], row[2]) if row and row[2] else None


def card_drawn(
    db: Conn,
    *,
    key: str,
    target: str,
    ref: tuple[str, str, str],
    effect_id: int,
    now: datetime,
    drawn_at: datetime | None = None,
) -> None:
    """Record where a summary card is and when it was drawn (`drawn_at`, else now); its
    effect is done."""
    db.execute(
        "INSERT INTO summary_cards (key, target, platform, channel, message_id, drawn_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET platform = excluded.platform,"
        " channel = excluded.channel, message_id = excluded.message_id,"
        " drawn_at = excluded.drawn_at",
        [key, target, *ref, (drawn_at or now).isoformat()],
    )
    outbox.finish(db, id=effect_id, now=now, result={"message": ref[2]})


_RECENT = (
    "SELECT m.number, m.text, m.url, m.source, m.author_handle, m.received_at, m.team,"
    " im.incident FROM mentions m LEFT JOIN incident_members im ON im.mention = m.number"
)


def recent_mentions(db: Conn, *, since: datetime) -> list[dict[str, Any]]:
    """Top-level mentions received since then, with their incident, oldest first."""
    return query_rows(
        db,
        _RECENT + " WHERE m.received_at >= ? AND m.root_number IS NULL ORDER BY m.number",
        [since.isoformat()],
    )


def recent_numbers(db: Conn, *, since: datetime) -> set[int]:
    """The numbers of the top-level mentions received since then."""
    rows = db.execute(
        "SELECT number FROM mentions WHERE received_at >= ? AND root_number IS NULL",
        [since.isoformat()],
    )
    return {r[0] for r in rows}


def mentions_numbered(db: Conn, *, numbers: list[int]) -> list[dict[str, Any]]:
    """These mentions as `recent_mentions` gives them, oldest first."""
    where = sql.in_list(db, "m.number")
    return query_rows(
        db, _RECENT + f" WHERE {where} ORDER BY m.number", [sql.list_param(db, numbers)]
    )


def open_numbers(db: Conn) -> set[int]:
    """The numbers of the open incidents."""
    return {r[0] for r in db.execute("SELECT number FROM incidents WHERE state = 'open'")}


def incidents_of(db: Conn, *, mentions: list[int]) -> dict[int, int]:
    """Of these mentions, those in an open incident: mention -> incident."""
    found: dict[int, int] = {}
    for start in range(0, len(mentions), 500):
        chunk = mentions[start : start + 500]
        marks = ", ".join("?" * len(chunk))
        rows = db.execute(
            f"SELECT im.mention, im.incident FROM incident_members im JOIN incidents i"
            f" ON i.number = im.incident WHERE i.state = 'open' AND im.own_card = 0"
            f" AND im.mention IN ({marks})",
            chunk,
        )
        found.update({m: i for m, i in rows})
    return found


def redraw_roll_up_of(db: Conn, *, number: int, now: datetime, every: timedelta) -> None:
    """A rolled-up mention changed: its channel's roll-up is drawn again (in its turn)."""
    row = db.execute(
        "SELECT target FROM outbox WHERE mention = ? AND kind = ? AND result LIKE '%rolled up:%'",
        [number, outbox.Kind.CARD_POST.value],
    ).fetchone()
    if row:
        queue_card(db, key=f"rollup:{row[0]}", target=row[0], now=now, every=every)


def surface_follow_up(
    db: Conn,
    *,
    root: int,
    follow_up: int,
    now: datetime,
    channel_of: dict[str, str],
) -> bool:
    """A customer wrote again under a mention that has no card of its own (an incident's
    member, or rolled up): it gets its card now, with the new message in its thread, so
    that the conversation is in front of people. Whether a card was queued."""
    has_card = db.execute("SELECT 1 FROM cards WHERE mention = ?", [root]).fetchone()
    pending = db.execute(
        "SELECT 1 FROM outbox WHERE mention = ? AND kind = ? AND state IN ('pending', 'sending')",
        [root, outbox.Kind.CARD_POST.value],
    ).fetchone()
    if has_card or pending:
        return False
    row = db.execute("SELECT team FROM mentions WHERE number = ?", [root]).fetchone()
    target = channel_of.get(row[0], "") if row else ""
    if not target:
        return False
    payload = json.dumps({"follow_up": follow_up}, ensure_ascii=False)
    db.execute(
        "UPDATE outbox SET state = 'done', done_at = ?, result = ? WHERE mention = ? AND kind = ?"
        " AND state = 'pending' AND payload = ?",
        [now.isoformat(), json.dumps({"moved": "after the card"}), root,
         outbox.Kind.THREAD_POST.value, payload],
    )  # fmt: skip
    outbox.enqueue(db, kind=outbox.Kind.CARD_POST, mention=root, target=target, now=now)
    outbox.enqueue(
        db, kind=outbox.Kind.THREAD_POST, mention=root, payload={"follow_up": follow_up}, now=now
    )
    return True
