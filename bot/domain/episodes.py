"""A mention's life cut into episodes, read from its event log. Pure.

One episode starts when the mention comes in, and another each time it is reopened (by a
person, or by the customer writing again after it was resolved). Each episode needs its own
first response, and ends when it is resolved or ignored.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.domain.mentions import CLOSED, Action, Event, Mention, State

# Actions that show someone took a new or reopened mention in hand.
_TAKEN = frozenset({Action.CLAIM, Action.ASSIGN, Action.ANSWER, Action.RESOLVE, Action.IGNORE})
_CLAIMED = frozenset({Action.CLAIM, Action.ASSIGN})
_CLOSING = frozenset({Action.RESOLVE, Action.IGNORE})


@dataclass(frozen=True, slots=True)
class History:
    """A mention and its events (all of them, oldest first), as the store gives them."""

    mention: Mention
    events: tuple[Event, ...]


@dataclass(frozen=True, slots=True)
class Episode:
    """One stretch of a mention needing attention: from arrival or reopening to closing."""

    mention: Mention
    start: datetime
    reopened: bool
    taken_at: datetime | None = None
    claimed_at: datetime | None = None
    answered_at: datetime | None = None
    closed_at: datetime | None = None
    closed_by: Action | None = None

    @property
    def ignored_unanswered(self) -> bool:
        """Ignored before anyone answered: it needed no answer."""
        return self.closed_by == Action.IGNORE and self.answered_at is None


def episodes(history: History, *, until: datetime) -> list[Episode]:
    """Cut a mention's events before `until` into episodes, oldest first."""
    found: list[Episode] = []
    current: dict[str, Any] | None = None  # the fields of the episode being read
    for event in sorted(history.events, key=lambda e: (e.at, e.id or 0)):
        if event.at >= until:
            break
        reopening = event.to_state == State.REOPENED and event.from_state in CLOSED
        if event.action == Action.INGEST or reopening:
            if current is not None:
                found.append(Episode(history.mention, **current))
            current = {"start": event.at, "reopened": reopening}
            continue
        if current is None or "closed_at" in current:
            continue
        if event.action in _TAKEN:
            current.setdefault("taken_at", event.at)
        if event.action in _CLAIMED:
            current.setdefault("claimed_at", event.at)
        if event.action == Action.ANSWER:
            current.setdefault("answered_at", event.at)
        if event.action in _CLOSING:
            current["closed_at"] = event.at
            current["closed_by"] = event.action
    if current is not None:
        found.append(Episode(history.mention, **current))
    return found


def state_at(history: History, at: datetime) -> State | None:
    """The mention's state just before `at`, or None if it had not come in."""
    state = None
    for event in history.events:
        if event.at < at:
            state = event.to_state
    return state
