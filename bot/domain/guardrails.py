"""Guardrails: what a public reply must not say, and when a lead must see it first. Pure.

`check_reply` reads a reply the way a careful lead would and returns a `Verdict`: one
`Finding` per problem, each a single line that names the rule and says how to fix the
text. A finding either refuses the reply (private data, banned phrases, a missing
sign-off, a link to a foreign domain, hidden text, too long) or holds it for a lead
(a hostile tone). `decide` (`bot.domain.approval_rules`) then adds the playbook's approval
rules (audience size, a responder's first replies) and says: send, hold for these leads, or
refuse. Phrases and links are found by `bot.domain.phrases`.

Every check reads the text after `fold`, so that disguises do not slip through:
look-alike letters from other scripts (Cyrillic а for Latin a), fullwidth and other
digits, accents, zero-width and other invisible characters, "at"/"dot" spelled out in an
address, digits spaced out or written as words.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.domain import private_data as private
from bot.domain.lookalikes import fold, join_spaced_digits, squeeze_digits, words_to_digits
from bot.domain.phrases import allowed_host, links, phrase_hits
from bot.domain.triage import SentimentAnalyzer

DEFAULT_PHONE_REGIONS = ("US", "GB")


class Rule(StrEnum):
    """The rule a finding is about; the values are what people and tests read."""

    EMPTY = "empty"
    LENGTH = "length"
    HIDDEN_TEXT = "hidden_text"
    PRIVATE_DATA = "private_data"
    BANNED_PHRASE = "banned_phrase"
    SIGN_OFF = "sign_off"
    LINK_DOMAIN = "link_domain"
    TONE = "tone"
    AUDIENCE = "audience"
    FIRST_REPLIES = "first_replies"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem with a reply: the rule, and one line saying what is wrong and what to do.

    `hold` findings may go out once a lead approves; the others are refused outright.
    """

    rule: Rule
    message: str
    hold: bool = False

    def line(self) -> str:
        """The finding as one line: `rule: message`."""
        return f"{self.rule.value}: {self.message}"


