"""What a signed request from Slack must look like before bolt sees it.

Slack signs only what Slack sends, but a leaked signing secret, a proxy's mistake or a test
tool can still deliver a body of the wrong shape; bolt's listeners (and ours) then fail deep
inside with a 500 and a traceback. These checks answer such a body with a short 400
instead. They follow Slack's documented payloads: slash commands (form fields), interaction
payloads (`payload=` JSON with `type`, `user`, and `actions` or `view`), and Events API
callbacks (JSON with an `event` object).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_USER_PAYLOADS = frozenset(
    {"block_actions", "view_submission", "view_closed", "shortcut", "message_action"}
)


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def shape_problem(body: Any) -> str | None:
    """Why a parsed request body is not one Slack would send, or None when it could be."""
    if not isinstance(body, Mapping):
        return "body is not an object"
    if body.get("command") is not None or (body.get("type") is None and "user_id" in body):
        return _command_problem(body)
    kind = body.get("type")
    if kind is not None and not isinstance(kind, str):
        return "type is not text"
    if "event" in body and not isinstance(body["event"], Mapping):
        # bolt reads body["event"] as an object before any listener is chosen.
        return "event is not an object"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, Mapping) or not _text(event.get("type")):
            return "event is not an object with a type"
        if not isinstance(event.get("user", ""), str):
            return "event.user is not text"
        return None
    if kind in _USER_PAYLOADS:
        user = body.get("user")
        if not isinstance(user, Mapping) or not _text(user.get("id")):
            return "user is not an object with an id"
    if kind == "block_actions":
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            return "actions is not a list"
        for action in actions:
            if not isinstance(action, Mapping) or not _text(action.get("action_id")):
                return "an action has no action_id"
            if not isinstance(action.get("value", ""), str):
                return "an action's value is not text"
        for key in ("channel", "message", "container", "view"):
            if body.get(key) is not None and not isinstance(body[key], Mapping):
                return f"{key} is not an object"
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, Mapping):
            return "view is not an object"
        for key in ("state", "private_metadata", "blocks"):
            expected = {"state": Mapping, "private_metadata": str, "blocks": list}[key]
            if view.get(key) is not None and not isinstance(view[key], expected):
                return f"view.{key} is not what Slack sends"
    return None


def _command_problem(body: Mapping[str, Any]) -> str | None:
    for key in ("command", "user_id", "channel_id", "response_url"):
        if not _text(body.get(key)):
            return f"a slash command without {key}"
    return None
