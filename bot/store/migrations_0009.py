"""Migrations 0009-0016: people's aliases, approval messages, outbox lanes, chat warnings,
incidents, triage v2, ratings and tokens, erasures."""

from __future__ import annotations

import json

from bot.store import migrations_pg as pg
from bot.store.ddl import words
from bot.store.migrations import migrations
from bot.store.sql import POSTGRESQL, Conn


@migrations(name="0009_people_aliases")
def people_aliases(db: Conn) -> None:
    """Other names a person goes by (handle, e-mail, display name), so that playbooks can
    name leads the way people know them and the bot still finds their platform id."""
    db.executescript(
        """
        CREATE TABLE people_aliases (
            alias TEXT NOT NULL,
            person TEXT NOT NULL,
            platform TEXT NOT NULL,
            PRIMARY KEY (alias, person)
        );
        CREATE INDEX people_aliases_person ON people_aliases (person);
        """
    )


@migrations(name="0010_approval_messages")
def approval_messages(db: Conn) -> None:
    """Where each lead's approval request was posted, so that every one of them can be
    drawn again with the decision once a lead decides."""
    db.executescript(
        """
        CREATE TABLE approval_messages (
            platform TEXT NOT NULL,
            channel TEXT NOT NULL,
            message_id TEXT NOT NULL,
            reply INTEGER NOT NULL REFERENCES approvals(reply),
            lead TEXT NOT NULL,
            posted_at TEXT NOT NULL,
            PRIMARY KEY (platform, channel, message_id)
        );
        CREATE INDEX approval_messages_reply ON approval_messages (reply);
        """
    )
    if db.dialect == POSTGRESQL:  # requests are drawn in the order posted, as SQLite's rowid
        db.execute(
            "ALTER TABLE approval_messages ADD COLUMN rowid BIGINT GENERATED ALWAYS AS IDENTITY"
        )


@migrations(name="0011_outbox_lanes")
def outbox_lanes(db: Conn) -> None:
    """Outbox lanes: each effect's destination, its priority there, the effect it waits
    for, and a random idempotency key kept across its tries."""
    db.executescript(
        """
        ALTER TABLE outbox ADD COLUMN lane TEXT NOT NULL DEFAULT '';
        ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 2;
        ALTER TABLE outbox ADD COLUMN after_id INTEGER;
        ALTER TABLE outbox ADD COLUMN idempotency_key TEXT;
        CREATE INDEX outbox_lane_next ON outbox (lane, priority, id) WHERE state = 'pending';
        CREATE INDEX outbox_lane_due ON outbox (lane, next_at) WHERE state = 'pending';
        CREATE INDEX outbox_after ON outbox (after_id) WHERE state = 'waiting';
        """
    )
    from bot.store import outbox  # the lane rules as they stand when the migration runs

    rows = db.execute(
        "SELECT id, kind, mention, target, payload FROM outbox"
        " WHERE state IN ('pending', 'sending')"
    ).fetchall()
    for id_, kind, mention, target, payload in rows:
        effect_kind = outbox.Kind(kind)
        lane = outbox.lane_of(
            db, kind=effect_kind, mention=mention, target=target, payload=json.loads(payload)
        )
        db.execute(
            "UPDATE outbox SET lane = ?, priority = ?, idempotency_key = ? WHERE id = ?",
            [lane, outbox.PRIORITY[effect_kind], outbox.new_key(), id_],
        )


@migrations(name="0012_chat_warnings")
def chat_warnings(db: Conn) -> None:
    """What a chat platform withholds that allhands needs (a scope, say), for `stats`."""
    db.executescript(
        """
        CREATE TABLE chat_warnings (
            platform TEXT NOT NULL,
            topic TEXT NOT NULL,
            message TEXT NOT NULL,
            at TEXT NOT NULL,
            PRIMARY KEY (platform, topic)
        );
        """
    )


