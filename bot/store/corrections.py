"""The team's corrections of triage (`move`, `kind`): recorded, and read back to learn from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.mentions import Action, Mention
from bot.domain.normalise import clean_text
from bot.store import day_figures, mentions, outbox
from bot.store.sql import Conn

EXAMPLE_CHARS = 500  # how much of a moved post `triage learn` keeps as a team's example


@dataclass(frozen=True, slots=True)
class Correction:
    """A person's correction of one mention's kind or team, with the mention's text."""

    mention: int
    field: str  # kind | team
    old: str
    new: str
    text: str


def move(
    db: Conn,
    *,
    mention: Mention,
    team: str,
    channel: str,
    actor: str,
    now: datetime,
) -> Mention:
    """Send a mention to `team`: its card goes to `channel` and the old card says where it
    went (runs in a transaction)."""
    old, updated = _correct(
        db, number=mention.number, action=Action.MOVE, field="team", new=team, actor=actor, now=now
    )
    posted = db.execute(
        "SELECT platform, channel, message_id FROM cards WHERE mention = ?", [old.number]
    ).fetchone()
    if posted is None:
        # Not posted yet: the waiting card goes to the new channel instead.
        db.execute(
            "UPDATE outbox SET target = ? WHERE mention = ? AND kind = ? AND state = 'pending'",
            [channel, old.number, outbox.Kind.CARD_POST.value],
        )
        return updated
    db.execute("DELETE FROM cards WHERE mention = ?", [old.number])
    outbox.enqueue(
        db,
        kind=outbox.Kind.CARD_UPDATE,
        mention=old.number,
        payload={"card": list(posted), "moved_to": team, "channel": channel, "by": actor},
        now=now,
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_POST, mention=old.number, target=channel, now=now)
    return updated


def relabel(db: Conn, *, mention: Mention, kind: str, actor: str, now: datetime) -> Mention:
    """Correct a mention's kind and redraw its card (runs in a transaction)."""
    _, updated = _correct(
        db,
        number=mention.number,
        action=Action.RELABEL,
        field="kind",
        new=kind,
        actor=actor,
        now=now,
    )
    outbox.enqueue(db, kind=outbox.Kind.CARD_UPDATE, mention=mention.number, now=now)
    return updated


def _correct(
    db: Conn, *, number: int, action: Action, field: str, new: str, actor: str, now: datetime
) -> tuple[Mention, Mention]:
    """Change one field of a mention as a logged correction; the mention before and after.

    The kept digest days from its arrival on are forgotten: it counts differently on each."""
    old = mentions.get(db, number=number)
    assert old is not None
    was = str(getattr(old, field))
    updated = mentions.transition(
        db,
        mention=old,
        action=action,
        actor=actor,
        now=now,
        changes={field: new},
        detail={"from": was, "to": new},
    )
    _record(db, mention=number, field=field, old=was, new=new, actor=actor, now=now)
    day_figures.forget_since(db, at=old.received_at)
    return old, updated


def _record(
    db: Conn,
    *,
    mention: int,
    field: str,
    old: str,
    new: str,
    actor: str,
    now: datetime,
) -> None:
    db.execute(
        "INSERT INTO triage_corrections (mention, field, old, new, actor, at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [mention, field, old, new, actor, now.isoformat()],
    )


def latest(db: Conn, *, field: str) -> list[Correction]:
    """The last correction of `field` on each mention, oldest first, with the post's text
    (not of erased posts: their text is gone)."""
    rows = db.execute(
        "SELECT c.mention, c.field, c.old, c.new, m.title, m.text FROM triage_corrections c"
        " JOIN mentions m ON m.number = c.mention"
        " WHERE c.field = ? AND m.erased_at IS NULL"
        " AND c.id = (SELECT MAX(id) FROM triage_corrections"
        "  WHERE mention = c.mention AND field = c.field) ORDER BY c.id",
        [field],
    ).fetchall()
    return [
        Correction(number, fld, old, new, _text(title, text))
        for number, fld, old, new, title, text in rows
    ]


def moved_texts(db: Conn, *, numbers: Sequence[int]) -> set[str]:
    """The posts among `numbers` that people moved to a team, as `triage learn` keeps them
    among the team's examples (cut at EXAMPLE_CHARS)."""
    return {_text(t, x)[:EXAMPLE_CHARS] for t, x in _corrected(db, numbers=numbers, field="team")}


def learned_texts(db: Conn, *, numbers: Sequence[int]) -> list[str]:
    """The posts among `numbers` whose kind people corrected, as `triage learn` learns the
    complaint model's weights from them (title and text, cleaned as training cleans them)."""
    return [clean_text(_text(t, x)) for t, x in _corrected(db, numbers=numbers, field="kind")]


def _corrected(db: Conn, *, numbers: Sequence[int], field: str) -> Iterator[tuple[str, str]]:
    """(title, text) of the posts among `numbers` with a correction of `field`."""
    for start in range(0, len(numbers), 500):
        chunk = list(numbers[start : start + 500])
        yield from db.execute(
            "SELECT m.title, m.text FROM mentions m WHERE m.number IN"
            f" ({', '.join('?' * len(chunk))}) AND EXISTS (SELECT 1 FROM triage_corrections c"
            " WHERE c.mention = m.number AND c.field = ?)",
            [*chunk, field],
        ).fetchall()


def _text(title: str, text: str) -> str:
    return f"{title}\n{text}" if title else text
