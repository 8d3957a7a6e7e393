"""A local Slack on 127.0.0.1: the Web API methods allhands calls, response URLs, Socket Mode.

Shaped from Slack's reference (docs.slack.dev/reference/methods): bearer-token auth,
`{"ok": false, "error": ...}` answers, cursor pagination, `ts` message ids, view ids and
hashes (views.update with a stale hash gets `hash_conflict`), Block Kit limits checked
(`invalid_blocks` with the reasons), and a per-channel posting budget (about one message
a second): over it, HTTP 429 with a Retry-After header and `ratelimited`, as Slack does.
Scopes: a method whose scope is withheld answers `missing_scope` with `needed` and
`provided`. Files go up in Slack's three steps: files.getUploadURLExternal gives an upload
URL on this server and a file id, the bytes are POSTed there (their length must be the
one announced), and files.completeUploadExternal shares the file (once per file id).
Everything received is recorded for assertions; failures can be injected per method.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

BOT_TOKEN = "xoxb-allhands-test"
APP_TOKEN = "xapp-1-allhands-test"
TEAM = {"id": "T0ALLHANDS", "name": "Lumo"}
BOT_USER = "U0ALLHANDS"

UPLOAD = "upload"  # the name the upload URL's requests are recorded and failed under
# The scope each method needs (docs.slack.dev/reference/methods: "Scopes", bot token).
SCOPE_OF = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "chat.postEphemeral": "chat:write",
    "users.info": "users:read",
    "users.lookupByEmail": "users:read.email",
    "conversations.list": "channels:read",
    "users.conversations": "channels:read",
    "conversations.open": "im:write",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
    "conversations.history": "channels:history",  # groups:history for private channels
}
_MIME = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "txt": "text/plain"}

_TEXT_TYPES = ("plain_text", "mrkdwn")
_BLOCK_TYPES = ("section", "context", "header", "actions", "divider", "input")


@dataclass(frozen=True)
class Call:
    """One Web API request as the fake received it."""

    method: str
    args: dict[str, Any]
    status: int
    error: str | None = None
    at: float = 0.0  # when it arrived, by the fake's clock


@dataclass
class Channel:
    """A conversation: its name, who is in it, and its messages by ts."""

    id: str
    name: str
    private: bool = False
    bot_member: bool = True
    members: set[str] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass
class Upload:
    """A file from files.getUploadURLExternal: its bytes once POSTed, where it was shared."""

    id: str
    filename: str
    length: int
    alt_txt: str = ""
    data: bytes | None = None
    title: str = ""
    completed: bool = False
    shared_in: list[str] = field(default_factory=list)

    def describe(self, at: float) -> dict[str, Any]:
        """The file object Slack shows in a message's `files`."""
        kind = self.filename.rpartition(".")[2].lower()
        return {
            "id": self.id,
            "created": int(at),
            "name": self.filename,
            "title": self.title or self.filename,
            "mimetype": _MIME.get(kind, "application/octet-stream"),
            "filetype": kind,
            "size": self.length,
            "user": BOT_USER,
            **({"alt_txt": self.alt_txt} if self.alt_txt else {}),
        }


@dataclass
class Failure:
    """An injected failure: `times` answers of `status` (with `error`), or a delay."""

    status: int = 503
    error: str = "service_unavailable"
    times: int = 1
    delay: float = 0.0
    retry_after: int | None = None
    channel: str | None = None  # only calls to this channel fail (default: any)


def check_text(obj: Any, where: str, *, limit: int = 3000, plain_only: bool = False) -> list[str]:
    """Problems with one text object, as Slack's Block Kit reference states its rules."""
    if not isinstance(obj, dict) or obj.get("type") not in _TEXT_TYPES:
        return [f"{where}: not a text object"]
    if plain_only and obj["type"] != "plain_text":
        return [f"{where}: must be plain_text"]
    text = obj.get("text")
    problems = []
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        problems.append(f"{where}: text must be 1-{limit} characters")
    if obj["type"] == "plain_text" and "verbatim" in obj:
        problems.append(f"{where}: verbatim is only for mrkdwn")
    if obj["type"] == "mrkdwn" and "emoji" in obj:
        problems.append(f"{where}: emoji is only for plain_text")
    return problems


