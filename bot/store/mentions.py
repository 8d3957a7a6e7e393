"""Mentions and their audit log: ingest, look-up, and conditional state changes.

Rows are read back as Mentions and Events in `mention_rows`; which conversation a post
continues is found in `conversations`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.mentions import (
    ACTIVE,
    CLOSED,
    Action,
    Event,
    Item,
    Mention,
    State,
    Triage,
    next_state,
)
from bot.errors import TransitionError
from bot.store import conversations, new_mentions, outbox
from bot.store.mention_rows import query_rows, row_to_event, row_to_mention
from bot.store.migrations import ACTIVE_ROOT
from bot.store.sql import Conn

__all__ = ["ACTIVE_ROOT"]  # queries of active mentions hold it word for word


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def get(db: Conn, *, number: int) -> Mention | None:
    """The mention with this number, or None."""
    rows = query_rows(db, "SELECT * FROM mentions WHERE number = ?", [number])
    return row_to_mention(rows[0]) if rows else None


def find(
    db: Conn,
    *,
    states: Iterable[State] | None = None,
    team: str | None = None,
    claimed_by: str | None = None,
    roots_only: bool = True,
    limit: int = 50,
    offset: int = 0,
) -> list[Mention]:
    """Mentions matching every filter given, oldest first."""
    clause, params = _filters(states, team, claimed_by, roots_only)
    sql = f"SELECT * FROM mentions {clause} ORDER BY number LIMIT ? OFFSET ?"
    return [row_to_mention(r) for r in query_rows(db, sql, [*params, limit, offset])]


def count_found(
    db: Conn,
    *,
    states: Iterable[State] | None = None,
    team: str | None = None,
    claimed_by: str | None = None,
) -> int:
    """How many mentions (conversations) `find` would list without a limit."""
    clause, params = _filters(states, team, claimed_by, True)
    return int(db.execute(f"SELECT count(*) FROM mentions {clause}", params).fetchone()[0])


def _filters(
    states: Iterable[State] | None, team: str | None, claimed_by: str | None, roots_only: bool
) -> tuple[str, list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    states = None if states is None else frozenset(states)
    if states is not None:
        wanted = sorted(s.value for s in states)
        where.append(f"state IN ({', '.join('?' * len(wanted))})" if wanted else "0 = 1")
        params.extend(wanted)
    if team is not None:
        where.append("team = ?")
        params.append(team)
    if claimed_by is not None:
        where.append("claimed_by = ?")
        params.append(claimed_by)
    if roots_only:
        where.append("root_number IS NULL")
        if states is not None and set(states) <= ACTIVE:
            # Through the partial indexes of active mentions, not over the history.
            where.append(ACTIVE_ROOT)
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def follow_ups(db: Conn, *, number: int) -> list[Mention]:
    """The customer's later posts in this mention's conversation, oldest first."""
    rows = query_rows(db, "SELECT * FROM mentions WHERE root_number = ? ORDER BY number", [number])
    return [row_to_mention(r) for r in rows]


def events(db: Conn, *, number: int) -> list[Event]:
    """The audit log of one mention, oldest first."""
    rows = query_rows(db, "SELECT * FROM events WHERE mention = ? ORDER BY id", [number])
    return [row_to_event(r) for r in rows]


def record_event(db: Conn, *, event: Event) -> int:
    """Append one event to the log."""
    cursor = db.execute(
        f"{new_mentions.EVENT_INSERT} VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
        new_mentions.event_values(event),
    )
    return int(cursor.fetchone()[0])


_CHANGEABLE = frozenset({"claimed_by", "snoozed_until", "team", "kind"})


def transition(
    db: Conn,
    *,
    mention: Mention,
    action: Action,
    actor: str,
    now: datetime,
    changes: dict[str, Any] | None = None,
    detail: dict[str, Any] | None = None,
) -> Mention:
    """Move `mention` by `action` if it is still in the state it was read in; log the event.

    `changes` may set `claimed_by` and `snoozed_until`. The UPDATE is conditional on the
    state and claimer that were read, so that of two people acting at once exactly one
    wins; the loser gets TransitionError.
    """
    target = next_state(mention.state, action, number=mention.number)
    sets: dict[str, Any] = {"state": target.value, "updated_at": now.isoformat()}
    for column, value in (changes or {}).items():
        if column not in _CHANGEABLE:
            raise ValueError(f"{column} cannot be changed by a transition")
        sets[column] = _iso(value) if isinstance(value, datetime) else value
    if "claimed_by" in sets:
        sets["claimed_at"] = now.isoformat() if sets["claimed_by"] else None
    if target in CLOSED and mention.snoozed_until is not None:
        sets["snoozed_until"] = None  # a snooze ends with the mention; no index keeps it
    assignments = ", ".join(f"{k} = ?" for k in sets)
    # RETURNING gives the changed row: no second round trip to read it again.
    rows = query_rows(
        db,
        f"UPDATE mentions SET {assignments} WHERE number = ? AND state = ?"
        " AND claimed_by IS NOT DISTINCT FROM ? RETURNING *",
        [*sets.values(), mention.number, mention.state.value, mention.claimed_by],
    )
    if len(rows) != 1:
        raise TransitionError(f"{mention.ref} was changed by someone else just now; try again.")
    record_event(
        db,
        event=Event(
            mention=mention.number,
            action=action,
            actor=actor,
            at=now,
            from_state=mention.state,
            to_state=target,
            detail=detail or {},
        ),
    )
    return row_to_mention(rows[0])


@dataclass(frozen=True, slots=True)
class Ingested:
    """What storing one item did: a new mention, a follow-up to one, or nothing (a repeat)."""

    number: int | None
    root: int | None = None
    duplicate: bool = False


def ingest(
    db: Conn,
    *,
    source: str,
    items: list[tuple[Item, Triage]],
    cursor: str | None,
    now: datetime,
    channel_of: dict[str, str],
) -> list[Ingested]:
    """Store a batch of triaged items and the source's new cursor in one transaction.

    New posts become mentions in state `new` with a card queued for their team's channel;
    a post continuing a known conversation is stored under it, queued for the card's
    thread, and reopens the mention if it was resolved. Repeats are skipped.

    Each item is handled as if stored one after another, but which items are repeats or
    may continue a conversation is read for the whole batch at once, and consecutive new
    posts are written together (`new_mentions.NewRun`): a few statements a batch instead
    of several an item, each a round trip to a PostgreSQL server.
    """
    stored = conversations.stored_numbers(
        db, source=source, external_ids=[i.external_id for i, _ in items]
    )
    known = conversations.known_keys(
        db, source=source, keys=set().union(*(conversations.thread_keys(i) for i, _ in items))
    )
    results: list[Ingested | None] = []
    place_of: dict[str, int] = {}  # this batch's posts stored so far, by external id
    run = new_mentions.NewRun(source=source, now=now, channel_of=channel_of)

    def store_run() -> None:
        for place, number in run.store(db):
            results[place] = Ingested(number=number)

    for item, triage in items:
        if item.external_id in stored:
            results.append(Ingested(number=stored[item.external_id], duplicate=True))
            continue
        if item.external_id in place_of:  # twice in one batch: a repeat of the first
            store_run()
            first = results[place_of[item.external_id]]
            assert first is not None
            results.append(Ingested(number=first.number, duplicate=True))
            continue
        keys = conversations.thread_keys(item)
        root = None
        if keys & known:  # the conversation's root may be in the run: store it first
            store_run()
            root = conversations.conversation_root(db, source=source, item=item)
        place_of[item.external_id] = len(results)
        known.add(item.external_id)
        known.update(k for k in (item.conversation_id,) if k)
        if root is None:
            results.append(None)
            run.add(item, triage, place=len(results) - 1)
            continue
        results.append(_follow_up(db, source=source, item=item, triage=triage, root=root, now=now))
    store_run()
    save_cursor(db, source=source, cursor=cursor, now=now)
    return [r for r in results if r is not None]


def _follow_up(
    db: Conn, *, source: str, item: Item, triage: Triage, root: Mention, now: datetime
) -> Ingested:
    """Store `item` under the conversation of `root`, queue it for the card's thread, and
    reopen the mention if it was resolved."""
    row = new_mentions.mention_row(source=source, item=item, triage=triage, now=now, root=root)
    (number,) = new_mentions.insert_rows(db, [row])
    updated = transition(
        db,
        mention=root,
        action=Action.FOLLOW_UP,
        actor=f"{source}:{item.author.handle}",
        now=now,
        detail={"follow_up": number},
    )
    outbox.enqueue(
        db,
        kind=outbox.Kind.THREAD_POST,
        mention=root.number,
        payload={"follow_up": number},
        now=now,
    )
    if updated.state != root.state:
        outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=root.number, now=now)
    return Ingested(number=number, root=root.number)


def waiting_authors(db: Conn, *, source: str, handles: list[str]) -> set[str]:
    """Which of these authors have a mention from `source` still waiting for an answer."""
    if not handles:
        return set()
    waiting = [State.NEW.value, State.OPEN.value, State.REOPENED.value, State.CLAIMED.value]
    found: set[str] = set()
    unique = sorted(set(handles))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        rows = db.execute(
            f"SELECT DISTINCT author_handle FROM mentions WHERE source = ?"
            f" AND author_handle IN ({', '.join('?' * len(chunk))})"
            f" AND state IN ({', '.join('?' * len(waiting))})",
            [source, *chunk, *waiting],
        ).fetchall()
        found.update(r[0] for r in rows)
    return found


def save_cursor(db: Conn, *, source: str, cursor: str | None, now: datetime) -> None:
    """Remember how far a source has been read."""
    db.execute(
        "INSERT INTO cursors (source, cursor, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(source) DO UPDATE SET cursor = excluded.cursor,"
        " updated_at = excluded.updated_at",
        [source, cursor, now.isoformat()],
    )


def load_cursor(db: Conn, *, source: str) -> str | None:
    """How far a source has been read, or None if never."""
    row = db.execute("SELECT cursor FROM cursors WHERE source = ?", [source]).fetchone()
    return row[0] if row else None


def count_by_state(db: Conn) -> dict[str, int]:
    """How many top-level mentions are in each state (kept by triggers: no history is read)."""
    rows = db.execute(
        "SELECT state, sum(n) FROM mention_counts GROUP BY state HAVING sum(n) > 0"
    ).fetchall()
    return {state: n for state, n in rows}


def count_by_team(db: Conn) -> dict[str, dict[str, int]]:
    """How many top-level mentions each team has in each state (kept by triggers)."""
    counts: dict[str, dict[str, int]] = {}
    for team, state, n in db.execute("SELECT team, state, n FROM mention_counts WHERE n > 0"):
        counts.setdefault(team, {})[state] = n
    return counts


def is_active(mention: Mention) -> bool:
    """Whether the mention still needs someone."""
    return mention.state in ACTIVE
