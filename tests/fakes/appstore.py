"""A fake of the App Store Connect API's customer reviews on 127.0.0.1, shaped from
developer.apple.com/documentation/appstoreconnectapi.

Checks each request's bearer JWT as Apple does (ES256 with the key's public half, `kid`,
`iss`, `aud: appstoreconnect-v1`, a lifetime of at most 20 minutes), serves
`GET /v1/apps/:id/customerReviews` (`sort=-createdDate`, `limit`, `links.next` with a
`cursor`) and `POST /v1/customerReviewResponses` (one response per review; posting again
replaces it), and sends `X-Rate-Limit: user-hour-lim:3600;user-hour-rem:N;`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.fakes.failures import FailsOnRequest, Failure, injected
from tests.fakes.local import LocalServer

APP_ID = "1234567890"
ISSUER = "57246542-96fe-1a63-e053-0824d011072a"
KEY_ID = "2X9R4HXF34"


def _errors(status: int, code: str, detail: str) -> web.Response:
    body = {"errors": [{"status": str(status), "code": code, "title": code, "detail": detail}]}
    return web.json_response(body, status=status)


@dataclass
class FakeAppStore(FailsOnRequest, LocalServer):
    """Reviews and responses in memory; `private_pem` is the key a source signs with."""

    now: datetime = field(default_factory=lambda: datetime(2026, 1, 5, 8, 0, tzinfo=UTC))
    remaining: int = 3600
    reviews: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)  # review id -> response
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    refuse_tokens: set[str] = field(default_factory=set)
    tokens_seen: list[dict[str, Any]] = field(default_factory=list)
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public = key.public_key()

    def review(self, title: str, body: str, *, rating: int, by: str = "Ann") -> dict[str, Any]:
        """A customer's review, a minute after the last."""
        self.now += timedelta(minutes=1)
        review = {
            "type": "customerReviews",
            "id": f"00000{next(self._ids)}-review",
            "attributes": {
                "rating": rating,
                "title": title,
                "body": body,
                "reviewerNickname": by,
                "territory": "USA",
                "createdDate": self.now.isoformat(),
            },
        }
        self.reviews.append(review)
        return review

    def source_yaml(self, folder: Path) -> str:
        """The playbook's `sources:` entry reading this fake (its key put in `folder`)."""
        key = folder / "AuthKey.p8"
        key.write_text(self.private_pem, encoding="utf-8")
        return (
            f"  - id: ios\n    kind: appstore\n    api: {self.address}\n    app_id: '{APP_ID}'\n"
            f"    issuer_id: {ISSUER}\n    key_id: {KEY_ID}\n    private_key_file: {key}\n"
        )

    def add_routes(self, app: web.Application) -> None:
        """Every path goes to the one handler."""
        app.router.add_route("*", "/{tail:.*}", self._handle)

    def _check(self, request: web.Request) -> web.Response | None:
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ")
        try:
            header = jwt.get_unverified_header(token)
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["ES256"],
                audience="appstoreconnect-v1",
                issuer=ISSUER,
                options={"verify_exp": False},
            )
        except jwt.PyJWTError as exc:
            return _errors(401, "NOT_AUTHORIZED", f"Authentication credentials are invalid: {exc}")
        self.tokens_seen.append(claims)
        too_long = claims["exp"] - claims["iat"] > 20 * 60
        if header.get("kid") != KEY_ID or too_long or token in self.refuse_tokens:
            return _errors(
                401, "NOT_AUTHORIZED", "Provide a properly configured and signed bearer token"
            )
        return None

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json() if request.method == "POST" else None
        self.requests.append((request.method, request.path, dict(request.query)))
        failed = injected(self.failures, request.path)
        if failed is not None:
            return failed
        refused = self._check(request)
        if refused is not None:
            return refused
        self.remaining = max(0, self.remaining - 1)
        headers = {"X-Rate-Limit": f"user-hour-lim:3600;user-hour-rem:{self.remaining};"}
        if self.remaining == 0:
            response = _errors(
                429, "RATE_LIMIT_EXCEEDED", "The request rate limit has been reached."
            )
            response.headers.update(headers)
            return response
        if request.path == f"/v1/apps/{APP_ID}/customerReviews":
            newest = sorted(
                self.reviews, key=lambda r: r["attributes"].get("createdDate", ""), reverse=True
            )
            start = int(request.query.get("cursor", "0"))
            limit = int(request.query.get("limit", "50"))
            page = newest[start : start + limit]
            links = {"self": str(request.url)}
            if start + limit < len(newest):
                links["next"] = str(request.url.update_query(cursor=str(start + limit)))
            return web.json_response(
                {
                    "data": page,
                    "links": links,
                    "meta": {"paging": {"total": len(newest), "limit": limit}},
                },
                headers=headers,
            )
        if request.path == "/v1/customerReviewResponses" and request.method == "POST":
            data = (body or {}).get("data", {})
            review_id = data.get("relationships", {}).get("review", {}).get("data", {}).get("id")
            text = data.get("attributes", {}).get("responseBody", "")
            if not any(r["id"] == review_id for r in self.reviews):
                return _errors(
                    404,
                    "NOT_FOUND",
                    f"There is no resource of type 'customerReviews' with id '{review_id}'",
                )
            if not text or len(text) > 5970:
                return _errors(409, "ENTITY_ERROR.ATTRIBUTE.INVALID", "responseBody is invalid")
            response = {
                "type": "customerReviewResponses",
                "id": f"resp-{next(self._ids)}",
                "attributes": {
                    "responseBody": text,
                    "state": "PENDING_PUBLISH",
                    "lastModifiedDate": self.now.isoformat(),
                },
            }
            self.responses[review_id] = response
            return web.json_response({"data": response}, status=201, headers=headers)
        return _errors(
            404, "NOT_FOUND", "The path provided does not match a defined resource type."
        )
