"""The learned complaint model: features of a post and a calibrated score. Pure functions.

A post becomes a set of named features: its words and word pairs, the letter sequences
inside its words (so "delays", "delayed" and "delay" share most of their features, and
so do spellings of a swear word), the triage rules that fire on it and VADER's tone: its
compound score and the shares of the post's words that VADER's lexicon calls negative and
positive, which carry what the lexicon knows of insults and swearing to words the labelled
posts never used.
The bot reads only posts written to or about the company, where anger is anger at the
company: in the labelled set, 9 in 10 hostile tweets to companies are complaints, and none
of the hostile random tweets ("I hate Mondays") is. So training marks the posts written to
a company, whose tone then counts once more (`t neg`, `t hostile`), and the bot scores
every post as one of them.
A logistic regression trained on labelled posts (`bot/triage_training.py`) gives each
feature a weight; a post's score is the sum of its features' weights, mapped to a
probability by Platt scaling fitted on held-out predictions, so 0.7 means that about 7
in 10 such posts were complaints in the training data.
An erasure takes out of a learned model the text features it may have learned only from
the erased posts and the person's names (`forgotten`, `without_features`).
"""

from __future__ import annotations

import functools
import itertools
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

from bot.domain import triage

FORMAT = "allhands-complaint-model/1"
# Characters of a post the model reads: a post says what is wrong early, and a long one
# (a blog article) would cost ten times a tweet.
SCANNED = 500
CHAR_SIZES = (1, 2, 3, 4, 5, 6)  # letter sequences inside words, padded with a space each side
_URL = re.compile(r"https?://\S+|www\.\S+")
_HANDLE = re.compile(r"@\w+")
_DIGITS = re.compile(r"\d+")
_STRETCHED = re.compile(r"(\w)\1{2,}")  # "sooooo" reads as "soo"
# Words, folded numbers, ! and ?, and emoji (an angry face says as much as a word).
_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?|0|[!?]|[\U0001F300-\U0001FAFF\u2600-\u27BF]")
_SHOUTED = re.compile(r"(?<![@#\w])[A-Z]{4,}(?!\w)")
_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("trouble", triage.TROUBLE_CUES),
    ("persistence", triage.PERSISTENCE),
    ("expectation", triage.EXPECTATION_CUES),
    ("why", triage.WHY),
    ("negation", triage.NEGATION_WORD),
    ("own", triage.OWN_THING),
    ("plea", triage.PLEA),
    ("praise", triage.PRAISE_CUES),
)


_POINTED = ("trouble", "persistence", "expectation", "why", "sarcasm", "negation")


def _words(text: str) -> list[str]:
    """The post's words as the model reads them: lower case, links, handles and digits folded."""
    text = _URL.sub(" url ", text[:SCANNED].replace("\u2019", "'").replace("\u2018", "'"))
    text = _DIGITS.sub("0", _STRETCHED.sub(r"\1\1", _HANDLE.sub(" ", text).lower()))
    return _TOKEN.findall(text)


def text_features(text: str) -> tuple[set[str], set[str]]:
    """A post's word and word-pair features, and the distinct words whose letter sequences
    are features too."""
    words = _words(text)
    found = {f"w {w}" for w in words}
    found.update(f"b {a} {b}" for a, b in itertools.pairwise(words))
    spelled = {w for w in words if len(w) >= 2 and w.isalpha()}
    return found, spelled


MEMO = 65_536  # words whose letter sequences are remembered


@functools.lru_cache(maxsize=MEMO)
def _letters(word: str) -> tuple[str, ...]:
    """A word's letter sequences (memoised: people use the same few thousand words)."""
    padded = f" {word} "
    last = len(padded)
    return tuple(f"c{padded[i : i + size]}" for size in CHAR_SIZES for i in range(last - size + 1))


def text_feature_names(text: str) -> set[str]:
    """Every text feature a post gives the model: its words, word pairs and the letter
    sequences inside its words."""
    found, spelled = text_features(text)
    for word in spelled:
        found.update(_letters(word))
    return found


# VADER compound at or under which a post written to the company reads as hostile to it.
HOSTILE = -0.3


