"""Checking the Bot Framework token on each request to /api/messages, without blocking.

Microsoft's documented rules ("Authenticate requests from the Bot Connector service"): a
`Bearer` JWT signed RS256 by a key published at the jwks_uri of the OpenID configuration,
issued by https://api.botframework.com for our app id, within its validity (five minutes'
leeway), its `serviceurl` claim equal to the activity's serviceUrl, and the key endorsed
for the activity's channel when the key lists endorsements. Tokens shaped like the Bot
Framework Emulator's (issuer sts.windows.net or login.microsoftonline.com, v1.0 or v2.0,
the app id in `appid` or `azp`) are checked against the same configured key set: every
key is read from the one configured address (TEAMS_OPENID_URL).

Keys are fetched over aiohttp, never on a thread: one fetch at a time, each bounded by a
timeout, cached for a day, fetched again (at most every `REFETCH_EVERY`) when a token
names a key id we do not hold (Microsoft rotates keys), and after a failure not before a
growing pause. While the keys cannot be fetched, requests whose key is cached still pass,
others get 503 at once, and /healthz says so.
"""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import jwt
from jwt.algorithms import RSAAlgorithm

from bot.clock import Clock

log = logging.getLogger(__name__)

CHANNEL_ISSUER = "https://api.botframework.com"
_EMULATOR_TENANTS = ("d6d49420-f39b-4df7-a1dc-d59a935871db", "f8cdef31-a31e-4b4a-93e4-5f571e91255a")
EMULATOR_ISSUERS = frozenset(
    [f"https://sts.windows.net/{t}/" for t in _EMULATOR_TENANTS]
    + [f"https://login.microsoftonline.com/{t}/v2.0" for t in _EMULATOR_TENANTS]
)
FETCH_TIMEOUT = 5.0  # seconds for the OpenID configuration and the key set together
KEEP_KEYS = timedelta(hours=24)
REFETCH_EVERY = timedelta(minutes=1)  # at most this often for an unknown key id
FIRST_PAUSE = timedelta(seconds=5)  # after a failed fetch; doubles up to MAX_PAUSE
MAX_PAUSE = timedelta(minutes=5)
LEEWAY = 300  # seconds of clock skew allowed, as the SDK allows
MAX_TOKEN = 16_384  # characters: far above any real token


class Unauthorized(Exception):
    """The request does not carry a valid Bot Framework token."""


class KeysUnavailable(Exception):
    """Microsoft's signing keys could not be fetched: nobody can be authenticated now."""


class SigningKeys:
    """The key set published at an OpenID configuration address, cached and refreshed."""

    def __init__(self, *, openid_url: str, clock: Clock):
        self.openid_url = openid_url
        self.clock = clock
        self._keys: dict[str, dict[str, Any]] = {}
        self._fetched_at: datetime | None = None
        self._tried_at: datetime | None = None
        self._failures = 0
        self._fetches = 0
        self._error: str | None = None
        self._lock = asyncio.Lock()
        self._http: aiohttp.ClientSession | None = None
        self.timeout = FETCH_TIMEOUT

    def health(self) -> dict[str, Any]:
        """For /healthz: whether the keys could be fetched last time, and when."""
        return {
            "ok": self._error is None,
            "keys": len(self._keys),
            "fetched_at": self._fetched_at.isoformat() if self._fetched_at else None,
            "error": self._error,
        }

    async def close(self) -> None:
        """Close the HTTP session."""
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def get(self, kid: str) -> dict[str, Any] | None:
        """The key (a JWK) with id `kid`; None if not published; KeysUnavailable if unknown."""
        now = self.clock.now()
        stale = self._fetched_at is None or now - self._fetched_at > KEEP_KEYS
        if kid in self._keys and not stale:
            return self._keys[kid]
        if not self._may_fetch(now, stale=stale):
            if kid in self._keys:
                return self._keys[kid]  # stale but usable while the service is down
            if self._error is not None:
                raise KeysUnavailable(self._error)
            return None
        fetches = self._fetches
        async with self._lock:
            if self._fetches == fetches:  # nobody fetched while we waited for the lock
                await self._fetch()
        if kid in self._keys:
            return self._keys[kid]
        if self._error is not None:
            raise KeysUnavailable(self._error)
        return None

    def _may_fetch(self, now: datetime, *, stale: bool) -> bool:
        if self._tried_at is None:
            return True
        if self._failures:
            pause = min(MAX_PAUSE, FIRST_PAUSE * 2 ** min(self._failures - 1, 10))
            return now - self._tried_at >= pause
        return stale or now - self._tried_at >= REFETCH_EVERY

    async def _fetch(self) -> None:
        try:
            await self._fetch_once()
        finally:
            self._fetches += 1  # counted when done: waiters on the lock then use its result

    async def _fetch_once(self) -> None:
        self._tried_at = self.clock.now()
        if self._http is None:
            self._http = aiohttp.ClientSession()
        try:
            async with asyncio.timeout(self.timeout):
                config = await self._json(self.openid_url)
                jwks_uri = config.get("jwks_uri") if isinstance(config, dict) else None
                if not isinstance(jwks_uri, str) or not jwks_uri:
                    raise ValueError("the OpenID configuration has no jwks_uri")
                keys = _read_keys(await self._json(jwks_uri))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._failures += 1
            reason = str(exc) or type(exc).__name__
            self._error = f"cannot fetch the signing keys from {self.openid_url}: {reason}"
            log.error("Teams: %s (%d failure(s) in a row)", self._error, self._failures)
            return
        if self._failures:
            log.info("Teams: the Bot Framework signing keys can be fetched again")
        self._keys, self._fetched_at = keys, self._tried_at
        self._failures, self._error = 0, None
        log.debug("Teams: %d signing key(s) fetched", len(keys))

    async def _json(self, url: str) -> Any:
        assert self._http is not None
        async with self._http.get(url) as response:
            response.raise_for_status()
            return json.loads(await response.read())


