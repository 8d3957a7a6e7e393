"""Answers held for a lead's approval, and what the lead decided."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store.sql import Conn


@dataclass(frozen=True, slots=True)
class Held:
    """A held answer: who wrote it, why it waits, who may decide, and what was decided."""

    reply: int
    mention: int
    responder: str
    platform: str
    text: str
    original_text: str
    reasons: list[str]
    approvers: list[str]
    state: str  # waiting | approved | edited | rejected
    asked_at: datetime
    decided_by: str | None = None
    decided_at: datetime | None = None
    note: str | None = None


_SELECT = (
    "SELECT a.reply, a.mention, a.responder, a.platform, r.text, a.original_text, a.reasons,"
    " a.approvers, a.state, a.asked_at, a.decided_by, a.decided_at, a.note"
    " FROM approvals a JOIN replies r ON r.id = a.reply"
)


def _held(row: tuple[Any, ...]) -> Held:
    (reply, mention, responder, platform, text, original, reasons, approvers, state, asked,
     decided_by, decided_at, note) = row  # fmt: skip
    return Held(
        reply=reply,
        mention=mention,
        responder=responder,
        platform=platform,
        text=text,
        original_text=original,
        reasons=json.loads(reasons),
        approvers=json.loads(approvers),
        state=state,
        asked_at=datetime.fromisoformat(asked),
        decided_by=decided_by,
        decided_at=datetime.fromisoformat(decided_at) if decided_at else None,
        note=note,
    )


def ask(
    db: Conn,
    *,
    reply: int,
    mention: int,
    responder: str,
    platform: str,
    text: str,
    reasons: list[str],
    approvers: list[str],
    now: datetime,
) -> None:
    """Record that `reply` waits for one of `approvers`; one waits per mention at a time."""
    db.execute(
        "INSERT INTO approvals (reply, mention, responder, platform, reasons, approvers,"
        " asked_at, original_text) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            reply,
            mention,
            responder,
            platform,
            json.dumps(reasons, ensure_ascii=False),
            json.dumps(approvers, ensure_ascii=False),
            now.isoformat(),
            text,
        ],
    )


def waiting(db: Conn, *, mention: int) -> Held | None:
    """The answer to `mention` that waits for a lead, if one does."""
    row = db.execute(f"{_SELECT} WHERE a.mention = ? AND a.state = 'waiting'", [mention]).fetchone()
    return _held(row) if row else None


def latest(db: Conn, *, mention: int) -> Held | None:
    """The most recent held answer to `mention`, whatever became of it."""
    row = db.execute(
        f"{_SELECT} WHERE a.mention = ? ORDER BY a.reply DESC LIMIT 1", [mention]
    ).fetchone()
    return _held(row) if row else None


def settle(
    db: Conn,
    *,
    reply: int,
    state: str,
    by: str,
    now: datetime,
    note: str | None = None,
) -> bool:
    """Record a lead's decision if the answer still waits; False if someone decided first."""
    cursor = db.execute(
        "UPDATE approvals SET state = ?, decided_by = ?, decided_at = ?, note = ?"
        " WHERE reply = ? AND state = 'waiting'",
        [state, by, now.isoformat(), note, reply],
    )
    return cursor.rowcount == 1


def get(db: Conn, *, reply: int) -> Held | None:
    """The held answer stored as `reply`, whatever became of it."""
    row = db.execute(f"{_SELECT} WHERE a.reply = ?", [reply]).fetchone()
    return _held(row) if row else None
