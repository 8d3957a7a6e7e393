"""Which language a post is written in, from its most common words. Pure.

Good enough to tell whether the complaint model (trained on English) can read a post;
a platform's own language tag, when it sends one, wins over this guess.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W\d_]+")
COMMON: dict[str, frozenset[str]] = {
    lang: frozenset(words.split())
    for lang, words in {
        "en": "the and is are was to of in it you my for not this that with have on be "
        "what why how your me can i do no at just but so",
        "es": "el la los las de que y en un una es por con no para mi pero muy esta está "
        "lo como más ya hay qué porque yo tengo",
        "pt": "o a os as de que e em um uma é não com para meu minha mas muito está foi "
        "já por isso você vocês tenho",
        "fr": "le la les de des et est un une en que je pas pour avec mon ma mes ne vous "
        "sur ce qui c'est très mais",
        "de": "der die das und ist nicht ich ein eine zu mit mein meine sie es auf für "
        "den dem wir aber noch schon kein",
        "it": "il la di che e è non un una per con mio mia ma sono ho ancora anche questo "
        "del della gli",
        "nl": "de het een en is niet ik van dat mijn op te met voor maar nog geen wel zijn jullie",
    }.items()
}


def detect(text: str) -> str:
    """An ISO 639-1 code, or '' when the post has too few common words to tell."""
    words = _WORD.findall(text[:1000].lower().replace("\u2019", "'"))
    if not words:
        return ""
    hits = {lang: sum(w in common for w in words) for lang, common in COMMON.items()}
    best = max(hits, key=lambda lang: (hits[lang], lang == "en"))
    if hits[best] < 2:
        return ""
    if best != "en" and hits[best] <= hits["en"]:
        return "en"
    return best
