"""A local stand-in for the Bot Framework services a Teams bot talks to, on 127.0.0.1.

- the Bot Connector service (at a service URL like Teams' `https://smba.../amer/`):
  POST /v3/conversations (a new channel post, or a 1:1 chat), POST
  /v3/conversations/{id}/activities (a message; in a thread when the id carries
  `;messageid=`), PUT /v3/conversations/{id}/activities/{activityId} (an update, of a
  channel post or of a message in a 1:1 chat),
  GET /v3/conversations/{id}/members/{userId}. Answers and errors are shaped as in the
  Bot Connector REST reference; requests need a token this fake issued.
- Microsoft's token endpoint for the bot (`/{tenant}/oauth2/v2.0/token`, the OAuth
  client-credentials grant).
- Microsoft Graph's list of a channel's messages (`tests/fakes/teams_graph.py`), and
  GET /v3/teams/{teamId} (the team's `aadGroupId`, its id in Graph).
- the OpenID configuration and key set that sign requests *to* the bot, with `sign()` to
  mint a channel token as the Bot Connector would (RS256, a locally made RSA key).

Tests inject failures with `fail()` and an outage with `stop_listening()`/`resume()`, a
new signing key with `rotate()`, and a key service that never answers with `hanging`.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.fakes import teams_graph
from tests.fakes.teams_graph import GraphFake

ISSUER = "https://api.botframework.com"
KEY_ID = "allhands-test-key"


def signing_key(name: str = "channel") -> rsa.RSAPrivateKey:
    """An RSA key made once per test run (`name` gives a second, unrelated key)."""
    return _made_key(name)


@cache
def _made_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True)
class Call:
    """One request the connector received."""

    method: str
    raw_path: str
    conversation: str
    activity_id: str
    body: dict[str, Any]
    status: int


@dataclass
class Post:
    """A message in a channel (a thread root) or a chat, with its replies."""

    id: str
    conversation: str
    activity: dict[str, Any]
    replies: list[dict[str, Any]] = field(default_factory=list)
    versions: int = 1
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class BotFrameworkFake:
    """The Bot Connector, the bot's token endpoint and the channel's signing keys."""

    app_id: str = "4d1f3c52-7e1b-4f8a-9c0d-2b6e5a7f9e10"
    password: str = "s3cret"
    region: str = "amer"
    channels: set[str] = field(default_factory=set)
    members: dict[str, dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    posts: dict[str, Post] = field(default_factory=dict)
    chats: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    key_requests: int = 0
    openid_requests: int = 0
    published: list[tuple[str, str]] = field(default_factory=lambda: [(KEY_ID, "channel")])
    hanging: bool = False  # the OpenID configuration and key set never answer
    endorsements: tuple[str, ...] = ("msteams",)
    graph: GraphFake = field(default_factory=GraphFake)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _failures: list[tuple[int, str | None, str | None]] = field(default_factory=list)
    _tokens: set[str] = field(default_factory=set)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1_700_000_000_001))
    _runner: web.AppRunner | None = None
    _site: web.SockSite | None = None
    _down: bool = False
    _port: int = 0

    # -- addresses ------------------------------------------------------------------

    def url(self, path: str) -> str:
        """The full address of `path` on this server."""
        return f"http://127.0.0.1:{self._port}{path}"

    @property
    def service_url(self) -> str:
        """The service URL Teams would put in activities (with the trailing slash it uses)."""
        return self.url(f"/{self.region}/")

    @property
    def openid_url(self) -> str:
        """Where the bot reads the OpenID configuration of channel tokens."""
        return self.url("/v1/.well-known/openidconfiguration")

    @property
    def graph_url(self) -> str:
        """Where the bot reads channel posts back (Microsoft Graph's v1.0 root)."""
        return self.url(teams_graph.BASE)

    @property
    def token_url(self) -> str:
        """Where the bot gets its own token (multi-tenant form)."""
        return self.url("/botframework.com/oauth2/v2.0/token")

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> BotFrameworkFake:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(middlewares=[self._outage])
        app.router.add_get("/v1/.well-known/openidconfiguration", self._openid)
        app.router.add_get("/v1/.well-known/keys", self._keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self._token)
        base = "/{region}/v3/conversations"
        app.router.add_post(base, self._create_conversation)
        app.router.add_post(base + "/{conversation}/activities", self._send)
        app.router.add_post(base + "/{conversation}/activities/{activity}", self._send)
        app.router.add_put(base + "/{conversation}/activities/{activity}", self._update)
        app.router.add_get(base + "/{conversation}/members/{member}", self._member)
        app.router.add_get(base + "/{conversation}/pagedmembers", self._paged_members)
        app.router.add_get("/{region}/v3/teams/{team}", self._team_details)
        teams_graph.routes(app, self)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await self._listen()
        return self

    async def _listen(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._port))
        self._port = sock.getsockname()[1]
        assert self._runner is not None
        self._site = web.SockSite(self._runner, sock)
        await self._site.start()

    async def stop_listening(self) -> None:
        """An outage: new connections are refused, open ones are dropped."""
        self._down = True
        if self._site is not None:
            await self._site.stop()
            self._site = None

    async def resume(self) -> None:
        """The outage is over: listen again on the same port."""
        self._down = False
        await self._listen()

    @web.middleware
    async def _outage(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._down and request.transport is not None:
            request.transport.close()  # a kept-alive connection dies with the service
            raise web.HTTPServiceUnavailable()
        response: web.StreamResponse = await handler(request)
        return response

    async def close(self) -> None:
        """Stop listening for good."""
        self.hanging = False
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- what tests set and read ----------------------------------------------------

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        retry_after: str | None = None,
        conversation: str | None = None,
    ) -> None:
        """Answer the next `times` connector requests (to `conversation` only, if given)
        with `status` (and Retry-After)."""
        self._failures.extend([(status, retry_after, conversation)] * times)

    def sign(
        self, *, key: rsa.RSAPrivateKey | None = None, kid: str = KEY_ID, **claims: Any
    ) -> str:
        """A token as the Bot Connector signs requests to the bot; claims override defaults."""
        now = int(time.time())
        payload = {
            "iss": ISSUER,
            "aud": self.app_id,
            "serviceurl": self.service_url,
            "nbf": now - 60,
            "exp": now + 3600,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, key or signing_key(), algorithm="RS256", headers={"kid": kid})

    def connector_calls(self, method: str | None = None) -> list[Call]:
        """The connector requests received (not tokens or keys), optionally of one method."""
        return [c for c in self.calls if method is None or c.method == method]

    def channel_posts(self, channel: str) -> list[Post]:
        """The posts (thread roots) in a channel, oldest first."""
        return [p for p in self.posts.values() if p.conversation == channel]

    def card(self, post: Post) -> dict[str, Any]:
        """The Adaptive Card a post carries now."""
        attachment = post.activity["attachments"][0]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        content: dict[str, Any] = attachment["content"]
        return content

    # -- handlers -------------------------------------------------------------------

    def rotate(self, kid: str, name: str, *, keep_old: bool = True) -> None:
        """Publish a new signing key `kid` (made from `signing_key(name)`), as Microsoft
        does every few weeks; the old ones stay published unless `keep_old` is False."""
        self.published = [*(self.published if keep_old else []), (kid, name)]

    async def _hang(self) -> None:
        while self.hanging:  # until a test (or close) lets it answer  # noqa: ASYNC110
            await asyncio.sleep(0.05)

    async def _openid(self, request: web.Request) -> web.Response:
        self.openid_requests += 1
        await self._hang()
        return web.json_response(
            {
                "issuer": ISSUER,
                "authorization_endpoint": "https://invalid.botframework.com",
                "jwks_uri": self.url("/v1/.well-known/keys"),
                "id_token_signing_alg_values_supported": ["RS256"],
                "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            }
        )

    async def _keys(self, request: web.Request) -> web.Response:
        self.key_requests += 1
        await self._hang()
        keys = []
        for kid, name in self.published:
            jwk = json.loads(RSAAlgorithm.to_jwk(signing_key(name).public_key()))
            jwk.update({"kid": kid, "use": "sig", "endorsements": list(self.endorsements)})
            keys.append(jwk)
        return web.json_response({"keys": keys})

    async def _token(self, request: web.Request) -> web.Response:
        form = dict(await request.post())
        self.token_requests.append({k: str(v) for k, v in form.items()})
        if form.get("grant_type") != "client_credentials":
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.password:
            return web.json_response(
                {"error": "invalid_client", "error_description": "AADSTS7000215: bad secret"},
                status=401,
            )
        if form.get("scope") == teams_graph.SCOPE and self.graph.no_token:
            return web.json_response(
                {
                    "error": "invalid_client",
                    "error_description": "AADSTS700016: Application not found in the directory.",
                },
                status=400,
            )
        if form.get("scope") == teams_graph.SCOPE:
            token = f"graph-token-{len(self.token_requests)}"
            self.graph.tokens.add(token)
        elif form.get("scope") != "https://api.botframework.com/.default":
            return web.json_response({"error": "invalid_scope"}, status=400)
        else:
            token = f"bot-token-{len(self.token_requests)}"
            self._tokens.add(token)
        return web.json_response(
            {
                "token_type": "Bearer",
                "expires_in": 3599,
                "ext_expires_in": 3599,
                "access_token": token,
            }
        )

    def _error(self, status: int, code: str, message: str) -> web.Response:
        return web.json_response({"error": {"code": code, "message": message}}, status=status)

    async def _guard(self, request: web.Request) -> tuple[dict[str, Any], web.Response | None]:
        """The request body, or the answer to give instead (injected failure, bad token)."""
        try:
            body = await request.json() if request.can_read_body else {}
        except ValueError:
            body = {}
        # A message to a channel starts a conversation there (the channel in the body).
        target = request.match_info.get("conversation", "").partition(";messageid=")[0] or (
            ((body.get("channelData") or {}).get("channel") or {}).get("id")
        )
        found = next((f for f in self._failures if f[2] in (None, target)), None)
        if found is not None:
            self._failures.remove(found)
            status, retry_after, _ = found
            headers = {"Retry-After": retry_after} if retry_after else {}
            return body, web.json_response(
                {"error": {"code": "Injected", "message": f"injected {status}"}},
                status=status,
                headers=headers,
            )
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or header[7:] not in self._tokens:
            return body, web.json_response(
                {"message": "Authorization has been denied for this request."}, status=401
            )
        return body, None

    def _record(
        self, request: web.Request, body: dict[str, Any], response: web.Response
    ) -> web.Response:
        self.calls.append(
            Call(
                request.method,
                request.raw_path,
                request.match_info.get("conversation", ""),
                request.match_info.get("activity", ""),
                body,
                response.status,
            )
        )
        return response

    def _new_id(self) -> str:
        return str(next(self._ids))

    async def _create_conversation(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        return self._record(request, body, refused or self._create(body))

    def _create(self, body: dict[str, Any]) -> web.Response:
        channel = ((body.get("channelData") or {}).get("channel") or {}).get("id")
        if body.get("isGroup") and channel:
            if channel not in self.channels:
                return self._error(
                    403,
                    "BotNotInConversationRoster",
                    "The bot is not part of the conversation roster.",
                )
            activity = body.get("activity")
            if not isinstance(activity, dict) or activity.get("type") != "message":
                return self._error(
                    400, "BadArgument", "Activity is required to start a channel thread."
                )
            post = Post(self._new_id(), channel, activity, created=self.now())
            self.posts[post.id] = post
            return web.json_response(
                {"id": f"{channel};messageid={post.id}", "activityId": post.id}, status=201
            )
        members = body.get("members") or []
        if len(members) != 1 or members[0].get("id") not in self.members:
            return self._error(
                400, "BadArgument", "Exactly one known member is needed for a 1:1 chat."
            )
        if not (body.get("bot") or {}).get("id", "").startswith("28:"):
            return self._error(400, "BadArgument", "Bot id is required.")
        chat = f"a:1{members[0]['id'][3:]}"
        self.chats.setdefault(chat, [])
        return web.json_response({"id": chat}, status=201)

    async def _send(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        return self._record(
            request, body, refused or self._append(request.match_info["conversation"], body)
        )

    def _append(self, conversation: str, activity: dict[str, Any]) -> web.Response:
        if activity.get("type") != "message":
            return self._error(400, "BadArgument", "Unknown activity type.")
        base, _, root = conversation.partition(";messageid=")
        new_id = self._new_id()
        if base in self.chats:
            self.chats[base].append({**activity, "id": new_id})
        elif base in self.channels and root:
            post = self.posts.get(root)
            if post is None or post.conversation != base:
                return self._error(404, "ConversationNotFound", "Conversation not found.")
            post.replies.append({**activity, "id": new_id})
        elif base in self.channels:
            self.posts[new_id] = Post(new_id, base, activity, created=self.now())
        else:
            return self._error(404, "ConversationNotFound", "Conversation not found.")
        return web.json_response({"id": new_id}, status=201)

    async def _update(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        if refused is None:
            conversation = request.match_info["conversation"].partition(";messageid=")[0]
            activity_id = request.match_info["activity"]
            post = self.posts.get(activity_id)
            in_chat = [
                i for i, m in enumerate(self.chats.get(conversation, [])) if m["id"] == activity_id
            ]
            if body.get("type") != "message":
                refused = self._error(400, "BadArgument", "Unknown activity type.")
            elif in_chat:  # a message in a 1:1 chat
                self.chats[conversation][in_chat[0]] = {**body, "id": activity_id}
            elif post is None or post.conversation != conversation:
                refused = self._error(404, "ActivityNotFound", "Activity not found.")
            else:
                post.activity = body
                post.versions += 1
        return self._record(
            request, body, refused or web.json_response({"id": request.match_info["activity"]})
        )

    async def _paged_members(self, request: web.Request) -> web.Response:
        """GET .../pagedmembers: the team's members a page at a time (PagedMembersResult)."""
        body, refused = await self._guard(request)
        if refused is None:
            # Pages of two at most, so that a client's paging is exercised.
            size = min(int(request.query.get("pageSize") or 50), 2)
            start = int(request.query.get("continuationToken") or 0)
            everyone = list(self.members.values())
            page: dict[str, Any] = {"members": everyone[start : start + size]}
            if start + size < len(everyone):
                page["continuationToken"] = str(start + size)
            refused = web.json_response(page)
        return self._record(request, body, refused)

    async def _team_details(self, request: web.Request) -> web.Response:
        """GET /v3/teams/{teamId}: TeamDetails (id, name, aadGroupId)."""
        body, refused = await self._guard(request)
        if refused is None:
            team = request.match_info["team"]
            group = self.graph.groups.get(team)
            refused = (
                web.json_response({"id": team, "name": "Support", "aadGroupId": group})
                if group
                else self._error(404, "TeamNotFound", "The team was not found.")
            )
        return self._record(request, body, refused)

    async def _member(self, request: web.Request) -> web.Response:
        body, refused = await self._guard(request)
        if refused is None:
            member = self.members.get(request.match_info["member"])
            refused = (
                web.json_response(member)
                if member
                else self._error(
                    404, "MemberNotFoundInConversation", "The member is not in the conversation."
                )
            )
        return self._record(request, body, refused)
