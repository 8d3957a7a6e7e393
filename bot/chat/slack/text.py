"""Slack's text format, both ways. Pure.

Outgoing, strangers' text is made inert: `&`, `<` and `>` are escaped so that nothing in
it is read as a mention (`<!channel>`, `<!here>`, `<!subteam^S1>`, `<@U123>`) or as a
link with a label of its own (`<https://evil.example|yourbank.com>`); `@channel`, `@here`
and `@everyone` are broken with an invisible word joiner in case a client still reads
them; bidi controls and zero-width characters are shown as `<U+202E>`. Real web
addresses in the text are linked as themselves, so a link always shows where it goes.
Text objects carrying it are sent with `verbatim: true` so Slack adds nothing either.

Incoming, what people type in a slash command arrives with Slack's own markup (links,
user mentions) and is turned back into plain text.
"""

from __future__ import annotations

import html
import re

from bot.chat.text import reveal_invisible
from bot.errors import CommandError

# A web address, up to whitespace or a character that cannot be in one written in text.
_URL = re.compile(r"https?://[^\s<>|\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?'\")]}*_~"
_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)
WORD_JOINER = "\u2060"
ELLIPSIS = "…"


def escape(text: str) -> str:
    """Escape the three characters Slack reads as markup: `&`, `<`, `>`."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inert(text: str) -> str:
    return _BROADCAST.sub("@" + WORD_JOINER, escape(text))


def _trim_url(url: str) -> str:
    """The address without punctuation that ends the sentence around it."""
    while url and url[-1] in _TRAILING:
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url = url[:-1]
    return url


def plain(text: str) -> str:
    """Untrusted text made inert for any Slack text field: nothing pings, nothing links."""
    return _inert(reveal_invisible(text))


def mrkdwn(text: str) -> str:
    """Untrusted text as mrkdwn: inert like `plain`, with real web addresses linked as
    themselves (`<https://a.example/x>`), never under a label."""
    text = reveal_invisible(text)
    parts: list[str] = []
    position = 0
    for found in _URL.finditer(text):
        url = _trim_url(found.group(0))
        if "://" not in url or url.endswith("://"):
            continue
        parts.append(_inert(text[position : found.start()]))
        parts.append(f"<{escape(url)}>")
        position = found.start() + len(url)
    parts.append(_inert(text[position:]))
    return "".join(parts)


def link(url: str) -> str:
    """A web address as a link showing itself, or as inert text if it is not http(s)."""
    clean = _trim_url(url.strip())
    if _URL.fullmatch(clean):
        return f"<{escape(clean)}>"
    return plain(url)


def fit(text: str, limit: int, *, links: bool = True) -> str:
    """`text` rendered by `mrkdwn` (by `plain` without `links`), cut so that the result
    is at most `limit` characters, with an ellipsis when cut."""
    convert = mrkdwn if links else plain
    rendered = convert(text)
    if len(rendered) <= limit:
        return rendered
    keep = min(len(text), limit)
    while keep > 0:
        rendered = convert(text[:keep].rstrip() + ELLIPSIS)
        if len(rendered) <= limit:
            return rendered
        # Escaping makes text longer; shrink in proportion, and at least by one.
        keep = min(keep - 1, keep * limit // len(rendered))
    return ELLIPSIS


# Slack's markup in what people type: <@U123|name>, <#C123|name>, <!here>, <url|label>.
_MARKUP = re.compile(r"<([^<>]*)>")


def _unmark(found: re.Match[str]) -> str:
    inner = found.group(1)
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or target[1:])
    if target.startswith("#"):
        return "#" + (label or target[1:])
    if target.startswith("!"):
        special = target[1:].split("^")[0]
        return label or f"@{special}"
    return label or target


def from_slack(text: str) -> str:
    """What someone typed in Slack as plain text: links, mentions and escapes undone."""
    return html.unescape(_MARKUP.sub(_unmark, text))


_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^<>]*)?>")


def mentioned_user(text: str) -> str | None:
    """The user id of a Slack mention (`<@U123|dana>`) that is the whole of `text`."""
    found = _USER.fullmatch(text.strip())
    return found.group(1) if found else None


def command_from_slack(text: str) -> str:
    """A slash command's text in the shared grammar, Slack's markup undone.

    `assign` keeps the person as their Slack user id (`U0123ABCD`), which is what claims
    record; CommandError if the person is not an @mention.
    """
    verb, _, rest = text.strip().partition(" ")
    if verb.lower() != "assign":
        return from_slack(text)
    number, _, person = rest.strip().partition(" ")
    if not person.strip():
        return from_slack(text)  # the grammar says what is missing
    user = mentioned_user(person)
    if user is None:
        raise CommandError("Name the person with an @mention, e.g. `/allhands assign 42 @dana`.")
    return f"assign {from_slack(number)} {user}"
