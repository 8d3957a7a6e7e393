"""Bluesky's posts, profiles and references as the XRPC lexicons send them and the items
they become, where a newest-first stream was left (the cursor), and record keys. Pure: no
I/O."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.mentions import Author, Item, Mention

log = logging.getLogger(__name__)

POST = "app.bsky.feed.post"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)


class Profile(_Model):
    """An account as a post or notification shows its author."""

    did: str = Field(min_length=1, max_length=2048)
    handle: str = Field(min_length=1, max_length=253)
    displayName: str = ""  # the lexicon's names


class StrongRef(_Model):
    """A reference to one version of a record: its uri and content id."""

    uri: str = Field(min_length=1, max_length=8192)
    cid: str = Field(min_length=1, max_length=512)


class ReplyRef(_Model):
    """Where a reply stands: its thread's root and the post it answers."""

    root: StrongRef
    parent: StrongRef


class PostRecord(_Model):
    """The record of a post: its text, time, thread and languages."""

    type: str = Field(alias="$type")
    text: str = ""
    createdAt: datetime | None = None
    reply: ReplyRef | None = None
    langs: list[str] = []


class Entry(_Model):
    """A notification or a post view: both carry these."""

    uri: str = Field(min_length=1, max_length=8192)
    cid: str = Field(min_length=1, max_length=512)
    author: Profile
    record: dict[str, Any]
    indexedAt: datetime
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Edge:
    """Where a newest-first stream was left: the newest time handed over and recent uris."""

    at: datetime
    seen: tuple[str, ...]

    def dump(self) -> dict[str, Any]:
        """The edge as JSON-ready values, for the cursor."""
        return {"at": self.at.isoformat(), "seen": list(self.seen)}


def entry_item(entry: Entry, *, web_url: str) -> Item | None:
    """The item an entry holds, with links into the web app at `web_url`; None if its record
    is not a post."""
    try:
        record = PostRecord.model_validate(entry.record)
    except ValidationError:
        return None
    if record.type != POST:
        return None
    return Item(
        external_id=entry.uri,
        text=record.text,
        author=Author(
            handle=entry.author.handle,
            name=entry.author.displayName,
            url=f"{web_url}/profile/{quote(entry.author.handle, safe='')}",
        ),
        url=post_url(web_url, entry.author.handle, entry.uri),
        created_at=record.createdAt or entry.indexedAt,
        language=record.langs[0] if record.langs else None,
        parent_id=record.reply.parent.uri if record.reply else None,
    )


def post_url(web_url: str, handle: str, uri: str) -> str:
    """The web app's address of the post `uri` by `handle`."""
    rkey = uri.rsplit("/", 1)[-1]
    return f"{web_url}/profile/{quote(handle, safe='')}/post/{quote(rkey, safe='')}"


_TID_DIGITS = "234567abcdefghijklmnopqrstuvwxyz"


def record_key(mention: Mention, key: str) -> str:
    """A record key (a TID, as post keys must be) that is the same for every try of one
    answer: the mention's time, plus a part of a second and a clock id from `key`."""
    digest = int.from_bytes(hashlib.sha256(f"{mention.external_id}|{key}".encode()).digest()[:8])
    when = mention.created_at or mention.received_at
    micros = int(when.timestamp() * 1_000_000) + digest % 1_000_000
    value = ((micros & ((1 << 53) - 1)) << 10) | (digest >> 54)
    return "".join(_TID_DIGITS[(value >> (60 - 5 * i)) & 31] for i in range(13))


def timestamp(when: datetime) -> str:
    """An atproto datetime: UTC with milliseconds and a Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def load_cursor(text: str | None, source_id: str) -> dict[str, Edge]:
    """Each stream's edge from a stored cursor; none (start from the newest) if unreadable."""
    if not text:
        return {}
    try:
        data = json.loads(text)
        edges = {}
        for key, value in data.items():
            seen = value["seen"]
            if not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
                raise ValueError("seen is not a list of uris")
            edges[str(key)] = Edge(at=datetime.fromisoformat(value["at"]), seen=tuple(seen))
        return edges
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning(
            "%s: cursor %.80r is not readable; starting from the newest posts", source_id, text
        )
        return {}
