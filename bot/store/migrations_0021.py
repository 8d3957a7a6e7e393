"""Migration 0021: the complaint models `allhands triage learn` installed, kept in the store
so that every replica triages with the same one and backups and copies carry it."""

from __future__ import annotations

from bot.store.ddl import words
from bot.store.migrations import migrations
from bot.store.sql import Conn


@migrations(name="0021_complaint_models")
def complaint_models(db: Conn) -> None:
    """The last few installed complaint models, newest by id; the body is the gzipped JSON
    file `allhands triage train` writes."""
    w = words(db)
    db.executescript(
        f"""
        CREATE TABLE complaint_models (
            id {w.key},
            installed_at TEXT NOT NULL,
            trained_on TEXT NOT NULL,
            figures TEXT NOT NULL,
            body {w.blob} NOT NULL
        );
        """
    )
