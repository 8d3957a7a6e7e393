"""Summary cards: an incident's one card and a channel's roll-up, drawn from the store and
posted once, then updated in place by the outbox worker (`deliver_summary`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from bot.chat import ChatAdapter, MessageRef
from bot.chat.cards import Card
from bot.chat.text import shorten
from bot.clock import Clock
from bot.domain.mentions import State
from bot.incidents import CARD_EVERY
from bot.playbooks import ChannelRef
from bot.store import incidents as store
from bot.store import outbox, people
from bot.store import reply_all as reply_all_store
from bot.store.db import Database
from bot.store.sql import Conn

ROLL_UP_KEEP = timedelta(hours=1)  # a team's SLA roll-up is updated in place this long


def draw_summary(db: Conn, *, key: str, now: datetime) -> Card:
    """An incident's card, or a channel's roll-up, as it stands now."""
    if key.startswith("rollup:"):
        return _rollup_card(db, key.removeprefix("rollup:"))
    number = int(key.removeprefix("incident:"))
    incident = store.get(db, number=number)
    if incident is None:
        raise ValueError(f"no incident I{number}")
    s = store.summary(db, incident=number)
    who = people.shown(db, ids=[incident.claimed_by]) if incident.claimed_by else {}
    examples = [
        f"@{r['author_handle']} on {r['source']}: {shorten(r['text'], 200)}" for r in s["newest"]
    ]
    states = s["state"]
    waiting = sum(n for st, n in states.items() if st in ("new", "open", "reopened"))
    if incident.state == "open":
        status = (
            f"On it: {who[incident.claimed_by]}" if incident.claimed_by else "Nobody is on it yet"
        )
        status += f" · {waiting:,} waiting · `claim I{number}` · `show I{number}`"
    elif incident.state == "merged":
        status = f"Merged into I{incident.merged_into}"
    else:
        status = "Resolved"
    progress = reply_all_progress(db, incident=number, now=now)
    if progress:
        status += " · " + progress
    return Card(
        number=number,
        state=State.OPEN if incident.state == "open" else State.RESOLVED,
        title=f"I{number} incident · {incident.team} · {incident.why}",
        author=f"{s['size']:,} mentions from {s['authors']:,} people",
        where=" · ".join(f"{k} {n:,}" for k, n in {**s["source"], **s["kind"]}.items()),
        text="\n".join(examples),
        url="",
        status=status,
        actions=("claim", "reply", "resolve") if incident.state == "open" else (),
        ref=f"I{number}",
    )


def _rollup_card(db: Conn, channel: str) -> Card:
    rows = db.execute(
        "SELECT m.kind, count(*) FROM outbox o JOIN mentions m ON m.number = o.mention"
        " WHERE o.kind = 'card_post' AND o.target = ? AND o.result LIKE '%rolled up%'"
        " AND m.state IN ('new', 'open', 'reopened') GROUP BY m.kind ORDER BY count(*) DESC",
        [channel],
    ).fetchall()
    total = sum(n for _, n in rows)
    kinds = ", ".join(f"{n:,} {kind}{'s' if n != 1 else ''}" for kind, n in rows)
    return Card(
        number=0,
        state=State.OPEN,
        title=f"{total:,} more mentions waiting" + (f": {kinds}" if kinds else ""),
        author="This channel's attention budget is spent; new cards are rolled up here",
        where=channel,
        text="`list` to see them, `claim N` to take one.",
        url="",
        status=f"{total:,} waiting",
        actions=(),
        ref="roll-up",
    )


def _next_sends(db: Conn, *, incident: int, now: datetime | None) -> list[str]:
    """`Mastodon next at 14:05 UTC` for each platform whose answers wait for its limit."""
    if now is None:
        return []
    rows = db.execute(
        "SELECT m.source, min(o.next_at) FROM reply_all r JOIN outbox o ON o.mention = r.mention"
        " AND o.kind = 'public_reply' AND o.state = 'pending' JOIN mentions m"
        " ON m.number = r.mention WHERE r.incident = ? GROUP BY m.source ORDER BY m.source",
        [incident],
    ).fetchall()
    return [
        f"{source} next at {datetime.fromisoformat(at):%H:%M} UTC"
        for source, at in rows
        if at and datetime.fromisoformat(at) > now
    ]


def reply_all_progress(db: Conn, *, incident: int, now: datetime | None = None) -> str:
    """`posted 1,240 of 3,000 · 3 held for approval · 2 refused: ...`, or empty."""
    found = reply_all_store.reply_all_counts(db, incident=incident)
    by, posted = found["by"], found["posted"]
    total = sum(n for k, n in by.items() if k != "skipped")
    if not total:
        return ""
    parts = [f"posted {posted.get('sent', 0):,} of {total:,}"]
    waiting = by.get("planned", 0) + posted.get("queued", 0)
    if waiting:
        parts.append(f"{waiting:,} still to go")
        parts.extend(_next_sends(db, incident=incident, now=now))
    if by.get("held"):
        parts.append(f"{by['held']:,} held for approval")
    failed = posted.get("failed", 0) + posted.get("unknown", 0)
    if failed:
        parts.append(f"{failed:,} could not be posted")
    if by.get("refused"):
        why = "; ".join(shorten(reason, 60) for reason, _ in found["reasons"])
        parts.append(f"{by['refused']:,} refused: {why}")
    return " · ".join(parts)


async def deliver_summary(
    effect: outbox.Effect,
    *,
    database: Database,
    adapter_of: Callable[[str], ChatAdapter],
    clock: Clock,
) -> None:
    """Post a summary card, or update it in place if it was posted."""
    key = str(effect.payload["summary"])
    if key.startswith("sla:"):
        await _deliver_roll_up(
            effect, key=key, database=database, adapter_of=adapter_of, now=clock.now()
        )
        return
    card = await database.read(draw_summary, key=key, now=clock.now())
    ref = await database.read(store.card_ref, key=key)
    if ref is not None:
        where = MessageRef(*ref)
        await adapter_of(where.platform).update_card(where, card)
        posted = ref
    else:
        channel = ChannelRef.parse(effect.target)
        new = await adapter_of(channel.platform).post_card(channel.channel, card)
        posted = (new.platform, new.channel, new.id)
    await database.write(
        store.card_drawn,
        key=key,
        target=effect.target,
        ref=posted,
        effect_id=effect.id,
        now=clock.now(),
    )
    if key.startswith("incident:"):  # while answers go out, the progress is drawn again
        await database.write(_again_while_answering, key=key, target=effect.target, now=clock.now())


def roll_up_card(payload: dict[str, Any]) -> Card:
    """A team's SLA roll-up, as its sweep wrote it (numbers and durations, no customer text)."""
    return Card(
        number=0,
        state=State.OPEN,
        title=str(payload.get("title", "")),
        author="Many SLA steps at once are rolled up here and updated in place",
        where=str(payload.get("team", "")),
        text=str(payload.get("text", "")),
        url="",
        status=str(payload.get("status", "")),
        actions=(),
        ref="sla roll-up",
    )


