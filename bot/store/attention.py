"""What storm mode decides by, counted in the store so that every replica sees the same:
the cards a channel's budget let through, arrivals within a spike window, the alerts sent.
Run inside the ingest's transaction (at SERIALIZABLE on PostgreSQL, two replicas that read
a count and then both add to it cannot both commit: one is run again and sees the other)."""

from __future__ import annotations

from datetime import datetime

from bot.store.sql import Conn

Arrival = tuple[datetime, str, str]  # received at, source, text


def team_watch(team: str) -> str:
    """The key of a team's spike alerts."""
    return f"team:{team}"


def incident_watch(incident: int) -> str:
    """The key of an incident's own spike alerts."""
    return f"incident:{incident}"


# The chat budget.


def spent(db: Conn, *, channel: str, since: datetime) -> int:
    """How many cards the channel's budget let through after `since` (and are posted, or
    waiting to be)."""
    row = db.execute(
        "SELECT count(*) FROM budget_spends WHERE channel = ? AND at > ?",
        [channel, since.isoformat()],
    ).fetchone()
    return int(row[0])


def spend(db: Conn, *, channel: str, mention: int, now: datetime, since: datetime) -> None:
    """The mention's card is let through now; those let through by `since` no longer
    count, and go."""
    db.execute(
        "DELETE FROM budget_spends WHERE channel = ? AND at <= ?", [channel, since.isoformat()]
    )
    db.execute(
        "INSERT INTO budget_spends (channel, at, mention) VALUES (?, ?, ?)",
        [channel, now.isoformat(), mention],
    )


def refund(db: Conn, *, mentions: list[int]) -> int:
    """These mentions' cards were held back before they were posted (their incident's card
    shows them): they no longer count against their channel's budget. How many did."""
    if not mentions:
        return 0
    marks = ", ".join("?" * len(mentions))
    return db.execute(f"DELETE FROM budget_spends WHERE mention IN ({marks})", mentions).rowcount


# Spike alerts.


def record_spike(
    db: Conn,
    *,
    watch: str,
    team: str,
    incident: int | None,
    count: int,
    threshold: int,
    onset: datetime,
    now: datetime,
) -> None:
    """Keep an alert that fired, under its watch's key (`team_watch`, `incident_watch`)."""
    db.execute(
        "INSERT INTO spike_alerts (watch, team, incident, count, threshold, onset, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [watch, team, incident, count, threshold, onset.isoformat(), now.isoformat()],
    )


def last_alert(db: Conn, *, watch: str) -> datetime | None:
    """When the watch with this key last fired, if it did."""
    row = db.execute("SELECT max(at) FROM spike_alerts WHERE watch = ?", [watch]).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None


def team_arrivals(db: Conn, *, team: str, since: datetime, at_most: int) -> int:
    """How many new mentions the team received since then (counting no further than
    `at_most`: past the threshold, how many more changes nothing)."""
    row = db.execute(
        "SELECT count(*) FROM (SELECT 1 FROM mentions WHERE team = ? AND root_number IS NULL"
        " AND received_at >= ? LIMIT ?) AS w",
        [team, since.isoformat(), at_most],
    ).fetchone()
    return int(row[0])


def incident_arrivals(
    db: Conn, *, incident: int, since: datetime, at_most: int
) -> tuple[int, datetime | None]:
    """How many of an incident's members were received since then (no further than
    `at_most`), and the first of them; a member joins after it arrives, so only those that
    joined since are read."""
    row = db.execute(
        "SELECT count(*), min(received_at) FROM (SELECT m.received_at FROM incident_members im"
        " JOIN mentions m ON m.number = im.mention WHERE im.incident = ? AND im.joined_at >= ?"
        " AND m.received_at >= ? LIMIT ?) AS w",
        [incident, since.isoformat(), since.isoformat(), at_most],
    ).fetchone()
    return int(row[0]), datetime.fromisoformat(row[1]) if row[1] else None


def arrivals(db: Conn, *, team: str, since: datetime, upto: int) -> list[Arrival]:
    """The team's new mentions received since then, numbered `upto` at most, oldest first
    (what an alert tells: sources, the trend, examples)."""
    rows = db.execute(
        "SELECT received_at, source, text FROM mentions WHERE team = ? AND root_number IS NULL"
        " AND received_at >= ? AND number <= ? ORDER BY received_at, number",
        [team, since.isoformat(), upto],
    )
    return [(datetime.fromisoformat(at), source, text) for at, source, text in rows]


# A team's baseline.


def team_count(db: Conn, *, team: str, since: datetime, until: datetime) -> int:
    """How many new mentions a team received in [since, until)."""
    row = db.execute(
        "SELECT count(*) FROM mentions WHERE team = ? AND root_number IS NULL"
        " AND received_at >= ? AND received_at < ?",
        [team, since.isoformat(), until.isoformat()],
    ).fetchone()
    return int(row[0])


def first_received(db: Conn, *, team: str) -> datetime | None:
    """When the team's first mention arrived (how much history the baseline has)."""
    row = db.execute(
        "SELECT min(received_at) FROM mentions WHERE team = ? AND root_number IS NULL", [team]
    ).fetchone()
    return datetime.fromisoformat(row[0]) if row and row[0] else None
