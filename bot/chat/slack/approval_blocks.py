"""Block Kit for a lead's approval request: the held answer, why it waits, three buttons. Pure.

The request is a message in the lead's DM with the app. Approve runs `approve N`; Edit
and Reject open a modal (`edit_modal`, `reject_modal`) whose submission runs `edit N
<text>` or `reject N <reason>`. Once a lead has decided, every lead's request is drawn
again with the decision in place of the buttons. Every button value names the verb, the
mention and the held answer (`approve 42 7`): a value that does not read back exactly is
refused, and the answer's id, carried into the decision, keeps a click on an old request
from deciding a newer answer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.slack.blocks import (
    BUTTON_TEXT,
    FALLBACK_TEXT,
    INPUT_MAX,
    METADATA,
    MODAL_TITLE,
    Block,
    mrkdwn_text,
    plain_text,
    text_blocks,
)
from bot.chat.slack.text import escape, fit, link
from bot.chat.text import shorten


class ApprovalAction(StrEnum):
    """The buttons of an approval request."""

    APPROVE = "allhands_approve"
    EDIT = "allhands_edit"
    REJECT = "allhands_reject"

    @property
    def verb(self) -> str:
        """The command the button stands for."""
        return self.value.removeprefix("allhands_")


EDIT_VIEW = "allhands_approval_edit"  # the Edit modal's callback_id
REJECT_VIEW = "allhands_approval_reject"
EDIT_BLOCK = "allhands_approval_text"  # the Edit modal's text input (block and action id)
REASON_BLOCK = "allhands_approval_reason"
REASON_MAX = 500
TEXT_SECTIONS = 15  # sections for one text; a message holds at most 50 blocks
REASONS_SHOWN = 10

_VALUE = re.compile(r"(approve|edit|reject) ([1-9][0-9]{0,8}) ([1-9][0-9]{0,8})")
CHANNEL_ID = re.compile(r"[CDG][A-Z0-9]{2,30}")  # a conversation id, as Slack writes them
MESSAGE_TS = re.compile(r"[0-9]{1,12}\.[0-9]{1,9}")  # a message's ts


@dataclass(frozen=True, slots=True)
class ApprovalClick:
    """A click on an approval request's button: what to do, to which held answer."""

    verb: str
    mention: int
    reply: int


def button_value(verb: str, mention: int, reply: int) -> str:
    """The value of a button: the verb, the mention number, the held answer's id."""
    return f"{verb} {mention} {reply}"


def read_click(action_id: str, value: str) -> ApprovalClick | None:
    """The click a button's action id and value stand for; None unless allhands made them."""
    found = _VALUE.fullmatch(value)
    if found is None or action_id != f"allhands_{found.group(1)}":
        return None
    return ApprovalClick(found.group(1), int(found.group(2)), int(found.group(3)))


def _decision_blocks(decided: ApprovalDecision) -> list[Block]:
    when = f"{decided.at:%Y-%m-%d %H:%M} UTC"
    by = fit(decided.by, 200, links=False)
    if decided.state == "rejected":
        line = f":no_entry_sign: *Rejected by {by}* ({when}): {fit(decided.note, 1000)}"
        return [{"type": "section", "text": mrkdwn_text(line + "\nNothing was posted.")}]
    if decided.state == "edited":
        line = f":pencil2: *Edited and approved by {by}* ({when}). What goes out instead:"
        return [
            {"type": "section", "text": mrkdwn_text(line)},
            *text_blocks(decided.text, limit=TEXT_SECTIONS),
        ]
    line = f":white_check_mark: *Approved by {by}* ({when}), as written."
    return [{"type": "section", "text": mrkdwn_text(line)}]


def approval_message(
    request: ApprovalRequest, *, responder: str, decided: ApprovalDecision | None = None
) -> dict[str, Any]:
    """chat.postMessage / chat.update arguments for an approval request.

    `responder` is the writer's name, and `decided.by` the deciding lead's; every text but
    the fixed wording is escaped. Undecided, it has the three buttons; decided, it says
    who decided what, and when.
    """
    number = request.mention
    who = fit(responder, 200, links=False)
    if decided is None:
        intro = (
            f"*{who}*'s answer to *#{number}* waits for your approval."
            " Nothing is posted until a lead decides."
        )
    else:
        intro = f"*{who}*'s answer to *#{number}* waited for a lead's approval."
    where = f"To *@{fit(request.author or 'someone', 300, links=False)}*"
    if request.source:
        where += f" on {fit(request.source, 200, links=False)}"
    # The customer's post: a link only if it is a real web address, and showing itself.
    place = [mrkdwn_text(where)]
    if request.url:
        place.append(mrkdwn_text(link(request.url[:1500])))
    reasons = [f"• {fit(reason, 280, links=False)}" for reason in request.reasons[:REASONS_SHOWN]]
    if len(request.reasons) > REASONS_SHOWN:
        reasons.append(f"• and {len(request.reasons) - REASONS_SHOWN} more")
    why = "\n".join(["*Why it waits:*", *reasons]) if reasons else "*Why it waits:* (not given)"
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn_text(intro)},
        {"type": "context", "elements": place},
        {"type": "section", "text": mrkdwn_text(why)},
        {"type": "section", "text": mrkdwn_text("*It would post:*")},
        *text_blocks(request.text, limit=TEXT_SECTIONS),
    ]
    if decided is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"allhands_approval_{number}_{request.reply}",
                "elements": [
                    _button(ApprovalAction.APPROVE, "Approve", request, "primary"),
                    _button(ApprovalAction.EDIT, "Edit", request, None),
                    _button(ApprovalAction.REJECT, "Reject", request, "danger"),
                ],
            }
        )
        typed = (
            f"Or type `/allhands approve {number}`, `/allhands edit {number} <text>`"
            f" or `/allhands reject {number} <reason>`."
        )
        blocks.append({"type": "context", "elements": [mrkdwn_text(escape(typed))]})
        fallback = f"{responder}'s answer to #{number} waits for your approval: {request.text}"
    else:
        blocks.extend(_decision_blocks(decided))
        fallback = f"{responder}'s answer to #{number}: {decided.state} by {decided.by}"
    return {"text": fit(shorten(fallback, 500), FALLBACK_TEXT, links=False), "blocks": blocks}


