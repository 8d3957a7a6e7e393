"""The triggers of the schema written for PostgreSQL, as plpgsql functions.

They keep what SQLite's triggers keep (see `bot.store.migrations`): the event log is
append-only except for an erasure's blanking, and the counts behind /healthz, /metrics and
`stats` follow every change of a mention's or an effect's state.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.store.sql import Conn

# integrity_constraint_violation: a refused change is an IntegrityError, as on SQLite.
_REFUSE = "RAISE EXCEPTION 'the event log is append-only' USING ERRCODE = '23000'"


def events_append_only(db: Conn) -> None:
    """0001: no event is ever changed or deleted."""
    db.executescript(
        f"""
        CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            {_REFUSE};
        END $$;
        CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only();
        """
    )


def events_erasable(db: Conn) -> None:
    """0016: an erasure (a row in `erasing`) may blank an event's actor and detail only."""
    db.executescript(
        f"""
        CREATE OR REPLACE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' OR NOT EXISTS (SELECT 1 FROM erasing)
                OR NEW.id IS DISTINCT FROM OLD.id OR NEW.mention IS DISTINCT FROM OLD.mention
                OR NEW.action IS DISTINCT FROM OLD.action OR NEW.at IS DISTINCT FROM OLD.at
                OR NEW.from_state IS DISTINCT FROM OLD.from_state
                OR NEW.to_state IS DISTINCT FROM OLD.to_state THEN
                {_REFUSE};
            END IF;
            RETURN NEW;
        END $$;
        """
    )


def count_triggers(db: Conn) -> None:
    """0017: `mention_counts` (conversations' first mentions) and `outbox_counts` by state."""
    db.executescript(
        """
        CREATE FUNCTION mention_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.root_number IS NULL THEN
                UPDATE mention_counts SET n = n - 1 WHERE team = OLD.team AND state = OLD.state;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.root_number IS NULL THEN
                INSERT INTO mention_counts AS c (team, state, n) VALUES (NEW.team, NEW.state, 1)
                    ON CONFLICT (team, state) DO UPDATE SET n = c.n + 1;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER mention_counts_insert_delete AFTER INSERT OR DELETE ON mentions
            FOR EACH ROW EXECUTE FUNCTION mention_counts_follow();
        CREATE TRIGGER mention_counts_update AFTER UPDATE OF state, team, root_number ON mentions
            FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state
                OR OLD.team IS DISTINCT FROM NEW.team
                OR OLD.root_number IS DISTINCT FROM NEW.root_number)
            EXECUTE FUNCTION mention_counts_follow();

        CREATE FUNCTION outbox_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN
                UPDATE outbox_counts SET n = n - 1 WHERE state = OLD.state;
            END IF;
            IF TG_OP IN ('INSERT', 'UPDATE') THEN
                INSERT INTO outbox_counts AS c (state, n) VALUES (NEW.state, 1)
                    ON CONFLICT (state) DO UPDATE SET n = c.n + 1;
            END IF;
            RETURN NULL;
        END $$;
        CREATE TRIGGER outbox_counts_insert_delete AFTER INSERT OR DELETE ON outbox
            FOR EACH ROW EXECUTE FUNCTION outbox_counts_follow();
        CREATE TRIGGER outbox_counts_update AFTER UPDATE OF state ON outbox
            FOR EACH ROW WHEN (OLD.state IS DISTINCT FROM NEW.state)
            EXECUTE FUNCTION outbox_counts_follow();
        """
    )
