"""The topic features of a post: its words, stemmed and without filler, and its links. Pure.

What incident grouping (`bot.domain.incidents`) compares posts and clusters by.
"""

from __future__ import annotations

import re

_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")
# An account named in a post (`@lumo`, `@ann@social.example`, `u/name`) is who it is
# addressed to, not what it is about: every post to the brand names the brand.
_HANDLE = re.compile(r"(?<![\w/])(?:@[\w.-]+(?:@[\w.-]+)?|u/[\w-]+)", re.IGNORECASE)
LINK_WEIGHT = 3.0  # the same link says more than one shared word

STOPWORDS = frozenset(
    """a about above after again against all also am an and any anyone anybody are aren as at
    be because been before being below between both but by can cannot could couldn did didn do
    does doesn doing don down during each else even ever every few for from further get gets
    getting got had hadn has hasn have haven having he her here hers herself him himself his
    how however i if in into is isn it its itself just let lol me more most much must my
    myself no nor not now of off ok okay on once only or other our ours ourselves out over
    own please pls same she should shouldn so some such than that the their theirs them
    themselves then there these they this those through to too under until up very via was
    wasn we were weren what when where which while who whom why will with won would wouldn
    you your yours yourself yourselves hi hey hello thanks thank guys folks anyone someone
    something still really today again already yet since ago im ive its youre dont cant
    wont isnt doesnt didnt u ur r y yes yeah yep hm hmm omg wtf lmao rt via amp""".split()  # noqa: SIM905
)


def _stem(word: str) -> str:
    """A light, deterministic English stem: plurals and common endings folded."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 5 and word.endswith("ing"):
        return word[:-3]
    if len(word) > 4 and word.endswith("ed") and not word.endswith("eed"):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _link(url: str) -> str:
    bare = re.sub(r"^https?://(www\.)?", "", url.lower()).split("#")[0].split("?")[0]
    return "link:" + bare.rstrip("/.,;:!)")


def features(text: str, url: str = "") -> dict[str, str]:
    """The topic features of a post: stem -> the first surface form seen; links as `link:...`."""
    found: dict[str, str] = {}
    for link in _URL.findall(text):
        key = _link(link)
        found.setdefault(key, key[5:])
    words = _HANDLE.sub(" ", _URL.sub(" ", text)).lower().replace("’", "'")
    for match in _WORD.finditer(words):
        word = match.group().replace("'", "")
        if len(word) < 2 or word in STOPWORDS or word.isdigit():
            continue
        found.setdefault(_stem(word), word)
    return found


def weight_of(token: str) -> float:
    """How much a feature counts: a link more than a word."""
    return LINK_WEIGHT if token.startswith("link:") else 1.0
