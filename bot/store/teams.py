"""Where the bot can reach Teams: conversation references and people's addresses.

A conversation reference (service URL, conversation id, tenant, bot id) is stored when
the bot is added to a team or chat, and refreshed whenever it is addressed there: Teams
only lets a bot post where it is installed, at the service URL it was told about.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.store.sql import Conn


@dataclass(frozen=True, slots=True)
class Conversation:
    """A Teams conversation the bot may post in: a team channel, a group chat, a 1:1 chat."""

    id: str
    kind: str  # channel | groupChat | personal
    service_url: str
    tenant_id: str
    bot_id: str
    team_id: str | None = None
    name: str = ""


@dataclass(frozen=True, slots=True)
class Member:
    """How to reach one person privately: their Teams user id and the bot's 1:1 chat."""

    person: str
    user_id: str
    tenant_id: str
    service_url: str
    bot_id: str
    chat_id: str | None = None


def remember_conversation(db: Conn, *, conversation: Conversation, now: datetime) -> None:
    """Store or refresh a conversation reference (a known name is kept if none is given)."""
    c = conversation
    db.execute(
        "INSERT INTO teams_conversations"
        " (id, kind, service_url, tenant_id, bot_id, team_id, name, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (id) DO UPDATE SET kind = excluded.kind,"
        " service_url = excluded.service_url, tenant_id = excluded.tenant_id,"
        " bot_id = excluded.bot_id,"
        " team_id = coalesce(excluded.team_id, teams_conversations.team_id),"
        " name = CASE WHEN excluded.name != ''"
        " THEN excluded.name ELSE teams_conversations.name END,"
        " updated_at = excluded.updated_at",
        [c.id, c.kind, c.service_url, c.tenant_id, c.bot_id, c.team_id, c.name, now.isoformat()],
    )


def forget_conversation(db: Conn, *, id: str) -> None:
    """The bot was removed from a conversation: it can no longer post there."""
    db.execute("DELETE FROM teams_conversations WHERE id = ? OR team_id = ?", [id, id])


_CONVERSATION = "id, kind, service_url, tenant_id, bot_id, team_id, name"


def conversation(db: Conn, *, id: str) -> Conversation | None:
    """The stored reference of a conversation, or None."""
    row = db.execute(
        f"SELECT {_CONVERSATION} FROM teams_conversations WHERE id = ?", [id]
    ).fetchone()
    return Conversation(*row) if row else None


def only_installation(db: Conn) -> Conversation | None:
    """The one service URL, tenant and bot every stored reference shares, if there is one.

    A bot added to a team may post in each of its channels; one installed in a single
    organisation reaches every channel through the same service URL and tenant.
    """
    rows = db.execute(
        "SELECT DISTINCT service_url, tenant_id, bot_id FROM teams_conversations"
    ).fetchall()
    if len(rows) != 1:
        return None
    service_url, tenant_id, bot_id = rows[0]
    return Conversation("", "channel", service_url, tenant_id, bot_id)


def team_ids(db: Conn) -> list[str]:
    """The teams the bot is known to be in (their Bot Framework ids), at most ten."""
    return [
        row[0]
        for row in db.execute(
            "SELECT DISTINCT team_id FROM teams_conversations WHERE team_id IS NOT NULL"
            " ORDER BY team_id LIMIT 10"
        )
    ]


def remember_member(db: Conn, *, member: Member, now: datetime) -> None:
    """Store or refresh how to reach a person (their 1:1 chat id is kept)."""
    m = member
    db.execute(
        "INSERT INTO teams_members"
        " (person, user_id, tenant_id, service_url, bot_id, chat_id, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (person) DO UPDATE SET user_id = excluded.user_id,"
        " tenant_id = excluded.tenant_id, service_url = excluded.service_url,"
        " bot_id = excluded.bot_id, chat_id = coalesce(excluded.chat_id, teams_members.chat_id),"
        " updated_at = excluded.updated_at",
        [m.person, m.user_id, m.tenant_id, m.service_url, m.bot_id, m.chat_id, now.isoformat()],
    )


_MEMBER = "person, user_id, tenant_id, service_url, bot_id, chat_id"


def member(db: Conn, *, person: str) -> Member | None:
    """How to reach a person by their actor id, or None if the bot never saw them."""
    row = db.execute(f"SELECT {_MEMBER} FROM teams_members WHERE person = ?", [person]).fetchone()
    return Member(*row) if row else None


def member_by_user_id(db: Conn, *, user_id: str) -> Member | None:
    """A person by their Teams user id (29:...), as mentions name them."""
    row = db.execute(f"SELECT {_MEMBER} FROM teams_members WHERE user_id = ?", [user_id]).fetchone()
    return Member(*row) if row else None


def set_chat(db: Conn, *, person: str, chat_id: str) -> None:
    """Remember the 1:1 chat the bot opened with a person."""
    db.execute("UPDATE teams_members SET chat_id = ? WHERE person = ?", [chat_id, person])
