"""Defusing strangers' text before any chat platform shows it."""

from __future__ import annotations

import regex

# Characters that reorder or hide text: bidi controls and zero-width marks. Shown as
# visible code points so that `‮00.01` cannot pretend to read `10.00`. A joiner is kept
# where it joins: inside an emoji sequence (👨‍👩‍👧, 🏳️‍🌈) or between two letters of a
# script that needs joiners (Arabic, Persian, Indic); between Latin letters it hides.
_INVISIBLE = regex.compile(
    r"(?P<emoji>(?<=[\p{Extended_Pictographic}\uFE0F\U0001F3FB-\U0001F3FF])\u200D"
    r"(?=\p{Extended_Pictographic}))"
    r"|(?P<script>(?<=[[\p{L}\p{M}]--[\p{Latin}\p{Common}]])[\u200C\u200D]"
    r"(?=[[\p{L}\p{M}]--[\p{Latin}\p{Common}]]))"
    r"|[\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF\u00AD]",
    regex.VERSION1,
)


def _shown(found: regex.Match[str]) -> str:
    if found.group("emoji") or found.group("script"):
        return found.group(0)
    return f"<U+{ord(found.group(0)):04X}>"


def reveal_invisible(text: str) -> str:
    """Replace bidi controls and lone zero-width characters with a visible `<U+202E>` form;
    joiners inside emoji sequences and joining scripts stay."""
    return _INVISIBLE.sub(_shown, text)


def shorten(text: str, limit: int) -> str:
    """The first `limit` characters on one line, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def sentence(text: str) -> str:
    """`text` ending as a sentence: a full stop added unless it ends with one already."""
    text = text.rstrip()
    return text if not text or text[-1] in ".!?…" else text + "."
