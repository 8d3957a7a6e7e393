"""What each SLA step says and does: its chat messages, notes and outbox rows. Pure.

`compose` turns a due step (bot.domain.sla) into a `Planned` step: the outbox rows it
writes and, for a release or a holding reply, the change it makes. bot.sla writes it.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from bot.card_links import CARD_WHERE
from bot.domain.durations import format_duration
from bot.domain.mentions import State
from bot.domain.sla import Due, Policy, Step, Waiting, WorkingHours, next_open, working_time
from bot.playbooks import Playbooks, TeamSpec
from bot.store import outbox


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """A template with its {placeholders} filled; format specs are ignored, never obeyed."""
    parts = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        parts.append(literal)
        if name is not None:
            parts.append(values.get(name, ""))
    return "".join(parts)


def opens_at_text(at: datetime, hours: WorkingHours) -> str:
    """When a team opens, as a customer reads it: `08:00 WEST on Monday 30 March`."""
    local = at.astimezone(hours.zone)
    return f"{local:%H:%M} {local:%Z} on {local:%A} {local.day} {local:%B}"


@dataclass(frozen=True, slots=True)
class Queued:
    """An outbox row a step will write."""

    kind: outbox.Kind
    payload: dict[str, Any]
    target: str = ""


@dataclass(frozen=True, slots=True)
class Planned:
    """A step ready to be written: its key, the mention as read, and its effects."""

    due: Due
    waiting: Waiting
    effects: tuple[Queued, ...] = ()
    release: bool = False
    reply: str | None = None  # a public holding reply, sent as a person's answer is
    detail: dict[str, Any] = field(default_factory=dict)


def _waited(waiting: Waiting, policy: Policy, now: datetime) -> str:
    text = format_duration(now - waiting.since)
    if policy.counting is not None:
        worked = working_time(waiting.since, now, policy.counting)
        text += f" ({format_duration(worked)} of working time)"
    return text


def _where(team: TeamSpec) -> str:
    return f"The card is in {channel_label(team)}."


def _link(waiting: Waiting, team: TeamSpec | None) -> str:
    where = _where(team) if team is not None else ""
    return f"{waiting.url} · {where}" if waiting.url and where else waiting.url or where


def channel_label(team: TeamSpec) -> str:
    """Where a team's cards are, as people say it: `#care on Slack`, not `slack:#care`."""
    channel = team.channel
    if channel.platform == "teams":
        return f"{team.name}'s channel in Teams"
    place = channel.channel if channel.channel.startswith("#") else f"#{channel.channel}"
    return f"{place} on Slack" if channel.platform == "slack" else place


def thread_note(text: str, ping: str = "none") -> Queued:
    """A message for the card's thread; `ping` other than none is for the chat adapter."""
    payload: dict[str, Any] = {"text": text}
    if ping != "none":
        payload["ping"] = ping
    return Queued(outbox.Kind.THREAD_POST, payload)


def _card_update() -> Queued:
    return Queued(outbox.Kind.CARD_UPDATE, {})


def _tell(platform: str, person: str, text: str, team: TeamSpec | None = None) -> Queued:
    payload = {"person": person, "text": text}
    if team is not None:  # delivery puts a link to the card in place of this sentence
        payload[CARD_WHERE] = _where(team)
    return Queued(outbox.Kind.PRIVATE_NOTE, payload, target=platform)


def _who(waiting: Waiting) -> str:
    if waiting.state == State.CLAIMED:
        return f"claimed by {waiting.claimer_name or waiting.claimed_by}"
    if waiting.state == State.ANSWERED:
        return f"answered by {waiting.claimer_name or waiting.claimed_by}"
    return "nobody has claimed it"


