"""Finding phrases and links in folded text (`bot.domain.lookalikes.fold`), however they are
spelled out: any case, spacing or punctuation, simple leetspeak, "dot" written for a dot. Pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache

from bot.domain.lookalikes import fold
from bot.domain.private_data import is_domain

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


def phrase_hits(text: str, phrases: Iterable[str]) -> list[str]:
    """The phrases found in folded text, each as written in the list."""
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


def allowed_host(host: str, domains: Iterable[str]) -> bool:
    """Whether a link's host is one of the domains or under one of them."""
    for domain in domains:
        domain = domain.lower().strip().strip(".")
        if domain.startswith("www."):
            domain = domain[4:]
        if host == domain or host.endswith("." + domain):
            return True
    return False
