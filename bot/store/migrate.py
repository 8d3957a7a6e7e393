"""Bringing a store's schema up to date: sqlite-utils' runner on SQLite, ours on PostgreSQL.

Both run the migrations of `bot.store.migrations`, by the same names. On PostgreSQL the
names applied are kept in `allhands_migrations`; all pending migrations run in one
transaction under an advisory lock, so replicas starting at once migrate exactly once.
"""

from __future__ import annotations

from datetime import UTC, datetime

from bot.store.migrations import migrations
from bot.store.sql import POSTGRESQL, Conn, SqliteConn

# pg_advisory_xact_lock's key for migrating: "allhands" in ASCII, read as a number.
MIGRATION_LOCK = int.from_bytes(b"allhands", "big") >> 1


def apply(db: Conn) -> None:
    """Apply every migration the store has not had yet."""
    if db.dialect != POSTGRESQL:
        assert isinstance(db, SqliteConn)
        migrations.apply(db)
        return
    with db.atomic():
        db.execute("SELECT pg_advisory_xact_lock(?)", [MIGRATION_LOCK])
        db.execute(
            "CREATE TABLE IF NOT EXISTS allhands_migrations"
            " (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        done = {name for (name,) in db.execute("SELECT name FROM allhands_migrations")}
        for migration in migrations._migrations:  # sqlite-utils' list, in registered order
            if migration.name in done:
                continue
            migration.fn(db)  # type: ignore[arg-type]
            db.execute(
                "INSERT INTO allhands_migrations (name, applied_at) VALUES (?, ?)",
                [migration.name, datetime.now(UTC).isoformat()],
            )


def applied(db: Conn) -> list[str]:
    """The names of the migrations this store has had, in order."""
    if db.dialect != POSTGRESQL:
        assert isinstance(db, SqliteConn)
        return [m.name for m in migrations.applied(db)]
    return [name for (name,) in db.execute("SELECT name FROM allhands_migrations ORDER BY name")]
