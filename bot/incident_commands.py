"""What people do to incidents from chat: show, claim, resolve, split, merge, detach."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from bot.chat.text import shorten
from bot.domain.commands import Command
from bot.domain.durations import format_duration
from bot.domain.mentions import ACTIVE, Action, State
from bot.errors import CommandError, TransitionError
from bot.incident_cards import reply_all_progress
from bot.incident_replies import ReplyAll
from bot.incidents import CARD_EVERY, IncidentDesk, merge_into
from bot.store import incidents as store
from bot.store import mentions, outbox, people, sql
from bot.store.sql import Conn

if TYPE_CHECKING:
    from bot.workflow import Context, Workflow


def _open(db: Conn, number: int) -> store.Incident:
    found = store.get(db, number=number)
    if found is None:
        raise CommandError(f"There is no incident I{number}.")
    if found.state == "merged":
        raise CommandError(f"I{number} was merged into I{found.merged_into}; use that one.")
    return found


def stale_card_note(db: Conn, *, number: int) -> str | None:
    """Why a button on I7's card can no longer act (resolved, merged, unknown), or None."""
    found = store.get(db, number=number)
    if found is None:
        return f"There is no incident I{number}; nothing was done."
    if found.state == "merged":
        return (
            f"I{number} was merged into I{found.merged_into}: this card is out of date and"
            f" nothing was done. Use I{found.merged_into}'s card."
        )
    if found.state != "open":
        return f"I{number} is already {found.state}: this card is out of date and nothing was done."
    return None


def _redraw(db: Conn, incident: store.Incident, now: datetime) -> None:
    store.queue_card(
        db,
        key=store.summary_key(incident.number),
        target=incident.channel,
        now=now,
        every=CARD_EVERY,
    )


def _has_card(db: Conn, number: int) -> bool:
    return db.execute("SELECT 1 FROM cards WHERE mention = ?", [number]).fetchone() is not None


def claim(db: Conn, *, number: int, actor: str, now: datetime) -> str:
    """Put `actor` on an incident (refused if someone else is on it)."""
    incident = _open(db, number)
    if incident.state != "open":
        raise CommandError(f"I{number} is {incident.state}.")
    if incident.claimed_by not in (None, actor):
        who = people.name_of(db, id=incident.claimed_by)
        raise CommandError(f"{who} is already on I{number}.")
    store.update(db, number=number, now=now, claimed_by=actor)
    _redraw(db, incident, now)
    return f"You are on I{number}. `show I{number}` lists its members."


def resolve(db: Conn, *, number: int, actor: str, now: datetime) -> tuple[str, int]:
    """Resolve an incident and every active member nobody else holds; what was done."""
    incident = _open(db, number)
    done = skipped = 0
    for member in store.members(db, incident=number):
        mention = mentions.get(db, number=member)
        if mention is None or mention.state not in ACTIVE:
            continue
        if mention.claimed_by not in (None, actor):
            skipped += 1  # someone is answering it: theirs to close
            continue
        try:
            mentions.transition(
                db,
                mention=mention,
                action=Action.RESOLVE,
                actor=actor,
                now=now,
                detail={"incident": f"I{number}"},
            )
        except TransitionError:
            skipped += 1
            continue
        done += 1
        if _has_card(db, member):
            outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=member, now=now)
    store.update(
        db, number=number, now=now, state="resolved", closed_by=actor, closed_at=now.isoformat()
    )
    _redraw(db, incident, now)
    text = f"I{number} is resolved, with {done:,} of its mentions."
    if skipped:
        text += f" {skipped:,} held by someone else stay open."
    return text, number


def split(db: Conn, *, number: int, members: tuple[int, ...], actor: str, now: datetime) -> str:
    """Move some members into a new incident."""
    incident = _open(db, number)
    current = set(store.members(db, incident=number))
    strangers = [m for m in members if m not in current]
    if strangers:
        shown = ", ".join(f"#{m}" for m in strangers[:5])
        raise CommandError(f"{shown} {'is' if len(strangers) == 1 else 'are'} not in I{number}.")
    if len(members) == len(current):
        raise CommandError(f"That is every member of I{number}; nothing would be left.")
    new = store.create(
        db, team=incident.team, channel=incident.channel, why=f"split from I{number}", now=now
    )
    store.add_members(db, incident=new.number, mentions=list(members), now=now)
    _redraw(db, incident, now)
    _redraw(db, new, now)
    return f"{len(members)} member(s) of I{number} are now I{new.number}."


def merge(db: Conn, *, number: int, other: int, actor: str, now: datetime) -> str:
    """Move every member of `other` into `number`."""
    into, gone = _open(db, number), _open(db, other)
    if into.state != "open" or gone.state != "open":
        raise CommandError("Only open incidents can be merged.")
    moved = merge_into(db, into=number, other=other, actor=actor, now=now)
    _redraw(db, into, now)
    _redraw(db, gone, now)
    return f"I{other}'s {moved:,} mention(s) are now in I{number}."


def detach(db: Conn, *, number: int, now: datetime, channel_of: dict[str, str]) -> str:
    """Take a mention out of its incident; it gets its own card if it had none."""
    incident = store.incident_of(db, mention=number)
    if incident is None:
        raise CommandError(f"#{number} is in no incident.")
    store.remove_members(db, mentions=[number])
    mention = mentions.get(db, number=number)
    assert mention is not None
    if not _has_card(db, number) and mention.state in ACTIVE:
        outbox.enqueue(
            db,
            kind=outbox.Kind.CARD_POST,
            mention=number,
            target=channel_of.get(mention.team, ""),
            now=now,
        )
    found = store.get(db, number=incident)
    assert found is not None
    _redraw(db, found, now)
    return f"#{number} is out of I{incident} and has its own card."


