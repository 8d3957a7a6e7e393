"""What a text means, as one vector: the mean of its word pieces' static vectors (model2vec,
distilled from all-MiniLM-L6-v2), so "charged twice" lands near "payments and refunds"
without a word in common. Pure: the vectors and the word splitter are handed in
(bot/meaning_model.py loads the shipped ones).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

Vector = npt.NDArray[np.float32]

# Words that say nothing of what a post is about: left out of its meaning (and its letters).
_WORDS_OF_NO_TOPIC = """a about after again all also am an and any are as at be been but by can
could did do does for from get got had has have he her him his how i if in into is it its just me my
no not of on or our out so some than that the their them then there these they this to too up
us very was we were what when where which who why will with would you your hi hello please
thanks thank"""
STOPWORDS = frozenset(_WORDS_OF_NO_TOPIC.split())
_TOKEN = re.compile(r"\w+|[^\w\s]")
SCANNED = 300  # characters of a post read: what it is about comes first
MEMO = 65_536  # words whose pieces are remembered


class MeaningModel:
    """Static vectors of word pieces, and how a word splits into pieces (their row numbers).

    A text's vector is the sum of its pieces' rows, made unit length; a word's pieces are
    worked out once and remembered, so a text costs a dictionary look-up a word and one sum.
    """

    def __init__(self, split: Callable[[str], Sequence[int]], vectors: Vector, *, name: str = ""):
        self.split = split
        self.vectors = vectors
        self.name = name
        self._pieces: dict[str, tuple[int, ...]] = {}

    @property
    def dims(self) -> int:
        """How many numbers a vector has."""
        return int(self.vectors.shape[1])

    def pieces(self, text: str) -> list[int]:
        """The rows of a text's word pieces, in order (stop words and unknown pieces left
        out)."""
        found: list[int] = []
        memo = self._pieces
        for word in text.split():
            rows = memo.get(word)
            if rows is None:
                if len(memo) >= MEMO:
                    memo.clear()
                rows = memo[word] = self._rows(word)
            found.extend(rows)
        return found

    def _rows(self, word: str) -> tuple[int, ...]:
        kept = [t for t in _TOKEN.findall(word) if t.lower() not in STOPWORDS]
        return tuple(self.split(" ".join(kept))) if kept else ()

    def total(self, text: str, *, limit: int | None = SCANNED) -> Vector | None:
        """The sum of the text's pieces' vectors (its direction is its meaning), or None
        when no piece of it is known."""
        rows = self.pieces(text[:limit] if limit else text)
        return np.add.reduce(self.vectors[rows]) if rows else None

    def embed(self, text: str, *, limit: int | None = SCANNED) -> Vector | None:
        """The text's unit vector, or None when no piece of it is known."""
        total = self.total(text, limit=limit)
        norm = math.sqrt(float(total @ total)) if total is not None else 0.0
        return total / norm if total is not None and norm > 0 else None


def centroid(vectors: Sequence[Vector | None]) -> Vector | None:
    """The unit-length mean of the vectors given (None ones left out)."""
    known = [v for v in vectors if v is not None]
    if not known:
        return None
    total = np.sum(known, axis=0)
    norm = math.sqrt(float(total @ total))
    return total / norm if norm > 0 else None


HOW = ("centroid", "max", "document")


class TeamMeanings:
    """How close a post's meaning is to each team's (cosine, 0-1).

    A team's meaning is taken from its parts (name, description, each example, each
    keyword): `centroid` compares a post to their mean, `max` to the closest part, `document`
    to all of them read as one text."""

    def __init__(
        self, teams: Sequence[tuple[str, Sequence[str]]], model: MeaningModel, *, how: str
    ):
        if how not in HOW:
            raise ValueError(f"how: one of {', '.join(HOW)}, not {how!r}")
        self.model = model
        self.teams = [team for team, _ in teams]
        self.how = how
        rows: list[Vector] = []
        owners: list[int] = []
        zero = np.zeros(model.dims, dtype=np.float32)
        for i, (_, parts) in enumerate(teams):
            texts = [p for p in parts if p.strip()]
            found: list[Vector | None]
            if how == "max":
                found = [model.embed(p, limit=None) for p in texts]
            elif how == "centroid":
                found = [centroid([model.embed(p, limit=None) for p in texts])]
            else:
                found = [model.embed("\n".join(texts), limit=None)]
            kept = [v for v in found if v is not None] or [zero]
            rows += kept
            owners += [i] * len(kept)
        self.matrix = (
            np.vstack(rows).astype(np.float32) if rows else np.zeros((0, model.dims), np.float32)
        )
        self.owners = np.asarray(owners)

    def similarities(self, text: str) -> list[float]:
        """Each team's closeness to the post, in the order the teams were given."""
        total = self.model.total(text)
        norm = math.sqrt(float(total @ total)) if total is not None else 0.0
        if total is None or norm == 0:
            return [0.0] * len(self.teams)
        cosines = self.matrix @ total
        if len(cosines) > len(self.teams):  # `max`: a team's closest part
            best = np.full(len(self.teams), -1.0, dtype=np.float32)
            np.maximum.at(best, self.owners, cosines)
            cosines = best
        return [min(max(c / norm, 0.0), 1.0) for c in cosines.tolist()]
