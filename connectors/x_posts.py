"""X's posts and users as API v2 sends them, and one page of a timeline turned into items.
Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.domain.mentions import Author, Item
from connectors.jsonapi import PlatformError

TWEET_FIELDS = "created_at,author_id,conversation_id,referenced_tweets,lang"
USER_FIELDS = "username,name,public_metrics"


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Ref(_Model):
    """A post this one refers to: `replied_to`, `quoted` or `retweeted`."""

    type: str
    id: str


class Tweet(_Model):
    """A post."""

    id: str = Field(min_length=1, max_length=30, pattern=r"^\d+$")
    text: str
    author_id: str = ""
    created_at: datetime | None = None
    conversation_id: str | None = None
    referenced_tweets: list[Ref] = []
    lang: str | None = None


class User(_Model):
    """An account, with `public_metrics.followers_count` when asked for."""

    id: str
    username: str = Field(min_length=1, max_length=50)
    name: str = ""
    public_metrics: dict[str, int] = {}


@dataclass
class Page:
    """One page of a timeline: its items, newest id, next page's token, and what was odd."""

    items: list[Item] = field(default_factory=list)
    newest: str | None = None
    next_token: str | None = None
    problems: list[str] = field(default_factory=list)


def id_order(value: str | None) -> tuple[int, str]:
    """Sort key for X's numeric ids."""
    return (len(value or ""), value or "")


def read_page(data: Any, *, me_id: str, key: str, web_url: str) -> Page:
    """The items of one page (our own posts and reposts left out); PlatformError if the
    page is not one."""
    if not isinstance(data, dict):
        raise PlatformError(f"{key} answered {type(data).__name__}, not a page of posts")
    meta = data.get("meta", {})
    tweets = data.get("data", [])
    if not isinstance(tweets, list) or not isinstance(meta, dict):
        raise PlatformError(f"{key} answered a page without a list of posts")
    page = Page()
    errors = data.get("errors")
    for error in errors if isinstance(errors, list) else []:
        page.problems.append(f"X left something out of {key}: {str(error)[:200]}")
    includes = data.get("includes")
    listed = includes.get("users") if isinstance(includes, dict) else None
    users: dict[str, User] = {}
    for raw in listed if isinstance(listed, list) else []:
        try:
            user = User.model_validate(raw)
        except ValidationError:
            continue
        users[user.id] = user
    for raw in tweets:
        try:
            tweet = Tweet.model_validate(raw)
        except ValidationError as exc:
            page.problems.append(f"skipped a post of {key}: {exc.errors()[0]['msg']}")
            continue
        if id_order(tweet.id) > id_order(page.newest):
            page.newest = tweet.id
        item = _item(tweet, users.get(tweet.author_id), me_id=me_id, web_url=web_url)
        if item is not None:
            page.items.append(item)
    token = meta.get("next_token")
    page.next_token = token if isinstance(token, str) and token else None
    return page


def _item(tweet: Tweet, user: User | None, *, me_id: str, web_url: str) -> Item | None:
    if tweet.author_id == me_id or any(r.type == "retweeted" for r in tweet.referenced_tweets):
        return None  # our own posts and reposts are not mentions
    handle = user.username if user else tweet.author_id or "unknown"
    parent = next((r.id for r in tweet.referenced_tweets if r.type == "replied_to"), None)
    followers = user.public_metrics.get("followers_count") if user else None
    return Item(
        external_id=tweet.id,
        text=tweet.text,
        author=Author(
            handle=handle,
            name=user.name if user else "",
            audience=followers if isinstance(followers, int) else None,
            url=f"{web_url}/{quote(handle, safe='')}",
        ),
        url=f"{web_url}/{quote(handle, safe='')}/status/{tweet.id}",
        created_at=tweet.created_at,
        language=tweet.lang if tweet.lang and tweet.lang != "und" else None,
        parent_id=parent,
        conversation_id=tweet.conversation_id,
    )
