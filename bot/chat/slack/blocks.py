"""Block Kit for allhands: cards, answers, the reply dialog and App Home. Pure.

Every string that reaches a text object goes through `bot.chat.slack.text` (escaped,
inert, links only as themselves) and is cut to Slack's limits; mrkdwn objects carrying
it are `verbatim` so that Slack adds no links or mentions of its own.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.chat import Ping
from bot.chat.cards import Card
from bot.chat.slack.text import fit, link
from bot.chat.text import shorten

# Slack's limits (Block Kit reference): text objects, blocks per surface, element text.
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_TEXT = 75
OPTION_TEXT = 75
CONTEXT_TEXT = 2000
MESSAGE_BLOCKS = 50
VIEW_BLOCKS = 100
MODAL_TITLE = 24
INPUT_MAX = 3000
FALLBACK_TEXT = 3000  # Slack cuts `text` at 40,000; notifications show far less
METADATA = 3000

Block = dict[str, Any]


class ActionId(StrEnum):
    """What a button, menu or input in allhands' Block Kit does."""

    CLAIM = "allhands_claim"
    REPLY = "allhands_reply"
    RESOLVE = "allhands_resolve"
    SNOOZE = "allhands_snooze"
    RELEASE = "allhands_release"
    REOPEN = "allhands_reopen"
    TEMPLATE = "allhands_template"
    REPLY_TEXT = "allhands_reply_text"


REPLY_VIEW = "allhands_reply"  # the reply dialog's callback_id
REPLY_ALL_VIEW = "allhands_reply_all"  # an incident's one-answer-for-everyone dialog
REPLY_ALL_BLOCK = "allhands_reply_text_all"
REPLY_TEXT_BLOCK = "allhands_reply_text"  # + "_<version>": a new id makes Slack refill it
COUNT_BLOCK = "allhands_reply_count"
TEMPLATE_BLOCK = "allhands_reply_template"

# card action -> (action id, button label, style)
_BUTTONS: dict[str, tuple[ActionId, str, str | None]] = {
    "claim": (ActionId.CLAIM, "Claim", "primary"),
    "reply": (ActionId.REPLY, "Reply", None),
    "resolve": (ActionId.RESOLVE, "Resolve", None),
    "release": (ActionId.RELEASE, "Release", None),
    "reopen": (ActionId.REOPEN, "Reopen", None),
}
SNOOZE_CHOICES: tuple[tuple[str, str], ...] = (
    ("30m", "30 minutes"),
    ("2h", "2 hours"),
    ("1d", "1 day"),
    ("3d", "3 days"),
)


def mrkdwn_text(text: str) -> Block:
    """A mrkdwn text object for text already made safe; Slack adds nothing to it."""
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def plain_text(text: str, limit: int) -> Block:
    """A plain_text object: untrusted text made inert and cut to `limit`."""
    return {"type": "plain_text", "text": fit(text, limit, links=False) or " ", "emoji": True}


def card_actions(card: Card, *, block_id: str | None = None) -> Block:
    """The card's buttons (and the snooze menu) for what can be done in its state."""
    elements: list[Block] = []
    value = card.ref or str(card.number)  # an incident's buttons act on `I7`
    for action in card.actions:
        if action == "snooze":
            elements.append(
                {
                    "type": "static_select",
                    "action_id": ActionId.SNOOZE.value,
                    "placeholder": plain_text("Snooze", OPTION_TEXT),
                    "options": [
                        {"text": plain_text(label, OPTION_TEXT), "value": f"{value} {duration}"}
                        for duration, label in SNOOZE_CHOICES
                    ],
                }
            )
            continue
        if action not in _BUTTONS:
            continue
        action_id, label, style = _BUTTONS[action]
        button: Block = {
            "type": "button",
            "action_id": action_id.value,
            "text": plain_text(label, BUTTON_TEXT),
            "value": value,
        }
        if style:
            button["style"] = style
        elements.append(button)
    return {
        "type": "actions",
        "block_id": block_id or f"allhands_card_{card.number}",
        "elements": elements,
    }


def card_fallback(card: Card) -> str:
    """The notification text of a card: title, who, and the start of what they wrote."""
    return fit(
        f"{card.title} — {card.author}: {shorten(card.text, 280)}", FALLBACK_TEXT, links=False
    )


