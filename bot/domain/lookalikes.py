"""Text as a careful reader sees it: look-alike characters made plain. Pure.

People disguise what they type, or paste text that is disguised: letters from other
scripts that look Latin (Cyrillic а), fullwidth or mathematical letters and digits, digits
of other scripts, accents, zero-width and other invisible characters, digits spaced out
or written as words. `fold` and the digit helpers undo that, so that checks read one
plain form.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

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


def words_to_digits(text: str) -> str:
    """`four one one one one` -> `4 1 1 1 1`: five or more number words are a number."""
    return _SPELLED_NUMBER.sub(
        lambda m: " ".join(_NUMBER_WORDS[w.lower()] for w in re.findall(r"[a-zA-Z]+", m[0])),
        text,
    )


def join_spaced_digits(text: str) -> str:
    """`0 2 0 7 9 4 6` -> `0207946`: digits typed one by one with gaps are one number."""
    return _SPACED_DIGITS.sub(lambda m: re.sub(r"\D", "", m[0]), text)


def squeeze_digits(text: str) -> str:
    """Digits with spaces, dots, dashes or slashes between them written as one run."""
    return _DIGIT_GAP.sub("", text)
