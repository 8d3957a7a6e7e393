"""Mastodon's statuses, accounts and notifications as the REST API sends them and the items
they become; ids, the `Link` header's newer page, a status's words and the cursor. Pure:
no I/O."""

from __future__ import annotations

import html
import json
import logging
import re
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import yarl
from pydantic import BaseModel, ConfigDict, Field

from bot.domain.mentions import Author, Item
from connectors.base import WEB_SCHEMES

log = logging.getLogger(__name__)


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Account(_Model):
    """An account as a status shows its author (or verify_credentials shows ours)."""

    id: str
    acct: str = Field(min_length=1, max_length=400)
    display_name: str = ""
    url: str | None = None
    followers_count: int | None = None


class Status(_Model):
    """A post."""

    id: str = Field(min_length=1, max_length=100)
    created_at: datetime | None = None
    content: str = ""
    spoiler_text: str = ""
    url: str | None = None
    uri: str = ""
    in_reply_to_id: str | None = None
    language: str | None = None
    visibility: str = "public"
    account: Account
    reblog: dict[str, Any] | None = None


class Notification(_Model):
    """A notification; a mention carries the status that mentions us."""

    id: str = Field(min_length=1, max_length=100)
    type: str
    status: Status | None = None


def id_order(value: str) -> tuple[int, str]:
    """Sort key for Mastodon ids: numeric strings compare by length first, then text."""
    return (len(value), value)


def web(url: str | None) -> str:
    """`url` if it is a web address (http or https), else the empty string."""
    return url if url and urlsplit(url).scheme.lower() in WEB_SCHEMES else ""


def status_item(status: Status, *, me: str | None) -> Item | None:
    """The item a status is; None for a boost or for our own account's (`me`) post."""
    if status.reblog is not None or (me is not None and status.account.id == me):
        return None  # boosts repeat someone else's post; our own posts are not mentions
    account = status.account
    return Item(
        external_id=status.id,
        text=status.content,
        # The content warning is plain text; escaped so that normalising keeps it as written.
        title=html.escape(status.spoiler_text, quote=False),
        author=Author(
            handle=account.acct,
            name=account.display_name,
            audience=account.followers_count,
            url=web(account.url),
        ),
        url=web(status.url) or web(status.uri),
        created_at=status.created_at,
        language=status.language,
        parent_id=status.in_reply_to_id,
        is_html=True,
    )


def words(text: str) -> str:
    """A status's words, to compare what we sent with the HTML Mastodon shows: tags gone,
    entities read, @mentions left out (shown as @user, sent as @user@host)."""
    plain = html.unescape(re.sub(r"<[^>]*>", "", re.sub(r"<br\s*/?>|</p>", "\n", text)))
    return " ".join(re.sub(r"(?<![\w])@[\w.@-]+", " ", plain).split())


def prev_min_id(links: dict[str, str]) -> str | None:
    """The `min_id` of the Link header's newer page; only the id is used, never the host."""
    prev = links.get("prev")
    if not prev:
        return None
    value = yarl.URL(prev).query.get("min_id")
    return value if value and len(value) <= 100 else None


def load_cursor(text: str | None, source_id: str) -> dict[str, str]:
    """Each stream's newest id from a stored cursor; none (start over) if unreadable."""
    if not text:
        return {}
    try:
        data = json.loads(text)
        if isinstance(data, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in data.items()
        ):
            return data
    except ValueError:
        pass
    # Starting over re-reads the newest page of each stream; the store drops repeats.
    log.warning("%s: cursor %.80r is not readable; starting from the newest posts", source_id, text)
    return {}