def card_message(card: Card) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments (text and blocks) for a mention card."""
    who = f"*{fit(card.author, 1000)}* on {fit(card.where, 200)}"
    blocks: list[Block] = [
        {"type": "header", "text": plain_text(card.title, HEADER_TEXT)},
        {"type": "context", "elements": [mrkdwn_text(who)]},
        {"type": "section", "text": mrkdwn_text(fit(card.text or "(no text)", SECTION_TEXT))},
    ]
    if card.url:
        blocks.append(
            {"type": "context", "elements": [mrkdwn_text("Original: " + link(card.url[:1500]))]}
        )
    blocks.append({"type": "context", "elements": [mrkdwn_text(fit(card.status, CONTEXT_TEXT))]})
    if card.actions:
        blocks.append(card_actions(card))
    return {"text": card_fallback(card), "blocks": blocks}


def text_blocks(text: str, *, limit: int = MESSAGE_BLOCKS, size: int = SECTION_TEXT) -> list[Block]:
    """Untrusted multi-line text as sections of at most `size` characters each."""
    blocks: list[Block] = []
    chunk: list[str] = []
    used = 0
    for line in text.splitlines() or [""]:
        rendered = fit(line, size - 1)
        if chunk and used + len(rendered) + 1 > size:
            blocks.append({"type": "section", "text": mrkdwn_text("\n".join(chunk))})
            chunk, used = [], 0
        chunk.append(rendered)
        used += len(rendered) + 1
    if chunk:
        blocks.append({"type": "section", "text": mrkdwn_text("\n".join(chunk) or " ")})
    if len(blocks) > limit:
        blocks = [*blocks[: limit - 1], {"type": "section", "text": mrkdwn_text("…")}]
    return blocks


def text_message(text: str, *, ping: Ping | None = None) -> dict[str, Any]:
    """Arguments (text and blocks) for a message of untrusted text.

    `ping` ("here" or "channel", from a team's playbook, never from the text) puts Slack's
    own `<!here>` or `<!channel>` in front: the only mention allhands ever writes.
    """
    mark = f"<!{ping}> " if ping in ("here", "channel") else ""
    blocks = text_blocks(text, size=SECTION_TEXT - len(mark))
    first = blocks[0]["text"]
    first["text"] = (mark + first["text"]).strip() or " "
    fallback = mark + fit(text, FALLBACK_TEXT - len(mark), links=False)
    return {"text": fallback, "blocks": blocks}


@dataclass(frozen=True, slots=True)
class ReplyForm:
    """What the reply dialog shows: the mention, the templates, the text and its count."""

    number: int
    author: str
    source: str
    mention_text: str
    templates: tuple[str, ...]
    text: str
    count_note: str
    version: int = 0
    template: str | None = None
    origin: dict[str, str] | None = None  # where the dialog was opened: channel or home


def reply_text_block_id(version: int) -> str:
    """The id of the reply text input for a version of the dialog."""
    return f"{REPLY_TEXT_BLOCK}_{version}"


def reply_modal(form: ReplyForm) -> dict[str, Any]:
    """The reply dialog (a modal view): template picker, text with a live count."""
    metadata = json.dumps(
        {"number": form.number, "version": form.version, "origin": form.origin or {}}
    )
    blocks: list[Block] = [
        {
            "type": "context",
            "elements": [
                mrkdwn_text(f"*{fit(form.author, 500)}* wrote on {fit(form.source, 200)}:")
            ],
        },
        {
            "type": "section",
            "text": mrkdwn_text(fit(shorten(form.mention_text, 1200), SECTION_TEXT)),
        },
    ]
    if form.templates:
        select: Block = {
            "type": "static_select",
            "action_id": ActionId.TEMPLATE.value,
            "placeholder": plain_text("Start from a template", OPTION_TEXT),
            "options": [
                {"text": plain_text(name, OPTION_TEXT), "value": name[:150]}
                for name in form.templates[:100]
            ],
        }
        if form.template in form.templates:
            select["initial_option"] = {
                "text": plain_text(form.template, OPTION_TEXT),
                "value": form.template[:150],
            }
        blocks.append({"type": "actions", "block_id": TEMPLATE_BLOCK, "elements": [select]})
    text_input: Block = {
        "type": "plain_text_input",
        "action_id": ActionId.REPLY_TEXT.value,
        "multiline": True,
        "max_length": INPUT_MAX,
        "dispatch_action_config": {"trigger_actions_on": ["on_character_entered"]},
        "placeholder": plain_text("What the customer will read, in their thread", 150),
    }
    if form.text:
        text_input["initial_value"] = form.text[:INPUT_MAX]
    blocks.append(
        {
            "type": "input",
            "block_id": reply_text_block_id(form.version),
            "dispatch_action": True,
            "label": plain_text("Your reply", 2000),
            "element": text_input,
        }
    )
    blocks.append(
        {
            "type": "context",
            "block_id": COUNT_BLOCK,
            "elements": [mrkdwn_text(fit(form.count_note, CONTEXT_TEXT))],
        }
    )
    return {
        "type": "modal",
        "callback_id": REPLY_VIEW,
        "private_metadata": metadata[:METADATA],
        "title": plain_text(f"Reply to #{form.number}", MODAL_TITLE),
        "submit": plain_text("Send", MODAL_TITLE),
        "close": plain_text("Cancel", MODAL_TITLE),
        "blocks": blocks,
    }


def _card_summary(card: Card, place: int) -> list[Block]:
    text = (
        f"*{fit(card.title, 300)}*\n{fit(card.author, 500)}: {fit(shorten(card.text, 280), 2000)}"
        f"\n_{fit(card.status, 1000)}_"
    )
    blocks: list[Block] = [{"type": "section", "text": mrkdwn_text(text)}]
    if card.actions:
        blocks.append(card_actions(card, block_id=f"allhands_home_{place}_{card.number}"))
    return blocks


@dataclass(frozen=True, slots=True)
class HomeQueue:
    """One team's open mentions for App Home, and how many there are in all."""

    team: str
    cards: tuple[Card, ...]
    total: int


def home_view(
    *,
    mine: Sequence[Card],
    mine_total: int,
    queues: Sequence[HomeQueue],
    notice: str | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """The App Home tab: my claimed mentions, then my teams' open queues, with buttons."""
    blocks: list[Block] = []
    if notice:
        blocks.append({"type": "section", "text": mrkdwn_text(fit(notice, SECTION_TEXT))})
        blocks.append({"type": "divider"})
    blocks.append({"type": "header", "text": plain_text(f"Yours ({mine_total})", HEADER_TEXT)})
    if not mine:
        blocks.append({"type": "context", "elements": [mrkdwn_text("Nothing claimed. Well done.")]})
    for place, card in enumerate(mine):
        blocks.extend(_card_summary(card, place))
    if mine_total > len(mine):
        more = f"and {mine_total - len(mine)} more: `/allhands list mine`"
        blocks.append({"type": "context", "elements": [mrkdwn_text(more)]})
    if note:
        blocks.append({"type": "context", "elements": [mrkdwn_text(fit(note, CONTEXT_TEXT))]})
    for number, queue in enumerate(queues, start=1):
        blocks.append({"type": "divider"})
        title = f"Open in {queue.team} ({queue.total})"
        blocks.append({"type": "header", "text": plain_text(title, HEADER_TEXT)})
        if not queue.cards:
            blocks.append({"type": "context", "elements": [mrkdwn_text("Nothing waiting.")]})
        for place, card in enumerate(queue.cards):
            blocks.extend(_card_summary(card, 1000 * number + place))
        if queue.total > len(queue.cards):
            more = (
                f"and {queue.total - len(queue.cards)} more: `/allhands list team` in its channel"
            )
            blocks.append({"type": "context", "elements": [mrkdwn_text(more)]})
    if len(blocks) > VIEW_BLOCKS:
        blocks = blocks[: VIEW_BLOCKS - 1]
        blocks.append({"type": "context", "elements": [mrkdwn_text("(more not shown)")]})
    return {"type": "home", "blocks": blocks}


def reply_all_modal(incident: str, *, why: str, origin: dict[str, str]) -> dict[str, Any]:
    """The dialog for `reply-all I7 <text>`: one text, personalised for each customer."""
    metadata = json.dumps({"incident": incident, "origin": origin})
    return {
        "type": "modal",
        "callback_id": REPLY_ALL_VIEW,
        "private_metadata": metadata[:METADATA],
        "title": plain_text(f"Answer all of {incident}", MODAL_TITLE),
        "submit": plain_text("Send to everyone", MODAL_TITLE),
        "close": plain_text("Cancel", MODAL_TITLE),
        "blocks": [
            {
                "type": "section",
                "text": mrkdwn_text(
                    fit(
                        f"*{incident}* {why}: each customer gets this once, checked by the"
                        " guardrails for them and their platform. `{name}` and `{author}` become"
                        " each one's name and handle.",
                        SECTION_TEXT,
                    )
                ),
            },
            {
                "type": "input",
                "block_id": REPLY_ALL_BLOCK,
                "label": plain_text("The answer", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ActionId.REPLY_TEXT.value,
                    "multiline": True,
                    "max_length": INPUT_MAX,
                },
            },
        ],
    }
