"""Urgency from severity, the complaint score, repeat contact and (opt-in) audience. Pure.

Severity is what is at stake, named by cue phrases per class (safety, health, legal,
data breach, outage, money lost); the playbook's `triage.severity` replaces a class's
shipped cues or adds classes. Urgency adds up evidence:

    severity cue                   2 (safety, health, legal, data breach), else 1.5
    complaint score >= 0.9         0.5 (a clear complaint)
    VADER compound <= -0.6         1   (strongly negative)
    repeat contact                 1   (the author's earlier mention is still unanswered)
    audience                       audience_weight x log10(followers / 1,000), at most 2

    complaints: under 1 normal, 1 or more high, 2.5 or more critical when a severity cue
    is there (the cue and one more sign; a loud complaint about nothing at stake is high,
    never critical);
    questions: high with a severity cue or 2 points, else normal; praise: low;
    other: low, normal with a severity cue.

One word never makes a post critical: a cue class names harm, not "everyone".
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from bot.domain.cue_patterns import cues

LEVELS = ("low", "normal", "high", "critical")
SCANNED = 1000  # characters read for severity cues; a post says what is at stake early
_SHIPPED = {
    "safety": """fire, smoke, caught fire, exploded, explosion, overheating, overheated,
        burning smell, sparks, electric shock, gas leak, carbon monoxide, unsafe, dangerous,
        injured, injury, crashed into, accident, stranded, collapsed""",
    "health": """allergic, allergy, anaphylaxis, food poisoning, poisoning, vomiting, hospital,
        ambulance, medication, medicine, insulin, wheelchair, pregnant, mould, mold""",
    "legal": """lawyer, solicitor, attorney, sue, suing, lawsuit, legal action, small claims,
        ombudsman, regulator, trading standards, ofcom, ofgem, fca, ftc, bbb, gdpr,
        discrimination, discriminated""",
    "data breach": """data breach, breach, leaked, leak, hacked, compromised, stolen,
        identity theft, phishing, someone else's account, someone else's data,
        personal data, unauthorised, unauthorized""",
    "outage": """outage, is down, are down, all down, site down, service down, nobody can,
        no one can, not loading for anyone""",
    "money lost": """charged twice, double charged, overcharged, lost money, money taken,
        took my money, fraud, fraudulent, scam, chargeback, lost my, lost our, lost luggage,
        lost bag, lost parcel, never arrived""",
}
# Harm to people or their data weighs more than lost money or a service down.
SERIOUS = frozenset({"safety", "health", "legal", "data breach"})
SEVERITY: dict[str, tuple[str, ...]] = {
    name: tuple(p.strip() for p in phrases.split(",") if p.strip())
    for name, phrases in _SHIPPED.items()
}


def _key(phrase: str) -> str:
    return " ".join(phrase.replace("\u2019", "'").lower().split())


@dataclass(frozen=True, slots=True)
class UrgencyRules:
    """The severity cues and the audience weight, as the playbook sets them."""

    severity: Mapping[str, Sequence[str]] = field(default_factory=lambda: dict(SEVERITY))
    audience_weight: float = 0.0
    _pattern: re.Pattern[str] | None = field(init=False, repr=False)
    _owner: dict[str, str] = field(init=False, repr=False)  # phrase -> its class
    _rank: dict[str, int] = field(init=False, repr=False)  # class -> its place

    def __post_init__(self) -> None:
        owner: dict[str, str] = {}
        for name, phrases in self.severity.items():
            for phrase in phrases:
                owner.setdefault(_key(phrase), name)
        object.__setattr__(self, "_owner", owner)
        object.__setattr__(self, "_rank", {name: i for i, name in enumerate(self.severity)})
        # One trie for every phrase: a post is read once whatever the number of classes.
        object.__setattr__(self, "_pattern", cues(*owner) if any(owner) else None)

    def severity_of(self, text: str) -> str:
        """The first severity class (in the playbook's order) whose cue the post names, or ''."""
        if self._pattern is None:
            return ""
        plain = text[:SCANNED].replace("\u2019", "'")
        found = {self._owner[_key(m.group(0))] for m in self._pattern.finditer(plain)}
        return min(found, key=self._rank.__getitem__) if found else ""


def with_overrides(overrides: Mapping[str, Sequence[str]], audience_weight: float) -> UrgencyRules:
    """The shipped severity classes with the playbook's classes replacing or added."""
    return UrgencyRules({**SEVERITY, **overrides}, audience_weight)


def urgency(
    *,
    kind: str,
    severity: str,
    score: float | None,
    compound: float,
    audience: int | None = None,
    audience_weight: float = 0.0,
    repeat: bool = False,
) -> str:
    """low, normal, high or critical (see the module docstring for the scale)."""
    points = (2.0 if severity in SERIOUS else 1.5) if severity else 0.0
    points += 0.5 if score is not None and score >= 0.9 else 0.0
    points += compound <= -0.6
    points += repeat
    if audience_weight and audience and audience > 1000:
        points += min(2.0, audience_weight * math.log10(audience / 1000))
    if kind == "praise":
        return "low"
    if kind == "complaint":
        if points >= 2.5 and severity:
            return "critical"
        return "high" if points >= 1 else "normal"
    if kind == "question":
        return "high" if severity or points >= 2 else "normal"
    return "normal" if severity else "low"
