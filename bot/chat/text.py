"""Defusing strangers' text before any chat platform shows it."""

from __future__ import annotations

import re

# Characters that reorder or hide text: bidi controls and zero-width marks. Shown as
# visible code points so that `‮00.01` cannot pretend to read `10.00`.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\u00ad]")


def reveal_invisible(text: str) -> str:
    """Replace bidi controls and zero-width characters with a visible `<U+202E>` form."""
    return _INVISIBLE.sub(lambda m: f"<U+{ord(m.group(0)):04X}>", text)


def shorten(text: str, limit: int) -> str:
    """The first `limit` characters on one line, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"