def rule_features(
    text: str, *, compound: float, neg: float, pos: float, to_company: bool = True
) -> dict[str, float]:
    """The rules' and VADER's evidence as model features (name -> value); `neg` and `pos`
    are VADER's negative and positive shares of the post. `to_company`: the post was
    written to or about the company, as every post the bot reads is; then its negative
    tone is also evidence of a complaint against the company ("I hate you guys")."""
    plain = triage.HARMLESS.sub(" ", triage._plain(text[:SCANNED]))
    found = {f"r {name}": 1.0 for name, pattern in _RULES if pattern.search(plain)}
    if triage.sarcastic(plain):
        found["r sarcasm"] = 1.0
    if triage.BREACH.search(plain) or triage.BREACH_CUES.search(plain):
        found["r breach"] = 1.0
    if triage.is_question(text[:SCANNED]):
        found["r question"] = 1.0
    # triage.complaint_points, from the cues found above rather than searched again.
    cues = 2 * ("r breach" in found) + sum(f"r {name}" in found for name in _POINTED)
    points = cues + (compound <= triage.NEGATIVE) + (compound <= triage.VERY_NEGATIVE)
    if cues:
        points += ("r own" in found) + ("r plea" in found)
    found["r points"] = min(points, 8) / 4
    found["v compound"] = compound
    found["v neg"] = neg
    found["v pos"] = pos
    if _SHOUTED.search(text[:SCANNED]):
        found["s shouted"] = 1.0
    if compound <= triage.NEGATIVE:
        found["v negative"] = 1.0
    if compound >= 0.4:
        found["v positive"] = 1.0
    if to_company and compound <= triage.NEGATIVE:
        # Negative on the whole: a thank-you that mentions a delay is not anger.
        found["t neg"] = neg
        if compound <= HOSTILE:
            found["t hostile"] = 1.0
    return found


def features(
    text: str, *, compound: float, neg: float, pos: float, to_company: bool = True
) -> dict[str, float]:
    """All features of a post with their values. Word features share a unit length; each
    distinct word adds its letter sequences, and those counts are divided by the square
    root of their sum, so a long post weighs about as much as a short one."""
    words, spelled = text_features(text)
    found: dict[str, float] = dict.fromkeys(words, 1 / math.sqrt(len(words))) if words else {}
    letters: dict[str, float] = {}
    for word in spelled:
        for gram in _letters(word):
            letters[gram] = letters.get(gram, 0.0) + 1.0
    if letters:
        norm = math.sqrt(sum(letters.values()))
        found.update((gram, count / norm) for gram, count in letters.items())
    found.update(rule_features(text, compound=compound, neg=neg, pos=pos, to_company=to_company))
    return found


