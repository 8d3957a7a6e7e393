"""A fake of Google's token endpoint and the Android Publisher API's reviews on 127.0.0.1,
shaped from developers.google.com/android-publisher and Google's service-account OAuth docs.

`POST /token` takes a JWT-bearer assertion and checks it as Google does (RS256 with the
service account's key, `iss`, `aud` = this endpoint, the `androidpublisher` scope, at most
an hour). `GET .../applications/:package/reviews` lists reviews changed in the last seven
days, newest first, `maxResults` and `token` paging (`tokenPagination.nextPageToken`);
`POST .../reviews/:id:reply` sets the developer reply (again: replaces it; over 350
characters: 400). Tests expire tokens, delete reviews and make answers fail.
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.failures import FailsOnRequest, Failure, injected
from tests.fakes.local import LocalServer

PACKAGE = "com.acme.app"
EMAIL = "allhands@acme-play.iam.gserviceaccount.com"


@cache
def _rsa_key() -> rsa.RSAPrivateKey:
    """The service account's key: slow to make, so made once per test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _error(status: int, name: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": status, "message": message, "status": name}}, status=status
    )


@dataclass
class FakeGooglePlay(FailsOnRequest, LocalServer):
    """Reviews, replies and tokens in memory; `key_json()` is the service account's key."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    reviews: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    replies: dict[str, str] = field(default_factory=dict)
    access: str = ""
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        key = _rsa_key()
        self._pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public = key.public_key()

    def key_json(self) -> str:
        """The service account key file, as Google Cloud downloads it."""
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "acme-play",
                "private_key_id": "k1",
                "private_key": self._pem,
                "client_email": EMAIL,
                "client_id": "1",
                "token_uri": f"{self.address}/token",
            }
        )

    def review(
        self, text: str, *, stars: int, by: str = "Ann", at: datetime | None = None
    ) -> dict[str, Any]:
        """A review, a minute after the last (or `at`)."""
        if at is None:
            self.now += timedelta(minutes=1)
        when = at or self.now
        review = {
            "reviewId": f"gp:AOqpT{next(self._ids):04d}",
            "authorName": by,
            "comments": [
                {
                    "userComment": {
                        "text": text,
                        "lastModified": {"seconds": str(int(when.timestamp())), "nanos": 0},
                        "starRating": stars,
                        "reviewerLanguage": "en",
                        "appVersionName": "2.0",
                    }
                }
            ],
        }
        self.reviews.append(review)
        return review

    def source_yaml(self, folder: Path) -> str:
        """The playbook's `sources:` entry reading this fake (its key put in `folder`)."""
        key = folder / "play-key.json"
        key.write_text(self.key_json(), encoding="utf-8")
        return (
            f"  - id: play\n    kind: googleplay\n    api: {self.address}\n"
            f"    package_name: {PACKAGE}\n    service_account_file: {key}\n"
        )

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        form = dict((await request.post()).items()) if request.path == "/token" else {}
        body = await request.json() if request.method == "POST" and request.path != "/token" else {}
        self.requests.append(
            (
                request.method,
                request.path,
                {**request.query, **{k: str(v) for k, v in form.items()}},
            )
        )
        failed = injected(self.failures, request.path)
        if failed is not None:
            return failed
        if request.path == "/token":
            return self._token(form)
        if not self.access or request.headers.get("Authorization") != f"Bearer {self.access}":
            return _error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
        base = f"/androidpublisher/v3/applications/{PACKAGE}/reviews"
        if request.path == base and request.method == "GET":
            return self._list(request.query)
        if request.path.startswith(base + "/") and request.path.endswith(":reply"):
            review_id = request.path[len(base) + 1 : -len(":reply")]
            text = str(body.get("replyText", ""))
            if not any(r["reviewId"] == review_id for r in self.reviews):
                return _error(404, "NOT_FOUND", "Review not found.")
            if not text or len(text) > 350:
                return _error(400, "INVALID_ARGUMENT", "Reply text is too long.")
            self.replies[review_id] = text
            seconds = str(int(self.now.timestamp()))
            return web.json_response(
                {"result": {"replyText": text, "lastEdited": {"seconds": seconds}}}
            )
        return _error(404, "NOT_FOUND", "Package not found: " + request.path)

    def _token(self, form: dict[str, str]) -> web.Response:
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                self._public,
                algorithms=["RS256"],
                audience=f"{self.address}/token",
                issuer=EMAIL,
                options={"verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            return web.json_response(
                {"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, status=400
            )
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or (
            "androidpublisher" not in claims.get("scope", "")
            or claims["exp"] - claims["iat"] > 3600
        ):
            return web.json_response(
                {"error": "invalid_scope", "error_description": "Invalid scope"}, status=400
            )
        self.access = f"ya29.fake-{next(self._ids)}"
        return web.json_response(
            {"access_token": self.access, "expires_in": 3599, "token_type": "Bearer"}
        )

    def _list(self, query: Any) -> web.Response:
        week = self.now - timedelta(days=7)
        recent = [
            r
            for r in self.reviews
            if int(
                r["comments"][0].get("userComment", {}).get("lastModified", {}).get("seconds", 0)
            )
            >= week.timestamp()
        ]
        recent.reverse()  # newest first
        start = int(query.get("token", "0"))
        size = int(query.get("maxResults", "10"))
        page = recent[start : start + size]
        body: dict[str, Any] = {
            "reviews": page,
            "pageInfo": {"totalResults": len(recent), "resultPerPage": size},
        }
        if start + size < len(recent):
            body["tokenPagination"] = {"nextPageToken": str(start + size)}
        return web.json_response(body)
