"""Slack: the incident card's Reply button opens one dialog to answer every customer
(`reply-all I7 <text>`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.chat.slack.blocks import REPLY_ALL_BLOCK, REPLY_ALL_VIEW, ActionId, reply_all_modal
from bot.chat.slack.calls import call_slack
from bot.chat.slack.dialog import run_from_dialog, view_metadata
from bot.store import incidents as incident_store

if TYPE_CHECKING:
    from bot.chat.slack.app import SlackBot

_INCIDENT = re.compile(r"I\d{1,9}")


class SlackReplyAll:
    """The reply-all dialog: opened from an incident card, submitted as `reply-all`."""

    def __init__(self, bot: SlackBot):
        self.bot = bot

    def listen(self, bolt: AsyncApp) -> None:
        """Register the dialog's submission listener."""
        bolt.view(REPLY_ALL_VIEW)(self._on_reply_all_submit)

    async def open(self, incident: str, body: dict[str, Any], respond: AsyncRespond) -> None:
        """Open the dialog for an open incident (`I7`), or say why not."""
        found = await self.bot.database.read(incident_store.get, number=int(incident[1:]))
        if found is None or found.state != "open":
            await self.bot._respond(respond, f"{incident} is not open.")
            return
        channel = (body.get("channel") or {}).get("id")
        origin = {"channel": channel} if channel else {"home": "1"}
        view = reply_all_modal(incident, why=found.why, origin=origin)
        trigger = str(body.get("trigger_id", ""))
        await call_slack(
            "views.open", lambda: self.bot.client.views_open(trigger_id=trigger, view=view)
        )

    async def _on_reply_all_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = (view.get("state") or {}).get("values") or {}
        typed = (values.get(REPLY_ALL_BLOCK) or {}).get(ActionId.REPLY_TEXT.value) or {}
        text = str(typed.get("value") or "").strip()
        incident = str(view_metadata(view).get("incident") or "")
        if not text or not _INCIDENT.fullmatch(incident):
            await ack(response_action="errors", errors={REPLY_ALL_BLOCK: "Write the answer first."})
            return
        await ack()
        origin = view_metadata(view).get("origin") or {}
        self.bot.spawn(
            self._send_reply_all(incident, text, str(body["user"]["id"]), origin), "reply-all"
        )

    async def _send_reply_all(
        self, incident: str, text: str, user: str, origin: dict[str, str]
    ) -> None:
        await run_from_dialog(self.bot, f"reply-all {incident} {text}", user=user, origin=origin)