@dataclass(frozen=True, slots=True)
class ComplaintModel:
    """Feature weights, a bias and the Platt scaling that turns a sum into a probability."""

    weights: Mapping[str, float]
    bias: float
    scale: float = 1.0
    shift: float = 0.0
    threshold: float = 0.5
    languages: tuple[str, ...] = ("en",)
    trained_on: str = ""
    figures: Mapping[str, float] = field(default_factory=dict)
    # Posts people moved to a team (`move N team`), learned as that team's examples.
    team_examples: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # word -> (the weights of its letter sequences summed, how many there are)
    _spelled: dict[str, tuple[float, int]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def raw(self, found: Mapping[str, float]) -> float:
        """The uncalibrated sum for a post's features."""
        weights = self.weights
        return self.bias + sum(weights.get(name, 0.0) * value for name, value in found.items())

    def score(self, text: str, *, compound: float, neg: float, pos: float) -> float:
        """How likely the post is a complaint, 0-1 (VADER's compound, negative and positive
        shares of the post given)."""
        return self.assess(text, compound=compound, neg=neg, pos=pos)[0]

    def assess(
        self, text: str, *, compound: float, neg: float, pos: float
    ) -> tuple[float, dict[str, float]]:
        """The score and the rule features found (`r question`, `r praise`, ...), which
        triage reads again rather than searching the post twice."""
        # raw(features(...)) without building the dict: the same sum, with each word's
        # letter sequences summed once per model rather than once per post.
        get = self.weights.get
        total = self.bias
        words, spelled = text_features(text)
        if words:
            total += sum(map(get, words, itertools.repeat(0.0))) / math.sqrt(len(words))
        letter_sum, letter_count = 0.0, 0
        for word in spelled:
            found = self._spelled.get(word)
            if found is None:
                if len(self._spelled) >= MEMO:
                    self._spelled.clear()
                grams = _letters(word)
                found = self._spelled[word] = (sum(get(g, 0.0) for g in grams), len(grams))
            letter_sum += found[0]
            letter_count += found[1]
        if letter_count:
            total += letter_sum / math.sqrt(letter_count)
        ruled = rule_features(text, compound=compound, neg=neg, pos=pos)
        for name, value in ruled.items():
            total += get(name, 0.0) * value
        z = self.scale * total + self.shift
        return 1 / (1 + math.exp(-max(-30.0, min(30.0, z)))), ruled

    def to_dict(self) -> dict[str, object]:
        """The model as plain JSON-ready data."""
        names = sorted(self.weights)
        return {
            "format": FORMAT,
            "bias": self.bias,
            "scale": self.scale,
            "shift": self.shift,
            "threshold": self.threshold,
            "languages": list(self.languages),
            "trained_on": self.trained_on,
            "figures": dict(self.figures),
            "team_examples": {team: list(texts) for team, texts in self.team_examples.items()},
            "features": names,
            "weights": [round(self.weights[n], 5) for n in names],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ComplaintModel:
        """A model from `to_dict`'s data; ValueError when it is not one."""
        if data.get("format") != FORMAT:
            raise ValueError(f"not a complaint model (format {data.get('format')!r})")
        names, weights = data.get("features"), data.get("weights")
        if not isinstance(names, Sequence) or not isinstance(weights, Sequence):
            raise ValueError("features and weights must be lists")
        if len(names) != len(weights):
            raise ValueError(f"{len(names)} features but {len(weights)} weights")
        languages = data.get("languages") or ["en"]
        figures = data.get("figures") or {}
        examples = data.get("team_examples") or {}
        if not isinstance(languages, Sequence) or not isinstance(figures, Mapping):
            raise ValueError("languages must be a list and figures a mapping")
        if not isinstance(examples, Mapping) or not all(
            isinstance(texts, list) for texts in examples.values()
        ):
            raise ValueError("team_examples must map teams to lists of texts")
        return cls(
            weights=dict(zip((str(n) for n in names), map(float, weights), strict=True)),
            bias=_number(data, "bias"),
            scale=_number(data, "scale"),
            shift=_number(data, "shift"),
            threshold=_number(data, "threshold"),
            languages=tuple(str(lang) for lang in languages),
            trained_on=str(data.get("trained_on", "")),
            figures={str(k): float(v) for k, v in figures.items()},
            team_examples={str(k): tuple(map(str, v)) for k, v in examples.items()},
        )


@dataclass(frozen=True, slots=True)
class Forgotten:
    """The text features an erasure takes out of learned models: those of the erased posts
    and of the person's names, and the word pairs holding a word of their names, except
    what the model trained on public data alone (`public`) has as well."""

    features: frozenset[str] = frozenset()
    name_words: frozenset[str] = frozenset()
    public: AbstractSet[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.features or self.name_words)

    def drops(self, name: str) -> bool:
        """Whether the feature `name` is taken out."""
        return bool(self.among([name]))

    def among(self, names: Sequence[str]) -> set[str]:
        """The features among `names` that are taken out (TypeError if one is no string)."""
        gone = set(self.features.intersection(names))
        if self.name_words:
            # A model has tens of thousands of features: the pairs are found by one search
            # of them all, one a line, rather than a look at each.
            found = _pairs(self.name_words).findall("\n" + "\n".join(names) + "\n")
            gone.update(pair for pair in found if pair not in self.public)
        return gone


@functools.lru_cache(maxsize=8)
def _pairs(words: frozenset[str]) -> re.Pattern[str]:
    """Word-pair features holding one of `words`, found among features one a line."""
    either = "|".join(re.escape(w) for w in sorted(words))
    return re.compile(rf"\n(b (?:(?:{either}) [^ \n]+|[^ \n]+ (?:{either})))(?=\n)")


def forgotten(
    texts: Iterable[str], *, names: Iterable[str] = (), public: AbstractSet[str]
) -> Forgotten:
    """What an erasure takes out of learned models: `texts` are the erased posts a model
    may have learned from (as training read them), `names` the erased person's handles and
    names, `public` the features of the model trained on public data alone. A name's word
    that the public model has ("the", "sam") is no one's in particular: pairs holding it
    stay."""
    found: set[str] = set()
    for text in texts:
        found.update(text_feature_names(text))
    words: set[str] = set()
    for name in map(_owner, names):
        found.update(text_feature_names(name))
        words.update(w for w in _words(name) if len(w) > 1 and f"w {w}" not in public)
    # One letter ("w q", "cv", "c v") is no one's: the public model may lack it only
    # because its weight there came out too small to keep.
    dropped = {f for f in found.difference(public) if len(f[1:].strip()) > 1}
    return Forgotten(frozenset(dropped), frozenset(words), public)


def _owner(name: str) -> str:
    """A handle's part that names its owner, without the server or domain around it
    ("@ann@mastodon.social", "ann.bsky.social": "ann"), or a display name as it is."""
    name = name.strip()
    if " " in name or ("@" not in name and "." not in name):
        return name
    return name.lstrip("@").partition("@")[0].partition(".")[0] or name


def without_features(
    data: Mapping[str, object], forgotten: Forgotten
) -> tuple[dict[str, object], int]:
    """A model's data (as `to_dict` makes it) without the features `forgotten` drops, and
    how many went; all else (calibration, figures, team examples) is left as it was."""
    names, weights = data.get("features"), data.get("weights")
    if (
        not forgotten
        or not isinstance(names, list)
        or not isinstance(weights, list)
        or len(names) != len(weights)
    ):
        return dict(data), 0
    try:
        gone = forgotten.among(names)
    except TypeError:  # a name that is no string: not a model any replica reads
        return dict(data), 0
    if not gone:
        return dict(data), 0
    kept = [(name, weight) for name, weight in zip(names, weights, strict=True) if name not in gone]
    cleaned = {**data, "features": [n for n, _ in kept], "weights": [w for _, w in kept]}
    return cleaned, len(names) - len(kept)


def _number(data: Mapping[str, object], key: str) -> float:
    value = data.get(key)
    if not isinstance(value, int | float):
        raise ValueError(f"{key} must be a number, not {value!r}")
    return float(value)
