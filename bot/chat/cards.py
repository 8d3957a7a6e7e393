"""The mention card, platform-neutral: what every adapter shows for one mention. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from bot.chat.text import reveal_invisible
from bot.domain.durations import format_duration
from bot.domain.mentions import Mention, State
from bot.domain.ratings import stars


@dataclass(frozen=True, slots=True)
class ReplyView:
    """An answer given to a mention, as the card shows it."""

    actor: str
    text: str
    status: str  # queued | sent | manual | failed | unknown | held | rejected
    url: str = ""


@dataclass(frozen=True, slots=True)
class Card:
    """Everything a card shows. Text fields are untrusted and escaped by each adapter."""

    number: int
    state: State
    title: str
    author: str
    where: str
    text: str
    url: str
    status: str
    actions: tuple[str, ...]
    ref: str = ""  # how people name what the card shows, when not `#number` (an incident: I7)


_ACTIONS: dict[State, tuple[str, ...]] = {
    State.NEW: ("claim", "reply", "resolve", "snooze"),
    State.OPEN: ("claim", "reply", "resolve", "snooze"),
    State.REOPENED: ("claim", "reply", "resolve", "snooze"),
    State.CLAIMED: ("reply", "resolve", "snooze", "release"),
    State.ANSWERED: ("reply", "resolve", "snooze"),
    State.RESOLVED: ("reopen",),
    State.IGNORED: ("reopen",),
}


def audience_label(audience: int | None) -> str:
    """`18,250 followers`, or empty when unknown."""
    if audience is None:
        return ""
    return f"{audience:,} follower" + ("" if audience == 1 else "s")


def kind_label(mention: Mention) -> str:
    """`complaint 0.83`: the kind with the complaint model's score, when there is one."""
    if mention.complaint_score is None:
        return mention.kind
    return f"{mention.kind} {mention.complaint_score:.2f}"


def build_card(
    mention: Mention,
    *,
    now: datetime,
    replies: list[ReplyView] | None = None,
    closed_by: str | None = None,
    closed_at: datetime | None = None,
    follow_ups: int = 0,
    names: Mapping[str, str] | None = None,
    sla: Mapping[str, int] | None = None,
) -> Card:
    """The card for a mention in its current state; `names` shows people (by id) by name;
    `sla` counts the SLA steps taken for it (nudge, escalate, ...)."""
    author = mention.author
    who = f"{author.name} (@{author.handle})" if author.name else f"@{author.handle}"
    audience = audience_label(author.audience)
    status = _status(mention, replies or [], closed_by, closed_at, now, names or {})
    if sla and mention.state not in (State.RESOLVED, State.IGNORED):
        status += _sla_marks(sla)
    if follow_ups:
        status += f" · {follow_ups} later message{'s' if follow_ups != 1 else ''} in the thread"
    return Card(
        number=mention.number,
        state=mention.state,
        title=f"#{mention.number} {kind_label(mention)} · {mention.urgency} · {mention.team}",
        author=reveal_invisible(f"{who} · {audience}" if audience else who),
        where=" · ".join(filter(None, [mention.source, mention.language, mention.triage_note])),
        text=reveal_invisible(_with_headline(mention)),
        url=mention.url,
        status=status,
        actions=_ACTIONS[mention.state],
    )


def _with_headline(mention: Mention) -> str:
    """The post's text under its star rating and title (a feed item's or a review's), when
    it has them; a title the text already starts with is not repeated."""
    title = mention.title.strip()
    if title and mention.text.startswith(title):
        title = ""
    headline = " · ".join(part for part in (stars(mention.rating), title) if part)
    if not headline:
        return mention.text
    return f"{headline}\n\n{mention.text}" if mention.text else headline


def moved_card(card: Card, *, team: str, channel: str, by: str) -> Card:
    """A card left behind by `move`: it says where the mention went, and offers nothing."""
    return replace(card, status=f"Moved to {team} ({channel}) by {by}", actions=())


def _status(
    mention: Mention,
    replies: list[ReplyView],
    closed_by: str | None,
    closed_at: datetime | None,
    now: datetime,
    names: Mapping[str, str],
) -> str:
    def name(person: str | None) -> str:
        return names.get(person, person) if person else "someone"

    waited = format_duration(now - mention.received_at)
    state = mention.state
    if state in (State.NEW, State.OPEN):
        text = f"Unclaimed for {waited} (since {mention.received_at:%H:%M} UTC)"
    elif state == State.REOPENED:
        text = (
            f"Reopened by {name(closed_by)}" if closed_by else "Reopened: the customer wrote again"
        )
    elif state == State.CLAIMED:
        text = f"Claimed by {name(mention.claimed_by)}"
    elif state == State.ANSWERED:
        text = f"Answered by {name(mention.claimed_by)}"
    elif state == State.RESOLVED:
        text = f"Resolved by {name(closed_by)}"
        if closed_at is not None:
            text += f" at {closed_at:%Y-%m-%d %H:%M} UTC"
    else:
        text = f"Ignored by {name(closed_by)}"
    if replies:
        last = replies[-1]
        # "Answered by Ann · answer posted", not "Answered by Ann · answer by Ann posted".
        named = mention.claimed_by if state in (State.CLAIMED, State.ANSWERED) else closed_by
        by = "" if last.actor == named else f" by {name(last.actor)}"
        text += f" · answer{by} {_REPLY_STATUS.get(last.status, last.status)}"
        if last.url:
            text += f": {last.url}"
    if mention.snoozed_until is not None and mention.snoozed_until > now:
        text += f" · snoozed until {mention.snoozed_until:%Y-%m-%d %H:%M} UTC"
    return text


_REPLY_STATUS = {
    "queued": "is being sent",
    "sent": "posted",
    "manual": "recorded (to be posted by hand)",
    "failed": "could not be posted",
    "unknown": "may not have been posted: check by hand",
    "held": "waits for a lead's approval",
    "rejected": "was rejected by a lead",
}


def _sla_marks(sla: Mapping[str, int]) -> str:
    """` · overdue: nudged 3 times · escalated`, from the SLA steps taken."""
    marks = []
    nudges = sla.get("nudge", 0)
    if nudges:
        marks.append(f"overdue: nudged {nudges} time{'s' if nudges != 1 else ''}")
    if sla.get("escalate"):
        marks.append("escalated to the leads")
    if sla.get("remind") and not nudges:
        marks.append("overdue: the claimer was reminded")
    return "".join(f" · {m}" for m in marks)