def _check_element(element: dict[str, Any], where: str) -> list[str]:
    kind = element.get("type")
    problems: list[str] = []
    if len(str(element.get("action_id", ""))) > 255:
        problems.append(f"{where}: action_id over 255")
    if kind == "button":
        problems += check_text(element.get("text"), f"{where}.text", limit=75, plain_only=True)
        if len(str(element.get("value", ""))) > 2000:
            problems.append(f"{where}: value over 2000")
        if element.get("style") not in (None, "primary", "danger"):
            problems.append(f"{where}: bad style")
    elif kind == "static_select":
        problems += check_text(
            element.get("placeholder"), f"{where}.placeholder", limit=150, plain_only=True
        )
        options = element.get("options") or []
        if not 1 <= len(options) <= 100:
            problems.append(f"{where}: 1-100 options")
        for i, option in enumerate(options):
            problems += check_text(option.get("text"), f"{where}.options[{i}]", limit=75)
            if not 1 <= len(str(option.get("value", ""))) <= 150:
                problems.append(f"{where}.options[{i}]: value must be 1-150 characters")
    elif kind == "plain_text_input":
        most = element.get("max_length", 3000)
        if not isinstance(most, int) or not 1 <= most <= 3000:
            problems.append(f"{where}: max_length must be 1-3000")
        if len(str(element.get("initial_value", ""))) > most:
            problems.append(f"{where}: initial_value longer than max_length")
    else:
        problems.append(f"{where}: unknown element {kind!r}")
    return problems


def check_blocks(blocks: Any, *, most: int) -> list[str]:
    """Problems with a list of blocks on a surface allowing `most` blocks."""
    if not isinstance(blocks, list) or len(blocks) > most:
        return [f"blocks: at most {most}"]
    problems: list[str] = []
    ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        kind = block.get("type")
        if kind not in _BLOCK_TYPES:
            problems.append(f"{where}: unknown block type {kind!r}")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if len(block_id) > 255 or block_id in ids:
                problems.append(f"{where}: block_id too long or repeated")
            ids.add(block_id)
        if kind == "section":
            problems += check_text(block.get("text"), f"{where}.text")
        elif kind == "header":
            problems += check_text(block.get("text"), f"{where}.text", limit=150, plain_only=True)
        elif kind == "context":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 10:
                problems.append(f"{where}: 1-10 elements")
            for j, element in enumerate(elements):
                problems += check_text(element, f"{where}.elements[{j}]")
        elif kind == "actions":
            elements = block.get("elements") or []
            if not 1 <= len(elements) <= 25:
                problems.append(f"{where}: 1-25 elements")
            for j, element in enumerate(elements):
                problems += _check_element(element, f"{where}.elements[{j}]")
        elif kind == "input":
            problems += check_text(
                block.get("label"), f"{where}.label", limit=2000, plain_only=True
            )
            problems += _check_element(block.get("element") or {}, f"{where}.element")
    return problems


def check_view(view: Any) -> list[str]:
    """Problems with a modal or home view."""
    if not isinstance(view, dict) or view.get("type") not in ("modal", "home"):
        return ["view: type must be modal or home"]
    problems = check_blocks(view.get("blocks"), most=100)
    if view["type"] == "modal":
        problems += check_text(view.get("title"), "title", limit=24, plain_only=True)
        for key in ("submit", "close"):
            if key in view:
                problems += check_text(view[key], key, limit=24, plain_only=True)
    if len(str(view.get("private_metadata", ""))) > 3000:
        problems.append("private_metadata over 3000")
    return problems


