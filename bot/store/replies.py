"""Answers people gave to mentions, and what became of each."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from bot.chat.cards import ReplyView


def add(
    db: sqlite_utils.Database, *, mention: int, actor: str, text: str, status: str, now: datetime
) -> int:
    """Record an answer; status is `queued` (to be posted) or `manual` (post it by hand)."""
    cursor = db.execute(
        "INSERT INTO replies (mention, actor, text, at, status) VALUES (?, ?, ?, ?, ?)",
        [mention, actor, text, now.isoformat(), status],
    )
    return int(cursor.lastrowid or 0)


def mark(
    db: sqlite_utils.Database, *, id: int, status: str, external_id: str = "", url: str = ""
) -> None:
    """Record what became of an answer: sent (with where), failed, or unknown."""
    db.execute(
        "UPDATE replies SET status = ?, external_id = ?, url = ? WHERE id = ?",
        [status, external_id or None, url or None, id],
    )


def for_mention(db: sqlite_utils.Database, *, mention: int) -> list[ReplyView]:
    """The answers given to one mention, oldest first."""
    rows = db.execute(
        "SELECT actor, text, status, url FROM replies WHERE mention = ? ORDER BY id", [mention]
    ).fetchall()
    return [ReplyView(actor=a, text=t, status=s, url=u or "") for a, t, s, u in rows]
