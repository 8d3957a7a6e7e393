"""App Store: an app's customer reviews through the App Store Connect API; an answer is
the review's developer response (posting again replaces it).

Authentication is a short-lived JWT signed with ES256 by an API key (issuer id, key id and
the `.p8` private key from App Store Connect → Users and Access → Integrations), renewed
before its 20 minutes are up. Reviews are read newest first (`sort=-createdDate`) back to
where the last poll stopped, following `links.next`. The star rating goes on the card and
into triage. `X-Rate-Limit: user-hour-lim:…;user-hour-rem:…` is honoured.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import jwt
import yarl
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import DeliveryError
from connectors.app_reviews import AppReviewsConnector, ReviewPage
from connectors.base import ConnectorConfig, ExternalRef, Limits
from connectors.jsonapi import PlatformError, web_address
from connectors.oauth import AccessToken, read_secret

log = logging.getLogger(__name__)

MAX_RESPONSE = 5970  # characters Apple allows in a review response
TOKEN_LIFETIME = timedelta(minutes=19)  # Apple refuses tokens that live longer than 20
AUDIENCE = "appstoreconnect-v1"
_REMAINING = re.compile(r"user-hour-rem:(\d+)")


class AppStoreConfig(ConnectorConfig):
    """Settings of an App Store source."""

    app_id: str = Field(description="the app's Apple ID (digits)")
    issuer_id: str = Field(min_length=1, description="the API keys' issuer id")
    key_id: str = Field(min_length=1, description="the API key's id")
    private_key: str = Field(default="", description="the .p8 key's text (write ${VAR})")
    private_key_file: str = Field(default="", description="or the .p8 file's path")
    api: str = "https://api.appstoreconnect.apple.com"
    web_url: str = "https://apps.apple.com"
    page_size: int = Field(default=100, ge=1, le=200)
    max_pages: int = Field(default=5, ge=1, le=100)
    rate_limit_reserve: int = Field(default=50, ge=0, le=3600)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+appstore)", min_length=1)

    @field_validator("api", "web_url")
    @classmethod
    def _address(cls, value: str) -> str:
        return web_address(value)

    @field_validator("app_id", mode="before")
    @classmethod
    def _apple_id(cls, value: object) -> str:
        text = str(value).strip()
        if not re.fullmatch(r"\d{1,20}", text):
            raise ValueError(
                f"{text!r} is not an Apple ID; write the app's digits, e.g. '1234567890'"
                " (App Store Connect → the app → App Information)"
            )
        return text

    @model_validator(mode="after")
    def _key(self) -> AppStoreConfig:
        if not (self.private_key.strip() or self.private_key_file):
            raise ValueError("the API key is missing: set private_key or private_key_file")
        return self


class _Review(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    rating: int = Field(ge=1, le=5)
    title: str = ""
    body: str = ""
    reviewerNickname: str = ""  # Apple's names
    createdDate: datetime
    territory: str = ""


class AppStoreConnector(AppReviewsConnector):
    """Reads an app's App Store reviews; answers with the review's developer response."""

    kind: ClassVar[str] = "appstore"
    Config: ClassVar[type[ConnectorConfig]] = AppStoreConfig
    limits = Limits(max_length=MAX_RESPONSE)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._key: str | None = None

    @property
    def settings(self) -> AppStoreConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, AppStoreConfig)
        return self.config

    async def _sign_in(self, stale: AccessToken | None) -> AccessToken:
        """A new ES256 token for the API key."""
        config = self.settings
        if self._key is None:
            try:
                key = await read_secret(
                    config.private_key, config.private_key_file, "the App Store Connect key"
                )
                self._key = key.replace("\\n", "\n")  # a key pasted into one variable
            except ValueError as exc:
                raise PlatformError(str(exc), transient=False) from None
        now = self.clock.now()
        claims = {
            "iss": config.issuer_id,
            "iat": int(now.timestamp()),
            "exp": int((now + TOKEN_LIFETIME).timestamp()),
            "aud": AUDIENCE,
        }
        try:
            token = jwt.encode(
                claims, self._key, algorithm="ES256", headers={"kid": config.key_id, "typ": "JWT"}
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise PlatformError(
                f"the App Store Connect key cannot sign ({type(exc).__name__}); it must be"
                " the .p8 file's text, -----BEGIN PRIVATE KEY----- included",
                transient=False,
            ) from None
        return AccessToken(value=token, expires_at=now + TOKEN_LIFETIME)

    async def _page(self, token: str | None) -> ReviewPage:
        config = self.settings
        path = f"/v1/apps/{quote(config.app_id, safe='')}/customerReviews"
        params: list[tuple[str, str]] = [
            ("sort", "-createdDate"),
            ("limit", str(config.page_size)),
            ("fields[customerReviews]", "rating,title,body,reviewerNickname,createdDate,territory"),
        ]
        if token is not None:
            params.append(("cursor", token))
        answer = await self._call("GET", path, params=params)
        data = answer.data.get("data") if isinstance(answer.data, dict) else None
        if not isinstance(data, list):
            raise PlatformError(f"{path} answered without a list of reviews")
        wait = None
        remaining = _remaining(answer.headers.get("X-Rate-Limit", ""))
        if remaining is not None and remaining <= config.rate_limit_reserve:
            wait = 3600.0  # the window is an hour; Apple does not say when it resets
            log.info("%s: %d calls left this hour; waiting", self.source_id, remaining)
        return ReviewPage(entries=data, next_token=_next_cursor(answer.data), wait=wait)

    def _item(self, entry: Any) -> Item | None:
        ident = entry.get("id") if isinstance(entry, dict) else None
        if not isinstance(ident, str) or not ident or len(ident) > 200:
            return None
        try:
            review = _Review.model_validate(entry.get("attributes"))
        except ValidationError as exc:
            log.warning("%s: skipped review %.40r: %s", self.source_id, ident, exc.errors()[0])
            return None
        config = self.settings
        return Item(
            external_id=ident,
            text=review.body,
            title=review.title,
            author=Author(handle=review.reviewerNickname or "App Store customer"),
            url=f"{config.web_url}/app/id{config.app_id}?see-all=reviews",
            created_at=review.createdDate,
            rating=review.rating,
            raw={"territory": review.territory},
        )

    def posting_as(self) -> str:
        """Responses appear as the app's developer."""
        return f"the developer of app {self.settings.app_id} on the App Store (a public response)"

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Post (or replace) the developer response to the review."""
        if len(text) > MAX_RESPONSE:
            raise DeliveryError(
                f"the response is {len(text):,} characters; Apple allows {MAX_RESPONSE:,}",
                permanent=True,
            )
        body = {
            "data": {
                "type": "customerReviewResponses",
                "attributes": {"responseBody": text},
                "relationships": {
                    "review": {"data": {"type": "customerReviews", "id": mention.external_id}}
                },
            }
        }
        try:
            # Creating a response replaces the one there was, so a retried send cannot
            # leave two answers under one review.
            answer = await self._call("POST", "/v1/customerReviewResponses", body=body)
        except PlatformError as exc:
            if exc.status in (403, 404, 409):
                raise DeliveryError(
                    f"Apple did not take the response ({exc}); the review may be gone, or the"
                    " key's role may not allow answering (Customer Support or Admin)",
                    permanent=True,
                ) from None
            raise exc.delivery_error() from None
        data = answer.data.get("data") if isinstance(answer.data, dict) else None
        ident = data.get("id") if isinstance(data, dict) else None
        return ExternalRef(id=ident if isinstance(ident, str) else "", url=mention.url)


def _remaining(header: str) -> int | None:
    found = _REMAINING.search(header)
    return int(found.group(1)) if found else None


def _next_cursor(data: Any) -> str | None:
    """The `cursor` of `links.next`; only the cursor is used, never the link's host."""
    links = data.get("links") if isinstance(data, dict) else None
    link = links.get("next") if isinstance(links, dict) else None
    if not isinstance(link, str):
        return None
    value = yarl.URL(link).query.get("cursor")
    return value if value and len(value) <= 1000 else None
