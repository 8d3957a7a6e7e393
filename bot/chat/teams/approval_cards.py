"""A lead's approval of a held answer on Teams: the Adaptive Card that asks (Approve, Edit,
Reject) and the same card showing the decision once made. Pure.

Every text from people is in a TextRun, which Teams renders without Markdown; the Edit box
holds the answer as its value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.chat.approval import ApprovalDecision, ApprovalRequest
from bot.chat.teams.cards import (
    ADAPTIVE_CARD,
    CARD_VERSION,
    EDIT_INPUT,
    HELD_KEY,
    NUMBER_KEY,
    REASON_MAX,
    REJECT_INPUT,
    REPLY_MAX,
    VERB_KEY,
    inert,
    text_run,
)
from bot.chat.text import reveal_invisible, sentence


def _held_data(verb: str, request: ApprovalRequest) -> dict[str, Any]:
    return {VERB_KEY: verb, NUMBER_KEY: request.mention, HELD_KEY: request.reply}


def _decision_actions(request: ApprovalRequest) -> list[dict[str, Any]]:
    """Approve, Edit (the text pre-filled) and Reject (with a reason); labels name nobody."""
    number = request.mention
    return [
        {
            "type": "Action.Submit",
            "title": "Approve",
            "style": "positive",
            "data": _held_data("approve", request),
        },
        {
            "type": "Action.ShowCard",
            "title": "Edit",
            "card": {
                "type": "AdaptiveCard",
                "body": [
                    {
                        "type": "Input.Text",
                        "id": EDIT_INPUT,
                        "label": f"Your text for #{number}, posted instead of the answer above",
                        # An input's value is shown as typed, never rendered as Markdown.
                        "value": request.text,
                        "isMultiline": True,
                        "maxLength": REPLY_MAX,
                        "isRequired": True,
                        "errorMessage": "Write the answer to post.",
                    }
                ],
                "actions": [
                    {
                        "type": "Action.Submit",
                        "title": "Post my text",
                        "data": _held_data("edit", request),
                    }
                ],
            },
        },
        {
            "type": "Action.ShowCard",
            "title": "Reject",
            "card": {
                "type": "AdaptiveCard",
                "body": [
                    {
                        "type": "Input.Text",
                        "id": REJECT_INPUT,
                        "label": "Why not? The writer is told",
                        "placeholder": "e.g. too sharp, please soften it",
                        "maxLength": REASON_MAX,
                        "isRequired": True,
                        "errorMessage": "Say why, so the writer knows what to change.",
                    }
                ],
                "actions": [
                    {
                        "type": "Action.Submit",
                        "title": "Reject",
                        "style": "destructive",
                        "data": _held_data("reject", request),
                    }
                ],
            },
        },
    ]


_OUTCOME = {
    "approved": ("Approved", "Good"),
    "edited": ("Edited and approved", "Good"),
    "rejected": ("Rejected", "Attention"),
}


def _outcome_runs(outcome: ApprovalDecision, names: Mapping[str, str]) -> list[dict[str, Any]]:
    done, colour = _OUTCOME.get(outcome.state, (outcome.state.capitalize(), "Default"))
    line = f"{done} by {names.get(outcome.by, outcome.by)} at {outcome.at:%Y-%m-%d %H:%M} UTC"
    if outcome.state == "rejected":
        line += f": {sentence(reveal_invisible(outcome.note))} Nothing was posted."
    runs = [text_run(line, weight="Bolder", color=colour)]
    if outcome.state == "edited":
        runs += [
            text_run("Posted instead:", weight="Bolder"),
            text_run(reveal_invisible(outcome.text)),
        ]
    return runs


def approval_card(
    request: ApprovalRequest,
    *,
    names: Mapping[str, str] | None = None,
    outcome: ApprovalDecision | None = None,
) -> dict[str, Any]:
    """The Adaptive Card asking a lead to approve a held answer, or showing their decision.

    Every text from people (the answer, the customer's handle, the reasons, which quote
    the answer) is in a TextRun; the Edit box holds the answer as its value, to change.
    """
    names = names or {}
    responder = names.get(request.responder, request.responder)
    number = request.mention
    waits = outcome is None
    title = f"#{number}: {responder}'s answer" + (" waits for your approval" if waits else "")
    customer = f"To @{request.author} on {request.source}" if request.author else request.source
    body: list[dict[str, Any]] = [
        text_run(title, weight="Bolder", size="Medium"),
        text_run(reveal_invisible(customer), isSubtle=True),
    ]
    if request.url:
        body.append(text_run(request.url, isSubtle=True, fontType="Monospace"))
    body.append(text_run("Why it waits:", weight="Bolder"))
    body += [text_run(f"• {reveal_invisible(reason)}") for reason in request.reasons]
    body.append(text_run("It would post, exactly:" if waits else "The answer:", weight="Bolder"))
    body.append(text_run(reveal_invisible(request.text), fontType="Monospace"))
    if outcome is None:
        body.append(text_run("Nothing is posted until a lead decides.", isSubtle=True))
        actions = _decision_actions(request)
    else:
        body += _outcome_runs(outcome, names)
        actions = []
    if request.url.startswith(("https://", "http://")):
        actions.append({"type": "Action.OpenUrl", "title": "Open the post", "url": request.url})
    return {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": CARD_VERSION,
        "msteams": {"width": "Full"},
        "fallbackText": inert(f"#{number}: an answer waits for a lead's approval"),
        "body": body,
        "actions": actions,
    }


def approval_activity(
    request: ApprovalRequest,
    *,
    names: Mapping[str, str] | None = None,
    outcome: ApprovalDecision | None = None,
) -> dict[str, Any]:
    """A message carrying an approval card (its preview holds nobody's text)."""
    summary = f"Mention {request.mention}: " + (
        "an answer waits for your approval" if outcome is None else f"answer {outcome.state}"
    )
    return {
        "type": "message",
        "summary": inert(summary),
        "attachments": [
            {
                "contentType": ADAPTIVE_CARD,
                "content": approval_card(request, names=names, outcome=outcome),
            }
        ],
    }