def _button(
    action: ApprovalAction, label: str, request: ApprovalRequest, style: str | None
) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action.value,
        "text": plain_text(label, BUTTON_TEXT),
        "value": button_value(action.verb, request.mention, request.reply),
    }
    if style:
        button["style"] = style
    return button


@dataclass(frozen=True, slots=True)
class DecisionForm:
    """What an Edit or Reject modal carries: the held answer and the request message."""

    mention: int
    reply: int
    channel: str = ""  # the request message: the lead is answered in its conversation
    ts: str = ""


def _metadata(form: DecisionForm) -> str:
    data = {"mention": form.mention, "reply": form.reply, "channel": form.channel, "ts": form.ts}
    return json.dumps(data)[:METADATA]


def read_form(view: Mapping[str, Any]) -> DecisionForm | None:
    """The form a submitted modal carries; None if its metadata is not what allhands wrote."""
    try:
        data = json.loads(view.get("private_metadata") or "")
    except (json.JSONDecodeError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    mention, reply = data.get("mention"), data.get("reply")
    channel, ts = data.get("channel", ""), data.get("ts", "")
    numbers_ok = all(
        type(n) is int and 1 <= n <= 999_999_999  # bool is an int too: type(), not isinstance
        for n in (mention, reply)
    )
    if not numbers_ok or not isinstance(channel, str) or not isinstance(ts, str):
        return None
    if (channel or ts) and not (CHANNEL_ID.fullmatch(channel) and MESSAGE_TS.fullmatch(ts)):
        return None
    assert isinstance(mention, int) and isinstance(reply, int)
    return DecisionForm(mention, reply, channel, ts)


def submitted(view: Mapping[str, Any], block_id: str) -> str:
    """What was typed in a modal's input `block_id` (empty if nothing)."""
    values = (view.get("state") or {}).get("values") or {}
    typed = (values.get(block_id) or {}).get(block_id) or {}
    value = typed.get("value") if isinstance(typed, dict) else None
    return value if isinstance(value, str) else ""


def edit_modal(form: DecisionForm, *, responder: str, text: str) -> dict[str, Any]:
    """The Edit modal: the held answer in a text box; sending posts the lead's text."""
    intro = (
        f"*{fit(responder, 200, links=False)}*'s answer to #{form.mention}, for you to change."
        " What you send is checked by the team's guardrails, then posted in the customer's"
        " thread."
    )
    blocks: list[Block] = [{"type": "context", "elements": [mrkdwn_text(intro)]}]
    if len(text) > INPUT_MAX:
        long = (
            f"The answer is {len(text):,} characters and this box holds {INPUT_MAX:,}: only"
            f" its start is shown. For the whole text, type `/allhands edit {form.mention} <text>`."
        )
        blocks.append({"type": "context", "elements": [mrkdwn_text(escape(long))]})
    text_input: Block = {
        "type": "plain_text_input",
        "action_id": EDIT_BLOCK,
        "multiline": True,
        "max_length": INPUT_MAX,
    }
    if text:
        # An input's value is shown as it is, never read as markup: no escaping here.
        text_input["initial_value"] = text[:INPUT_MAX]
    blocks.append(
        {
            "type": "input",
            "block_id": EDIT_BLOCK,
            "label": plain_text("What the customer will read", 2000),
            "element": text_input,
        }
    )
    return {
        "type": "modal",
        "callback_id": EDIT_VIEW,
        "private_metadata": _metadata(form),
        "title": plain_text(f"Edit #{form.mention}", MODAL_TITLE),
        "submit": plain_text("Approve", MODAL_TITLE),
        "close": plain_text("Cancel", MODAL_TITLE),
        "blocks": blocks,
    }


def reject_modal(form: DecisionForm, *, responder: str) -> dict[str, Any]:
    """The Reject modal: why; the writer is told, nothing is posted."""
    intro = (
        f"Nothing will be posted. *{fit(responder, 200, links=False)}* is told your reason"
        f" and can write a new answer to #{form.mention}."
    )
    return {
        "type": "modal",
        "callback_id": REJECT_VIEW,
        "private_metadata": _metadata(form),
        "title": plain_text(f"Reject #{form.mention}", MODAL_TITLE),
        "submit": plain_text("Reject", MODAL_TITLE),
        "close": plain_text("Cancel", MODAL_TITLE),
        "blocks": [
            {"type": "context", "elements": [mrkdwn_text(intro)]},
            {
                "type": "input",
                "block_id": REASON_BLOCK,
                "label": plain_text("Why", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": REASON_BLOCK,
                    "max_length": REASON_MAX,
                    "placeholder": plain_text("e.g. too sharp; please soften it", 150),
                },
            },
        ],
    }
