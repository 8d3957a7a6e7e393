"""How platforms measure and mark up the text of a reply: graphemes, links, byte offsets.

People count what they see, so Mastodon and Bluesky both count grapheme clusters (a
family emoji or a flag is one), not code points. Mastodon also counts every link as a
fixed 23 characters and a mention of `@user@domain` as `@user`. Bluesky marks links
with facets whose positions are byte offsets into the UTF-8 text.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

import regex

MASTODON_URL_LENGTH = 23  # Mastodon's default characters_reserved_per_url

_GRAPHEME = regex.compile(r"\X")
# A link starts with a scheme and runs to the next space; trailing punctuation belongs
# to the sentence, not the link (as in "see https://example.com/help.").
_URL = regex.compile(r"(?<![\w/@.])https?://[^\s<>\"]+", regex.IGNORECASE)
_TRAILING = ".,:;!?'\"*"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# Mastodon counts `@user@example.social` as `@user`.
_MENTION = regex.compile(
    r"(?<![=/\w])@(\w+(?:[.-]+\w+)*)(?:@\w+(?:[.-]+\w+)*)?", regex.IGNORECASE | regex.UNICODE
)


def graphemes(text: str) -> int:
    """How many user-perceived characters `text` has."""
    return len(_GRAPHEME.findall(text))


@dataclass(frozen=True, slots=True)
class Link:
    """A link found in text: where it is (in characters) and what it points to."""

    start: int
    end: int
    url: str


def find_links(text: str) -> list[Link]:
    """The http(s) links in `text`, without trailing punctuation or unmatched brackets."""
    links = []
    for match in _URL.finditer(text):
        url = match.group()
        while url:
            last = url[-1]
            unmatched = last in _CLOSERS and url.count(_CLOSERS[last]) < url.count(last)
            if last not in _TRAILING and not unmatched:
                break
            url = url[:-1]
        if "://" in url and not url.endswith("://"):
            links.append(Link(match.start(), match.start() + len(url), url))
    return links


def mastodon_length(text: str, *, url_length: int = MASTODON_URL_LENGTH) -> int:
    """The length Mastodon gives `text`: graphemes, each link as `url_length`, mentions
    without their domain."""
    parts, position = [], 0
    for link in find_links(text):
        parts.append(_MENTION.sub(r"@\1", text[position : link.start]))
        parts.append("x" * url_length)
        position = link.end
    parts.append(_MENTION.sub(r"@\1", text[position:]))
    return graphemes("".join(parts))


def link_facets(text: str) -> list[dict[str, Any]]:
    """Bluesky link facets for the links in `text`, positioned by UTF-8 byte offsets."""
    facets = []
    for link in find_links(text):
        start = len(text[: link.start].encode("utf-8"))
        end = start + len(link.url.encode("utf-8"))
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": link.url}],
            }
        )
    return facets


X_URL_LENGTH = 23  # every link becomes a t.co link of this length
X_MAX_LENGTH = 280
# twitter-text v3: code points in these ranges weigh 1, every other one 2 (CJK, most
# symbols); an emoji, however many code points it is made of, weighs 2.
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))
_EMOJI = regex.compile(r"\p{Extended_Pictographic}|\p{Regional_Indicator}")


def _x_weight(grapheme: str) -> int:
    if _EMOJI.search(grapheme):
        return 2
    return sum(1 if any(low <= ord(ch) <= high for low, high in _X_LIGHT) else 2 for ch in grapheme)


def x_length(text: str) -> int:
    """The length X gives `text` (twitter-text's weighted length): NFC, links as 23, most
    CJK characters and emoji as 2."""
    text = unicodedata.normalize("NFC", text)
    total, position = 0, 0
    for link in find_links(text):
        total += sum(_x_weight(g) for g in _GRAPHEME.findall(text[position : link.start]))
        total += X_URL_LENGTH
        position = link.end
    return total + sum(_x_weight(g) for g in _GRAPHEME.findall(text[position:]))


# Characters that change how Reddit's markdown renders text, anywhere in a line...
_MARKDOWN_INLINE = regex.compile(r"([\\`*_~^\[\]()|<>])")
# ...and at the start of a line (headings, quotes, lists).
_MARKDOWN_LINE_START = regex.compile(r"^(\s*)([#>+-]|\d+(?=[.)]))", regex.MULTILINE)


def escape_markdown(text: str) -> str:
    """`text` as Reddit markdown that shows it literally: markup escaped outside links,
    each line break kept."""
    parts, position = [], 0
    for link in find_links(text):
        parts.append(_MARKDOWN_INLINE.sub(r"\\\1", text[position : link.start]))
        parts.append(link.url)
        position = link.end
    parts.append(_MARKDOWN_INLINE.sub(r"\\\1", text[position:]))
    escaped = _MARKDOWN_LINE_START.sub(lambda m: f"{m.group(1)}\\{m.group(2)}", "".join(parts))
    return escaped.replace("\r\n", "\n").replace("\n", "  \n")
