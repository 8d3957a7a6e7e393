"""What a Mastodon source reads: its settings, checked as the playbook is read, and the
streams (mentions, each hashtag, each search term) they ask for."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from pydantic import Field, field_validator, model_validator

from connectors.base import ConnectorConfig, SearchTerms
from connectors.jsonapi import web_address

_HASHTAG = re.compile(r"\w+")


class MastodonConfig(ConnectorConfig):
    """Settings of a Mastodon source."""

    instance: str = Field(description="the instance's address, e.g. https://mastodon.social")
    token: str = Field(default="", description="the account's access token (write ${VAR})")
    mentions: bool = Field(default=True, description="read mentions of the account")
    hashtags: list[str] = Field(default=[], description="hashtags to follow, without #")
    search: SearchTerms = Field(default=[], description="search terms to follow")
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    page_size: int = Field(default=40, ge=1, le=40)
    max_pages: int = Field(default=5, ge=1, le=100)
    rate_limit_reserve: int = Field(default=10, ge=0, le=300)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+mastodon)", min_length=1)

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        return web_address(value, what="an instance address", example="https://mastodon.example")

    @field_validator("hashtags")
    @classmethod
    def _hashtags(cls, value: list[str]) -> list[str]:
        tags = []
        for tag in value:
            name = tag.strip().removeprefix("#")
            if not _HASHTAG.fullmatch(name):
                raise ValueError(f"{tag!r} is not a hashtag; write letters, digits and _ only")
            tags.append(name)
        return tags

    @model_validator(mode="after")
    def _something_to_read(self) -> MastodonConfig:
        if self.mentions and not self.token:
            raise ValueError(
                "mentions need the account's token: add token: ${MASTODON_TOKEN},"
                " or set mentions: false and follow hashtags or search terms"
            )
        if not (self.mentions or self.hashtags or self.search):
            raise ValueError("nothing to read: set mentions: true, hashtags or search")
        return self


@dataclass(frozen=True, slots=True)
class Stream:
    """One thing to read: its cursor key, API path and fixed parameters."""

    key: str
    path: str
    params: tuple[tuple[str, str], ...]
    search: bool = False
    notifications: bool = False


def streams_of(config: MastodonConfig) -> list[Stream]:
    """What a source's settings ask to read: mentions, each hashtag, each search term."""
    limit = ("limit", str(config.page_size))
    streams = []
    if config.mentions:
        streams.append(
            Stream(
                "mentions",
                "/api/v1/notifications",
                (("types[]", "mention"), limit),
                notifications=True,
            )
        )
    for tag in config.hashtags:
        path = f"/api/v1/timelines/tag/{quote(tag, safe='')}"
        streams.append(Stream(f"tag:{tag.lower()}", path, (limit,)))
    for term in config.search:
        params = (("q", term), ("type", "statuses"), ("resolve", "false"), limit)
        streams.append(Stream(f"search:{term}", "/api/v2/search", params, search=True))
    return streams
