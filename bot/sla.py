"""The SLA sweep: finds what is overdue by each team's clock and acts, each step once.

One scheduler job calls `SlaSweeper.sweep()`. It reads what is due (bot.store.sla), plans
each step with the pure arithmetic of bot.domain.sla, and writes each step together with
its outbox rows in one transaction. A step is recorded under a UNIQUE key, so a second
sweep racing this one, or a sweep after a restart, finds it taken and does nothing.
"""

from __future__ import annotations

import logging
import string
import zoneinfo
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlite_utils

from bot.clock import Clock
from bot.domain.durations import format_duration
from bot.domain.mentions import UNCLAIMED, Action, State
from bot.domain.sla import (
    ORDER,
    Due,
    Policy,
    Step,
    Waiting,
    WorkingHours,
    last_close,
    latest_start,
    next_open,
    plan_step,
    working_time,
)
from bot.errors import TransitionError
from bot.playbooks import Playbooks, TeamSpec
from bot.playbooks.schema import WEEKDAYS, BusinessHours
from bot.store import mentions, outbox, replies
from bot.store import sla as store
from bot.store.db import Database
from connectors.base import Connector

log = logging.getLogger(__name__)

ACTOR = "allhands"  # who releases a stale claim and sends a holding reply

# A read the sweep makes: the step it looks for, the store query and its arguments.
Query = tuple[Step, Callable[..., list[Waiting]], dict[str, Any]]


def working_hours(hours: BusinessHours) -> WorkingHours:
    """A playbook's business_hours entry as the SLA arithmetic takes it."""
    return WorkingHours(
        zone=zoneinfo.ZoneInfo(hours.timezone),
        weekdays=frozenset(WEEKDAYS.index(day) for day in hours.weekdays),
        opens=hours.open,
        closes=hours.close,
        holidays=frozenset(hours.holidays),
    )


def policy_of(team: TeamSpec, playbooks: Playbooks) -> Policy:
    """A team's SLA from its playbook."""
    sla = team.sla
    if sla is None:
        return Policy()
    named = playbooks.business_hours.get(sla.hours) if sla.hours else None
    hours = working_hours(named) if named is not None else None
    return Policy(
        claim_within=sla.claim_within,
        reply_within=sla.reply_within,
        escalate_after=sla.escalate_after,
        renudge_every=sla.renudge_every,
        release_claim_after=sla.release_claim_after,
        counting=hours if sla.clock == "business_hours" else None,
        hours=hours,
        ping=sla.ping,
        holding_reply=sla.holding_reply is not None and sla.holding_reply in playbooks.templates,
    )


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


class Outcome(StrEnum):
    """What became of one planned step."""

    DONE = "done"
    TAKEN = "taken"  # another sweep recorded it first
    CHANGED = "changed"  # the mention changed after it was read; looked at again next time


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


@dataclass(slots=True)
class SweepReport:
    """What one sweep did."""

    found: int = 0
    done: Counter[Step] = field(default_factory=Counter)
    taken: int = 0
    changed: int = 0

    def __str__(self) -> str:
        steps = ", ".join(f"{n} {step.value}" for step, n in sorted(self.done.items())) or "none"
        return (
            f"{self.found} due, steps taken: {steps}; {self.taken} already taken by another"
            f" sweep, {self.changed} changed meanwhile"
        )


def _apply(db: sqlite_utils.Database, planned: Planned, now: datetime) -> Outcome:
    waiting = planned.waiting
    number = waiting.number
    if not store.still_as_read(db, waiting=waiting):
        return Outcome.CHANGED
    if not store.record_step(db, due=planned.due, now=now, detail=planned.detail):
        return Outcome.TAKEN
    if planned.release:
        mention = mentions.get(db, number=number)
        assert mention is not None  # still_as_read found it
        mentions.transition(
            db,
            mention=mention,
            action=Action.RELEASE,
            actor=ACTOR,
            now=now,
            changes={"claimed_by": None},
            detail={"reason": "no answer in time", **planned.detail},
        )
    if planned.reply is not None:
        reply_id = replies.add(
            db, mention=number, actor=ACTOR, text=planned.reply, status="queued", now=now
        )
        outbox.enqueue(
            db,
            kind=outbox.Kind.PUBLIC_REPLY,
            mention=number,
            payload={"reply": reply_id, "text": planned.reply, "actor": ACTOR},
            now=now,
        )
    for effect in planned.effects:
        outbox.enqueue(
            db,
            kind=effect.kind,
            mention=number,
            target=effect.target,
            payload=effect.payload,
            now=now,
        )
    return Outcome.DONE


