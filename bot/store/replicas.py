"""The replica registry and the leases that give each scheduled job to one replica.

A replica (one `allhands run` process) writes a heartbeat every few seconds; one whose
heartbeat is older than `DEAD_AFTER` is dead. A lease is one row per job (name, holder,
until when), taken or renewed with one conditional upsert: it goes to the caller when the
caller holds it already or its holder let it expire. Times are ISO text, computed by the
caller, so the same statements run on every store.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.store.sql import Conn

DEAD_AFTER = timedelta(seconds=20)


@dataclass(frozen=True, slots=True)
class ReplicaRow:
    """One registered replica."""

    id: str
    host: str
    pid: int
    version: str
    started_at: datetime
    seen_at: datetime


@dataclass(frozen=True, slots=True)
class Lease:
    """Who holds a job's lease, since when and until when."""

    name: str
    holder: str
    taken_at: datetime
    expires_at: datetime


def register(db: Conn, *, id: str, host: str, pid: int, version: str, now: datetime) -> None:
    """Record a replica that starts."""
    db.execute(
        "INSERT INTO replicas (id, host, pid, version, started_at, seen_at)"
        " VALUES (?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at",
        [id, host, pid, version, now.isoformat(), now.isoformat()],
    )


def heartbeat(db: Conn, *, id: str, now: datetime) -> bool:
    """Say that a replica is alive; False if it was dropped as dead (it registers again)."""
    cursor = db.execute("UPDATE replicas SET seen_at = ? WHERE id = ?", [now.isoformat(), id])
    return cursor.rowcount > 0


def pulse(
    db: Conn, *, id: str, names: Collection[str], now: datetime, ttl: timedelta
) -> list[Lease] | None:
    """A replica's heartbeat and each lease in `names` taken or renewed (`take_lease`), in one
    transaction; None, and nothing taken, if it was dropped as dead (it registers again)."""
    if not heartbeat(db, id=id, now=now):
        return None
    return [take_lease(db, name=name, holder=id, now=now, ttl=ttl) for name in names]


def every(db: Conn) -> list[ReplicaRow]:
    """Every registered replica, oldest first."""
    return [
        ReplicaRow(id, host, int(pid), version, _at(started), _at(seen))
        for id, host, pid, version, started, seen in db.execute(
            "SELECT id, host, pid, version, started_at, seen_at FROM replicas"
            " ORDER BY started_at, id"
        )
    ]


def drop(
    db: Conn, *, ids: Collection[str], seen: Mapping[str, datetime] | None = None
) -> list[str]:
    """Forget replicas that stopped or died, with the leases and lanes they held; the ids
    forgotten. With `seen` (id -> the last beat the caller read), a replica that has beaten
    since is kept: it was judged dead on an older reading."""
    dropped = []
    for id in ids:
        if seen is not None and id in seen:
            row = db.execute(
                "DELETE FROM replicas WHERE id = ? AND seen_at <= ? RETURNING id",
                [id, seen[id].isoformat()],
            ).fetchone()
        else:
            row = db.execute("DELETE FROM replicas WHERE id = ? RETURNING id", [id]).fetchone()
        if row is None:
            continue
        db.execute("DELETE FROM leases WHERE holder = ?", [id])
        db.execute("DELETE FROM outbox_lanes WHERE holder = ?", [id])
        dropped.append(id)
    return dropped


def take_lease(db: Conn, *, name: str, holder: str, now: datetime, ttl: timedelta) -> Lease:
    """Take or renew the lease `name` for `holder` if it is free, expired or its own; the
    lease as it stands after (its holder says whether it was taken)."""
    db.execute(
        "INSERT INTO leases (name, holder, taken_at, expires_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
        " expires_at = excluded.expires_at,"
        " taken_at = CASE WHEN leases.holder = excluded.holder THEN leases.taken_at"
        " ELSE excluded.taken_at END"
        " WHERE leases.holder = excluded.holder OR leases.expires_at <= ?",
        [name, holder, now.isoformat(), (now + ttl).isoformat(), now.isoformat()],
    )
    row = db.execute(
        "SELECT name, holder, taken_at, expires_at FROM leases WHERE name = ?", [name]
    ).fetchone()
    return _lease(row)


def release_leases(db: Conn, *, holder: str) -> None:
    """Let go of every lease and lane `holder` holds (a clean stop)."""
    db.execute("DELETE FROM leases WHERE holder = ?", [holder])
    db.execute("DELETE FROM outbox_lanes WHERE holder = ?", [holder])


def leases(db: Conn) -> list[Lease]:
    """Every job's lease, by name."""
    return [
        _lease(row)
        for row in db.execute(
            "SELECT name, holder, taken_at, expires_at FROM leases ORDER BY name"
        ).fetchall()
    ]


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _lease(row: tuple[str, str, str, str]) -> Lease:
    name, holder, taken_at, expires_at = row
    return Lease(name, holder, datetime.fromisoformat(taken_at), datetime.fromisoformat(expires_at))
