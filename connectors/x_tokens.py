"""How an X source signs in as its own account: OAuth 2.0 user context, or OAuth 1.0a.

OAuth 2.0:
The access token lives two hours; the refresh token (scope `offline.access`) renews it,
and X hands out a new refresh token with each renewal, the old one no longer working. So
the newest pair is saved in the store at once and used after a restart, for as long as
the playbook's `refresh_token` is the one they descend from (a new one there starts over).

OAuth 1.0a: every request is signed (HMAC-SHA1) with the app's consumer key and the
account's access token, which do not expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
from datetime import datetime
from urllib.parse import quote

from bot.clock import Clock
from connectors.base import TokenStore
from connectors.jsonapi import JsonApi, PlatformError
from connectors.oauth import AccessToken, token_from_answer

log = logging.getLogger(__name__)


class UserTokens:
    """Renews an X source's access token and keeps the rotated refresh token."""

    def __init__(
        self,
        api: JsonApi,
        *,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        access_token: str,
        store: TokenStore,
        source_id: str,
        clock: Clock,
    ):
        self.api = api
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.access_token = access_token
        self.store = store
        self.source_id = source_id
        self.clock = clock

    def _origin(self) -> str:
        """Which configured refresh token the stored ones descend from."""
        return hashlib.sha256(self.refresh_token.encode()).hexdigest()[:16]

    async def renew(self, stale: AccessToken | None) -> AccessToken:
        """A working token: the stored one at first (if still fresh), else a refreshed one."""
        if stale is None:
            stored = await self.store.load(self.source_id)
            if stored and stored.get("origin") == self._origin():
                expires = stored.get("expires_at")
                token = AccessToken(
                    value=str(stored.get("access_token", "")),
                    expires_at=datetime.fromisoformat(expires) if expires else None,
                    refresh=str(stored.get("refresh_token", "")),
                )
                if token.value and token.fresh(self.clock.now()):
                    return token
                stale = token
            elif self.access_token:
                return AccessToken(value=self.access_token, refresh=self.refresh_token)
        refresh = stale.refresh if stale is not None and stale.refresh else self.refresh_token
        form = {"grant_type": "refresh_token", "refresh_token": refresh}
        headers = {}
        if self.client_secret:  # a confidential client authenticates itself
            pair = f"{quote(self.client_id)}:{quote(self.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            form["client_id"] = self.client_id
        try:
            answer = await self.api.call("POST", "/2/oauth2/token", form=form, headers=headers)
        except PlatformError as exc:
            if exc.status in (400, 401):
                raise exc.final(
                    f"X refused the refresh token ({exc}); authorise the account again and"
                    " put the new refresh_token in the playbook"
                ) from None
            raise
        token = token_from_answer(answer.data, now=self.clock.now(), call="the token endpoint")
        await self.store.save(
            self.source_id,
            {
                "access_token": token.value,
                "refresh_token": token.refresh or refresh,
                "expires_at": token.expires_at.isoformat() if token.expires_at else None,
                "origin": self._origin(),
            },
        )
        log.info("%s: X access token renewed", self.source_id)
        return token


def _encode(value: str) -> str:
    """RFC 3986 percent-encoding, as OAuth 1.0a signs."""
    return quote(value, safe="-._~")


def oauth1_header(
    method: str,
    url: str,
    params: list[tuple[str, str]],
    *,
    consumer: tuple[str, str],
    token: tuple[str, str],
    now: datetime,
    nonce: str | None = None,
) -> str:
    """The `Authorization: OAuth …` header signing a request (RFC 5849, HMAC-SHA1); a JSON
    body is not part of the signature, query parameters are."""
    oauth = {
        "oauth_consumer_key": consumer[0],
        "oauth_nonce": nonce or secrets.token_hex(16),
        "oauth_signature_method": "HMAC-SHA1",
        "oauth_timestamp": str(int(now.timestamp())),
        "oauth_token": token[0],
        "oauth_version": "1.0",
    }
    pairs = sorted((_encode(k), _encode(v)) for k, v in [*params, *oauth.items()])
    text = "&".join(f"{k}={v}" for k, v in pairs)
    base = "&".join((method.upper(), _encode(url.split("?", 1)[0]), _encode(text)))
    key = f"{_encode(consumer[1])}&{_encode(token[1])}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    oauth["oauth_signature"] = base64.b64encode(digest).decode()
    return "OAuth " + ", ".join(f'{k}="{_encode(v)}"' for k, v in sorted(oauth.items()))
