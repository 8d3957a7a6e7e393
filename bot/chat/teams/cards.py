"""What allhands sends to Teams, as Bot Framework activities and Adaptive Cards. Pure.

Strangers' text never reaches a place where Teams interprets markup: on cards it is put
in TextRun elements (which render no Markdown), in messages it is escaped for Teams'
Markdown and HTML, and no activity carries a mention entity built from it. A lead's
approval card is built in `approval_cards`.
"""

from __future__ import annotations

import base64
import html
import re
from typing import Any

from bot.chat.cards import Card
from bot.domain.mentions import State

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
CARD_VERSION = "1.4"  # what Teams renders on desktop, web and mobile

# The `data` of every button names the verb and the mention number; inputs add the rest.
VERB_KEY = "allhands"
NUMBER_KEY = "number"
REPLY_INPUT = "reply_text"
SNOOZE_INPUT = "snooze_for"
SNOOZE_CHOICES = (("1 hour", "1h"), ("4 hours", "4h"), ("1 day", "1d"), ("2 days", "2d"))
REPLY_MAX = 10_000
# An approval card's buttons also name the held answer they are about, so that a card
# left over from an earlier answer can never decide a newer one.
HELD_KEY = "held"
EDIT_INPUT = "edit_text"
REJECT_INPUT = "reject_reason"
REASON_MAX = 500
# An incident's card (`I7`) has its own buttons: they name the incident, never a number.
INCIDENT_KEY = "incident"
REPLY_ALL_INPUT = "reply_all_text"
_INCIDENT_REF = re.compile(r"I[1-9][0-9]{0,8}")

_TITLES = {
    "claim": "Claim",
    "reply": "Reply",
    "resolve": "Resolve",
    "snooze": "Snooze",
    "release": "Release",
    "reopen": "Reopen",
}
_STATE_COLOUR = {
    State.NEW: "Attention",
    State.OPEN: "Attention",
    State.REOPENED: "Attention",
    State.CLAIMED: "Accent",
    State.ANSWERED: "Good",
    State.RESOLVED: "Good",
    State.IGNORED: "Default",
}

# Markdown that Teams renders inside a line: emphasis, code, links, strike-through.
_MARKDOWN_INLINE = re.compile(r"([\\`*_\[\]~|])")
# Markdown that only counts at the start of a line: headings, rules, lists.
_MARKDOWN_LINE_START = re.compile(r"^[#=+-]")
_MARKDOWN_NUMBERED = re.compile(r"^(\d+)([.)])")
# Characters that carry meaning in any of Teams' formats; a notification preview needs none.
_MARKUP = re.compile(r"[<>\[\]()*_`~#|\\&]")


def escape_markdown(text: str) -> str:
    """Untrusted text made inert for a Teams message: no HTML, no Markdown, no mentions.

    HTML characters become entities (so `<at>` is text, not a mention), Markdown
    punctuation is backslash-escaped (so `[text](url)` cannot disguise a link), and
    each line becomes its own paragraph, because Teams joins single line breaks.
    """
    lines = []
    for line in text.splitlines() or [""]:
        line = html.escape(line.strip(), quote=False)
        line = _MARKDOWN_INLINE.sub(r"\\\1", line)
        line = _MARKDOWN_LINE_START.sub(r"\\\g<0>", line)
        line = _MARKDOWN_NUMBERED.sub(r"\1\\\2", line)
        lines.append(line)
    return "\n\n".join(line for line in lines if line) or " "


