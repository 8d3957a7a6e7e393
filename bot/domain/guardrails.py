"""Guardrails: what a public reply must not say, and when a lead must see it first. Pure.

`check_reply` reads a reply the way a careful lead would and returns a `Verdict`: one
`Finding` per problem, each a single line that names the rule and says how to fix the
text. A finding either refuses the reply (private data, banned phrases, a missing
sign-off, a link to a foreign domain, hidden text, too long) or holds it for a lead
(a hostile tone). `decide` then adds the playbook's approval rules (audience size, a
responder's first replies) and says: send, hold for these leads, or refuse.

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
from functools import cache
from typing import Any

from bot.domain import private_data as private
from bot.domain.lookalikes import fold, join_spaced_digits, squeeze_digits, words_to_digits
from bot.domain.private_data import is_domain
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


# --- Phrases, sign-off, links ----------------------------------------------------------

# Characters a word may be written with instead of each letter ("y0ur f@ult").
_LEET = {
    "a": "a4@",
    "b": "b8",
    "e": "e3",
    "g": "g9",
    "i": "i1!l|",
    "l": "l1|i",
    "o": "o0",
    "s": "s5$",
    "t": "t7+",
    "z": "z2",
}


@cache
def phrase_pattern(phrase: str) -> re.Pattern[str] | None:
    """A pattern for a phrase in any case, spacing or punctuation, and in simple leetspeak."""
    words = re.findall(r"[a-z0-9']+", fold(phrase).lower())
    if not words:
        return None
    parts = []
    for word in words:
        letters = []
        for char in word.replace("'", ""):
            chars = _LEET.get(char, char)
            letters.append(f"[{re.escape(chars)}]")
        # Letters may be split by dots, dashes or spaces inside one word: "c.a.l.m".
        parts.append(r"[\W_]{0,2}".join(letters))
    body = r"[\W_]+".join(parts)
    return re.compile(rf"(?<![a-z0-9]){body}(?![a-z0-9])", re.IGNORECASE)


def _phrase_hits(text: str, phrases: Iterable[str]) -> list[str]:
    hits = []
    for phrase in phrases:
        pattern = phrase_pattern(phrase)
        if pattern is not None and pattern.search(text):
            hits.append(phrase)
    return hits


_URL = re.compile(
    r"(?<![\w@.\-])(?:(?:https?|ftp)://)?(?:www\.)?"
    r"(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{1,62}"
    r"|\d{1,3}(?:\.\d{1,3}){3}(?=[:/]))(?::\d{1,5})?(?:/[^\s]*)?",
    re.IGNORECASE,
)
_LINK_DOTS = re.compile(r"\s*[(\[{<]\s*dot\s*[)\]}>]\s*", re.IGNORECASE)


def links(text: str) -> list[str]:
    """The hosts of the links in folded text: full URLs and bare domains a platform would link."""
    hosts = []
    for match in _URL.finditer(_LINK_DOTS.sub(".", text)):
        host = match["host"].lower()
        is_ip = host.replace(".", "").isdigit()
        if is_ip or is_domain(host):
            hosts.append(host)
    return hosts


def _allowed_host(host: str, domains: Iterable[str]) -> bool:
    for domain in domains:
        domain = domain.lower().strip().strip(".")
        if domain.startswith("www."):
            domain = domain[4:]
        if host == domain or host.endswith("." + domain):
            return True
    return False


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
    if hits := [h for h in _phrase_hits(folded, HOSTILE_PHRASES) if h not in banned]:
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
    if hits := _phrase_hits(folded, policy.banned_phrases):
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
        foreign = [h for h in links(linked) if not _allowed_host(h, policy.link_domains)]
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


# --- Approval --------------------------------------------------------------------------


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
