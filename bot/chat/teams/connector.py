"""A client of the Bot Connector REST API (v3), the service Teams bots post through.

Requests go to the service URL Teams gave with each conversation, with a bearer token
the bot obtains from Microsoft's login by the OAuth client-credentials grant. Failures
become DeliveryError: 429, 412 and 5xx (and an unreachable service) may be retried,
at the Retry-After Teams asks for when it gives one; other 4xx answers are permanent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from bot.clock import Clock
from bot.errors import DeliveryError

log = logging.getLogger(__name__)

LOGIN_URL = "https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token"
MULTI_TENANT = "botframework.com"
SCOPE = "https://api.botframework.com/.default"
# Teams asks bots to retry these (rate limits, "precondition failed", gateway errors).
RETRYABLE = {412, 429, 500, 502, 503, 504}


def token_url(tenant_id: str) -> str:
    """Microsoft's token endpoint for a single-tenant bot, or the multi-tenant one."""
    return LOGIN_URL.format(tenant=tenant_id or MULTI_TENANT)


def retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if it says."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


class AppToken:
    """The bot's bearer token for the connector, fetched once and reused until near expiry."""

    def __init__(self, *, app_id: str, password: str, url: str, clock: Clock, scope: str = SCOPE):
        self.app_id = app_id
        self.password = password
        self.url = url
        self.clock = clock
        self.scope = scope
        self.refused = 0  # the status of the login's last refusal (0: none)
        self._token = ""
        self._expires = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    def forget(self) -> None:
        """Drop the cached token (the connector refused it)."""
        self._token = ""

    async def header(self, http: aiohttp.ClientSession) -> str:
        """`Bearer <token>`, fetching a new token when there is none or it expires soon."""
        async with self._lock:
            if not self._token or self.clock.now() >= self._expires:
                await self._fetch(http)
            return f"Bearer {self._token}"

    async def _fetch(self, http: aiohttp.ClientSession) -> None:
        form = {
            "grant_type": "client_credentials",
            "client_id": self.app_id,
            "client_secret": self.password,
            "scope": self.scope,
        }
        try:
            async with http.post(self.url, data=form) as response:
                body = await _json(response)
                if response.status != 200 or not isinstance(body.get("access_token"), str):
                    self.refused = response.status
                    error = body.get("error_description") or body.get("error") or response.reason
                    raise DeliveryError(
                        f"Microsoft login refused the bot's credentials ({response.status}):"
                        f" {str(error)[:300]}",
                        retry_after=retry_after(
                            response.headers.get("Retry-After"), now=self.clock.now()
                        ),
                    )
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(
                f"Microsoft login is unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        self.refused = 0
        lifetime = body.get("expires_in", 3600)
        lifetime = int(lifetime) if str(lifetime).isdigit() else 3600
        self._token = body["access_token"]
        # Renew five minutes early so a request never carries a token that just expired.
        self._expires = self.clock.now() + timedelta(seconds=max(60, lifetime - 300))


async def _json(response: aiohttp.ClientResponse) -> dict[str, Any]:
    try:
        body = await response.json(content_type=None)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


class BotConnector:
    """Conversations and activities on a Bot Connector service (Teams, or the Emulator)."""

    def __init__(self, *, http: aiohttp.ClientSession, token: AppToken | None, clock: Clock):
        self.http = http
        self.token = token  # None: no authentication (the Emulator with no app id)
        self.clock = clock

    @staticmethod
    def _url(service_url: str, *path: str) -> URL:
        # Conversation ids hold ':', ';', '@' and '=': each path part is percent-encoded
        # whole, as the Bot Framework SDKs do, and the URL is not re-encoded after.
        parts = "/".join(quote(part, safe="") for part in path)
        return URL(f"{service_url.rstrip('/')}/v3/{parts}", encoded=True)

    async def _call(self, method: str, url: URL, body: dict[str, Any] | None) -> dict[str, Any]:
        headers = {}
        if self.token is not None:
            headers["Authorization"] = await self.token.header(self.http)
        try:
            async with self.http.request(method, url, json=body, headers=headers) as response:
                answer = await _json(response)
                if 200 <= response.status < 300:
                    return answer
                self._refused(response, answer)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"Teams is unreachable: {type(exc).__name__}: {exc}") from exc
        raise AssertionError("unreachable")  # _refused always raises

    def _refused(self, response: aiohttp.ClientResponse, answer: dict[str, Any]) -> None:
        found = answer.get("error")
        error: dict[str, Any] = found if isinstance(found, dict) else {}
        code = error.get("code") or answer.get("errorCode") or response.reason
        message = str(error.get("message") or answer.get("message") or "")[:300]
        status = response.status
        text = f"Teams answered {status} {code}" + (f": {message}" if message else "")
        if status == 401 and self.token is not None:
            self.token.forget()  # a stale or revoked token: fetch a new one next time
            raise DeliveryError(text)
        if status in RETRYABLE:
            wait = retry_after(response.headers.get("Retry-After"), now=self.clock.now())
            raise DeliveryError(text, retry_after=wait)
        raise DeliveryError(text, permanent=True)

    async def create_conversation(self, service_url: str, params: dict[str, Any]) -> dict[str, Any]:
        """POST /v3/conversations: a new channel thread or a 1:1 chat; returns its ids."""
        return await self._call("POST", self._url(service_url, "conversations"), params)

    async def send(
        self, service_url: str, conversation_id: str, activity: dict[str, Any]
    ) -> dict[str, Any]:
        """POST /v3/conversations/{id}/activities: a message in a conversation or thread."""
        url = self._url(service_url, "conversations", conversation_id, "activities")
        return await self._call("POST", url, activity)

    async def update(
        self, service_url: str, conversation_id: str, activity_id: str, activity: dict[str, Any]
    ) -> dict[str, Any]:
        """PUT /v3/conversations/{id}/activities/{activityId}: replace a message in place."""
        url = self._url(service_url, "conversations", conversation_id, "activities", activity_id)
        return await self._call("PUT", url, {**activity, "id": activity_id})

    async def paged_members(
        self, service_url: str, conversation_id: str, continuation: str | None = None
    ) -> dict[str, Any]:
        """GET /v3/conversations/{id}/pagedmembers: one page of a team's members (with
        email and userPrincipalName) and the token for the next, if any."""
        url = self._url(service_url, "conversations", conversation_id, "pagedmembers")
        query = {"pageSize": "100"} | ({"continuationToken": continuation} if continuation else {})
        return await self._call("GET", url.with_query(query), None)

    async def team_details(self, service_url: str, team_id: str) -> dict[str, Any]:
        """GET /v3/teams/{teamId}: a team's id, name and `aadGroupId` (its id in Graph)."""
        return await self._call("GET", self._url(service_url, "teams", team_id), None)

    async def member(self, service_url: str, conversation_id: str, user_id: str) -> dict[str, Any]:
        """GET /v3/conversations/{id}/members/{userId}: one member, with their AAD object id."""
        url = self._url(service_url, "conversations", conversation_id, "members", user_id)
        return await self._call("GET", url, None)