@migrations(name="0013_incidents")
def incidents(db: Conn) -> None:
    """Incidents (their own series, written I7), their members, summary cards updated in
    place (an incident's card, a channel's roll-up), spike alerts, and one answer for
    everyone: at most one reply-all row per member."""
    w = words(db)
    db.executescript(
        f"""
        CREATE TABLE incidents (
            number {w.key},
            team TEXT NOT NULL,
            channel TEXT NOT NULL,
            why TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL DEFAULT 'open',
            claimed_by TEXT,
            merged_into INTEGER REFERENCES incidents(number),
            opened_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_by TEXT,
            closed_at TEXT
        );
        CREATE INDEX incidents_state ON incidents (state, team);
        CREATE TABLE incident_members (
            mention INTEGER PRIMARY KEY REFERENCES mentions(number),
            incident INTEGER NOT NULL REFERENCES incidents(number),
            joined_at TEXT NOT NULL,
            own_card INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX incident_members_incident ON incident_members (incident, mention);
        CREATE TABLE summary_cards (
            key TEXT PRIMARY KEY,
            target TEXT NOT NULL,
            platform TEXT NOT NULL,
            channel TEXT NOT NULL,
            message_id TEXT NOT NULL,
            drawn_at TEXT
        );
        CREATE TABLE spike_alerts (
            id {w.key},
            team TEXT NOT NULL,
            incident INTEGER,
            count INTEGER NOT NULL,
            threshold INTEGER NOT NULL,
            onset TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE TABLE reply_all (
            mention INTEGER PRIMARY KEY REFERENCES mentions(number),
            incident INTEGER NOT NULL REFERENCES incidents(number),
            actor TEXT NOT NULL,
            platform TEXT NOT NULL DEFAULT 'console',
            text TEXT NOT NULL,
            status TEXT NOT NULL,
            reason TEXT NOT NULL DEFAULT '',
            reply INTEGER,
            at TEXT NOT NULL
        );
        CREATE INDEX summary_cards_target ON summary_cards (target, drawn_at);
        CREATE INDEX reply_all_incident ON reply_all (incident, status);
        CREATE INDEX mentions_team_received ON mentions (team, received_at);
        CREATE INDEX outbox_kind_pending ON outbox (kind, state, target);
        """
    )


@migrations(name="0014_triage_v2")
def triage_v2(db: Conn) -> None:
    """The complaint model's score, the severity and what triage was unsure about on each
    mention; the team's corrections of kind and team, which `triage learn` learns from."""
    w = words(db)
    db.executescript(
        f"""
        ALTER TABLE mentions ADD COLUMN complaint_score {w.real};
        ALTER TABLE mentions ADD COLUMN severity TEXT NOT NULL DEFAULT '';
        ALTER TABLE mentions ADD COLUMN triage_note TEXT NOT NULL DEFAULT '';
        CREATE TABLE triage_corrections (
            id {w.rowid_key},
            mention INTEGER NOT NULL REFERENCES mentions(number),
            field TEXT NOT NULL CHECK (field IN ('kind', 'team')),
            old TEXT NOT NULL,
            new TEXT NOT NULL,
            actor TEXT NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX triage_corrections_mention ON triage_corrections (mention);
        -- Repeat contact: an author's earlier mentions from the same source.
        CREATE INDEX mentions_author ON mentions (source, author_handle);
        """
    )


@migrations(name="0015_ratings_and_tokens")
def ratings_and_tokens(db: Conn) -> None:
    """App-store reviews carry a star rating; sources whose platform rotates OAuth tokens
    (X) keep the newest ones, so a restart does not use a refresh token already spent."""
    db.executescript(
        """
        ALTER TABLE mentions ADD COLUMN rating INTEGER;
        CREATE TABLE source_tokens (
            source TEXT PRIMARY KEY,
            tokens TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        """
    )


@migrations(name="0016_erasures")
def erasures(db: Conn) -> None:
    """Erasure requests and retention blank customers' text: the event log stays append-only
    for what happened (its action, mention, time and states); only an erasure, inside its
    own transaction (a row in `erasing`), may blank an event's actor and detail. Each
    erasure is recorded, without what was erased."""
    w = words(db)
    db.executescript(
        f"""
        CREATE TABLE erasing (started_at TEXT NOT NULL);
        ALTER TABLE mentions ADD COLUMN erased_at TEXT;
        CREATE INDEX mentions_kept ON mentions (received_at) WHERE erased_at IS NULL;

        CREATE TABLE erasures (
            id {w.key},
            at TEXT NOT NULL,
            reason TEXT NOT NULL,
            source TEXT NOT NULL DEFAULT '',
            mentions INTEGER NOT NULL,
            requested_by TEXT NOT NULL DEFAULT ''
        );
        """
    )
    if db.dialect == POSTGRESQL:
        pg.events_erasable(db)
        return
    db.executescript(
        """
        DROP TRIGGER events_no_update;
        CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            WHEN NOT EXISTS (SELECT 1 FROM erasing)
                OR NEW.id IS NOT OLD.id OR NEW.mention IS NOT OLD.mention
                OR NEW.action IS NOT OLD.action OR NEW.at IS NOT OLD.at
                OR NEW.from_state IS NOT OLD.from_state OR NEW.to_state IS NOT OLD.to_state
            BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
        """
    )
