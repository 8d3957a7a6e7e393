"""Migration 0020: replicas of one allhands on one store, the leases that give each job to
one of them, and who took each outbox effect."""

from __future__ import annotations

from bot.store.migrations import migrations
from bot.store.sql import Conn


@migrations(name="0020_replicas")
def replicas(db: Conn) -> None:
    """The replica registry, job leases, lane holds, and the replica that took an effect."""
    db.executescript(
        """
        CREATE TABLE replicas (
            id TEXT PRIMARY KEY,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            version TEXT NOT NULL,
            started_at TEXT NOT NULL,
            seen_at TEXT NOT NULL
        );
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            taken_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        );
        -- The replica delivering a lane now (so a lane keeps its order and pace across
        -- replicas), and a rest the lane's platform asked for, kept for every replica.
        CREATE TABLE outbox_lanes (
            lane TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            held_until TEXT NOT NULL,
            paused_until TEXT
        );
        ALTER TABLE outbox ADD COLUMN taken_by TEXT;
        """
    )
