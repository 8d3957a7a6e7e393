"""OAuth tokens a source was handed at run time (a rotated refresh token), kept in the store."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from bot.clock import Clock
from bot.store.db import Database
from bot.store.sql import Conn


def load(db: Conn, *, source: str) -> dict[str, Any] | None:
    """The tokens saved for `source`, or None."""
    row = db.execute("SELECT tokens FROM source_tokens WHERE source = ?", [source]).fetchone()
    if not row:
        return None
    data = json.loads(row[0])
    return data if isinstance(data, dict) else None


def save(db: Conn, *, source: str, tokens: dict[str, Any], now: datetime) -> None:
    """Keep `tokens` for `source`, replacing what was there."""
    db.execute(
        "INSERT INTO source_tokens (source, tokens, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT(source) DO UPDATE SET tokens = excluded.tokens,"
        " updated_at = excluded.updated_at",
        [source, json.dumps(tokens, sort_keys=True), now.isoformat()],
    )


class StoredTokens:
    """The connectors' TokenStore backed by the database (writes via its writer thread)."""

    def __init__(self, database: Database, clock: Clock):
        self.database = database
        self.clock = clock

    async def load(self, source: str) -> dict[str, Any] | None:
        """The tokens saved for `source`, or None."""
        return await self.database.read(load, source=source)

    async def save(self, source: str, tokens: dict[str, Any]) -> None:
        """Keep `tokens` for `source`."""
        await self.database.write(save, source=source, tokens=tokens, now=self.clock.now())
