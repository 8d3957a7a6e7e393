"""Reading what Reddit answers: a Listing's children and the result of posting a comment
(whose refusals come inside a 200 answer, as `json.errors`)."""

from __future__ import annotations

import re
from typing import Any

from bot.errors import DeliveryError
from connectors.jsonapi import PlatformError

GONE_CODES = frozenset({"DELETED_COMMENT", "DELETED_LINK", "THREAD_LOCKED", "TOO_OLD"})


def listing(data: Any, path: str) -> tuple[list[Any], str | None]:
    """The children of a Listing and its `after` name; PlatformError if it is not one."""
    inner = data.get("data") if isinstance(data, dict) and data.get("kind") == "Listing" else None
    children = inner.get("children") if isinstance(inner, dict) else None
    if not isinstance(children, list):
        raise PlatformError(f"{path} answered something that is not a listing")
    after = inner.get("after") if isinstance(inner, dict) else None
    return children, after if isinstance(after, str) and after else None


def comment_result(data: Any) -> tuple[str, str]:
    """The posted comment's name and permalink ("" when not said); DeliveryError when
    Reddit refused it (a rate limit says how long to wait; the rest are final)."""
    result = data.get("json") if isinstance(data, dict) else None
    errors = result.get("errors") if isinstance(result, dict) else None
    if errors:
        first = errors[0] if isinstance(errors[0], list) else []
        code = str(first[0]) if first else "ERROR"
        detail = str(first[1]) if len(first) > 1 else ""
        if code == "RATELIMIT":
            raise DeliveryError(f"Reddit: {detail}", retry_after=_wait_in(detail) or 600.0)
        gone = " (the post was deleted, locked or archived)" if code in GONE_CODES else ""
        raise DeliveryError(f"Reddit refused the reply: {code} {detail}{gone}", permanent=True)
    found = (result or {}).get("data") if isinstance(result, dict) else None
    things = found.get("things") if isinstance(found, dict) else None
    first_thing = things[0] if isinstance(things, list) and things else None
    thing = first_thing.get("data") if isinstance(first_thing, dict) else None
    if not isinstance(thing, dict) or not isinstance(thing.get("name"), str):
        return "", ""
    permalink = thing.get("permalink")
    return thing["name"], permalink if isinstance(permalink, str) else ""


def _wait_in(text: str) -> float | None:
    """Seconds from Reddit's "try again in 3 minutes"."""
    found = re.search(r"(\d+) (minute|second)", text)
    if not found:
        return None
    return float(found.group(1)) * (60 if found.group(2) == "minute" else 1)
