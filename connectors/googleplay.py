"""Google Play: an app's reviews through the Android Publisher API; an answer is the
developer reply under the review (replying again replaces it).

A service account signs in: a JWT (RS256) signed with its key is exchanged for an hour's
access token at Google's token endpoint (scope `androidpublisher`); the account needs
"Reply to reviews" in the Play Console. The API lists only reviews written or changed in
the last seven days, newest first; each poll reads back to where the last one stopped.
The star rating goes on the card and into triage; a reply may have 350 characters.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import jwt
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import DeliveryError
from connectors.app_reviews import AppReviewsConnector, ReviewPage
from connectors.base import ConnectorConfig, ExternalRef, Limits
from connectors.jsonapi import JsonApi, PlatformError, web_address
from connectors.oauth import AccessToken, read_secret, token_from_answer

log = logging.getLogger(__name__)

MAX_REPLY = 350
SCOPE = "https://www.googleapis.com/auth/androidpublisher"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_PACKAGE = re.compile(r"[A-Za-z]\w*(\.[A-Za-z]\w*)+")


class GooglePlayConfig(ConnectorConfig):
    """Settings of a Google Play source."""

    package_name: str = Field(description="the app's package, e.g. com.acme.app")
    service_account: str = Field(default="", description="the key's JSON text (write ${VAR})")
    service_account_file: str = Field(default="", description="or the key file's path")
    token_url: str = Field(default="", description="default: the key's token_uri")
    api: str = "https://androidpublisher.googleapis.com"
    web_url: str = "https://play.google.com"
    translation_language: str = Field(default="", max_length=10)
    page_size: int = Field(default=100, ge=1, le=100)
    max_pages: int = Field(default=10, ge=1, le=100)
    timeout: float = Field(default=20.0, gt=0, le=600)
    max_bytes: int = Field(default=5_000_000, ge=1024)
    user_agent: str = Field(default="allhands/0.1 (+googleplay)", min_length=1)

    @field_validator("api", "web_url")
    @classmethod
    def _address(cls, value: str) -> str:
        return web_address(value)

    @field_validator("package_name")
    @classmethod
    def _package(cls, value: str) -> str:
        if not _PACKAGE.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not a package name; write it like com.acme.app")
        return value.strip()

    @field_validator("token_url")
    @classmethod
    def _token_address(cls, value: str) -> str:
        return web_address(value) if value else value

    @model_validator(mode="after")
    def _key(self) -> GooglePlayConfig:
        if not (self.service_account.strip() or self.service_account_file):
            raise ValueError("the service account is missing: set service_account or its _file")
        return self


class _Time(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    seconds: int = Field(ge=0)


class _UserComment(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    text: str = ""
    lastModified: _Time  # Google's names
    starRating: int = Field(ge=1, le=5)
    reviewerLanguage: str = ""
    appVersionName: str = ""


class _Review(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)
    reviewId: str = Field(min_length=1, max_length=300)
    authorName: str = ""
    comments: list[dict[str, Any]] = Field(min_length=1)


class GooglePlayConnector(AppReviewsConnector):
    """Reads an app's Google Play reviews; answers with the developer reply."""

    kind: ClassVar[str] = "googleplay"
    Config: ClassVar[type[ConnectorConfig]] = GooglePlayConfig
    limits = Limits(max_length=MAX_REPLY)

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self._account: dict[str, Any] | None = None

    @property
    def settings(self) -> GooglePlayConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, GooglePlayConfig)
        return self.config

    async def _service_account(self) -> dict[str, Any]:
        if self._account is None:
            config = self.settings
            try:
                text = await read_secret(
                    config.service_account, config.service_account_file, "the service account"
                )
                account = json.loads(text)
            except (ValueError, TypeError) as exc:
                raise PlatformError(
                    f"the service account key is unusable: {exc}", transient=False
                ) from None
            if not isinstance(account, dict) or not all(
                isinstance(account.get(k), str) for k in ("client_email", "private_key")
            ):
                raise PlatformError(
                    "the service account key has no client_email and private_key; use the JSON"
                    " key file Google Cloud downloads",
                    transient=False,
                )
            self._account = account
        return self._account

    async def _sign_in(self, stale: AccessToken | None) -> AccessToken:
        """An access token for the service account (a signed JWT exchanged at Google)."""
        account = await self._service_account()
        token_url = self.settings.token_url or str(
            account.get("token_uri") or "https://oauth2.googleapis.com/token"
        )
        now = self.clock.now()
        claims = {
            "iss": account["client_email"],
            "scope": SCOPE,
            "aud": token_url,
            "iat": int(now.timestamp()),
            "exp": int((now + timedelta(hours=1)).timestamp()),
        }
        headers = {"kid": account["private_key_id"]} if account.get("private_key_id") else None
        try:
            assertion = jwt.encode(
                claims, account["private_key"], algorithm="RS256", headers=headers
            )
        except (ValueError, TypeError, jwt.PyJWTError) as exc:
            raise PlatformError(
                f"the service account's private_key cannot sign ({type(exc).__name__})",
                transient=False,
            ) from None
        auth = JsonApi(
            self.http,
            base_url=token_url,
            clock=self.clock,
            timeout=self.settings.timeout,
            user_agent=self.settings.user_agent,
        )
        try:
            answer = await auth.call("POST", "", form={"grant_type": GRANT, "assertion": assertion})
        except PlatformError as exc:
            if exc.status in (400, 401, 403):
                raise exc.final(
                    f"Google refused the service account ({exc}); check the key and that the"
                    " account is invited in the Play Console"
                ) from None
            raise
        return token_from_answer(answer.data, now=now, call="Google's token endpoint")

    def _path(self) -> str:
        package = quote(self.settings.package_name, safe="")
        return f"/androidpublisher/v3/applications/{package}/reviews"

    async def _page(self, token: str | None) -> ReviewPage:
        """Reviews written or changed within Google's week, newest first."""
        config = self.settings
        params = [("maxResults", str(config.page_size))]
        if config.translation_language:
            params.append(("translationLanguage", config.translation_language))
        if token:
            params.append(("token", token))
        answer = await self._call("GET", self._path(), params=params)
        data = answer.data if isinstance(answer.data, dict) else None
        reviews = data.get("reviews", []) if data is not None else None
        if not isinstance(reviews, list):
            raise PlatformError("reviews.list answered without a list of reviews")
        paging = data.get("tokenPagination") if data else None
        next_token = paging.get("nextPageToken") if isinstance(paging, dict) else None
        return ReviewPage(
            entries=reviews, next_token=next_token if isinstance(next_token, str) else None
        )

    def _item(self, raw: Any) -> Item | None:
        try:
            review = _Review.model_validate(raw)
            user = next(
                _UserComment.model_validate(c["userComment"])
                for c in review.comments
                if isinstance(c, dict) and "userComment" in c
            )
        except (ValidationError, StopIteration) as exc:
            log.warning("%s: skipped a review: %s", self.source_id, str(exc)[:200])
            return None
        # A review with a title arrives as "title<TAB>body".
        title, tab, body = user.text.lstrip("\t").partition("\t")
        if not tab:
            title, body = "", title
        config = self.settings
        language = user.reviewerLanguage.replace("_", "-") or None
        return Item(
            external_id=review.reviewId,
            text=body,
            title=title,
            author=Author(handle=review.authorName or "Google Play user"),
            url=f"{config.web_url}/store/apps/details?id={quote(config.package_name)}"
            f"&reviewId={quote(review.reviewId, safe='')}",
            created_at=datetime.fromtimestamp(user.lastModified.seconds, tz=UTC),
            language=language if language and len(language) <= 10 else None,
            rating=user.starRating,
            raw={"app_version": user.appVersionName},
        )

    def posting_as(self) -> str:
        """Replies appear as the app's developer."""
        return f"the developer of {self.settings.package_name} on Google Play (a public reply)"

    async def reply(self, mention: Mention, text: str, *, key: str) -> ExternalRef:
        """Post (or replace) the developer reply to the review."""
        if len(text) > MAX_REPLY:
            raise DeliveryError(
                f"the reply is {len(text)} characters; Google Play allows {MAX_REPLY}",
                permanent=True,
            )
        path = f"{self._path()}/{quote(mention.external_id, safe='')}:reply"
        try:
            # Replying again replaces the reply, so a retried send cannot post two.
            answer = await self._call("POST", path, body={"replyText": text})
        except PlatformError as exc:
            if exc.status in (400, 403, 404):
                raise DeliveryError(
                    f"Google Play did not take the reply ({exc}); the review may be gone, or the"
                    ' service account may lack "Reply to reviews"',
                    permanent=True,
                ) from None
            raise exc.delivery_error() from None
        result = answer.data.get("result") if isinstance(answer.data, dict) else None
        if not isinstance(result, dict):
            log.warning("%s: reply answered without a result: %.200r", self.source_id, answer.data)
        return ExternalRef(id=mention.external_id, url=mention.url)
