"""Mentions, their states, the allowed transitions and the events that record them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.errors import TransitionError


class State(StrEnum):
    """Where a mention stands; `new` until its card is in a channel."""

    NEW = "new"
    OPEN = "open"
    CLAIMED = "claimed"
    ANSWERED = "answered"
    RESOLVED = "resolved"
    IGNORED = "ignored"
    REOPENED = "reopened"


class Action(StrEnum):
    """Everything that can happen to a mention; each one is recorded as an Event."""

    INGEST = "ingest"
    ANNOUNCE = "announce"
    CLAIM = "claim"
    RELEASE = "release"
    ASSIGN = "assign"
    ANSWER = "answer"
    RESOLVE = "resolve"
    REOPEN = "reopen"
    IGNORE = "ignore"
    SNOOZE = "snooze"
    FOLLOW_UP = "follow_up"
    HOLD = "hold"  # an answer waits for a lead's approval; nothing is sent
    APPROVE = "approve"
    EDIT = "edit"  # a lead approves with their own text
    REJECT = "reject"
    NOTE = "note"  # something said in the card's thread: internal, never posted
    REPLY_FAILED = "reply_failed"  # a public answer failed or may not have gone out
    MOVE = "move"  # a person sent the mention to another team (a triage correction)
    RELABEL = "relabel"  # a person corrected the kind (a triage correction)


SYSTEM = "allhands"  # the actor of what the bot does by itself (ingest, announce, SLA steps)

UNCLAIMED = frozenset({State.NEW, State.OPEN, State.REOPENED})
ACTIVE = frozenset({State.NEW, State.OPEN, State.REOPENED, State.CLAIMED, State.ANSWERED})
CLOSED = frozenset({State.RESOLVED, State.IGNORED})

# action -> {from state: to state}. Anything not listed is refused.
TRANSITIONS: dict[Action, dict[State, State]] = {
    Action.ANNOUNCE: {State.NEW: State.OPEN},
    Action.CLAIM: {s: State.CLAIMED for s in UNCLAIMED},
    Action.RELEASE: {State.CLAIMED: State.OPEN},
    Action.ASSIGN: {**{s: State.CLAIMED for s in UNCLAIMED}, State.CLAIMED: State.CLAIMED},
    Action.ANSWER: {State.CLAIMED: State.ANSWERED, State.ANSWERED: State.ANSWERED},
    Action.RESOLVE: {
        **{s: State.RESOLVED for s in UNCLAIMED},
        State.CLAIMED: State.RESOLVED,
        State.ANSWERED: State.RESOLVED,
    },
    Action.REOPEN: {State.RESOLVED: State.REOPENED, State.IGNORED: State.REOPENED},
    Action.IGNORE: {**{s: State.IGNORED for s in UNCLAIMED}, State.CLAIMED: State.IGNORED},
    Action.SNOOZE: {s: s for s in ACTIVE},
    # A customer writing again: a closed mention comes back, an active one stays as it is.
    Action.FOLLOW_UP: {
        **{s: s for s in ACTIVE},
        State.RESOLVED: State.REOPENED,
        State.IGNORED: State.IGNORED,
    },
    # Holding an answer keeps the mention where it is: claimed by the writer, not answered.
    Action.HOLD: {State.CLAIMED: State.CLAIMED, State.ANSWERED: State.ANSWERED},
    # A lead's decision and a thread note are recorded whatever the state; sending the
    # approved answer is a separate ANSWER, checked on its own.
    Action.APPROVE: {s: s for s in State},
    Action.EDIT: {s: s for s in State},
    Action.REJECT: {s: s for s in State},
    Action.NOTE: {s: s for s in State},
    # An answer that did not reach the customer puts the mention back in the open list.
    Action.REPLY_FAILED: {
        s: State.OPEN
        for s in (State.OPEN, State.REOPENED, State.CLAIMED, State.ANSWERED, State.RESOLVED)
    },
    Action.MOVE: {s: s for s in State},
    Action.RELABEL: {s: s for s in State},
}

_REFUSALS: dict[Action, str] = {
    Action.INGEST: "is stored already",
    Action.ANNOUNCE: "is already in its channel",
    Action.CLAIM: "cannot be claimed now",
    Action.RELEASE: "is not claimed, so there is nothing to release",
    Action.ASSIGN: "cannot be assigned now",
    Action.ANSWER: "must be claimed before it is answered",
    Action.RESOLVE: "cannot be resolved now",
    Action.REOPEN: "is still open; only resolved or ignored mentions can be reopened",
    Action.IGNORE: "cannot be ignored now",
    Action.SNOOZE: "is closed; snoozing only applies to open mentions",
    Action.FOLLOW_UP: "cannot take a follow-up",
    Action.HOLD: "must be claimed before an answer can wait for approval",
    Action.APPROVE: "cannot be approved now",
    Action.EDIT: "cannot be edited now",
    Action.REJECT: "cannot be rejected now",
    Action.NOTE: "cannot take a note",
    Action.REPLY_FAILED: "stays as it is although an answer to it failed",
    Action.MOVE: "cannot be moved now",
    Action.RELABEL: "cannot be relabelled now",
}


def next_state(state: State, action: Action, *, number: int | None = None) -> State:
    """The state after `action`, or TransitionError with a sentence a person can act on."""
    target = TRANSITIONS.get(action, {}).get(state)
    if target is None:
        label = f"#{number}" if number is not None else "This mention"
        raise TransitionError(f"{label} is {state.value} and {_REFUSALS[action]}.")
    return target


@dataclass(frozen=True, slots=True)
class Author:
    """Who wrote a post, as the platform names them."""

    handle: str
    name: str = ""
    audience: int | None = None
    url: str = ""


@dataclass(frozen=True, slots=True)
class Item:
    """One post as a connector hands it over, before normalising and triage."""

    external_id: str
    text: str
    author: Author
    url: str = ""
    created_at: datetime | None = None
    language: str | None = None
    parent_id: str | None = None
    conversation_id: str | None = None
    title: str = ""
    is_html: bool = False
    raw: dict[str, Any] = field(default_factory=dict)
    rating: int | None = None  # stars, 1–5, for app-store reviews


@dataclass(frozen=True, slots=True)
class Triage:
    """What triage decided about a post."""

    kind: str
    sentiment: float
    urgency: str
    team: str
    rule: str
    topic: str = ""
    score: float | None = None  # the complaint model's calibrated score, 0-1
    severity: str = ""  # what is at stake: safety, health, legal, data breach, outage, ...
    language: str = ""  # as the platform said or as detected
    note: str = ""  # what triage was unsure about, shown on the card


@dataclass(frozen=True, slots=True)
class Mention:
    """A public post somebody has to look at, as stored; `number` is what people type (#42)."""

    number: int
    source: str
    external_id: str
    url: str
    author: Author
    text: str
    state: State
    team: str
    kind: str
    urgency: str
    sentiment: float
    created_at: datetime
    received_at: datetime
    language: str | None = None
    title: str = ""
    parent_id: str | None = None
    conversation_id: str | None = None
    claimed_by: str | None = None
    snoozed_until: datetime | None = None
    root_number: int | None = None
    rating: int | None = None  # stars, 1–5, for app-store reviews
    complaint_score: float | None = None
    triage_note: str = ""

    @property
    def ref(self) -> str:
        """The short form people type and read: `#42`."""
        return f"#{self.number}"


@dataclass(frozen=True, slots=True)
class Event:
    """One line of the append-only audit log: who did what to which mention, and when."""

    mention: int
    action: Action
    actor: str
    at: datetime
    from_state: State | None
    to_state: State
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None


def authorise(mention: Mention, action: Action, actor: str, *, holder_name: str = "") -> None:
    """Refuse what would step on someone else's claim; TransitionError says who has it
    (as `holder_name`, when chat shows them by a name rather than their id).

    Everyone may act on any mention, except that a mention someone has claimed is theirs
    to answer, release, resolve or ignore, so that two people never answer one customer.
    """
    claimer = mention.claimed_by
    holder = holder_name or claimer
    ref = mention.ref
    mine = claimer == actor
    if action == Action.CLAIM and claimer and mention.state in (State.CLAIMED, State.ANSWERED):
        if mine:
            raise TransitionError(f"You already have {ref}.")
        raise TransitionError(f"{ref} is already claimed by {holder}.")
    if claimer is None or mine:
        return
    if action == Action.ANSWER and mention.state in (State.CLAIMED, State.ANSWERED):
        raise TransitionError(
            f"{ref} is claimed by {holder}; ask them, or `assign {mention.number} <you>` first."
        )
    if action == Action.RELEASE:
        raise TransitionError(f"{ref} is claimed by {holder}; only they can release it.")
    if action in (Action.RESOLVE, Action.IGNORE) and mention.state == State.CLAIMED:
        raise TransitionError(
            f"{ref} is claimed by {holder}, who may be answering it now; ask them first."
        )
