"""Migrations 0017-0018: flat costs (indexes over what is active, counts kept by triggers)
and the digest's day figures."""

from __future__ import annotations

from bot.store import migrations_pg as pg
from bot.store.ddl import words
from bot.store.migrations import ACTIVE_ROOT, migrations
from bot.store.sql import POSTGRESQL, Conn


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