def inert(text: str, limit: int = 200) -> str:
    """Text for a field Teams may show unformatted (a preview): markup characters dropped."""
    flat = " ".join(_MARKUP.sub("", text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def text_activity(text: str) -> dict[str, Any]:
    """A message activity carrying untrusted text, escaped."""
    return {"type": "message", "textFormat": "markdown", "text": escape_markdown(text)}


def image_attachment(image: bytes, name: str) -> dict[str, Any]:
    """An inline PNG attachment: Teams shows a data URI image made in memory."""
    encoded = base64.b64encode(image).decode("ascii")
    return {
        "contentType": "image/png",
        "contentUrl": f"data:image/png;base64,{encoded}",
        "name": name,
    }


def text_run(text: str, **style: Any) -> dict[str, Any]:
    """A RichTextBlock of one TextRun: Adaptive Cards render no Markdown in a TextRun."""
    return {
        "type": "RichTextBlock",
        "inlines": [{"type": "TextRun", "text": text, **style}],
    }


def _data(verb: str, number: int) -> dict[str, Any]:
    return {VERB_KEY: verb, NUMBER_KEY: number}


def _action(verb: str, number: int) -> dict[str, Any]:
    title = _TITLES.get(verb, verb.capitalize())
    if verb == "reply":
        return {
            "type": "Action.ShowCard",
            "title": title,
            "card": {
                "type": "AdaptiveCard",
                "body": [
                    {
                        "type": "Input.Text",
                        "id": REPLY_INPUT,
                        "label": f"Your public answer to #{number}",
                        "placeholder": "Posted in the customer's thread, under the company account",
                        "isMultiline": True,
                        "maxLength": REPLY_MAX,
                        "isRequired": True,
                        "errorMessage": "Write the answer first.",
                    }
                ],
                "actions": [
                    {"type": "Action.Submit", "title": "Send reply", "data": _data(verb, number)}
                ],
            },
        }
    if verb == "snooze":
        return {
            "type": "Action.ShowCard",
            "title": title,
            "card": {
                "type": "AdaptiveCard",
                "body": [
                    {
                        "type": "Input.ChoiceSet",
                        "id": SNOOZE_INPUT,
                        "label": f"Hide #{number} for",
                        "value": "4h",
                        "choices": [{"title": t, "value": v} for t, v in SNOOZE_CHOICES],
                    }
                ],
                "actions": [
                    {"type": "Action.Submit", "title": "Snooze", "data": _data(verb, number)}
                ],
            },
        }
    return {"type": "Action.Submit", "title": title, "data": _data(verb, number)}


def _incident_action(verb: str, ref: str) -> dict[str, Any]:
    """Claim / Resolve / Reply-all on an incident's card; their data names `I7`."""
    if verb != "reply":
        title = _TITLES.get(verb, verb.capitalize())
        return {
            "type": "Action.Submit",
            "title": title,
            "data": {VERB_KEY: verb, INCIDENT_KEY: ref},
        }
    return {
        "type": "Action.ShowCard",
        "title": "Reply to all",
        "card": {
            "type": "AdaptiveCard",
            "body": [
                {
                    "type": "Input.Text",
                    "id": REPLY_ALL_INPUT,
                    "label": f"One public answer to every customer of {ref}",
                    "placeholder": "{author} becomes each customer's handle",
                    "isMultiline": True,
                    "maxLength": REPLY_MAX,
                    "isRequired": True,
                    "errorMessage": "Write the answer first.",
                }
            ],
            "actions": [
                {
                    "type": "Action.Submit",
                    "title": "Send to everyone",
                    "data": {VERB_KEY: "reply-all", INCIDENT_KEY: ref},
                }
            ],
        },
    }


def _actions(card: Card) -> list[dict[str, Any]]:
    if _INCIDENT_REF.fullmatch(card.ref):
        return [_incident_action(verb, card.ref) for verb in card.actions]
    if card.ref:  # a roll-up: nothing to click
        return []
    return [_action(verb, card.number) for verb in card.actions]


def adaptive_card(card: Card) -> dict[str, Any]:
    """The Adaptive Card for a mention card, with its buttons for the card's state."""
    body: list[dict[str, Any]] = [
        text_run(card.title, weight="Bolder", size="Medium"),
        text_run(f"{card.author} on {card.where}", isSubtle=True),
        text_run(card.text),
    ]
    if card.url:
        body.append(text_run(card.url, isSubtle=True, fontType="Monospace"))
    body.append(text_run(card.status, weight="Bolder", color=_STATE_COLOUR[card.state]))
    actions = _actions(card)
    if card.url.startswith(("https://", "http://")):
        actions.append({"type": "Action.OpenUrl", "title": "Open the post", "url": card.url})
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": inert(f"{card.title}: {card.text}"),
        "body": body,
        "actions": actions,
    }


def card_activity(card: Card, *, marker: str = "") -> dict[str, Any]:
    """A message activity carrying a mention card (its preview holds no customer text);
    `marker`, the id of its first element, lets the card be found again (`graph`)."""
    content = adaptive_card(card)
    if marker:
        content["body"][0]["id"] = marker
    return {
        "type": "message",
        "summary": inert(card.title),
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": content}],
    }


def channel_id_card(playbook_channel: str, note: str) -> dict[str, Any]:
    """A message showing a channel's id exactly, to copy into a playbook."""
    content = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "body": [
            text_run(note),
            text_run(f"channel: {playbook_channel}", fontType="Monospace", weight="Bolder"),
        ],
    }
    return {
        "type": "message",
        "summary": "This channel's id for playbooks",
        "attachments": [{"contentType": ADAPTIVE_CARD, "content": content}],
    }