class SlackFake:
    """A Slack workspace on a random port of 127.0.0.1. `clock()` is seconds since the epoch.

    `per_second` and `burst` set chat.postMessage's budget per channel: a token bucket,
    as Slack's "about one message per second" allows. chat.update has Tier 3's budget,
    per workspace.
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        per_second: float = 1.0,
        burst: float = 1.0,
    ):
        self.clock = clock
        self.per_second = per_second
        self.burst = burst
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, dict[str, Any]] = {}
        self.calls: list[Call] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.homes: dict[str, dict[str, Any]] = {}
        self.ephemeral: list[dict[str, Any]] = []
        self.rate_limited: dict[str, int] = {}
        self.failures: dict[str, Failure] = {}
        self.page_size = 2  # small, so that pagination is exercised
        self.socket_acks: list[dict[str, Any]] = []
        self.refuse_sockets = 0  # websocket handshakes to refuse (HTTP 503)
        self.say_hello = True
        self.withheld: set[str] = set()  # scopes the app was not granted
        # Seconds every Web API answer takes, after the call has taken effect (a message
        # is posted before its answer arrives, as when Slack is slow).
        self.latency = 0.0
        self.uploads: dict[str, Upload] = {}  # by file id
        self._tickets: dict[str, str] = {}  # upload URL's ticket -> file id
        self._files = itertools.count(1)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._forced_429: dict[str, int] = {}
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # ---- set-up and inspection

    @property
    def api_url(self) -> str:
        """What SLACK_API_URL should be."""
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, name: str) -> str:
        """A response_url for a command or button payload; what is posted there is kept."""
        return f"http://127.0.0.1:{self.port}/respond/{name}"

    def add_channel(
        self, id: str, name: str, *, private: bool = False, bot_member: bool = True,
        members: tuple[str, ...] = (),
    ) -> Channel:  # fmt: skip
        """A channel the workspace has."""
        channel = Channel(id, name, private, bot_member, set(members))
        self.channels[id] = channel
        return channel

    def add_user(self, id: str, display_name: str, real_name: str = "", email: str = "") -> None:
        """A person in the workspace, as users.info describes them."""
        self.users[id] = {
            "id": id,
            "team_id": TEAM["id"],
            "name": display_name.lower().replace(" ", "."),
            "deleted": False,
            "real_name": real_name or display_name,
            "is_bot": False,
            "profile": {
                "display_name": display_name,
                "real_name": real_name or display_name,
                "display_name_normalized": display_name,
                "real_name_normalized": real_name or display_name,
                # Only with the users:read.email scope, which the app asks for.
                **({"email": email} if email else {}),
            },
        }

    def fail(self, method: str, failure: Failure) -> None:
        """Make the next calls of `method` (or of the upload URL: UPLOAD) fail (or hang)
        as described; a hang answers normally after its delay."""
        self.failures[method] = failure

    def force_rate_limit(self, channel: str, retry_after: int) -> None:
        """The next post to `channel` gets a 429 with this Retry-After, budget or not."""
        self._forced_429[channel] = retry_after

    def calls_to(self, method: str) -> list[Call]:
        """The calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """The top-level messages of a channel, oldest first."""
        return [m for m in self.channels[channel].messages.values() if "thread_ts" not in m]

    def expire_uploads(self) -> None:
        """Discard every upload not completed, as Slack does when none comes in time."""
        for file_id in [f for f, u in self.uploads.items() if not u.completed]:
            del self.uploads[file_id]
        self._tickets = {t: f for t, f in self._tickets.items() if f in self.uploads}

    def replies(self, channel: str, ts: str) -> list[dict[str, Any]]:
        """The messages in the thread under `ts`."""
        return [m for m in self.channels[channel].messages.values() if m.get("thread_ts") == ts]

    # ---- server

    async def start(self) -> SlackFake:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/respond/{name}", self._respond)
        app.router.add_post("/upload/v1/{ticket}", self._upload)
        app.router.add_get("/link/", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def close(self) -> None:
        """Stop listening."""
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _respond(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["name"], await request.json()))
        self._changed.set()
        return web.Response(text="ok")

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                args.update(await request.json())
            else:
                args.update(parse_qsl(await request.text()))
        return args

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        arrived = self.clock()
        status, body, headers = await self._answer(method, request, args)
        error = None if body.get("ok") else body.get("error")
        self.calls.append(Call(method, args, status, error, at=arrived))
        self._changed.set()
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response(body, status=status, headers=headers)

    async def _answer(
        self, method: str, request: web.Request, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        failure = self.failures.get(method)
        if failure is not None and failure.channel not in (None, args.get("channel")):
            failure = None
        if failure is not None and failure.times > 0:
            failure.times -= 1
            if failure.delay:
                await asyncio.sleep(failure.delay)
            else:
                headers = {"Retry-After": str(failure.retry_after)} if failure.retry_after else {}
                return failure.status, {"ok": False, "error": failure.error}, headers
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        wanted = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != wanted:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if handler is None:
            return 404, {"ok": False, "error": "unknown_method"}, {}
        needed = SCOPE_OF.get(method)
        if method == "conversations.history":
            private = self.channels.get(str(args.get("channel", "")), Channel("", "")).private
            needed = "groups:history" if private else needed
        if needed in self.withheld:
            provided = sorted(set(SCOPE_OF.values()) - self.withheld)
            refusal = {"needed": needed, "provided": ",".join(provided)}
            return 200, {"ok": False, "error": "missing_scope", **refusal}, {}
        if method in ("chat.postMessage", "chat.update"):
            # chat.postMessage: about one a second per channel; chat.update: Tier 3, per
            # workspace (50 a minute, with bursts).
            key = str(args.get("channel", "")) if method == "chat.postMessage" else method
            limited = self._over_budget(key)
            if limited is not None:
                headers = {"Retry-After": str(limited)}
                return 429, {"ok": False, "error": "ratelimited"}, headers
        result: dict[str, Any] = handler(args)
        return 200, result, {}

    def _over_budget(self, channel: str) -> int | None:
        """Seconds to wait if `channel` (or chat.update) has no budget left now, else None."""
        forced = self._forced_429.pop(channel, None)
        if forced is not None:
            self.rate_limited[channel] = self.rate_limited.get(channel, 0) + 1
            return forced
        now = self.clock()
        rate, burst = (50 / 60, 50.0) if channel == "chat.update" else (self.per_second, self.burst)
        tokens, last = self._buckets.get(channel, (burst, now))
        tokens = min(burst, tokens + (now - last) * rate)
        if tokens < 1.0:
            self._buckets[channel] = (tokens, now)
            self.rate_limited[channel] = self.rate_limited.get(channel, 0) + 1
            return max(1, math.ceil((1.0 - tokens) / rate))
        self._buckets[channel] = (tokens - 1.0, now)
        return None

    # ---- methods (named after Slack's, dots as underscores)

    def _auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://lumo.slack.example/",
            "team": TEAM["name"],
            "user": "allhands",
            "team_id": TEAM["id"],
            "user_id": BOT_USER,
            "bot_id": "B0ALLHANDS",
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket=t{len(self.calls)}"}

    def _message_problems(self, args: dict[str, Any]) -> dict[str, Any] | None:
        text = args.get("text")
        blocks = args.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not text and not blocks:
            return {"ok": False, "error": "no_text"}
        if text is not None and len(text) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        if blocks is not None:
            problems = check_blocks(blocks, most=50)
            if problems:
                return {"ok": False, "error": "invalid_blocks", "errors": problems}
        return None

    def _conversation(self, args: dict[str, Any]) -> Channel | dict[str, Any]:
        channel_id = str(args.get("channel", ""))
        if channel_id in self.users:  # a user id: the app's DM with them
            return self._dm(channel_id)
        channel = self.channels.get(channel_id)
        if channel is None:
            return {"ok": False, "error": "channel_not_found"}
        if not channel.bot_member:
            return {"ok": False, "error": "not_in_channel"}
        return channel

    def _dm(self, user: str) -> Channel:
        """The app's DM with a user (opened on first use)."""
        dm = "D" + user[1:]
        return self.channels.setdefault(dm, Channel(dm, "dm", members={user}))

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return {"ok": False, "error": "users_list_not_supplied"}
        if len(users) > 1:  # multi-person DMs: allhands opens none, nor does this fake
            return {"ok": False, "error": "invalid_arguments"}
        if users[0] not in self.users:
            return {"ok": False, "error": "user_not_found"}
        opened = "D" + users[0][1:] in self.channels
        channel = self._dm(users[0])
        already = {"no_op": True, "already_open": True} if opened else {}
        return {"ok": True, **already, "channel": {"id": channel.id}}

    def _files_getUploadURLExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        filename = str(args.get("filename") or "")
        try:
            length = int(args.get("length") or 0)
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if not filename or length <= 0:
            return {"ok": False, "error": "missing_argument"}
        alt_txt = str(args.get("alt_txt") or "")
        if len(alt_txt) > 1000:
            return {"ok": False, "error": "alt_txt_too_large"}
        file_id = f"F{next(self._files):08d}"
        ticket = f"T{file_id}x{len(self.calls)}"
        self.uploads[file_id] = Upload(file_id, filename, length, alt_txt)
        self._tickets[ticket] = file_id
        return {"ok": True, "upload_url": self.upload_url(ticket), "file_id": file_id}

    def upload_url(self, ticket: str) -> str:
        """Where the bytes of the upload `ticket` go."""
        return f"http://127.0.0.1:{self.port}/upload/v1/{ticket}"

    async def _upload(self, request: web.Request) -> web.Response:
        arrived = self.clock()
        file_id = self._tickets.get(request.match_info["ticket"], "")
        if request.content_type.startswith("multipart/"):  # Slack takes a form, too
            form = await request.post()
            part = next((v for v in form.values() if isinstance(v, web.FileField)), None)
            data = part.file.read() if part is not None else b""
        else:
            data = await request.read()
        failure = self.failures.get(UPLOAD)
        status, text, headers = 200, f"OK - {len(data)}", {}
        if failure is not None and failure.times > 0:
            failure.times -= 1
            if failure.delay:
                await asyncio.sleep(failure.delay)
            else:
                status, text = failure.status, failure.error
                if failure.retry_after:
                    headers = {"Retry-After": str(failure.retry_after)}
        if status == 200:
            upload = self.uploads.get(file_id)
            if upload is None or upload.completed:
                status, text = 404, "upload_url not found or expired"
            elif len(data) != upload.length:
                status, text = 400, f"got {len(data)} bytes; {upload.length} were announced"
            else:
                upload.data = data
        self.calls.append(
            Call(UPLOAD, {"file_id": file_id, "length": len(data)}, status,
                 None if status == 200 else text, at=arrived)
        )  # fmt: skip
        self._changed.set()
        return web.Response(status=status, text=text, headers=headers)

    def _files_completeUploadExternal(self, args: dict[str, Any]) -> dict[str, Any]:
        files = args.get("files")
        try:
            files = json.loads(files) if isinstance(files, str) else files
        except ValueError:
            return {"ok": False, "error": "invalid_arguments"}
        if (
            not isinstance(files, list)
            or not files
            or not all(isinstance(f, dict) and isinstance(f.get("id"), str) for f in files)
        ):
            return {"ok": False, "error": "invalid_arguments"}
        if args.get("channels") or args.get("thread_ts"):
            # allhands shares in one conversation by channel_id; this fake does no more.
            return {"ok": False, "error": "invalid_arguments"}
        uploads = []
        for file in files:
            upload = self.uploads.get(file["id"])
            # Unknown, expired, never given its bytes, or completed already (a file id is
            # completed once): there is no upload ticket to finish.
            if upload is None or upload.completed or upload.data is None:
                return {"ok": False, "error": "file_not_found"}
            uploads.append((upload, str(file.get("title") or "")))
        channel: Channel | None = None
        if args.get("channel_id"):
            found = self._conversation({"channel": args["channel_id"]})
            if isinstance(found, dict):
                return found
            channel = found
        comment = str(args.get("initial_comment") or "")
        if len(comment) > 40_000:
            return {"ok": False, "error": "msg_too_long"}
        now = self.clock()
        for upload, title in uploads:
            upload.completed, upload.title = True, title or upload.filename
        if channel is not None:  # else the file stays private
            ts = f"{int(now)}.{next(self._ts):06d}"
            channel.messages[ts] = {
                "type": "message",
                "bot_id": "B0ALLHANDS",
                "user": BOT_USER,
                "ts": ts,
                "text": comment,
                "blocks": [],
                "upload": True,
                "files": [u.describe(now) for u, _ in uploads],
            }
            for upload, _ in uploads:
                upload.shared_in.append(channel.id)
        return {"ok": True, "files": [{"id": u.id, "title": u.title} for u, _ in uploads]}

    def _chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(args)
        if isinstance(channel, dict):
            return channel
        problem = self._message_problems(args)
        if problem is not None:
            return problem
        thread = args.get("thread_ts")
        if thread is not None and thread not in channel.messages:
            return {"ok": False, "error": "thread_not_found"}
        ts = f"{int(self.clock())}.{next(self._ts):06d}"
        message = {
            "type": "message",
            "subtype": "bot_message",
            "bot_id": "B0ALLHANDS",
            "ts": ts,
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            **({"thread_ts": thread} if thread else {}),
        }
        metadata = args.get("metadata")
        if isinstance(metadata, str):  # form-encoded: a JSON string
            metadata = json.loads(metadata)
        if metadata is not None:
            if not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str):
                return {"ok": False, "error": "invalid_metadata_format"}
            message["metadata"] = {
                "event_type": metadata["event_type"],
                "event_payload": metadata.get("event_payload") or {},
            }
        channel.messages[ts] = message
        return {"ok": True, "channel": channel.id, "ts": ts, "message": message}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(args)
        if isinstance(channel, dict):
            return channel
        message = channel.messages.get(str(args.get("ts")))
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        problem = self._message_problems(args)
        if problem is not None:
            return problem
        message.update(text=args.get("text", ""), blocks=args.get("blocks") or [])
        message["edited"] = {"user": BOT_USER, "ts": f"{int(self.clock())}.000000"}
        return {
            "ok": True,
            "channel": channel.id,
            "ts": message["ts"],
            "text": message["text"],
            "message": message,
        }

    def _chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = self._conversation(args)
        if isinstance(channel, dict):
            return channel
        if args.get("user") not in self.users:
            return {"ok": False, "error": "user_not_found"}
        if args.get("user") not in channel.members:
            return {"ok": False, "error": "user_not_in_channel"}
        problem = self._message_problems(args)
        if problem is not None:
            return problem
        self.ephemeral.append(args)
        return {"ok": True, "message_ts": f"{int(self.clock())}.{next(self._ts):06d}"}

    def _chat_getPermalink(self, args: dict[str, Any]) -> dict[str, Any]:
        # No scope needed (docs: chat.getPermalink); a channel the app cannot see is
        # channel_not_found, a ts with no message there message_not_found.
        channel_id = str(args.get("channel", ""))
        channel = self.channels.get(channel_id)
        if channel is None or (channel.private and not channel.bot_member):
            return {"ok": False, "error": "channel_not_found"}
        ts = str(args.get("message_ts", ""))
        if ts not in channel.messages:
            return {"ok": False, "error": "message_not_found"}
        return {
            "ok": True,
            "channel": channel.id,
            "permalink": f"https://lumo.slack.example/archives/{channel.id}/p{ts.replace('.', '')}",
        }

    def _view(self, view: Any, view_id: str) -> dict[str, Any]:
        stored = {
            **view,
            "id": view_id,
            "team_id": TEAM["id"],
            "hash": f"{int(self.clock())}.{next(self._views)}",
            "state": {"values": {}},
            "app_id": "A0ALLHANDS",
            "bot_id": "B0ALLHANDS",
            "root_view_id": view_id,
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
        }
        self.views[view_id] = stored
        return stored

    @staticmethod
    def _view_arg(args: dict[str, Any]) -> Any:
        view = args.get("view")
        return json.loads(view) if isinstance(view, str) else view

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = self._view_arg(args)
        problems = check_view(view)
        if problems or view.get("type") != "modal":
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": problems},
            }
        return {"ok": True, "view": self._view(view, f"V{next(self._views):08d}")}

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        current = self.views.get(str(args.get("view_id")))
        if current is None:
            return {"ok": False, "error": "not_found"}
        if args.get("hash") and args["hash"] != current["hash"]:
            return {"ok": False, "error": "hash_conflict"}
        view = self._view_arg(args)
        problems = check_view(view)
        if problems:
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": problems},
            }
        return {"ok": True, "view": self._view(view, current["id"])}

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user_id", ""))
        if user not in self.users:
            return {"ok": False, "error": "user_not_found"}
        view = self._view_arg(args)
        problems = check_view(view)
        if problems or view.get("type") != "home":
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": problems},
            }
        stored = self._view(view, f"VH{user}")
        self.homes[user] = stored
        return {"ok": True, "view": stored}

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(args.get("user", "")))
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "user": user}

    def _users_lookupByEmail(self, args: dict[str, Any]) -> dict[str, Any]:
        wanted = str(args.get("email", "")).casefold()
        for user in self.users.values():
            if wanted and user["profile"].get("email", "").casefold() == wanted:
                return {"ok": True, "user": user}
        return {"ok": False, "error": "users_not_found"}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages newest first, after `oldest` (exclusive), paged by `limit`
        and `cursor`; `metadata` only with `include_all_metadata` (docs.slack.dev)."""
        channel = self._conversation(args)
        if isinstance(channel, dict):
            return channel
        oldest = float(args.get("oldest") or 0)
        newest_first = sorted(
            (m for m in channel.messages.values() if "thread_ts" not in m),
            key=lambda m: float(m["ts"]),
            reverse=True,
        )
        wanted = [m for m in newest_first if float(m["ts"]) > oldest]
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        shown = [
            m if with_metadata else {k: v for k, v in m.items() if k != "metadata"} for m in wanted
        ]
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit") or 100), 999)
        more = start + limit < len(shown)
        return {
            "ok": True,
            "messages": shown[start : start + limit],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _page(self, items: list[dict[str, Any]], args: dict[str, Any]) -> dict[str, Any]:
        start = int(args.get("cursor") or 0)
        limit = min(int(args.get("limit") or 100), self.page_size)
        page = items[start : start + limit]
        more = start + limit < len(items)
        return {
            "ok": True,
            "channels": page,
            "response_metadata": {"next_cursor": str(start + limit) if more else ""},
        }

    def _describe(self, channel: Channel) -> dict[str, Any]:
        return {
            "id": channel.id,
            "name": channel.name,
            "is_channel": not channel.private,
            "is_group": channel.private,
            "is_im": False,
            "is_private": channel.private,
            "is_archived": False,
            "is_member": channel.bot_member,
        }

    def _visible(self, types: str) -> list[Channel]:
        wanted = set(types.split(",")) if types else {"public_channel"}
        return [
            c for c in self.channels.values()
            if c.name != "dm"
            and (("private_channel" in wanted and c.private and c.bot_member)
                 or ("public_channel" in wanted and not c.private))
        ]  # fmt: skip

    def _conversations_list(self, args: dict[str, Any]) -> dict[str, Any]:
        channels = [self._describe(c) for c in self._visible(str(args.get("types", "")))]
        return self._page(channels, args)

    def _users_conversations(self, args: dict[str, Any]) -> dict[str, Any]:
        user = str(args.get("user", ""))
        channels = [
            self._describe(c)
            for c in self._visible(str(args.get("types", "")))
            if user in c.members
        ]
        return self._page(channels, args)

    # ---- Socket Mode

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        if self.refuse_sockets > 0:  # the handshake fails, as behind a broken proxy
            self.refuse_sockets -= 1
            return web.Response(status=503, text="unavailable")
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        self._changed.set()
        if self.say_hello:
            open_now = sum(1 for s in self._sockets if not s.closed)
            await ws.send_json(
                {
                    "type": "hello",
                    "num_connections": open_now,
                    "debug_info": {"host": "applink-fake", "approximate_connection_time": 18060},
                    "connection_info": {"app_id": "A0ALLHANDS"},
                }
            )
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
                self._changed.set()
        self._changed.set()
        return ws

    @property
    def sockets_open(self) -> int:
        """How many Socket Mode connections are open now."""
        return sum(1 for ws in self._sockets if not ws.closed)

    @property
    def sockets_opened(self) -> int:
        """How many Socket Mode connections were ever opened."""
        return len(self._sockets)

    async def socket_drop(self, *, code: int = 1001) -> None:
        """Close the newest Socket Mode connection from Slack's side."""
        await self._sockets[-1].close(code=code, message=b"going away")

    async def socket_disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell the client this connection will be closed (Slack's `disconnect` message)."""
        await self._sockets[-1].send_json(
            {"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-fake"}}
        )

    async def socket_send(self, envelope: dict[str, Any]) -> None:
        """Send an envelope to the connected Socket Mode client."""
        for _ in range(200):
            if self._sockets and not self._sockets[-1].closed:
                break
            await asyncio.sleep(0.02)
        await self._sockets[-1].send_json(envelope)

    async def until(self, ready: Callable[[], bool], *, within: float = 10.0) -> None:
        """Wait (up to `within` seconds of real time) until `ready()` holds after a request."""
        deadline = time.monotonic() + within
        while not ready():
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("the fake Slack did not get what was expected in time")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 0.1))

    async def socket_ack(self, envelope_id: str, *, within: float = 5.0) -> dict[str, Any]:
        """Wait for the client's acknowledgement of an envelope, and return it."""
        await self.until(
            lambda: any(a.get("envelope_id") == envelope_id for a in self.socket_acks),
            within=within,
        )
        return next(a for a in self.socket_acks if a.get("envelope_id") == envelope_id)
