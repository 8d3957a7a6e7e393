"""Routing by meaning: which team's description, examples and keywords a post is most like.

Each team is one document (its name, description, examples and keywords); a post and the
teams are compared as TF-IDF vectors of words and in-word letter sequences (so "charged",
"charges" and "overcharge" meet), by cosine similarity. Pure.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_WORD = re.compile(r"[^\W\d_]{2,}")
_STOPWORDS = """a about after again all also am an and any are as at be been but by can could
did do does for from get got had has have he her him his how i if in into is it its just me my
no not of on or our out so some than that the their them then there these they this to too up
us very was we were what when where which who why will with would you your hi hello please
thanks thank"""
_STOP = frozenset(_STOPWORDS.split())
SCANNED = 1000


def _terms(text: str) -> dict[str, float]:
    counts: dict[str, float] = {}
    for word in _WORD.findall(text[:SCANNED].lower()):
        if word in _STOP:
            continue
        counts[f"w {word}"] = counts.get(f"w {word}", 0.0) + 1.0
        padded = f" {word} "
        for size in (3, 4, 5):
            for i in range(len(padded) - size + 1):
                gram = f"c{padded[i : i + size]}"
                counts[gram] = counts.get(gram, 0.0) + 0.5
    return {term: 1.0 + math.log(count) if count >= 1 else count for term, count in counts.items()}


@dataclass(frozen=True, slots=True)
class TeamProfile:
    """What a team says it handles."""

    team: str
    name: str = ""
    description: str = ""
    examples: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()

    def document(self) -> str:
        """The team's words, one text."""
        return "\n".join([self.name, self.description, *self.examples, *self.keywords])


class TeamMatcher:
    """Cosine similarity of a post to each team's profile."""

    def __init__(self, profiles: Sequence[TeamProfile]):
        documents = {p.team: _terms(p.document()) for p in profiles}
        df: dict[str, int] = {}
        for terms in documents.values():
            for term in terms:
                df[term] = df.get(term, 0) + 1
        n = len(documents)
        self.idf = {term: math.log((1 + n) / (1 + count)) + 1 for term, count in df.items()}
        # A post's words no team uses still count in its length: a post that shares one
        # letter sequence with a team by chance is not like that team.
        self.unseen = math.log(1 + n) + 1
        self.vectors: dict[str, dict[str, float]] = {}
        for team, terms in documents.items():
            vector = {t: v * self.idf[t] for t, v in terms.items()}
            self.vectors[team] = _unit(vector)

    def scores(self, text: str) -> list[tuple[str, float]]:
        """(team, similarity 0-1), most similar first."""
        idf = self.idf
        unseen = self.unseen
        post = _unit({t: v * idf.get(t, unseen) for t, v in _terms(text).items()})
        ranked = [
            (team, sum(w * vector.get(t, 0.0) for t, w in post.items()))
            for team, vector in self.vectors.items()
        ]
        return sorted(ranked, key=lambda pair: -pair[1])


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


def shown(scores: Sequence[tuple[str, float]], *, top: int = 2) -> str:
    """`billing 0.41 · support 0.38`."""
    return " · ".join(f"{team} {value:.2f}" for team, value in scores[:top])
