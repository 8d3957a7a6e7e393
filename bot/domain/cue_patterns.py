"""Many phrases as one regex of whole words, in any case and spacing, shaped as a trie so
that a long list costs little more than a short one. Pure."""

from __future__ import annotations

import re
from typing import Any


def cues(*phrases: str, plural: bool = False) -> re.Pattern[str]:
    """Any of the phrases, taken literally, as whole words in any case and spacing
    (`plural`: with or without a plural -s or -es: "delays", "outages")."""
    trie: dict[str, Any] = {}
    for phrase in {" ".join(p.split()) for p in phrases if p.strip()}:
        node = trie
        for char in phrase:
            node = node.setdefault(char, {})
        node[""] = {}
    ending = "(?:e?s)?" if plural else ""
    return re.compile(rf"(?<!\w){_alternation(trie)}{ending}(?!\w)", re.IGNORECASE)


def _alternation(node: dict[str, Any]) -> str:
    # The phrases as a trie, so that the engine tries each first letter once rather than
    # every phrase at every position: three times faster on the long cue lists. A run of
    # letters without a fork is one literal, so a long phrase does not recurse deeply.
    branches = []
    for char, child in sorted(node.items()):
        if not char:
            continue
        run = [char]
        while len(child) == 1 and "" not in child:
            ((char, child),) = child.items()
            run.append(char)
        literal = "".join(r"\s+" if c == " " else re.escape(c) for c in run)
        branches.append(literal + _alternation(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else f"(?:{'|'.join(branches)})"
    return f"(?:{body})?" if "" in node else body
