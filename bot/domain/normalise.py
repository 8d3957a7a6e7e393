"""Turn what a platform sends into plain text: HTML stripped, entities decoded, tidy spacing."""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import replace
from html.parser import HTMLParser

from bot.domain.mentions import Item

MAX_TEXT = 20_000  # characters kept of one post; the rest is cut with a marker

_BLOCK_TAGS = frozenset(
    {"p", "div", "br", "li", "ul", "ol", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "tr"}
)
_SKIP_TAGS = frozenset({"script", "style", "template", "head", "title"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")
# Control characters other than newline and tab carry nothing a reader needs.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _bare(address: str) -> str:
    """An address as people read it: no scheme, `www.` or trailing slash, any case."""
    bare = re.sub(r"^[a-z][a-z0-9+.-]*://", "", address.strip().casefold()).removeprefix("www.")
    return bare.rstrip("/…").removesuffix("...")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[tuple[str, int]] = []  # open <a>: its target, where its text starts

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            href = (dict(attrs).get("href") or "").strip()
            self._links.append((href, len(self.parts)))
        elif tag in _SKIP_TAGS:
            self._skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._links:
            self._close_link(*self._links.pop())
        elif tag in _SKIP_TAGS:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)

    def _close_link(self, href: str, start: int) -> None:
        """Show a link's real target where its text does not: `click here (https://…)`,
        and above all `paypal.com (https://evil.example/login)`. Mentions, hashtags and
        links whose text is their own address stay as they read."""
        if not re.match(r"(?i)https?://\S+$", href):
            return
        shown = "".join(self.parts[start:]).strip()
        if shown.startswith(("@", "#")) and "." not in shown.split("/")[0][1:]:
            return
        text, target = _bare(shown), _bare(href)
        if not shown:
            self.parts.append(href)
        elif not text or not (target == text or (shown.endswith("…") and target.startswith(text))):
            self.parts.append(f" ({href})")


def html_to_text(markup: str) -> str:
    """The readable text of an HTML fragment; scripts and styles dropped, entities decoded."""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return "".join(parser.parts)


def clean_text(text: str, *, is_html: bool = False) -> str:
    """Plain, NFC-normalised text with tidy whitespace, at most MAX_TEXT characters."""
    text = html_to_text(text) if is_html else html.unescape(text)
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    text = _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()
    if len(text) > MAX_TEXT:
        text = text[:MAX_TEXT].rstrip() + " …[cut]"
    return text


def normalise(item: Item) -> Item:
    """The item with its text and title as plain text."""
    return replace(
        item,
        text=clean_text(item.text, is_html=item.is_html),
        title=clean_text(item.title, is_html=item.is_html)[:500],
        is_html=False,
    )