def compose(
    due: Due,
    waiting: Waiting,
    *,
    team: TeamSpec | None,
    policy: Policy,
    playbooks: Playbooks,
    now: datetime,
    names: Mapping[str, str] | None = None,
) -> Planned | None:
    """The messages and changes of one due step; None when there is nothing to send.

    `names` shows people (leads as the playbooks write them) by their names in chat.
    """
    n = waiting.number
    waited = _waited(waiting, policy, now)
    step = due.step
    if step == Step.WAKE:
        text = f"#{n}'s snooze is over: {_who(waiting)}; the customer has waited {waited}."
        return Planned(due, waiting, (_card_update(), thread_note(text)))
    if team is None:
        return None  # the team is gone from the playbooks; only a wake still makes sense
    platform = team.channel.platform
    link = _link(waiting, team)
    if step == Step.NUDGE:
        released = waiting.unclaimed_since is not None and waiting.unclaimed_since > waiting.since
        if released:
            news = "went back to the team; nobody has claimed it since"
        else:
            news = "nobody has claimed it yet" if due.round == 0 else "it is still unclaimed"
        text = f"#{n} has waited {waited} and {news}. `claim {n}` to take it. {waiting.url}"
        # @here at most once per mention: on the first nudge, not on every renudge.
        ping = policy.ping if due.round == 0 else "none"
        return Planned(due, waiting, (_card_update(), thread_note(text.rstrip(), ping)))
    if step == Step.ESCALATE:
        assert policy.escalate_after is not None
        promise = format_duration(policy.escalate_after)
        note = (
            f"Escalation for {team.name}: #{n} has waited {waited} without an answer (the"
            f" team escalates after {promise}); {_who(waiting)}. {link}"
        )
        if team.leads:
            told = ", ".join((names or {}).get(lead, lead) for lead in team.leads)
            effects = [_card_update(), *(_tell(platform, lead, note, team) for lead in team.leads)]
            effects.append(thread_note(f"Escalated to {told}: no answer after {waited}."))
        else:
            effects = [thread_note(f"No answer after {waited}, and the team has no leads to tell.")]
        return Planned(due, waiting, tuple(effects), detail={"leads": list(team.leads)})
    claimer = waiting.claimed_by or ""
    held = format_duration(now - waiting.claimed_at) if waiting.claimed_at else "a while"
    if step == Step.REMIND:
        text = (
            f"Reminder: you claimed #{n} {held} ago and it has no answer yet; the customer"
            f" has waited {waited}. `reply {n} <text>` to answer, or `release {n}` to hand"
            f" it back. {link}"
        )
        return Planned(due, waiting, (_tell(platform, claimer, text, team),))
    if step == Step.RELEASE:
        note = (
            f"#{n} went back to the team: you claimed it {held} ago and it has no answer."
            f" `claim {n}` again if you are still on it. {link}"
        )
        thread = (
            f"{waiting.claimer_name or claimer}'s claim on #{n} lapsed after {held} without an"
            " answer; it is back"
            f" with the team. `claim {n}` to take it."
        )
        return Planned(
            due,
            waiting,
            (_card_update(), _tell(platform, claimer, note, team), thread_note(thread)),
            release=True,
            detail={"from": claimer},
        )
    if step == Step.HOLD:
        return _holding_reply(due, waiting, team=team, policy=policy, playbooks=playbooks, now=now)
    return None


def _holding_reply(
    due: Due,
    waiting: Waiting,
    *,
    team: TeamSpec,
    policy: Policy,
    playbooks: Playbooks,
    now: datetime,
) -> Planned | None:
    template = playbooks.templates.get(team.sla.holding_reply or "")
    if template is None or policy.hours is None:
        return None
    opens = next_open(now, policy.hours)
    values = {
        "author": waiting.author,
        "name": waiting.name or waiting.author,
        "number": str(waiting.number),
        "team": team.name,
        "agent": team.name,
        "url": waiting.url,
        "opens_at": opens_at_text(opens, policy.hours),
    }
    text = " ".join(fill_template(template, values).split())
    return Planned(
        due, waiting, (_card_update(),), reply=text, detail={"opens_at": opens.isoformat()}
    )


# Roll-ups: many steps in one sweep become one message per team (nudges), per lead
# (escalations) and per claimer (reminders); members of an open incident are shown on the
# incident's card and only counted.

