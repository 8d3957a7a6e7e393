"""Routing by meaning: which team's description, examples and keywords a post is most like.

Each team is one document (its name, description, examples and keywords); a post and the
teams are compared two ways, and the two cosines weighed together: by letters, as TF-IDF
vectors of words and in-word letter sequences (so "charged", "charges" and "overcharge"
meet, and product names, codes and misspellings count), and by meaning, as static
embeddings (bot/domain/meaning.py: "charged twice" is like "payments and refunds"). Pure:
the meaning model is handed in.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bot.domain.meaning import STOPWORDS as _STOP
from bot.domain.meaning import MeaningModel, TeamMeanings

_WORD = re.compile(r"[^\W\d_]{2,}")
SCANNED = 300  # characters of a post compared: what it is about comes first
MEMO = 65_536  # words whose share of the similarity is remembered
# How much of a team's similarity is the meaning's (the rest the letters'), and how a team's
# meaning is taken: chosen on the proxy of benchmarks/routing.py.
MEANING_WEIGHT = 0.4
MEANING_HOW = "document"


def _terms(text: str, limit: int | None = SCANNED) -> dict[str, float]:
    counts: dict[str, float] = {}
    for word in _WORD.findall(text[:limit].lower()):
        if word in _STOP:
            continue
        for term, weight in _word_terms(word):
            counts[term] = counts.get(term, 0.0) + weight
    return {term: 1.0 + math.log(count) if count >= 1 else count for term, count in counts.items()}


@functools.lru_cache(maxsize=MEMO)
def _word_terms(word: str) -> tuple[tuple[str, float], ...]:
    """A word and its letter sequences (half weight each); memoised."""
    padded = f" {word} "
    grams = [(f"c{padded[i : i + n]}", 0.5) for n in (3, 4, 5) for i in range(len(padded) - n + 1)]
    return ((f"w {word}", 1.0), *grams)


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
        return "\n".join(self.parts())

    def parts(self) -> tuple[str, ...]:
        """Name, description, examples and keywords, each on its own."""
        return (self.name, self.description, *self.examples, *self.keywords)


class TeamMatcher:
    """Similarity of a post to each team's profile: letters, and meaning when a meaning
    model is given."""

    def __init__(
        self,
        profiles: Sequence[TeamProfile],
        meaning: MeaningModel | None = None,
        *,
        weight: float = MEANING_WEIGHT,
        how: str = MEANING_HOW,
    ):
        documents = {p.team: _terms(p.document(), None) for p in profiles}
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
        self._words: dict[str, tuple[tuple[float, ...], float]] = {}
        self.weight = weight
        self.meanings = (
            TeamMeanings([(p.team, p.parts()) for p in profiles], meaning, how=how)
            if meaning is not None
            else None
        )

    def scores(self, text: str) -> list[tuple[str, float]]:
        """(team, similarity 0-1), most similar first."""
        return [(team, score) for team, score, _, _ in self.parts(text)]

    def parts(self, text: str) -> list[tuple[str, float, float, float]]:
        """(team, similarity, meaning, letters), most similar first: the similarity is the
        meaning's cosine and the letters' weighed together (the letters alone without a
        meaning model)."""
        teams = list(self.vectors)
        letters = self.letters(text)
        if self.meanings is None:
            found = [(t, v, 0.0, v) for t, v in zip(teams, letters, strict=True)]
        else:
            w = self.weight
            meaning = self.meanings.similarities(text)
            found = [
                (t, w * m + (1 - w) * v, m, v)
                for t, m, v in zip(teams, meaning, letters, strict=True)
            ]
        return sorted(found, key=_second)

    def letters(self, text: str) -> list[float]:
        """Each team's TF-IDF cosine to the post (words and letter sequences), team order.

        A post's vector is the sum of its distinct words' vectors (each word with its letter
        sequences), and its length is taken as if those did not overlap: each word's share
        is then worked out once and remembered, so a post costs a few additions a word."""
        teams = list(self.vectors)
        totals = [0.0] * len(teams)
        norm = 0.0
        for word in {w for w in _WORD.findall(text[:SCANNED].lower()) if w not in _STOP}:
            found = self._words.get(word)
            if found is None:
                if len(self._words) >= MEMO:
                    self._words.clear()
                found = self._words[word] = self._word_share(word, teams)
            dots, square = found
            norm += square
            for i, dot in enumerate(dots):
                totals[i] += dot
        norm = math.sqrt(norm) or 1.0
        return [v / norm for v in totals]

    def _word_share(self, word: str, teams: list[str]) -> tuple[tuple[float, ...], float]:
        idf, unseen = self.idf, self.unseen
        vector = {term: weight * idf.get(term, unseen) for term, weight in _word_terms(word)}
        dots = tuple(
            sum(w * self.vectors[team].get(term, 0.0) for term, w in vector.items())
            for team in teams
        )
        return dots, sum(w * w for w in vector.values())


def _second(row: tuple[str, float, float, float]) -> float:
    return -row[1]


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values()))
    return {t: v / norm for t, v in vector.items()} if norm else {}


def shown(scores: Sequence[tuple[str, float]], *, top: int = 2) -> str:
    """`billing 0.41 · support 0.38`."""
    return " · ".join(f"{team} {value:.2f}" for team, value in scores[:top])
