"""Private data in folded text: e-mail addresses, phone numbers, cards, IBANs, account numbers.

Each finder takes text already passed through `bot.domain.lookalikes.fold` and returns
what it found; the guardrails turn that into refusals. Pure, apart from the libraries'
own bundled data (phone metadata, the public suffix list, Unicode confusables).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from functools import cache

import phonenumbers
import regex
import tldextract
from stdnum import iban, luhn

REGEX_TIMEOUT = 0.05  # seconds an admin's account pattern may run on one reply
# Reserved for documentation and tests (RFC 2606, 6761): links there are links too.
_RESERVED_TLDS = ("example", "test", "invalid", "localhost")

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


def emails(text: str) -> list[tuple[str, tuple[int, int]]]:
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


def phones(variants: Sequence[str], regions: Sequence[str]) -> list[str]:
    """Phone numbers in any of the texts: national ones for `regions`, any with a `+`."""
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


def cards(text: str) -> list[str]:
    """Payment card numbers: 13-19 digits in groups, a card network's first digit, Luhn-valid."""
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


def ibans(text: str) -> list[str]:
    """Bank account numbers (IBANs) with a valid check, spaced or not."""
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


def account_numbers(
    variants: Sequence[str], patterns: Sequence[str]
) -> tuple[list[str], list[int]]:
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


def mask_email(address: str) -> str:
    """An address shown as `j…@mail.example`."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}…@{domain}"


def listed(values: Iterable[str]) -> str:
    """Values masked and joined with commas."""
    return ", ".join(mask(v) for v in values)
