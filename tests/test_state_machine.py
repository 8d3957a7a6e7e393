"""Every (state, action) pair: allowed ones land where they should, the rest are refused."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from bot.domain.mentions import Action, Author, Mention, State, authorise, next_state
from bot.errors import TransitionError

S = State
# Written out by hand, independently of TRANSITIONS, so a slip in either shows.
ALLOWED: dict[tuple[Action, State], State] = {
    (Action.ANNOUNCE, S.NEW): S.OPEN,
    (Action.CLAIM, S.NEW): S.CLAIMED,
    (Action.CLAIM, S.OPEN): S.CLAIMED,
    (Action.CLAIM, S.REOPENED): S.CLAIMED,
    (Action.RELEASE, S.CLAIMED): S.OPEN,
    (Action.ASSIGN, S.NEW): S.CLAIMED,
    (Action.ASSIGN, S.OPEN): S.CLAIMED,
    (Action.ASSIGN, S.REOPENED): S.CLAIMED,
    (Action.ASSIGN, S.CLAIMED): S.CLAIMED,
    (Action.ANSWER, S.CLAIMED): S.ANSWERED,
    (Action.ANSWER, S.ANSWERED): S.ANSWERED,
    (Action.RESOLVE, S.NEW): S.RESOLVED,
    (Action.RESOLVE, S.OPEN): S.RESOLVED,
    (Action.RESOLVE, S.REOPENED): S.RESOLVED,
    (Action.RESOLVE, S.CLAIMED): S.RESOLVED,
    (Action.RESOLVE, S.ANSWERED): S.RESOLVED,
    (Action.REOPEN, S.RESOLVED): S.REOPENED,
    (Action.REOPEN, S.IGNORED): S.REOPENED,
    (Action.IGNORE, S.NEW): S.IGNORED,
    (Action.IGNORE, S.OPEN): S.IGNORED,
    (Action.IGNORE, S.REOPENED): S.IGNORED,
    (Action.IGNORE, S.CLAIMED): S.IGNORED,
    (Action.SNOOZE, S.NEW): S.NEW,
    (Action.SNOOZE, S.OPEN): S.OPEN,
    (Action.SNOOZE, S.REOPENED): S.REOPENED,
    (Action.SNOOZE, S.CLAIMED): S.CLAIMED,
    (Action.SNOOZE, S.ANSWERED): S.ANSWERED,
    (Action.FOLLOW_UP, S.NEW): S.NEW,
    (Action.FOLLOW_UP, S.OPEN): S.OPEN,
    (Action.FOLLOW_UP, S.REOPENED): S.REOPENED,
    (Action.FOLLOW_UP, S.CLAIMED): S.CLAIMED,
    (Action.FOLLOW_UP, S.ANSWERED): S.ANSWERED,
    (Action.FOLLOW_UP, S.RESOLVED): S.REOPENED,
    (Action.FOLLOW_UP, S.IGNORED): S.IGNORED,
    (Action.HOLD, S.CLAIMED): S.CLAIMED,
    (Action.HOLD, S.ANSWERED): S.ANSWERED,
    **{(Action.APPROVE, s): s for s in S},
    **{(Action.EDIT, s): s for s in S},
    **{(Action.REJECT, s): s for s in S},
    **{(Action.NOTE, s): s for s in S},
    (Action.REPLY_FAILED, S.OPEN): S.OPEN,
    (Action.REPLY_FAILED, S.REOPENED): S.OPEN,
    (Action.REPLY_FAILED, S.CLAIMED): S.OPEN,
    (Action.REPLY_FAILED, S.ANSWERED): S.OPEN,
    (Action.REPLY_FAILED, S.RESOLVED): S.OPEN,
    **{(Action.MOVE, s): s for s in S},  # a triage correction: the state stays
    **{(Action.RELABEL, s): s for s in S},
}
PAIRS = [(a, s) for a, s in itertools.product(Action, State) if a != Action.INGEST]


@pytest.mark.parametrize(("action", "state"), PAIRS, ids=lambda v: str(v))
def test_every_transition(action: Action, state: State) -> None:
    if (action, state) in ALLOWED:
        assert next_state(state, action) == ALLOWED[(action, state)]
    else:
        with pytest.raises(TransitionError) as caught:
            next_state(state, action, number=7)
        message = str(caught.value)
        assert message.startswith(f"#7 is {state.value} and ")
        assert "\n" not in message


def test_ingest_is_not_a_transition() -> None:
    with pytest.raises(TransitionError):
        next_state(State.NEW, Action.INGEST)


def mention(state: State, claimed_by: str | None = None) -> Mention:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    return Mention(
        number=3, source="x", external_id="1", url="", author=Author("ann"), text="hi",
        state=state, team="t", kind="other", urgency="low", sentiment=0.0,
        created_at=now, received_at=now, claimed_by=claimed_by,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("state", "holder", "action", "actor", "refusal"),
    [
        (S.CLAIMED, "bob", Action.CLAIM, "alice", "#3 is already claimed by bob."),
        (S.CLAIMED, "alice", Action.CLAIM, "alice", "You already have #3."),
        (S.ANSWERED, "bob", Action.CLAIM, "alice", "#3 is already claimed by bob."),
        (S.CLAIMED, "bob", Action.ANSWER, "alice", "#3 is claimed by bob; ask them"),
        (S.ANSWERED, "bob", Action.ANSWER, "alice", "#3 is claimed by bob; ask them"),
        (S.CLAIMED, "bob", Action.RELEASE, "alice", "only they can release it"),
        (S.CLAIMED, "bob", Action.RESOLVE, "alice", "who may be answering it now"),
        (S.CLAIMED, "bob", Action.IGNORE, "alice", "who may be answering it now"),
        (S.CLAIMED, "bob", Action.ASSIGN, "alice", None),
        (S.ANSWERED, "bob", Action.RESOLVE, "alice", None),
        (S.CLAIMED, "alice", Action.ANSWER, "alice", None),
        (S.OPEN, None, Action.ANSWER, "alice", None),
    ],
)
def test_claims_are_respected(
    state: State, holder: str | None, action: Action, actor: str, refusal: str | None
) -> None:
    if refusal is None:
        authorise(mention(state, holder), action, actor)
        return
    with pytest.raises(TransitionError, match=refusal.replace("?", r"\?").replace(".", r"\.")):
        authorise(mention(state, holder), action, actor)
