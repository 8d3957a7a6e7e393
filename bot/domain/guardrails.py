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
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache
from typing import Any

import phonenumbers
import regex
import tldextract
from stdnum import iban, luhn

from bot.domain.triage import SentimentAnalyzer

REGEX_TIMEOUT = 0.05  # seconds an admin's account pattern may run on one reply
DEFAULT_PHONE_REGIONS = ("US", "GB")
# Reserved for documentation and tests (RFC 2606, 6761): links there are links too.
_RESERVED_TLDS = ("example", "test", "invalid", "localhost")


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


# --- Folding: the text as the checks read it ------------------------------------------

# Invisible letters that are not format characters (category Cf) but show as nothing.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")
_DOTS = {"\u3002": ".", "\uff61": ".", "\u00b7": ".", "\u2022": ".", "\u2219": "."}
_AT_LIKE = {"\ufe6b": "@", "\uff20": "@"}


@cache
def _confusable_table() -> dict[int, str]:
    """Non-ASCII characters that look like one ASCII character, from Unicode's confusables."""
    from confusable_homoglyphs.confusables import confusables_data

    table: dict[int, str] = {}
    for char, glyphs in confusables_data.items():
        if len(char) != 1 or char.isascii():
            continue
        for glyph in glyphs:
            look = glyph["c"]
            if len(look) == 1 and look.isascii() and (look.isalnum() or look in "@.-_/:"):
                table[ord(char)] = look
                break
    return table


def _fold_char(char: str, table: dict[int, str]) -> str:
    if char.isascii():
        return char
    if char in _INVISIBLE_LETTERS:
        return ""
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Cf"):  # accents, combining marks, zero-width and bidi marks
        return ""
    digit = unicodedata.decimal(char, None)
    if digit is not None:
        return str(digit)
    if category == "Pd" or char == "\u2212":
        return "-"
    if category in ("Zs", "Zl", "Zp"):
        return " "
    if char in _DOTS:
        return _DOTS[char]
    if char in _AT_LIKE:
        return _AT_LIKE[char]
    return table.get(ord(char), char)


def fold(text: str) -> str:
    """The text with look-alikes made plain ASCII where they can be, invisible marks dropped.

    Compatibility forms are unfolded (fullwidth, mathematical letters, ligatures), accents
    dropped, digits of any script made 0-9, dashes made `-`, and letters that look like
    an ASCII letter (Cyrillic а, Greek ο, dotless ı) replaced by it. Case is kept.
    """
    table = _confusable_table()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(_fold_char(c, table) for c in decomposed)


_NUMBER_WORDS = {
    "zero": "0",
    "one": "1",
    "two": "2",
    "three": "3",
    "four": "4",
    "five": "5",
    "six": "6",
    "seven": "7",
    "eight": "8",
    "nine": "9",
}
# Five or more number words in a row is a number spelled out, not a sentence.
_SPELLED_NUMBER = re.compile(
    rf"\b(?:{'|'.join(_NUMBER_WORDS)})(?:[\s,-]+(?:{'|'.join(_NUMBER_WORDS)})){{4,}}\b",
    re.IGNORECASE,
)
_DIGIT_GAP = re.compile(r"(?<=\d)[\s.\-_/]{1,3}(?=\d)")
_SPACED_DIGITS = re.compile(r"(?<!\d)\d(?:[\s.\-_/]{1,3}\d){5,}(?!\d)")


def _words_to_digits(text: str) -> str:
    return _SPELLED_NUMBER.sub(
        lambda m: " ".join(_NUMBER_WORDS[w.lower()] for w in re.findall(r"[a-zA-Z]+", m[0])),
        text,
    )


def _join_spaced_digits(text: str) -> str:
    """`0 2 0 7 9 4 6` -> `0207946`: digits typed one by one with gaps are one number."""
    return _SPACED_DIGITS.sub(lambda m: re.sub(r"\D", "", m[0]), text)


def squeeze_digits(text: str) -> str:
    """Digits with spaces, dots, dashes or slashes between them written as one run."""
    return _DIGIT_GAP.sub("", text)


# --- Private data ----------------------------------------------------------------------

