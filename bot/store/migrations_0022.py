"""Migration 0022: the chat budget and the spike watch kept in the store, so that every
replica counts the same cards and arrivals, and a restart forgets neither."""

from __future__ import annotations

from bot.store.migrations import migrations
from bot.store.sql import Conn


@migrations(name="0022_shared_budget")
def shared_budget(db: Conn) -> None:
    """The cards each channel's budget let through (until held back unposted after all),
    the watch an alert was for (`team:x`,
    `incident:7`; alerts sent before have none), and what the window counts read."""
    db.executescript(
        """
        CREATE TABLE budget_spends (
            channel TEXT NOT NULL,
            at TEXT NOT NULL,
            mention INTEGER NOT NULL
        );
        CREATE INDEX budget_spends_channel ON budget_spends (channel, at);
        CREATE INDEX budget_spends_mention ON budget_spends (mention);
        ALTER TABLE spike_alerts ADD COLUMN watch TEXT;
        CREATE INDEX spike_alerts_watch ON spike_alerts (watch, at);
        CREATE INDEX incident_members_joined ON incident_members (incident, joined_at);
        """
    )
