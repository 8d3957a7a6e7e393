"""Whether a checked reply is sent, held for a lead, or refused, by the team's approval
rules (hold rules, audience size, a responder's first replies). Pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.guardrails import Finding, Rule, Verdict


@dataclass(frozen=True, slots=True)
class ApprovalRules:
    """When a lead must approve: hold rules, audience size, a responder's first replies."""

    on_hold: bool = True
    audience_over: int | None = None
    first_replies: int = 0


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to a reply: refused (with why), held for `approvers`, or sent."""

    refused: tuple[Finding, ...] = ()
    held: tuple[Finding, ...] = ()
    approvers: tuple[str, ...] = ()
    notes: tuple[Finding, ...] = ()  # holds that would apply once the refusals are fixed

    @property
    def outcome(self) -> str:
        """`refuse`, `hold` or `send`."""
        if self.refused:
            return "refuse"
        return "hold" if self.held else "send"


def same_person(a: str, b: str) -> bool:
    """Whether two handles name the same person (`@Dana` and `dana`)."""
    return a.strip().removeprefix("@").casefold() == b.strip().removeprefix("@").casefold()


def decide(
    verdict: Verdict,
    rules: ApprovalRules,
    *,
    responder: str,
    leads: Sequence[str],
    team: str,
    audience: int | None,
    author: str,
    earlier_replies: int,
) -> Decision:
    """Send, hold or refuse a checked reply, by the team's approval rules.

    A lead's own replies skip the audience and coaching holds (a lead is the second pair
    of eyes), but a hostile one still waits for another lead. A hold nobody can approve
    (no other lead) refuses the reply instead, so nothing waits for ever.
    """
    is_lead = any(same_person(responder, lead) for lead in leads)
    approvers = tuple(lead for lead in leads if not same_person(responder, lead))
    refused = list(verdict.refusals)
    held: list[Finding] = []
    for finding in verdict.holds:
        if rules.on_hold:
            held.append(finding)
        else:
            refused.append(Finding(finding.rule, _without_lead(finding.message)))
    if not is_lead:
        if rules.audience_over is not None and (audience or 0) > rules.audience_over:
            held.append(
                Finding(
                    Rule.AUDIENCE,
                    f"@{author} has {audience:,} followers, more than the"
                    f" {rules.audience_over:,} above which a lead approves replies",
                    hold=True,
                )
            )
        if earlier_replies < rules.first_replies:
            held.append(
                Finding(
                    Rule.FIRST_REPLIES,
                    "a lead reads each person's first reply before it goes out (coaching)"
                    if rules.first_replies == 1
                    else f"a lead reads each person's first {rules.first_replies} replies before"
                    f" they go out (coaching); this is reply {earlier_replies + 1} of them",
                    hold=True,
                )
            )
    if held and not approvers:
        who = "no other lead" if is_lead else "no lead"
        for finding in held:
            fix = (
                _without_lead(finding.message)
                if finding.rule == Rule.TONE
                else f"{finding.message}, and team {team} has {who} to approve it;"
                f" ask an admin to add one (teams.{team}.leads)"
            )
            refused.append(Finding(finding.rule, fix))
        held = []
    if refused:
        return Decision(refused=tuple(refused), notes=tuple(held))
    return Decision(held=tuple(held), approvers=approvers if held else ())


def _without_lead(message: str) -> str:
    head = message.split(" A lead checks it first", 1)[0]
    return f"{head} Rephrase it calmly."