def apply_steps(
    db: sqlite_utils.Database, *, planned: list[Planned], now: datetime
) -> list[Outcome]:
    """Write planned steps with their effects (runs in one transaction on the writer).

    Each step is checked against the mention as it is now and recorded under its unique
    key first; only a step that is new here writes its effects.
    """
    outcomes = []
    for step in planned:
        if not step.release:
            outcomes.append(_apply(db, step, now))
            continue
        try:
            with db.atomic():  # a savepoint: a release refused undoes only its own step
                outcomes.append(_apply(db, step, now))
        except TransitionError:
            outcomes.append(Outcome.CHANGED)
    return outcomes


def _waited(waiting: Waiting, policy: Policy, now: datetime) -> str:
    text = format_duration(now - waiting.since)
    if policy.counting is not None:
        worked = working_time(waiting.since, now, policy.counting)
        text += f" ({format_duration(worked)} of working time)"
    return text


def _link(waiting: Waiting, team: TeamSpec | None) -> str:
    where = f" · card in {team.channel}" if team is not None else ""
    return f"{waiting.url}{where}" if waiting.url else where.removeprefix(" · ")


def _thread(text: str, ping: str = "none") -> Queued:
    payload: dict[str, Any] = {"text": text}
    if ping != "none":
        payload["ping"] = ping
    return Queued(outbox.Kind.THREAD_POST, payload)


def _card_update() -> Queued:
    return Queued(outbox.Kind.CARD_UPDATE, {})


def _tell(platform: str, person: str, text: str) -> Queued:
    return Queued(outbox.Kind.PRIVATE_NOTE, {"person": person, "text": text}, target=platform)


def _who(waiting: Waiting) -> str:
    if waiting.state == State.CLAIMED:
        return f"claimed by {waiting.claimed_by}"
    if waiting.state == State.ANSWERED:
        return f"answered by {waiting.claimed_by}"
    return "nobody has claimed it"