async def _deliver_roll_up(
    effect: outbox.Effect,
    *,
    key: str,
    database: Database,
    adapter_of: Callable[[str], ChatAdapter],
    now: datetime,
) -> None:
    """Update the team's roll-up in place if it was posted less than ROLL_UP_KEEP ago in
    this channel; else post a new one (which the next sweeps update)."""
    card = roll_up_card(effect.payload)
    found = await database.read(
        store.recent_card_ref, key=key, target=effect.target, since=now - ROLL_UP_KEEP
    )
    if found is not None:
        ref, posted_at = found
        await adapter_of(ref[0]).update_card(MessageRef(*ref), card)
    else:
        channel = ChannelRef.parse(effect.target)
        new = await adapter_of(channel.platform).post_card(channel.channel, card)
        ref, posted_at = (new.platform, new.channel, new.id), now
    await database.write(
        store.card_drawn,
        key=key,
        target=effect.target,
        ref=ref,
        effect_id=effect.id,
        now=now,
        drawn_at=posted_at,  # kept: the message is renewed an hour after it was posted
    )


def _again_while_answering(db: Conn, *, key: str, target: str, now: datetime) -> None:
    incident = int(key.removeprefix("incident:"))
    counts = reply_all_store.reply_all_counts(db, incident=incident)
    if counts["by"].get("planned") or counts["posted"].get("queued"):
        store.queue_card(db, key=key, target=target, now=now, every=CARD_EVERY)


def open_cards(db: Conn, *, team: str, now: datetime) -> tuple[Card, ...]:
    """The cards of a team's open incidents, for App Home."""
    return tuple(
        draw_summary(db, key=store.summary_key(found.number), now=now)
        for found in store.open_incidents(db, team=team)
    )