# Bounded everywhere, so that no text makes the search slow: addresses are short.
_ATOM = r"[a-z0-9!#$%&'*+=?^_`{|}~-]{1,64}"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AT = r"(?P<at>\s{0,3}@\s{0,3}|\s{0,3}[(\[{<]\s{0,3}at\s{0,3}[)\]}>]\s{0,3}|\s{1,3}at\s{1,3})"
# A real dot has no spaces around it ("to show. More at ..." is two sentences).
_DOT = r"(?:\.|\s{0,3}[(\[{<]\s{0,3}dot\s{0,3}[)\]}>]\s{0,3}|\s{1,3}dot\s{1,3})"
_EMAIL = regex.compile(
    rf"(?<![a-z0-9._%+-])(?P<local>{_ATOM}(?:{_DOT}{_ATOM}){{0,8}}){_AT}"
    rf"(?P<domain>{_LABEL}(?:{_DOT}{_LABEL}){{1,8}})",
    regex.IGNORECASE,
)
_DOT_FORM = re.compile(r"\s*[(\[{<]\s*dot\s*[)\]}>]\s*|\s+dot\s+|\.", re.IGNORECASE)
_MAILBOX_SIGNS = re.compile(r"[._+\-0-9]")


@cache
def _suffixes() -> tldextract.TLDExtract:
    # The public suffix list shipped with tldextract; never fetched.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), extra_suffixes=_RESERVED_TLDS)


def is_domain(host: str) -> bool:
    """Whether `host` ends in a public suffix (or a reserved one such as `.example`)."""
    labels = host.lower().strip(".").split(".")
    if len(labels) < 2 or not all(labels):
        return False
    result = _suffixes()(host.lower())
    return bool(result.suffix) and bool(result.domain)


def _emails(text: str) -> list[tuple[str, tuple[int, int]]]:
    """E-mail addresses in folded text, written plainly or disguised, with where they are."""
    found: list[tuple[str, tuple[int, int]]] = []
    # Overlapped: "me at jo.smith@mail.com" first tries `me at jo.smith`, which fails.
    for match in _EMAIL.finditer(text, overlapped=True):
        labels = [part for part in _DOT_FORM.split(match["domain"]) if part]
        # The domain may have run into the next sentence ("at lumo.example. Thanks"):
        # drop labels from the end until it is a real domain.
        while len(labels) >= 2 and not is_domain(".".join(labels)):
            labels.pop()
        if len(labels) < 2:
            continue
        local = ".".join(part for part in _DOT_FORM.split(match["local"]) if part)
        bare_at = match["at"].strip().lower() == "at"
        dots_spelled = bool(re.search(r"dot", match["domain"], re.IGNORECASE))
        # "find us at lumo.example" is a sentence; "jo.smith at mail.com" is an address.
        if bare_at and not dots_spelled and not _MAILBOX_SIGNS.search(local):
            continue
        start, end = match.span()
        if any(start < seen_end and seen_start < end for _, (seen_start, seen_end) in found):
            continue  # "smith at mail dot com" inside "jo dot smith at mail dot com"
        found.append((f"{local}@{'.'.join(labels)}".lower(), (start, end)))
    return found


def _phones(variants: Sequence[str], regions: Sequence[str]) -> list[str]:
    found: dict[str, str] = {}
    for text in dict.fromkeys(variants):  # the same text once
        for region in regions or ("ZZ",):
            for match in phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.VALID
            ):
                key = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
                found.setdefault(key, match.raw_string)
    return list(found.values())


_DIGIT_RUN = re.compile(r"\d(?:[ \-.]{0,2}\d)*")
_CARD_FIRST_DIGITS = "23456"  # Mastercard 2-series, Amex/Diners/JCB, Visa, Mastercard, Discover


def _cards(text: str) -> list[str]:
    found = []
    for run in _DIGIT_RUN.finditer(text):
        groups = re.split(r"[ \-.]{1,2}", run[0])
        for start in range(len(groups)):
            digits = ""
            for group in groups[start:]:
                digits += group
                if len(digits) > 19:
                    break
                if (
                    len(digits) >= 13
                    and digits[0] in _CARD_FIRST_DIGITS
                    and luhn.is_valid(digits)
                    and digits not in found
                ):
                    found.append(digits)
    return found


_IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{1,4}){3,8}")