def compose(
    due: Due,
    waiting: Waiting,
    *,
    team: TeamSpec | None,
    policy: Policy,
    playbooks: Playbooks,
    now: datetime,
) -> Planned | None:
    """The messages and changes of one due step; None when there is nothing to send."""
    n = waiting.number
    waited = _waited(waiting, policy, now)
    step = due.step
    if step == Step.WAKE:
        text = f"#{n}'s snooze is over: {_who(waiting)}; the customer has waited {waited}."
        return Planned(due, waiting, (_card_update(), _thread(text)))
    if team is None:
        return None  # the team is gone from the playbooks; only a wake still makes sense
    platform = team.channel.platform
    link = _link(waiting, team)
    if step == Step.NUDGE:
        news = "nobody has claimed it yet" if due.round == 0 else "it is still unclaimed"
        text = f"#{n} has waited {waited} and {news}. `claim {n}` to take it. {waiting.url}"
        return Planned(due, waiting, (_thread(text.rstrip(), policy.ping),))
    if step == Step.ESCALATE:
        assert policy.escalate_after is not None
        promise = format_duration(policy.escalate_after)
        note = (
            f"Escalation for {team.name}: #{n} has waited {waited} without an answer (the"
            f" team escalates after {promise}); {_who(waiting)}. {link}"
        )
        if team.leads:
            told = ", ".join(team.leads)
            effects = [_tell(platform, lead, note) for lead in team.leads]
            effects.append(_thread(f"Escalated to {told}: no answer after {waited}."))
        else:
            effects = [_thread(f"No answer after {waited}, and the team has no leads to tell.")]
        return Planned(due, waiting, tuple(effects), detail={"leads": list(team.leads)})
    claimer = waiting.claimed_by or ""
    held = format_duration(now - waiting.claimed_at) if waiting.claimed_at else "a while"
    if step == Step.REMIND:
        text = (
            f"Reminder: you claimed #{n} {held} ago and it has no answer yet; the customer"
            f" has waited {waited}. `reply {n} <text>` to answer, or `release {n}` to hand"
            f" it back. {link}"
        )
        return Planned(due, waiting, (_tell(platform, claimer, text),))
    if step == Step.RELEASE:
        note = (
            f"#{n} went back to the team: you claimed it {held} ago and it has no answer."
            f" `claim {n}` again if you are still on it. {link}"
        )
        thread = (
            f"{claimer}'s claim on #{n} lapsed after {held} without an answer; it is back"
            f" with the team. `claim {n}` to take it."
        )
        return Planned(
            due,
            waiting,
            (_card_update(), _tell(platform, claimer, note), _thread(thread)),
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


def _find(db: sqlite_utils.Database, *, queries: list[Query]) -> list[tuple[Step, Waiting]]:
    return [(step, w) for step, query, kwargs in queries for w in query(db, **kwargs)]


class SlaSweeper:
    """Finds the SLA steps that are due and takes them; `sweep()` is the scheduler's job."""

    def __init__(
        self,
        *,
        database: Database,
        clock: Clock,
        playbooks: Callable[[], Playbooks],
        connectors: Callable[[], Mapping[str, Connector]],
        on_change: Callable[[], None] = lambda: None,
        chunk: int = 500,
    ):
        self.database = database
        self.clock = clock
        self.playbooks = playbooks
        self.connectors = connectors
        self.on_change = on_change
        self.chunk = chunk

    async def sweep(self) -> SweepReport:
        """Take every step that is due now."""
        now = self.clock.now()
        planned = await self.find_due(now)
        report = await self.act(planned, now)
        if report.done:
            log.info("SLA sweep: %s", report)
        return report

    def _queries(self, playbooks: Playbooks, now: datetime) -> list[Query]:
        replyable = sorted(sid for sid, c in self.connectors().items() if c.can_reply)
        queries: list[Query] = [(Step.WAKE, store.snoozes_over, {"now": now})]
        for team_id, team in playbooks.teams.items():
            policy = policy_of(team, playbooks)
            counting, quiet = policy.counting, policy.quiet(now)
            common = {"team": team_id, "now": now}
            if policy.claim_within and not (quiet and policy.tells_people(Step.NUDGE)):
                cutoff = latest_start(now, policy.claim_within, counting)
                queries.append(
                    (
                        Step.NUDGE,
                        store.due_since_waiting,
                        {
                            **common,
                            "step": Step.NUDGE,
                            "states": UNCLAIMED,
                            "cutoff": cutoff,
                            "unclaimed": True,
                        },
                    )
                )
            if quiet:
                # Nobody is reminded or escalated to outside working hours; out of hours is
                # when a holding reply may go out.
                if policy.holding_reply and policy.hours is not None:
                    queries.append(
                        (
                            Step.HOLD,
                            store.arrived_out_of_hours,
                            {
                                "team": team_id,
                                "closed_at": last_close(now, policy.hours),
                                "sources": replyable,
                            },
                        )
                    )
                continue
            if policy.escalate_after:
                cutoff = latest_start(now, policy.escalate_after, counting)
                states = (*UNCLAIMED, State.CLAIMED)
                queries.append(
                    (
                        Step.ESCALATE,
                        store.due_since_waiting,
                        {**common, "step": Step.ESCALATE, "states": states, "cutoff": cutoff},
                    )
                )
            for step, after in (
                (Step.REMIND, policy.reply_within),
                (Step.RELEASE, policy.release_claim_after),
            ):
                if after:
                    cutoff = latest_start(now, after, counting)
                    queries.append(
                        (
                            step,
                            store.due_since_claim,
                            {**common, "step": step, "cutoff": cutoff},
                        )
                    )
        return queries

    async def find_due(self, now: datetime) -> list[Planned]:
        """Every step due at `now`, planned with its messages, in the order to take them."""
        playbooks = self.playbooks()
        found = await self.database.read(_find, queries=self._queries(playbooks, now))
        policies = {tid: policy_of(team, playbooks) for tid, team in playbooks.teams.items()}
        planned = []
        for step, waiting in found:
            team = playbooks.teams.get(waiting.team)
            policy = policies.get(waiting.team, Policy())
            due = plan_step(step, waiting, policy, now)
            if due is None:
                continue
            item = compose(due, waiting, team=team, policy=policy, playbooks=playbooks, now=now)
            if item is not None and item.reply is not None:
                item = self._fit_reply(item)
            if item is not None:
                planned.append(item)
        rank = {step: i for i, step in enumerate(ORDER)}
        planned.sort(key=lambda p: (rank[p.due.step], p.waiting.number))
        return planned

    def _fit_reply(self, item: Planned) -> Planned:
        """A holding reply too long for its platform is not sent; the card's thread says so."""
        assert item.reply is not None
        connector = self.connectors().get(item.waiting.source)
        left = connector.limits.remaining(item.reply) if connector is not None else None
        if left is None or left >= 0:
            return item
        log.warning(
            "holding reply for #%d is %d characters too long for %s; not sent",
            item.waiting.number,
            -left,
            item.waiting.source,
        )
        text = (
            f"The holding reply was not sent: it is {-left} characters longer than"
            f" {item.waiting.source} allows. Shorten the template."
        )
        return replace(item, reply=None, effects=(_thread(text),), detail={"skipped": "too long"})

    async def act(self, planned: list[Planned], now: datetime) -> SweepReport:
        """Write planned steps; those another sweep took first, or that changed, are skipped."""
        report = SweepReport(found=len(planned))
        for start in range(0, len(planned), self.chunk):
            chunk = planned[start : start + self.chunk]
            outcomes = await self.database.write(apply_steps, planned=chunk, now=now)
            for item, outcome in zip(chunk, outcomes, strict=True):
                if outcome == Outcome.DONE:
                    report.done[item.due.step] += 1
                elif outcome == Outcome.TAKEN:
                    report.taken += 1
                else:
                    report.changed += 1
        if report.done:
            self.on_change()
        return report
