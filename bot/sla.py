"""The SLA sweep: finds what is overdue by each team's clock and acts, each step once.

One scheduler job calls `SlaSweeper.sweep()`. It reads what is due (bot.store.sla), plans
each step with the pure arithmetic of bot.domain.sla, and writes each step together with
its outbox rows in one transaction. A step is recorded under a UNIQUE key, so a second
sweep racing this one, or a sweep after a restart, finds it taken and does nothing.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from bot.clock import Clock
from bot.domain.mentions import SYSTEM, UNCLAIMED, Action, State
from bot.domain.sla import (
    ORDER,
    Policy,
    Step,
    Waiting,
    WorkingHours,
    last_close,
    latest_start,
    plan_step,
)
from bot.errors import TransitionError
from bot.playbooks import Playbooks, TeamSpec
from bot.playbooks.schema import WEEKDAYS, BusinessHours
from bot.sla_steps import Planned, compose, roll_up, thread_note, to_roll_up
from bot.store import incidents as incidents_store
from bot.store import mentions, outbox, people, replies
from bot.store import sla as store
from bot.store.db import Database
from bot.store.sql import Conn
from connectors.base import Connector

log = logging.getLogger(__name__)

ACTOR = SYSTEM  # who releases a stale claim and sends a holding reply

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


class Outcome(StrEnum):
    """What became of one planned step."""

    DONE = "done"
    TAKEN = "taken"  # another sweep recorded it first
    CHANGED = "changed"  # the mention changed after it was read; looked at again next time


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


def _apply(db: Conn, planned: Planned, now: datetime) -> Outcome:
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
        replies.queue_public(
            db, mention=number, reply=reply_id, text=planned.reply, actor=ACTOR, now=now
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


def apply_steps(db: Conn, *, planned: list[Planned], now: datetime) -> list[Outcome]:
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


def lead_names(db: Conn, *, teams: Iterable[TeamSpec]) -> dict[str, str]:
    """Each team lead as the playbooks write them -> their name in chat (else as written)."""
    found: dict[str, str] = {}
    for team in teams:
        for lead in team.leads:
            person = people.find(db, who=lead, platform=team.channel.platform) or lead
            found[lead] = people.name_of(db, id=person) or lead
    return found


def apply_rolled(
    db: Conn,
    *,
    planned: list[Planned],
    now: datetime,
    teams: Mapping[str, TeamSpec],
) -> list[Outcome]:
    """`apply_steps`, with many steps of one team (and incident members) rolled up into one
    message per team, lead and claimer, written in the same transaction."""
    in_incident = incidents_store.incidents_of(db, mentions=[p.waiting.number for p in planned])
    rolled = to_roll_up(planned, in_incident=in_incident)
    # A rolled-up step sends nothing of its own: not even a card redraw per mention.
    stripped = [replace(p, effects=()) if i in rolled else p for i, p in enumerate(planned)]
    outcomes = apply_steps(db, planned=stripped, now=now)
    taken = [p for i, (p, o) in enumerate(zip(planned, outcomes, strict=True))
             if i in rolled and o == Outcome.DONE]  # fmt: skip
    for effect in roll_up(taken, teams=teams, in_incident=in_incident, now=now):
        if effect.kind == outbox.Kind.SUMMARY_CARD:  # the team's one message, kept up to date
            incidents_store.queue_roll_up(db, target=effect.target, payload=effect.payload, now=now)
            continue
        outbox.enqueue(db, kind=effect.kind, target=effect.target, payload=effect.payload, now=now)
    return outcomes


def _find(db: Conn, *, queries: list[Query]) -> list[tuple[Step, Waiting]]:
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
        names = (
            await self.database.read(lead_names, teams=playbooks.teams.values()) if found else {}
        )
        policies = {tid: policy_of(team, playbooks) for tid, team in playbooks.teams.items()}
        planned = []
        for step, waiting in found:
            team = playbooks.teams.get(waiting.team)
            policy = policies.get(waiting.team, Policy())
            due = plan_step(step, waiting, policy, now)
            if due is None:
                continue
            item = compose(
                due, waiting, team=team, policy=policy, playbooks=playbooks, now=now, names=names
            )
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
        if connector is None:
            return item
        left = connector.limits.remaining(item.reply)
        oversize = connector.limits.too_big(item.reply)
        platform = connector.platform_name()
        if oversize is not None:
            why = f"it is {oversize} on {platform}"
        elif left is not None and left < 0:
            why = f"it is {-left} characters longer than {platform} allows"
        else:
            return item
        log.warning(
            "holding reply for #%d not sent: %s",
            item.waiting.number,
            why,
            extra={"mention": item.waiting.number, "team": item.waiting.team},
        )
        text = f"The holding reply was not sent: {why}. Shorten the template."
        return replace(
            item, reply=None, effects=(thread_note(text),), detail={"skipped": "too long"}
        )

    async def act(self, planned: list[Planned], now: datetime) -> SweepReport:
        """Write planned steps; those another sweep took first, or that changed, are skipped."""
        report = SweepReport(found=len(planned))
        playbooks = self.playbooks()
        for start in range(0, len(planned), self.chunk):
            chunk = planned[start : start + self.chunk]
            outcomes = await self.database.write(
                apply_rolled,
                planned=chunk,
                now=now,
                teams=playbooks.teams,
            )
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
