"""The schema, as numbered migrations recorded in the `_sqlite_migrations` table (on
PostgreSQL in `allhands_migrations`, see `bot.store.migrate`).

Both stores run the same migrations. Where their DDL differs, the migration says so: the
few column words of `bot.store.ddl`, and triggers, which PostgreSQL writes as plpgsql functions
(`bot.store.migrations_pg`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlite_utils.migrations import Migrations

from bot.store import migrations_pg as pg
from bot.store.ddl import words
from bot.store.sql import POSTGRESQL, Conn

F = TypeVar("F", bound=Callable[..., None])


class BothStores(Migrations):
    """sqlite-utils' migration set, whose migrations take either store's `Conn`."""

    def __call__(self, *, name: str | None = None, transactional: bool = True) -> Callable[[F], F]:
        """Register a migration under `name`."""
        register: Any = super().__call__(name=name, transactional=transactional)
        return register


migrations = BothStores("allhands")


@migrations(name="0001_core")
def core(db: Conn) -> None:
    """Mentions, the event log, cursors, chat cards, replies and the outbox."""
    w = words(db)
    db.executescript(
        f"""
        CREATE TABLE mentions (
            number {w.key},
            source TEXT NOT NULL,
            external_id TEXT NOT NULL,
            url TEXT NOT NULL DEFAULT '',
            author_handle TEXT NOT NULL,
            author_name TEXT NOT NULL DEFAULT '',
            author_audience {w.big},
            author_url TEXT NOT NULL DEFAULT '',
            text TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            language TEXT,
            created_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            parent_id TEXT,
            conversation_id TEXT,
            root_number INTEGER REFERENCES mentions(number),
            state TEXT NOT NULL,
            team TEXT NOT NULL,
            kind TEXT NOT NULL,
            urgency TEXT NOT NULL,
            sentiment {w.real} NOT NULL,
            rule TEXT NOT NULL DEFAULT '',
            claimed_by TEXT,
            claimed_at TEXT,
            snoozed_until TEXT,
            updated_at TEXT NOT NULL,
            UNIQUE (source, external_id)
        );
        CREATE INDEX mentions_state ON mentions (state, team);
        CREATE INDEX mentions_conversation ON mentions (source, conversation_id);
        CREATE INDEX mentions_root ON mentions (root_number);

        CREATE TABLE events (
            id {w.key},
            mention INTEGER NOT NULL REFERENCES mentions(number),
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL,
            from_state TEXT,
            to_state TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{{}}'
        );
        CREATE INDEX events_mention ON events (mention, id);
        CREATE INDEX events_at ON events (at);

        CREATE TABLE cursors (
            source TEXT PRIMARY KEY,
            cursor TEXT,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE source_health (
            source TEXT PRIMARY KEY,
            last_success TEXT,
            last_error TEXT,
            last_error_at TEXT,
            items_seen INTEGER NOT NULL DEFAULT 0
        );

        CREATE TABLE cards (
            mention INTEGER PRIMARY KEY REFERENCES mentions(number),
            platform TEXT NOT NULL,
            channel TEXT NOT NULL,
            message_id TEXT NOT NULL,
            posted_at TEXT NOT NULL
        );

        CREATE TABLE replies (
            id {w.key},
            mention INTEGER NOT NULL REFERENCES mentions(number),
            actor TEXT NOT NULL,
            text TEXT NOT NULL,
            at TEXT NOT NULL,
            status TEXT NOT NULL,
            external_id TEXT,
            url TEXT
        );
        CREATE INDEX replies_mention ON replies (mention);

        CREATE TABLE outbox (
            id {w.key},
            kind TEXT NOT NULL,
            mention INTEGER REFERENCES mentions(number),
            target TEXT NOT NULL DEFAULT '',
            payload TEXT NOT NULL DEFAULT '{{}}',
            state TEXT NOT NULL DEFAULT 'pending',
            attempts INTEGER NOT NULL DEFAULT 0,
            next_at TEXT NOT NULL,
            last_error TEXT,
            created_at TEXT NOT NULL,
            done_at TEXT,
            result TEXT
        );
        CREATE INDEX outbox_due ON outbox (state, next_at);
        CREATE INDEX outbox_mention ON outbox (mention, id);
        """
    )
    if db.dialect == POSTGRESQL:
        pg.events_append_only(db)
        return
    db.executescript(
        """
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        """
    )


@migrations(name="0003_teams")
def teams(db: Conn) -> None:
    """People's display names, and where the bot can reach Teams conversations and people."""
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS people (
            id TEXT PRIMARY KEY,
            platform TEXT NOT NULL,
            name TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE teams_conversations (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            service_url TEXT NOT NULL,
            tenant_id TEXT NOT NULL DEFAULT '',
            bot_id TEXT NOT NULL,
            team_id TEXT,
            name TEXT NOT NULL DEFAULT '',
            updated_at TEXT NOT NULL
        );

        CREATE TABLE teams_members (
            person TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            tenant_id TEXT NOT NULL DEFAULT '',
            service_url TEXT NOT NULL,
            bot_id TEXT NOT NULL,
            chat_id TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX teams_members_user ON teams_members (user_id);
        """
    )


@migrations(name="0004_sources")
def sources_backoff_and_webhooks(db: Conn) -> None:
    """Failing sources back off; webhook signatures are remembered to refuse replays."""
    db.executescript(
        """
        ALTER TABLE source_health ADD COLUMN failures INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE source_health ADD COLUMN retry_at TEXT;

        CREATE TABLE webhook_signatures (
            source TEXT NOT NULL,
            signature TEXT NOT NULL,
            seen_at TEXT NOT NULL,
            PRIMARY KEY (source, signature)
        );
        CREATE INDEX webhook_signatures_seen ON webhook_signatures (seen_at);
        """
    )


@migrations(name="0005_sla")
def sla(db: Conn) -> None:
    """The SLA sweep's log of steps taken, and the indexes its queries use."""
    w = words(db)
    db.executescript(
        f"""
        CREATE TABLE sla_steps (
            id {w.key},
            mention INTEGER NOT NULL REFERENCES mentions(number),
            step TEXT NOT NULL,
            anchor TEXT NOT NULL,
            round INTEGER NOT NULL DEFAULT 0,
            due_at TEXT NOT NULL,
            next_due TEXT,
            at TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{{}}',
            UNIQUE (mention, step, anchor, round)
        );
        CREATE INDEX sla_steps_next ON sla_steps (mention, step, anchor, next_due);
        CREATE INDEX events_waiting ON events (mention, at, from_state)
            WHERE to_state IN ('new', 'open', 'reopened');
        CREATE INDEX mentions_snoozed ON mentions (snoozed_until)
            WHERE snoozed_until IS NOT NULL;
        -- Without these, `root_number IS NULL` leads SQLite to scan every conversation's
        -- first mention through mentions_root, whatever the team and state.
        CREATE INDEX mentions_waiting ON mentions (team, state, received_at)
            WHERE root_number IS NULL;
        CREATE INDEX mentions_claims ON mentions (team, state, claimed_at)
            WHERE root_number IS NULL;
        """
    )


@migrations(name="0006_digest")
def digest(db: Conn) -> None:
    """Digests made: one per team and period, so a restart never sends one twice."""
    w = words(db)
    db.executescript(
        f"""
        CREATE TABLE digests (
            id {w.key},
            team TEXT NOT NULL,
            period TEXT NOT NULL,
            starts_at TEXT NOT NULL,
            ends_at TEXT NOT NULL,
            text TEXT NOT NULL,
            chart_text TEXT NOT NULL DEFAULT '',
            chart {w.blob},
            recipients TEXT NOT NULL DEFAULT '[]',
            created_at TEXT NOT NULL,
            UNIQUE (team, period)
        );
        CREATE INDEX mentions_team_updated ON mentions (team, updated_at);
        """
    )


@migrations(name="0007_guardrails")
def guardrails(db: Conn) -> None:
    """Replies held for a lead's approval, and what the lead decided."""
    db.executescript(
        """
        CREATE TABLE approvals (
            reply INTEGER PRIMARY KEY REFERENCES replies(id),
            mention INTEGER NOT NULL REFERENCES mentions(number),
            responder TEXT NOT NULL,
            platform TEXT NOT NULL,
            reasons TEXT NOT NULL DEFAULT '[]',
            approvers TEXT NOT NULL DEFAULT '[]',
            state TEXT NOT NULL DEFAULT 'waiting',
            asked_at TEXT NOT NULL,
            decided_by TEXT,
            decided_at TEXT,
            note TEXT,
            original_text TEXT NOT NULL
        );
        -- One reply waits per mention at a time.
        CREATE UNIQUE INDEX approvals_waiting ON approvals (mention) WHERE state = 'waiting';
        """
    )


@migrations(name="0008_reply_threads")
def reply_threads(db: Conn) -> None:
    """A customer answering one of our replies joins that mention's conversation."""
    db.execute("CREATE INDEX replies_external ON replies (external_id)")


# What is active: a conversation's first mention (not a later message in it) that still
# needs someone. The partial indexes of 0017 (`bot.store.migrations_0017`) hold only such
# rows, so what people and the SLA sweep wait for reads the active few, never the history.
# A query uses them only when its WHERE clause holds this condition word for word
# (`bot.store.mentions.ACTIVE_ROOT`).
ACTIVE_ROOT = "root_number IS NULL AND state IN ('new', 'open', 'reopened', 'claimed', 'answered')"


# Later migrations live in their own modules, registered on import, in this order.
from bot.store import (  # noqa: E402, F401
    migrations_0009,
    migrations_0017,
    migrations_0020,
    migrations_0021,
    migrations_0022,
)