def _read_keys(document: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise ValueError("the key set has no keys")
    keys = {}
    for key in document["keys"]:
        if isinstance(key, dict) and isinstance(key.get("kid"), str) and key.get("kty") == "RSA":
            keys[key["kid"]] = key
    if not keys:
        raise ValueError("the key set has no RSA keys")
    return keys


class TokenChecker:
    """Checks a request's Bot Framework token against the configured key set."""

    def __init__(self, *, app_id: str, openid_url: str, clock: Clock):
        self.app_id = app_id
        self.disabled = not app_id
        self.keys = SigningKeys(openid_url=openid_url, clock=clock)

    async def check(self, body: dict[str, Any], header: str | None) -> None:
        """Return if the request is authentic; raise Unauthorized or KeysUnavailable if not."""
        if self.disabled:
            return
        token = _bearer(header)
        try:
            head = jwt.get_unverified_header(token)
            claims = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"not a JWT: {exc}") from None
        if head.get("alg") != "RS256" or not isinstance(head.get("kid"), str):
            raise Unauthorized("not signed RS256 with a key id")
        issuer = claims.get("iss")
        if issuer != CHANNEL_ISSUER and issuer not in EMULATOR_ISSUERS:
            raise Unauthorized(f"issuer {str(issuer)[:100]!r} is not accepted")
        key = await self.keys.get(head["kid"])
        if key is None:
            raise Unauthorized("signed with a key that is not published")
        channel = body.get("channelId")
        endorsements = key.get("endorsements")
        if isinstance(endorsements, list) and channel not in endorsements:
            raise Unauthorized(f"the key is not endorsed for channel {str(channel)[:40]!r}")
        try:
            public = RSAAlgorithm.from_jwk(json.dumps(key))
            verified = jwt.decode(
                token,
                key=public,  # type: ignore[arg-type]
                algorithms=["RS256"],
                audience=self.app_id,
                issuer=issuer,
                leeway=LEEWAY,
                options={"require": ["exp", "iss", "aud"]},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise Unauthorized(f"{type(exc).__name__}: {exc}") from None
        if issuer == CHANNEL_ISSUER:
            if verified.get("serviceurl") != body.get("serviceUrl"):
                raise Unauthorized("the token's serviceurl is not the activity's")
        elif self.app_id not in (verified.get("appid"), verified.get("azp")):
            raise Unauthorized("an Emulator token for another app")


def _bearer(header: str | None) -> str:
    if not header:
        raise Unauthorized("no Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token or " " in token or len(token) > MAX_TOKEN:
        raise Unauthorized("not a Bearer token")
    return token
