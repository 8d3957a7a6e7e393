"""allhands as a Slack app: slack-bolt's AsyncApp, served at /slack/events or by Socket Mode.

Listeners only translate Slack's requests into the shared command grammar and call
`Workflow.handle`. Each acknowledges first (Slack wants an answer within 3 seconds) and
does the rest in a background task it keeps track of; the only work before an ack is
checking a reply dialog (`bot.chat.slack.dialog`), and deciding in a lead's Edit or Reject
dialog (`bot.chat.slack.approvals`), because their errors must be shown in the dialog itself.
App Home is drawn by `bot.chat.slack.home`.
Socket Mode's connection is kept by `bot.chat.slack.socket_mode`.

Over HTTP every request's signature is checked against the Clock (stale after five
minutes) and each signature is accepted once, so a replayed request is refused; events
Slack delivers again (X-Slack-Retry-Num, or a Socket Mode retry) are recognised by their
event id and not processed twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.internals import parse_body
from slack_bolt.response import BoltResponse
from slack_sdk.signature import Clock as SignatureClock
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.adapter import SlackAdapter
from bot.chat.slack.approvals import SlackApprovals
from bot.chat.slack.blocks import (
    SNOOZE_CHOICES,
    ActionId,
    text_message,
)
from bot.chat.slack.calls import PLATFORM, call_slack
from bot.chat.slack.dialog import SlackReplyDialog
from bot.chat.slack.home import HOME_OPENED, SlackHome, from_home
from bot.chat.slack.incidents import SlackReplyAll
from bot.chat.slack.settings import check_settings
from bot.chat.slack.shapes import shape_problem
from bot.chat.slack.socket_mode import SlackSocket
from bot.chat.slack.text import command_from_slack
from bot.clock import Clock
from bot.drafts import ReplyDrafts
from bot.errors import CommandError, ConfigError, DeliveryError, Problem
from bot.playbooks import Playbooks
from bot.settings import Settings
from bot.store import webhooks
from bot.store.db import Database
from bot.workflow import Context, Workflow

log = logging.getLogger(__name__)

COMMAND = "/allhands"
EVENTS = (HOME_OPENED,)  # the bot events the manifest subscribes to
DEFAULT_API_URL = "https://slack.com/api/"
REQUEST_TIMEOUT = 10.0  # seconds for one Web API call; the outbox retries after that
SIGNATURE_WINDOW = timedelta(minutes=5)  # Slack's own rule for a request's timestamp
EVENT_MEMORY = timedelta(hours=1)  # Slack retries an event three times within minutes
_STATE_BUTTONS = re.compile(r"^allhands_(claim|resolve|release|reopen)$")
_NUMBER = re.compile(r"\d{1,9}")
_INCIDENT = re.compile(r"I\d{1,9}")  # an incident card's buttons
_SNOOZE = re.compile(r"(\d{1,9}) (" + "|".join(d for d, _ in SNOOZE_CHOICES) + ")")
_AUTH_ERRORS = ("invalid_auth", "not_authed", "token_revoked", "account_inactive")


class _DropMessage(logging.Filter):
    """Drops log records with exactly this message."""

    def __init__(self, message: str):
        super().__init__()
        self.message = message

    def filter(self, record: logging.LogRecord) -> bool:
        """False for the message to drop."""
        return record.getMessage() != self.message


class _ClockForSignatures(SignatureClock):
    """slack_sdk's signature clock, reading allhands' Clock."""

    def __init__(self, clock: Clock):
        self.clock = clock

    def now(self) -> float:
        """Seconds since the epoch, as the Clock says."""
        return self.clock.now().timestamp()


class SlackBot:
    """allhands on Slack: the ChatAdapter, the bolt app answering Slack, and its transport."""

    def __init__(
        self,
        *,
        settings: Settings,
        clock: Clock,
        database: Database,
        workflow: Workflow,
        drafts: ReplyDrafts,
        playbooks: Callable[[], Playbooks],
        per_second: float = 1.0,
    ):
        check_settings(settings)
        self.settings = settings
        self.clock = clock
        self.database = database
        self.workflow = workflow
        self.drafts = drafts
        self.playbooks = playbooks
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT))
        base_url = settings.slack_api_url or DEFAULT_API_URL
        self.client = AsyncWebClient(
            token=settings.slack_bot_token,
            base_url=base_url if base_url.endswith("/") else base_url + "/",
            session=self.http,
            logger=logging.getLogger("bot.chat.slack.web"),
            # The outbox retries, knowing what is safe to send again; slack_sdk's own
            # retry on a reset connection could post a message twice.
            retry_handlers=[],
        )
        self.adapter = SlackAdapter(
            client=self.client, clock=clock, database=database, per_second=per_second
        )
        self.people = self.adapter.people
        secret = settings.slack_signing_secret
        self.verifier = (
            SignatureVerifier(secret, clock=_ClockForSignatures(clock)) if secret else None
        )
        bolt_log = logging.getLogger("bot.chat.slack.bolt")
        # bolt reads SLACK_BOT_TOKEN itself and warns that the client's token wins: it is
        # the same token, so the warning only alarms whoever reads the log at start.
        quiet = _DropMessage(warning_client_prioritized_and_token_skipped())
        bolt_log.addFilter(quiet)
        try:
            self.bolt = AsyncApp(
                name="allhands",
                client=self.client,
                signing_secret=secret,
                # Signatures are checked in handle_http, against the Clock, replays refused.
                request_verification_enabled=False,
                logger=bolt_log,
            )
        finally:
            bolt_log.removeFilter(quiet)
        self.socket: SlackSocket | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._listen()

    # ---- lifecycle

    async def start(self) -> None:
        """Check the token with Slack (ConfigError if refused); Socket Mode is opened by the
        replica holding its lease (`open_socket`)."""
        try:
            who = await call_slack("auth.test", self.client.auth_test)
        except DeliveryError as exc:
            if any(code in str(exc) for code in _AUTH_ERRORS):
                raise ConfigError(
                    [
                        Problem(
                            f"Slack refused it: {exc}",
                            key="SLACK_BOT_TOKEN",
                            hint="reinstall the app and copy its Bot User OAuth Token",
                        )
                    ]
                ) from None
            log.warning("Slack did not answer auth.test (%s); going on, cards will wait", exc)
        else:
            log.info("Slack: connected to %s as @%s", who.get("team"), who.get("user"))
        if not self.settings.slack_app_token:
            log.info("Slack: HTTP mode; Slack's Request URL is https://<this host>/slack/events")

    async def open_socket(self) -> None:
        """Connect Socket Mode (kept by this replica until `close_socket`)."""
        if self.socket is not None or not self.settings.slack_app_token:
            return
        self.socket = SlackSocket(
            bolt=self.bolt,
            client=self.client,
            app_token=self.settings.slack_app_token,
            clock=self.clock,
        )
        self.socket.start()
        log.info("Slack: Socket Mode (no public URL needed)")

    async def close_socket(self) -> None:
        """Close Socket Mode (another replica keeps it now, or this one stops)."""
        if self.socket is not None:
            await self.socket.stop()
            self.socket = None

    def mount(self, web_app: web.Application) -> None:
        """Serve Slack's requests (commands, interactivity, events) at /slack/events."""
        web_app.router.add_post("/slack/events", self.handle_http)

    async def idle(self) -> None:
        """Wait until every background task started so far (and those they start) is done."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        """Close Socket Mode, let background work finish (briefly), close HTTP."""
        await self.close_socket()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=5)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        await self.http.close()

    def spawn(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Run `work` after the ack, tracked, its failure logged rather than lost."""

        async def guarded() -> None:
            try:
                await work
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Slack: %s failed", what)

        task = asyncio.create_task(guarded(), name=f"slack: {what}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- HTTP mode

    async def handle_http(self, request: web.Request) -> web.StreamResponse:
        """Check a request's signature (401 if forged, stale or replayed), then dispatch it."""
        body = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return web.json_response({"error": "invalid request"}, status=400)
        if (
            self.verifier is None
            or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
            or not self.verifier.is_valid(text, timestamp, signature)
        ):
            log.warning("Slack: refused a request with a bad or stale signature")
            return web.json_response({"error": "invalid request"}, status=401)
        first = await self.database.write(
            webhooks.remember,
            source="slack",
            signature=signature,
            now=self.clock.now(),
            keep=2 * SIGNATURE_WINDOW,
        )
        if not first:
            log.warning("Slack: refused a replayed request (signature seen before)")
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            # Parsed as bolt parses it, to refuse a body of a shape Slack never sends
            # before bolt's listeners trip over it.
            problem = shape_problem(parse_body(text, request.content_type))
            if problem is None:
                bolt_request = await to_bolt_request(request)
        except (ValueError, RecursionError):  # a body Slack would never send
            problem = "not JSON or a form"
        if problem is not None:
            log.warning("Slack: refused a signed request Slack would not send: %s", problem)
            return web.json_response({"error": f"unreadable body: {problem}"}, status=400)
        response = await self.bolt.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    # ---- listeners

    def _listen(self) -> None:
        bolt = self.bolt
        bolt.middleware(self._skip_repeated_events)
        bolt.command(COMMAND)(self._on_command)
        bolt.action(_STATE_BUTTONS)(self._on_button)
        bolt.action(ActionId.SNOOZE.value)(self._on_snooze)
        SlackReplyDialog(self).listen(bolt)
        self.home = SlackHome(self)
        self.home.listen(bolt)
        SlackApprovals(self).listen(bolt)
        self.reply_all = SlackReplyAll(self)
        self.reply_all.listen(bolt)

    async def _skip_repeated_events(
        self, body: dict[str, Any], next_: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id:
            first = await self.database.write(
                webhooks.remember,
                source="slack-event",
                signature=str(event_id),
                now=self.clock.now(),
                keep=EVENT_MEMORY,
            )
            if not first:
                log.info("Slack: event %s delivered again; it was handled already", event_id)
                return BoltResponse(status=200, body="")
        return await next_()

    async def _on_command(
        self, ack: AsyncAck, command: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        self.spawn(self._run_command(command, respond), "slash command")

    async def _run_command(self, command: dict[str, Any], respond: AsyncRespond) -> None:
        actor = str(command.get("user_id", ""))
        try:
            line = command_from_slack(str(command.get("text", "")))
        except CommandError as exc:
            await self._respond(respond, str(exc))
            return
        await self.people.ensure(actor)
        if line.startswith("assign "):
            await self.people.ensure(line.rsplit(" ", 1)[1])  # the person given the mention
        context = Context(
            actor=actor,
            platform=PLATFORM,
            channel=self._playbook_channel(command.get("channel_id"), command.get("channel_name")),
        )
        answer = await self.workflow.handle(line, context)
        await self._respond(respond, answer.text)

    async def _respond(self, respond: AsyncRespond, text: str) -> None:
        """Answer only the person who asked (the command's or button's response_url)."""
        await respond(
            response_type="ephemeral",
            replace_original=False,
            unfurl_links=False,
            unfurl_media=False,
            **text_message(text),
        )

    async def _on_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        value = str(action.get("value", ""))
        if not (_NUMBER.fullmatch(value) or _INCIDENT.fullmatch(value)):
            return
        verb = str(action["action_id"]).removeprefix("allhands_")
        self.spawn(self._run_click(f"{verb} {value}", body, respond), f"{verb} button")

    async def _on_snooze(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        value = str((action.get("selected_option") or {}).get("value", ""))
        if not _SNOOZE.fullmatch(value):
            return
        self.spawn(self._run_click(f"snooze {value}", body, respond), "snooze menu")

    async def _run_click(self, line: str, body: dict[str, Any], respond: AsyncRespond) -> None:
        user = str(body["user"]["id"])
        await self.people.ensure(user)
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get(
            "channel_id"
        )
        context = Context(actor=user, platform=PLATFORM, channel=self._playbook_channel(channel))
        answer = await self.workflow.handle(line, context)
        if from_home(body):
            await self.publish_home(user, notice=None if answer.ok else answer.text)
        elif not answer.ok:
            # A refusal is news only to whoever clicked; success shows on the card itself.
            await self._respond(respond, answer.text)

    async def publish_home(self, user: str, *, notice: str | None = None) -> None:
        """Show a person their claimed mentions and their teams' open queues (App Home)."""
        await self.home.publish(user, notice=notice)

    def _playbook_channel(
        self, channel_id: str | None, channel_name: str | None = None
    ) -> str | None:
        """A Slack channel as the playbooks write it (`#name` or id), so teams are found."""
        if not channel_id:
            return None
        for team in self.playbooks().teams.values():
            if team.channel.platform != PLATFORM:
                continue
            written = team.channel.channel
            if (
                written == channel_id
                or self.adapter.channels.cached_id(written) == channel_id
                or (channel_name and written == f"#{channel_name}")
            ):
                return written
        return channel_id