def describe(db: Conn, *, number: int, limit: int = 40) -> str:
    """`show I7`: the incident, its counts and its members."""
    found = store.get(db, number=number)
    if found is None:
        raise CommandError(f"There is no incident I{number}.")
    s = store.summary(db, incident=number)
    on = people.name_of(db, id=found.claimed_by) if found.claimed_by else "nobody"
    lines = [
        f"I{number} · {found.state} · team {found.team} · {found.why}",
        f"{s['size']:,} mentions from {s['authors']:,} people since"
        f" {found.opened_at:%Y-%m-%d %H:%M} UTC · on it: {on}",
        "By source: " + ", ".join(f"{k} {n:,}" for k, n in s["source"].items()),
        "By kind: " + ", ".join(f"{k} {n:,}" for k, n in s["kind"].items()),
        "By state: " + ", ".join(f"{k} {n:,}" for k, n in s["state"].items()),
    ]
    if found.merged_into:
        lines.append(f"Merged into I{found.merged_into}.")
    progress = reply_all_progress(db, incident=number)
    if progress:
        lines.append("Answer to everyone: " + progress)
    members = store.members(db, incident=number)
    lines.append(f"Members ({len(members):,}, newest first):")
    for member in reversed(members[-limit:]):
        m = mentions.get(db, number=member)
        if m is not None:
            lines.append(
                f"  #{m.number} [{m.state.value}] @{m.author.handle} on {m.source}:"
                f" {shorten(m.text, 70)}"
            )
    if len(members) > limit:
        lines.append(f"  … and {len(members) - limit:,} more")
    return "\n".join(lines)


def incidents_line(db: Conn, *, team: str | None = None) -> list[str]:
    """One line per open incident, for `list`."""
    lines = []
    for found in store.open_incidents(db, team=team):
        s = store.summary(db, incident=found.number)
        waiting = sum(
            n for st, n in s["state"].items() if st in (State.NEW, State.OPEN, State.REOPENED)
        )
        lines.append(
            f"  I{found.number} [{found.team}] {found.why}: {s['size']:,} mentions,"
            f" {waiting:,} waiting"
        )
    return lines


class IncidentCommands:
    """Runs incident commands for the workflow."""

    def __init__(self, *, desk: IncidentDesk, workflow: Workflow, reply_all: ReplyAll):
        self.desk = desk
        self.workflow = workflow
        self.reply_all = reply_all

    async def handle(self, cmd: Command, ctx: Context) -> str:
        """Run one incident command; CommandError with a one-line reason when refused."""
        db, now, actor = self.workflow.database, self.workflow.clock.now(), ctx.actor
        verb = cmd.verb
        if verb == "detach":
            assert cmd.number is not None
            channel_of = self.workflow.playbooks().channel_of()
            return await db.write(detach, number=cmd.number, now=now, channel_of=channel_of)
        assert cmd.incident is not None
        number = cmd.incident
        if verb == "show":
            return await db.read(describe, number=number)
        if verb == "reply-all":
            return await self.reply_all.start(number, cmd.text, actor=actor, platform=ctx.platform)
        if verb == "claim":
            result = await db.write(claim, number=number, actor=actor, now=now)
        elif verb == "resolve":
            result, closed = await db.write(resolve, number=number, actor=actor, now=now)
            await db.write(lambda _db: self.desk.forget(closed))
        elif verb == "split":
            result = await db.write(split, number=number, members=cmd.numbers, actor=actor, now=now)
        elif verb == "merge":
            other = cmd.numbers[0]
            result = await db.write(merge, number=number, other=other, actor=actor, now=now)
            await db.write(lambda _db: self.desk.relink(other, number))
        else:
            raise CommandError(f"`{verb}` does not apply to incidents.")
        self.workflow.on_change()
        return result


def digest_section(db: Conn, *, team: str, start: datetime, end: datetime) -> str:
    """The digest's lines on the period's incidents: size, sources, first answer, who."""
    if not sql.table_exists(db, "incidents"):
        return ""
    rows = db.execute(
        "SELECT number, why, state, opened_at FROM incidents WHERE team = ? AND opened_at < ?"
        " AND (closed_at IS NULL OR closed_at >= ?) AND state != 'merged' ORDER BY number",
        [team, end.isoformat(), start.isoformat()],
    ).fetchall()
    if not rows:
        return ""
    lines = ["", f"Incidents ({len(rows)}):"]
    for number, why, state, opened_at in rows:
        s = store.summary(db, incident=number)
        answers = db.execute(
            "SELECT min(r.at), r.actor, count(*) FROM replies r JOIN incident_members im"
            " ON im.mention = r.mention WHERE im.incident = ? AND r.status != 'rejected'"
            " GROUP BY r.actor ORDER BY count(*) DESC",
            [number],
        ).fetchall()
        sources = ", ".join(f"{k} {n:,}" for k, n in s["source"].items())
        line = f"  I{number} {why} [{state}]: {s['size']:,} mentions ({sources})"
        if answers:
            first = min(datetime.fromisoformat(a[0]) for a in answers)
            waited = format_duration(first - datetime.fromisoformat(opened_at))
            who = people.shown(db, ids=[a[1] for a in answers])
            helped = ", ".join(f"{who[a[1]]} {a[2]:,}" for a in answers[:5])
            line += f"; first answer after {waited}; answered by {helped}"
        else:
            line += "; no answer yet"
        lines.append(line)
    return "\n".join(lines)
