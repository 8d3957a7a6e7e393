"""Signatures of accepted webhook requests, remembered long enough to refuse replays."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.store.sql import Conn


@dataclass(frozen=True, slots=True)
class Signature:
    """A request's signature, to be recorded in the transaction that stores what it brought."""

    source: str
    signature: str
    keep: timedelta

    def fields(self, now: datetime) -> dict[str, Any]:
        """The keyword arguments of `remember` at `now`."""
        return {"source": self.source, "signature": self.signature, "now": now, "keep": self.keep}


def remember(db: Conn, *, source: str, signature: str, now: datetime, keep: timedelta) -> bool:
    """Record a request's signature; False when it was seen before (a replay).

    Only this source's old signatures are dropped: each source keeps its own for as long as
    it asks (Slack's ten minutes must not cut Teams' hour short)."""
    db.execute(
        "DELETE FROM webhook_signatures WHERE source = ? AND seen_at < ?",
        [source, (now - keep).isoformat()],
    )
    cursor = db.execute(
        "INSERT INTO webhook_signatures (source, signature, seen_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        [source, signature, now.isoformat()],
    )
    return cursor.rowcount == 1