ROLL_UP_OVER = 3  # more chat steps than this for one team in one sweep are rolled up
ROLLED = (Step.NUDGE, Step.ESCALATE, Step.REMIND)
_LISTED = 12  # mentions named in one roll-up message


def _numbers(steps: list[Planned], now: datetime) -> str:
    shown = ", ".join(
        f"#{p.waiting.number} ({format_duration(now - p.waiting.since)})" for p in steps[:_LISTED]
    )
    more = len(steps) - _LISTED
    return shown + (f" and {more:,} more" if more > 0 else "")


def to_roll_up(planned: list[Planned], *, in_incident: Mapping[int, int]) -> set[int]:
    """Which planned steps (by index) are rolled up rather than sent one by one."""
    per_team: dict[str, int] = {}
    for p in planned:
        if p.due.step in ROLLED:
            per_team[p.waiting.team] = per_team.get(p.waiting.team, 0) + 1
    return {
        i
        for i, p in enumerate(planned)
        if p.due.step in ROLLED
        and (per_team[p.waiting.team] > ROLL_UP_OVER or p.waiting.number in in_incident)
    }


def roll_up_key(team: str) -> str:
    """The key of a team's SLA roll-up message (a summary card, updated in place)."""
    return f"sla:{team}"


def _channel_roll_up(
    team: TeamSpec, nudged: list[Planned], incidents: list[int], now: datetime
) -> Queued:
    """The team's one SLA roll-up message: a card that never pings (`sla.ping` is for
    single nudges), updated in place by the next sweeps while it is recent."""
    status = f"{len(nudged):,} mentions wait unclaimed past the team's promise"
    text = ""
    if nudged:
        text = f"{_numbers(nudged, now)}. `claim N` to take one, `list` to see them."
    if incidents:
        shown = ", ".join(f"I{n}" for n in incidents)
        text += f" Incidents waiting: {shown}."
        status += f" · incidents waiting: {shown}"
    payload = {
        "summary": roll_up_key(team.id),
        "title": f"Waiting past {team.name}'s promise",
        "status": f"{status} · as of {now:%H:%M} UTC",
        "text": text.strip(),
        "team": team.name,
    }
    return Queued(outbox.Kind.SUMMARY_CARD, payload, target=str(team.channel))


def roll_up(
    steps: list[Planned],
    *,
    teams: Mapping[str, TeamSpec],
    in_incident: Mapping[int, int],
    now: datetime,
) -> list[Queued]:
    """The messages that stand for these (taken) steps: one per team, lead and claimer."""
    out: list[Queued] = []
    by_team: dict[str, list[Planned]] = {}
    for p in steps:
        by_team.setdefault(p.waiting.team, []).append(p)
    for team_id, mine in sorted(by_team.items()):
        team = teams.get(team_id)
        if team is None:
            continue
        platform = team.channel.platform
        incidents = sorted(
            {in_incident[p.waiting.number] for p in mine if p.waiting.number in in_incident}
        )
        alone = [p for p in mine if p.waiting.number not in in_incident]
        nudged = [p for p in alone if p.due.step == Step.NUDGE]
        if nudged or incidents:
            out.append(_channel_roll_up(team, nudged, incidents, now))
        escalated = [p for p in mine if p.due.step == Step.ESCALATE]
        if escalated and team.leads:
            text = (
                f"Escalation for {team.name}: {len(escalated):,} mentions have no answer past"
                f" the team's promise: {_numbers(escalated, now)}."
            )
            out.extend(_tell(platform, lead, text) for lead in team.leads)
        claimers: dict[str, list[Planned]] = {}
        for p in mine:
            if p.due.step == Step.REMIND and p.waiting.claimed_by:
                claimers.setdefault(p.waiting.claimed_by, []).append(p)
        for person, theirs in sorted(claimers.items()):
            text = (
                f"Reminder: {len(theirs):,} mentions you claimed have no answer yet:"
                f" {_numbers(theirs, now)}. `reply N <text>` to answer, `release N` to hand"
                " one back."
            )
            out.append(_tell(platform, person, text))
    return out
