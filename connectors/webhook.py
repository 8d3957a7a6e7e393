"""Any source by signed webhook: what a request must carry, and what its body may say.

A sender signs each request with the source's secret:

    X-Allhands-Timestamp: <Unix time, whole seconds>
    X-Allhands-Signature: sha256=<hex of HMAC-SHA256(secret, "<timestamp>." + body)>

A timestamp more than five minutes from our clock is refused, and so is a signature seen
before, so a captured request cannot be replayed. The body is one mention as a JSON
object, or `{"mentions": [...]}` with up to 100 of them. Webhook sources are pushed to,
never polled, and cannot be answered from chat.
"""

from __future__ import annotations

import hmac
import json
import re
from datetime import UTC, datetime
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.domain.mentions import Author, Item, Mention
from bot.errors import AllhandsError
from connectors.base import WEB_SCHEMES, Batch, Connector, ConnectorConfig

TIMESTAMP_HEADER = "X-Allhands-Timestamp"
SIGNATURE_HEADER = "X-Allhands-Signature"
TOLERANCE = 300  # seconds a signed request stays valid either side of our clock
MAX_MENTIONS = 100
MAX_FOLLOWERS = 10**12  # far above any real audience, well inside SQLite's integers
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
MAX_PROBLEMS = 10  # problems listed in one answer; the rest are counted
_SIGNATURE = re.compile(r"sha256=([0-9a-fA-F]{64})")


class WebhookConfig(ConnectorConfig):
    """Settings of a webhook source."""

    secret: str = Field(min_length=16, description="shared with the sender (write ${VAR})")
    max_bytes: int = Field(default=262_144, ge=1024, le=1_048_576)


class WebhookRefused(AllhandsError):
    """A webhook request is refused; `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None):
        self.status = status
        self.problems = problems or []
        super().__init__(message)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The signature header value for `body` sent at `timestamp`."""
    digest = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, "sha256")
    return "sha256=" + digest.hexdigest()


def verify(
    *, secret: str, timestamp: str | None, signature: str | None, body: bytes, now: datetime
) -> None:
    """Refuse (401) a request that is unsigned, stale, or signed with another secret."""
    if not timestamp:
        raise WebhookRefused(401, f"missing {TIMESTAMP_HEADER} header (Unix time in seconds)")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise WebhookRefused(401, f"{TIMESTAMP_HEADER} must be Unix time in whole seconds")
    skew = abs(now.timestamp() - int(timestamp))
    if skew > TOLERANCE:
        raise WebhookRefused(
            401,
            f"{TIMESTAMP_HEADER} is {skew:.0f} s away from our clock (the limit is"
            f" {TOLERANCE} s): sign each request when you send it",
        )
    if not signature:
        raise WebhookRefused(401, f"missing {SIGNATURE_HEADER} header (sha256=<hex HMAC>)")
    match = _SIGNATURE.fullmatch(signature.strip())
    if not match:
        raise WebhookRefused(401, f"{SIGNATURE_HEADER} must be sha256= and 64 hex digits")
    expected = sign(secret, timestamp, body)
    if not hmac.compare_digest(expected, "sha256=" + match.group(1).lower()):
        raise WebhookRefused(
            401,
            "signature does not match: HMAC-SHA256 the bytes '<timestamp>.<body>' with this"
            " source's secret",
        )


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _web(value: str) -> str:
    if value and urlsplit(value).scheme.lower() not in WEB_SCHEMES:
        raise ValueError("must be an http:// or https:// address")
    return value


class WebhookAuthor(_Strict):
    """Who wrote the mention."""

    handle: str = Field(min_length=1, max_length=200)
    name: str = Field(default="", max_length=200)
    url: str = Field(default="", max_length=2000)
    followers: int | None = Field(default=None, ge=0, le=MAX_FOLLOWERS)

    _url = field_validator("url")(_web)


class WebhookMention(_Strict):
    """One mention as a sender describes it."""

    id: str = Field(min_length=1, max_length=512)
    text: str = Field(min_length=1, max_length=20_000)
    author: WebhookAuthor
    url: str = Field(default="", max_length=2000)
    created_at: datetime | None = None
    title: str = Field(default="", max_length=500)
    language: str | None = Field(default=None, min_length=2, max_length=35)
    in_reply_to: str | None = Field(default=None, min_length=1, max_length=512)
    html: bool = False

    _url = field_validator("url")(_web)

    @field_validator("created_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("needs a time zone, e.g. 2026-01-05T09:30:00Z")
        if value is not None and not EARLIEST <= value < LATEST:
            raise ValueError("must be between 1970 and 2200")
        return value

    def item(self) -> Item:
        """The mention as a connector hands it over."""
        return Item(
            external_id=self.id,
            text=self.text,
            title=self.title,
            author=Author(
                handle=self.author.handle,
                name=self.author.name,
                audience=self.author.followers,
                url=self.author.url,
            ),
            url=self.url,
            created_at=self.created_at,
            language=self.language,
            parent_id=self.in_reply_to,
            is_html=self.html,
        )


class WebhookBatch(_Strict):
    """Several mentions in one request."""

    mentions: list[WebhookMention] = Field(min_length=1, max_length=MAX_MENTIONS)


def parse_body(body: bytes) -> list[Item]:
    """The mentions in a request body; WebhookRefused (400) says what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WebhookRefused(400, f"body is not UTF-8 (byte {exc.start})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WebhookRefused(
            400, f"body is not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise WebhookRefused(400, "body is not JSON we accept: nested too deeply") from None
    except ValueError:  # e.g. an integer of thousands of digits
        raise WebhookRefused(400, "body is not JSON we accept: a number is too long") from None
    if not isinstance(data, dict):
        raise WebhookRefused(
            400,
            'body must be a JSON object (one mention, or {"mentions": [...]}),'
            f" not {_kind(data)}",
        )
    try:
        # JSON mode: strict types, with ISO 8601 text accepted for times.
        if "mentions" in data:
            mentions = WebhookBatch.model_validate_json(text).mentions
        else:
            mentions = [WebhookMention.model_validate_json(text)]
    except ValidationError as exc:
        problems = [_problem(err) for err in exc.errors()]
        shown = problems[:MAX_PROBLEMS]
        if len(problems) > len(shown):
            shown.append(f"… and {len(problems) - len(shown)} more")
        raise WebhookRefused(
            400, "body does not describe mentions: " + "; ".join(shown[:3]), shown
        ) from None
    unique: dict[str, Item] = {}
    for mention in mentions:
        unique.setdefault(mention.id, mention.item())
    return list(unique.values())


def _kind(value: Any) -> str:
    return {list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number"
    )


def _problem(err: Any) -> str:
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "missing":
        message = "is required"
    elif err["type"] == "extra_forbidden":
        message = "is not a known field"
    return f"{where or 'body'}: {message}"


class WebhookConnector(Connector):
    """A source that other tools push mentions to, through `POST /webhooks/<id>`."""

    kind: ClassVar[str] = "webhook"
    Config: ClassVar[type[ConnectorConfig]] = WebhookConfig
    polls: ClassVar[bool] = False

    @property
    def settings(self) -> WebhookConfig:
        """The config, typed as this connector's own."""
        assert isinstance(self.config, WebhookConfig)
        return self.config

    async def fetch(self, cursor: str | None) -> Batch:
        """Nothing to fetch: mentions arrive by webhook."""
        return Batch(items=[], cursor=cursor)

    def where_to_answer(self, mention: Mention) -> str:
        """The post's own page, as the sender gave it."""
        return mention.url or "where the post was written (the sender gave no link)"
