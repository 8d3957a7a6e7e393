"""One answer for everyone: the `reply_all` rows, one per member of an incident, ever (the
mention is the key); run inside the writer's transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.store.mention_rows import query_rows
from bot.store.sql import Conn


def plan_reply_all(
    db: Conn, *, incident: int, actor: str, platform: str, text: str, now: datetime
) -> tuple[int, int]:
    """Plan an answer to each customer of an incident once: the newest active mention of
    each author not yet planned. How many were planned, and how many skipped as repeats."""
    rows = query_rows(
        db,
        "SELECT m.number, m.source, m.author_handle FROM incident_members im"
        " JOIN mentions m ON m.number = im.mention WHERE im.incident = ?"
        " AND m.state IN ('new', 'open', 'reopened', 'claimed')"
        " AND NOT EXISTS (SELECT 1 FROM reply_all r WHERE r.mention = m.number)"
        " ORDER BY m.number DESC",
        [incident],
    )
    answered = {
        (source, handle)
        for source, handle in db.execute(
            "SELECT m.source, m.author_handle FROM reply_all r JOIN mentions m"
            " ON m.number = r.mention WHERE r.incident = ?",
            [incident],
        )
    }
    planned = skipped = 0
    for row in rows:
        customer = (row["source"], row["author_handle"])
        status, reason = "planned", ""
        if customer in answered:
            status, reason = "skipped", "the same customer is answered on another mention"
            skipped += 1
        else:
            answered.add(customer)
            planned += 1
        db.execute(
            "INSERT INTO reply_all (mention, incident, actor, platform, text, status,"
            " reason, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [row["number"], incident, actor, platform, text, status, reason, now.isoformat()],
        )
    return planned, skipped


def planned_replies(db: Conn, *, limit: int = 50) -> list[dict[str, Any]]:
    """Answers planned and not yet sent, held or refused, oldest first."""
    return query_rows(
        db,
        "SELECT mention, incident, actor, platform, text FROM reply_all WHERE status = 'planned'"
        " ORDER BY incident, mention LIMIT ?",
        [limit],
    )


def settle_reply(
    db: Conn, *, mention: int, status: str, reason: str = "", reply: int | None
) -> bool:
    """Record what became of one planned answer (only once)."""
    cursor = db.execute(
        "UPDATE reply_all SET status = ?, reason = ?, reply = ? WHERE mention = ?"
        " AND status = 'planned'",
        [status, reason[:500], reply, mention],
    )
    return cursor.rowcount == 1


def reply_all_counts(db: Conn, *, incident: int) -> dict[str, Any]:
    """How an incident's answer to everyone stands: by status, posted, and why refused."""
    by = {
        k: n
        for k, n in db.execute(
            "SELECT status, count(*) FROM reply_all WHERE incident = ? GROUP BY status", [incident]
        )
    }
    posted = {
        k: n
        for k, n in db.execute(
            "SELECT p.status, count(*) FROM reply_all r JOIN replies p ON p.id = r.reply"
            " WHERE r.incident = ? GROUP BY p.status",
            [incident],
        )
    }
    reasons = db.execute(
        "SELECT reason, count(*) FROM reply_all WHERE incident = ? AND status = 'refused'"
        " GROUP BY reason ORDER BY count(*) DESC LIMIT 2",
        [incident],
    ).fetchall()
    return {"by": by, "posted": posted, "reasons": reasons}