@dataclass(frozen=True, slots=True)
class Policy:
    """The text rules for one team's replies on one platform (from the playbook and connector)."""

    private_data: bool = True
    account_patterns: tuple[str, ...] = ()
    banned_phrases: tuple[str, ...] = ()
    sign_off: str | None = None
    link_domains: tuple[str, ...] | None = None
    tone_check: bool = True
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS
    max_length: int | None = None
    count: Callable[[str], int] = len
    # A second limit some platforms set: why the text as posted is too big, or None.
    too_big: Callable[[str], str | None] = lambda text: None
    platform: str = "the platform"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the text checks found; no findings means the text may go out as it is."""

    findings: tuple[Finding, ...] = ()

    @property
    def refusals(self) -> tuple[Finding, ...]:
        """Findings that stop the reply."""
        return tuple(f for f in self.findings if not f.hold)

    @property
    def holds(self) -> tuple[Finding, ...]:
        """Findings a lead may let through."""
        return tuple(f for f in self.findings if f.hold)

    @property
    def private_data(self) -> bool:
        """Whether the reply was refused for private data (so a private-message text helps)."""
        return any(f.rule == Rule.PRIVATE_DATA for f in self.findings)


_MOVE = "remove it and ask the customer to write to us privately"


def _private_findings(folded: str, emails: list[str], policy: Policy) -> list[Finding]:
    findings = []
    numbers = words_to_digits(folded)
    variants = [numbers, join_spaced_digits(numbers)]
    if policy.private_data:
        if emails:
            shown = ", ".join(private.mask_email(e) for e in emails)
            findings.append(Finding(Rule.PRIVATE_DATA, f"an e-mail address ({shown}); {_MOVE}"))
        cards = private.cards(numbers)
        if cards:
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA,
                    f"a payment card number (ending {', '.join(c[-4:] for c in cards)});"
                    f" {_MOVE}, and never to send us the card number",
                )
            )
        phones = [
            p
            for p in private.phones(variants, policy.phone_regions)
            if re.sub(r"\D", "", p) not in cards
        ]
        if phones:
            findings.append(
                Finding(Rule.PRIVATE_DATA, f"a phone number ({private.listed(phones)}); {_MOVE}")
            )
        if ibans := private.ibans(squeeze_digits(folded)):
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA, f"a bank account number ({private.listed(ibans)}); {_MOVE}"
                )
            )
    if policy.account_patterns:
        accounts, slow = private.account_numbers(
            [*variants, squeeze_digits(numbers)], policy.account_patterns
        )
        if accounts:
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA,
                    f"an order or account number ({private.listed(accounts)}); {_MOVE}",
                )
            )
        for index in slow:
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA,
                    f"account_patterns[{index}] took too long on this reply, so it could not"
                    " be checked; shorten the reply, or ask an admin to simplify the pattern",
                )
            )
    return findings


# --- Tone ------------------------------------------------------------------------------

# Dismissive or insulting phrasings a responder might type in a hurry. A reply with one
# of them waits for a lead; the playbook's banned_phrases refuse instead.
HOSTILE_PHRASES = (
    "calm down",
    "not our problem",
    "not my problem",
    "your fault",
    "your own fault",
    "shut up",
    "go away",
    "learn to read",
    "read the manual",
    "rtfm",
    "figure it out yourself",
    "stop whining",
    "stop complaining",
    "nobody cares",
    "no one cares",
    "who cares",
    "deal with it",
    "get over it",
    "as i already said",
    "like i said",
    "idiot",
    "idiots",
    "moron",
    "stupid",
    "dumb",
    "pathetic",
    "clueless",
)
# A sentence aimed at "you" is hostile when VADER reads it as clearly negative and mostly
# made of negative words: compound alone also flags "the new Star Wars ice cream".
HOSTILE_COMPOUND = -0.4
HOSTILE_NEGATIVE_SHARE = 0.4
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves|u|ur|ya)\b", re.I)
_EMPATHY = re.compile(r"\b(?:sorry|apolog\w*|regret\w*|unfortunately|understand\w*)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CAPS_WORDS = re.compile(r"\b[A-Z]{2,}(?:[\s,.!?]+[A-Z]{2,}\b){2,}")
# Handles, hashtags and links are names, not tone: "@SEPTA_SOCIAL" is not shouting.
_NAMES = re.compile(r"[@#][\w.@-]+|(?:https?://|www\.)\S+", re.IGNORECASE)


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) >= 0.7:
        return True
    return _CAPS_WORDS.search(text) is not None


def _tone_findings(
    folded: str, analyzer: SentimentAnalyzer | None, *, already: Sequence[str] = ()
) -> list[Finding]:
    hold = " A lead checks it first; to send it without waiting, rephrase it calmly."
    folded = _NAMES.sub(" ", folded)
    banned = {" ".join(fold(p).casefold().split()) for p in already}
    if hits := [h for h in phrase_hits(folded, HOSTILE_PHRASES) if h not in banned]:
        quoted = ", ".join(f'"{h}"' for h in hits[:3])
        return [Finding(Rule.TONE, f"reads as dismissive or rude ({quoted}).{hold}", hold=True)]
    if _shouting(folded):
        return [Finding(Rule.TONE, f"reads as shouting (mostly capital letters).{hold}", True)]
    if analyzer is None:
        return []
    for sentence in _SENTENCE.split(folded):
        if not _SECOND_PERSON.search(sentence) or _EMPATHY.search(sentence):
            continue
        scores = analyzer.polarity_scores(sentence[:1000])
        if scores["compound"] <= HOSTILE_COMPOUND and scores["neg"] >= HOSTILE_NEGATIVE_SHARE:
            quote = " ".join(sentence.split())[:60]
            return [
                Finding(
                    Rule.TONE,
                    f'reads as hostile towards the customer ("{quote}").{hold}',
                    hold=True,
                )
            ]
    return []


# --- The check -------------------------------------------------------------------------

# Text-reordering (bidi) controls and control characters: what they do on a platform is
# not what the writer saw. Zero-width joiners stay allowed: emoji sequences need them.
_HIDDEN = re.compile("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f]")


def check_reply(text: str, policy: Policy, *, analyzer: SentimentAnalyzer | None = None) -> Verdict:
    """Every problem with a reply under `policy`, one finding per rule broken."""
    findings: list[Finding] = []
    folded = fold(text)
    if not re.search(r"[^\W_]", folded):
        findings.append(
            Finding(Rule.EMPTY, "the reply has no words in it; write what the customer should read")
        )
    if policy.max_length is not None:
        length = policy.count(text)
        if length > policy.max_length:
            findings.append(
                Finding(
                    Rule.LENGTH,
                    f"your reply is {length:,} characters; {policy.platform} allows"
                    f" {policy.max_length:,}. Shorten it by {length - policy.max_length:,}.",
                )
            )
    oversize = policy.too_big(text)
    if oversize is not None:
        findings.append(
            Finding(
                Rule.LENGTH,
                f"your reply is {oversize} on {policy.platform} (emoji and accented letters"
                " take several bytes each). Shorten it.",
            )
        )
    if _HIDDEN.search(text):
        findings.append(
            Finding(
                Rule.HIDDEN_TEXT,
                "the reply has invisible control characters or characters that reorder text;"
                " retype it without them",
            )
        )
    addresses = private.emails(folded)
    findings += _private_findings(folded, [a for a, _ in addresses], policy)
    if hits := phrase_hits(folded, policy.banned_phrases):
        quoted = ", ".join(f'"{h}"' for h in hits)
        findings.append(
            Finding(Rule.BANNED_PHRASE, f"{quoted} must never be said in public; rephrase it")
        )
    if policy.sign_off and not _contains_sign_off(folded, policy.sign_off):
        findings.append(
            Finding(
                Rule.SIGN_OFF, f'every reply ends with the sign-off "{policy.sign_off}"; add it'
            )
        )
    if policy.link_domains is not None:
        # An e-mail address is private data, not a link: its domain is not looked at here.
        linked = _blank(folded, [span for _, span in addresses])
        foreign = [h for h in links(linked) if not allowed_host(h, policy.link_domains)]
        if foreign:
            allowed = ", ".join(policy.link_domains) or "none"
            findings.append(
                Finding(
                    Rule.LINK_DOMAIN,
                    f"links to {', '.join(dict.fromkeys(foreign))} are not allowed (allowed:"
                    f" {allowed}); remove them or link to an allowed page",
                )
            )
    if policy.tone_check:
        findings += _tone_findings(folded, analyzer, already=policy.banned_phrases)
    return Verdict(tuple(findings))


def _blank(text: str, spans: Iterable[tuple[int, int]]) -> str:
    for start, end in spans:
        text = text[:start] + " " * (end - start) + text[end:]
    return text


def _contains_sign_off(folded: str, sign_off: str) -> bool:
    wanted = " ".join(fold(sign_off).casefold().split())
    return wanted in " ".join(folded.casefold().split())


# --- Templates -------------------------------------------------------------------------

PRIVATE_TEMPLATE = (
    "Hi @{author}, thanks for getting in touch. So that we can look into this safely,"
    " please send us a private message with the details, and we'll take it from there."
)


def fill_template(template: str, values: dict[str, Any]) -> str:
    """A playbook template with its placeholders filled; unknown ones are left empty."""

    class _Values(dict[str, Any]):
        def __missing__(self, key: str) -> str:
            return ""

    return template.format_map(_Values(values))
