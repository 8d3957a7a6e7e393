"""What a chat platform withholds that allhands needs, remembered for `allhands stats`."""

from __future__ import annotations

from datetime import datetime

from bot.store.sql import Conn


def record(db: Conn, *, platform: str, topic: str, message: str, now: datetime) -> None:
    """Remember (or refresh) one warning about `platform`."""
    db.execute(
        "INSERT INTO chat_warnings (platform, topic, message, at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (platform, topic) DO UPDATE SET message = excluded.message, at = excluded.at",
        [platform, topic, message, now.isoformat()],
    )


def clear(db: Conn, *, platform: str, topic: str) -> None:
    """Forget a warning that no longer holds."""
    db.execute("DELETE FROM chat_warnings WHERE platform = ? AND topic = ?", [platform, topic])


def every(db: Conn) -> list[tuple[str, str, str]]:
    """Each warning as (platform, message, when), oldest first."""
    return [
        (platform, message, at)
        for platform, message, at in db.execute(
            "SELECT platform, message, at FROM chat_warnings ORDER BY at"
        )
    ]