def _ibans(text: str) -> list[str]:
    found = []
    for match in _IBAN.finditer(text.upper()):
        parts = match[0].split(" ")
        while parts:
            candidate = "".join(parts)
            if len(candidate) >= 15 and iban.is_valid(candidate):
                found.append(candidate)
                break
            parts.pop()
    return found


def _accounts(variants: Sequence[str], patterns: Sequence[str]) -> tuple[list[str], list[int]]:
    """Matches of the playbook's account patterns, and the patterns that ran out of time."""
    found: list[str] = []
    slow: list[int] = []
    for index, pattern in enumerate(patterns):
        compiled = regex.compile(pattern, regex.IGNORECASE)
        for text in variants:
            try:
                match = compiled.search(text, timeout=REGEX_TIMEOUT)
            except TimeoutError:
                slow.append(index)
                break
            if match and match[0].strip():
                found.append(match[0].strip())
                break
    return found, slow


def mask(value: str) -> str:
    """Enough of a private value to recognise it, not enough to leak it: `jo…om`."""
    value = value.strip()
    if len(value) <= 6:
        return value[0] + "…" if value else "…"
    return f"{value[:2]}…{value[-2:]}"


def _mask_email(address: str) -> str:
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


def _listed(values: Iterable[str]) -> str:
    return ", ".join(mask(v) for v in values)


_MOVE = "remove it and ask the customer to write to us privately"


def _private_findings(folded: str, emails: list[str], policy: Policy) -> list[Finding]:
    findings = []
    numbers = _words_to_digits(folded)
    variants = [numbers, _join_spaced_digits(numbers)]
    squeezed = squeeze_digits(numbers)
    if policy.private_data:
        if emails:
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA,
                    f"an e-mail address ({', '.join(_mask_email(e) for e in emails)}); {_MOVE}",
                )
            )
        if cards := _cards(numbers):
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA,
                    f"a payment card number (ending {', '.join(c[-4:] for c in cards)});"
                    f" {_MOVE}, and never to send us the card number",
                )
            )
        card_digits = set(cards)
        phones = [
            p
            for p in _phones(variants, policy.phone_regions)
            if re.sub(r"\D", "", p) not in card_digits
        ]
        if phones:
            findings.append(
                Finding(Rule.PRIVATE_DATA, f"a phone number ({_listed(phones)}); {_MOVE}")
            )
        if ibans := _ibans(squeeze_digits(folded)):
            findings.append(
                Finding(Rule.PRIVATE_DATA, f"a bank account number ({_listed(ibans)}); {_MOVE}")
            )
    if policy.account_patterns:
        accounts, slow = _accounts([*variants, squeezed], policy.account_patterns)
        if accounts:
            findings.append(
                Finding(
                    Rule.PRIVATE_DATA,
                    f"an order or account number ({_listed(accounts)}); {_MOVE}",
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
    "whatever",
)
HOSTILE_COMPOUND = -0.5  # VADER compound at or below which a sentence aimed at "you" is hostile
_SECOND_PERSON = re.compile(r"\b(?:you|your|yours|yourself|yourselves|u|ur|ya)\b", re.I)
_EMPATHY = re.compile(r"\b(?:sorry|apolog\w*|regret\w*|unfortunately|understand\w*)\b", re.I)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CAPS_WORDS = re.compile(r"\b[A-Z]{2,}(?:[\s,.!?]+[A-Z]{2,}\b){2,}")


def _shouting(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    if len(letters) >= 20 and sum(c.isupper() for c in letters) / len(letters) >= 0.7:
        return True
    return _CAPS_WORDS.search(text) is not None


def _tone_findings(
    folded: str, analyzer: SentimentAnalyzer | None, *, already: Sequence[str] = ()
) -> list[Finding]:
    hold = " A lead checks it first; to send it without waiting, rephrase it calmly."
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
        compound = float(analyzer.polarity_scores(sentence[:1000])["compound"])
        if compound <= HOSTILE_COMPOUND:
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

_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")


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
    if _BIDI.search(text):
        findings.append(
            Finding(
                Rule.HIDDEN_TEXT,
                "the reply has characters that reverse or reorder text (bidi controls);"
                " retype it without them",
            )
        )
    addresses = _emails(folded)
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
    notes: tuple[Finding, ...] = field(default_factory=tuple)

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
                    f"this is your reply {earlier_replies + 1} of the first"
                    f" {rules.first_replies} that a lead reads before they go out (coaching)",
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
