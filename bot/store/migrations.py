"""The schema, as numbered migrations recorded in the `_sqlite_migrations` table (on
PostgreSQL in `allhands_migrations`, see `bot.store.migrate`).

Both stores run the same migrations. Where their DDL differs, the migration says so: the
few column words of `bot.store.ddl`, and triggers, which PostgreSQL writes as plpgsql functions
(`bot.store.migrations_pg`).
"""

from __future__ import annotations

import json
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


# What is active: a conversation's first mention (not a later message in it) that still
# needs someone. The partial indexes below hold only such rows, so what people and the SLA
# sweep wait for reads the active few, never the history. A query uses them only when its
# WHERE clause holds this condition word for word (`bot.store.mentions.ACTIVE_ROOT`).
ACTIVE_ROOT = "root_number IS NULL AND state IN ('new', 'open', 'reopened', 'claimed', 'answered')"


@migrations(name="0017_flat_costs")
def flat_costs(db: Conn) -> None:
    """Indexes over what is active or recent only; counts kept up to date by triggers (for
    /healthz, /metrics and `stats`); an index for a person's answers and for pruning the
    outbox; ended snoozes of closed mentions cleared."""
    w = words(db)
    db.executescript(
        f"""
        UPDATE mentions SET snoozed_until = NULL
            WHERE snoozed_until IS NOT NULL AND state IN ('resolved', 'ignored');
        DROP INDEX IF EXISTS mentions_state;
        DROP INDEX IF EXISTS mentions_waiting;
        DROP INDEX IF EXISTS mentions_claims;
        DROP INDEX IF EXISTS mentions_snoozed;
        DROP INDEX IF EXISTS mentions_root;
        -- Only later messages have a root: `root_number IS NULL` can no longer lead SQLite
        -- through an index over nearly every row.
        CREATE INDEX mentions_follow_ups ON mentions (root_number) WHERE root_number IS NOT NULL;
        CREATE INDEX mentions_active ON mentions (number) WHERE {ACTIVE_ROOT};
        CREATE INDEX mentions_active_team ON mentions (team, state, received_at)
            WHERE {ACTIVE_ROOT};
        CREATE INDEX mentions_snoozing ON mentions (snoozed_until)
            WHERE snoozed_until IS NOT NULL AND {ACTIVE_ROOT};
        CREATE INDEX replies_actor ON replies (actor, status);
        CREATE INDEX sla_steps_at ON sla_steps (at, step);
        CREATE INDEX outbox_done ON outbox (state, done_at);

        CREATE TABLE mention_counts (
            team TEXT NOT NULL,
            state TEXT NOT NULL,
            n INTEGER NOT NULL,
            PRIMARY KEY (team, state)
        ) {w.keyed_only};
        INSERT INTO mention_counts (team, state, n)
            SELECT team, state, count(*) FROM mentions WHERE root_number IS NULL
            GROUP BY team, state;

        -- A digest's chart point for a day that is over: it never changes, so the next
        -- digests read it here instead of that day's history.
        CREATE TABLE digest_days (
            team TEXT NOT NULL,
            zone TEXT NOT NULL,
            day TEXT NOT NULL,
            mentions_in INTEGER NOT NULL,
            median_first_response {w.real},
            PRIMARY KEY (team, zone, day)
        ) {w.keyed_only};

        CREATE TABLE outbox_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) {w.keyed_only};
        INSERT INTO outbox_counts (state, n) SELECT state, count(*) FROM outbox GROUP BY state;
        """
    )
    if db.dialect == POSTGRESQL:
        pg.count_triggers(db)
        return
    db.executescript(
        """
        CREATE TRIGGER mention_counts_insert AFTER INSERT ON mentions
            WHEN new.root_number IS NULL BEGIN
            INSERT INTO mention_counts (team, state, n) VALUES (new.team, new.state, 1)
                ON CONFLICT (team, state) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER mention_counts_update AFTER UPDATE OF state, team, root_number ON mentions
            WHEN old.state IS NOT new.state OR old.team IS NOT new.team
                OR old.root_number IS NOT new.root_number BEGIN
            UPDATE mention_counts SET n = n - 1
                WHERE old.root_number IS NULL AND team = old.team AND state = old.state;
            INSERT INTO mention_counts (team, state, n)
                SELECT new.team, new.state, 1 WHERE new.root_number IS NULL
                ON CONFLICT (team, state) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER mention_counts_delete AFTER DELETE ON mentions
            WHEN old.root_number IS NULL BEGIN
            UPDATE mention_counts SET n = n - 1 WHERE team = old.team AND state = old.state;
        END;
        CREATE TRIGGER outbox_counts_insert AFTER INSERT ON outbox BEGIN
            INSERT INTO outbox_counts (state, n) VALUES (new.state, 1)
                ON CONFLICT (state) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER outbox_counts_update AFTER UPDATE OF state ON outbox
            WHEN old.state IS NOT new.state BEGIN
            UPDATE outbox_counts SET n = n - 1 WHERE state = old.state;
            INSERT INTO outbox_counts (state, n) VALUES (new.state, 1)
                ON CONFLICT (state) DO UPDATE SET n = n + 1;
        END;
        CREATE TRIGGER outbox_counts_delete AFTER DELETE ON outbox BEGIN
            UPDATE outbox_counts SET n = n - 1 WHERE state = old.state;
        END;
        """
    )


@migrations(name="0018_digest_day_figures")
def digest_day_figures(db: Conn) -> None:
    """What each day that is over adds to a team's digest, so a week sums seven rows."""
    db.executescript(
        """
        -- One row per team, zone and local day; `terms` names the SLA it was counted by,
        -- `figures` is the day's tally as JSON. Deleted when history of the day changes.
        CREATE TABLE digest_day_figures (
            team TEXT NOT NULL,
            zone TEXT NOT NULL,
            day TEXT NOT NULL,
            terms TEXT NOT NULL,
            figures TEXT NOT NULL,
            kept_at TEXT NOT NULL,
            PRIMARY KEY (team, zone, day)
        );
        CREATE INDEX digest_day_figures_day ON digest_day_figures (day);
        -- Counts the forgettings: a digest counted before one keeps nothing it counted.
        CREATE TABLE digest_day_changes (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            n INTEGER NOT NULL
        );
        INSERT INTO digest_day_changes (id, n) VALUES (1, 0);
        CREATE INDEX digest_days_day ON digest_days (day);
        """
    )


# Later migrations live in their own modules, registered on import.
from bot.store import migrations_0020, migrations_0021, migrations_0022  # noqa: E402, F401
