"""`allhands stats`: where mentions stand, what waits to go out, what needs a person.

Read from the store (opened read-only) for an operator at a terminal.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from bot.domain.mentions import State
from bot.store import chat_warnings, complaint_models, mentions, outbox, replicas, sql
from bot.store.complaint_models import Installed
from bot.store.replicas import Lease, ReplicaRow
from bot.store.sql import Conn
from bot.triage_model import describe, learned_path

# Column order of the per-team table: the way a mention goes.
STATES = tuple(State)


@dataclass(frozen=True, slots=True)
class Stats:
    """The figures `allhands stats` shows."""

    by_team: dict[str, Counter[str]]
    outbox: dict[str, int]
    waiting_for_leads: int
    sla_steps: Counter[str] = field(default_factory=Counter)
    outbox_oldest_done: datetime | None = None
    chat_warnings: list[tuple[str, str, str]] = field(default_factory=list)
    replicas: list[ReplicaRow] = field(default_factory=list)
    leases: list[Lease] = field(default_factory=list)
    now: datetime | None = None  # when the figures were read
    models: list[Installed] = field(default_factory=list)  # installed, newest first
    old_model_file: str = ""  # a learned model beside a SQLite store, taken over at start


def read(db: Conn, *, since: datetime, now: datetime | None = None) -> Stats:
    """The figures, with SLA steps taken since `since` (replicas seen as at `now`)."""
    by_team: dict[str, Counter[str]] = defaultdict(Counter)
    for team, states in mentions.count_by_team(db).items():
        by_team[team].update(states)
    waiting = db.execute("SELECT count(*) FROM approvals WHERE state = 'waiting'").fetchone()[0]
    steps = Counter(
        {
            step: count
            for step, count in db.execute(
                "SELECT step, count(*) FROM sla_steps WHERE at >= ? GROUP BY step",
                [since.isoformat()],
            )
        }
    )
    try:
        warned = chat_warnings.every(db)
    except sql.MISSING_TABLE:  # a store from before 0012_chat_warnings, read-only
        warned = []
    try:
        running, held = replicas.every(db), replicas.leases(db)
    except sql.MISSING_TABLE:  # a store from before 0020_replicas, read-only
        running, held = [], []
    try:
        models = complaint_models.every(db)
    except sql.MISSING_TABLE:  # a store from before 0021_complaint_models, read-only
        models = []
    return Stats(
        dict(by_team),
        outbox.counts(db),
        int(waiting),
        steps,
        outbox.oldest_done(db),
        warned,
        running,
        held,
        now,
        models,
    )


def read_store(db_path: str, *, now: datetime) -> Stats | None:
    """The figures of the store at `db_path`, opened read-only; None if there is no store."""
    if not sql.store_exists(db_path):
        return None
    with sql.read_only(db_path) as db:
        stats = read(db, since=now - timedelta(days=1), now=now)
    old = learned_path(db_path)
    if not stats.models and not sql.is_postgres(db_path) and old.is_file():
        stats = replace(stats, old_model_file=str(old))
    return stats


def render(stats: Stats) -> str:
    """The figures as a few lines of text."""
    lines = ["Mentions by team (conversations, not each message):"]
    if not stats.by_team:
        lines.append("  none yet")
    else:
        width = max(len("team"), *(len(t) for t in stats.by_team))
        header = "  " + "team".ljust(width) + "".join(f" {s.value:>8}" for s in STATES)
        lines.append(header)
        for team in sorted(stats.by_team):
            counts = stats.by_team[team]
            cells = "".join(f" {counts.get(s.value, 0):>8}" for s in STATES)
            lines.append(f"  {team.ljust(width)}{cells}")
    effects = stats.outbox
    order = [s.value for s in outbox.Status]
    shown = ", ".join(f"{effects.get(s, 0):,} {s}" for s in order if effects.get(s, 0)) or "empty"
    lines.append(f"Outbox (what goes out to chat and to customers): {shown}")
    size = sum(effects.values())
    kept = ""
    if stats.outbox_oldest_done is not None:
        oldest = stats.outbox_oldest_done.astimezone(UTC)
        kept = f"; the oldest delivered one kept is from {oldest:%Y-%m-%d %H:%M} UTC"
    lines.append(f"  {size:,} effects in the outbox{kept}")
    if effects.get(outbox.Status.FAILED.value):
        lines.append(
            "  failed effects were given up after their retries; the log says why"
            " (a public reply among them was also reported in its card's thread)"
        )
    if effects.get(outbox.Status.UNKNOWN.value):
        lines.append(
            "  public replies of unknown outcome: the bot stopped while sending them; check"
            " the customer's thread and `reply` again where one is missing"
        )
    lines.append(f"Answers waiting for a lead's approval: {stats.waiting_for_leads}")
    steps = ", ".join(f"{n} {step}" for step, n in sorted(stats.sla_steps.items())) or "none"
    lines.append(f"SLA steps in the last 24 hours: {steps}")
    for platform, message, at in stats.chat_warnings:
        lines.append(f"{platform.capitalize()} (since {at[:16].replace('T', ' ')}): {message}")
    lines.append(_model(stats))
    lines += _replicas(stats)
    return "\n".join(lines)


def _model(stats: Stats) -> str:
    """Which complaint model the bots triage with (the newest installed one, or shipped)."""
    if stats.old_model_file:
        return (
            f"Complaint model: the learned one in {stats.old_model_file}, which the bot moves"
            " into the store at its next start"
        )
    if not stats.models:
        return "Complaint model: the shipped one (`allhands triage learn` installs a refit)"
    return f"Complaint model: {describe(stats.models[0])}; {len(stats.models)} kept"


def _replicas(stats: Stats) -> list[str]:
    """Who runs, and which replica runs each job (holds its lease) until when."""
    now = stats.now
    lines = [f"Replicas: {len(stats.replicas) or 'none running'}"]
    for r in stats.replicas:
        seen = f"{(now - r.seen_at).total_seconds():.0f} s ago" if now else f"{r.seen_at:%H:%M:%S}"
        dead = now is not None and r.seen_at < now - replicas.DEAD_AFTER
        lines.append(
            f"  {r.id}: host {r.host}, pid {r.pid}, version {r.version},"
            f" up since {r.started_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, last seen {seen}"
            + (" (not beating: taken for dead)" if dead else "")
        )
    if stats.leases:
        lines.append("Jobs, and the replica that runs each (holds its lease):")
        width = max(len(lease.name) for lease in stats.leases)
        for lease in stats.leases:
            until = f"{lease.expires_at.astimezone(UTC):%H:%M:%S} UTC"
            if now is not None and lease.expires_at <= now:
                held = f"free (held by {lease.holder} until {until})"
            else:
                held = f"{lease.holder} until {until}, renewed while it runs"
            lines.append(f"  {lease.name.ljust(width)}  {held}")
    return lines
