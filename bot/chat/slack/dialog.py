"""Slack: the reply dialog, opened from a card's Reply button; picking a template refills
its text, typing recounts it, and a submission is checked before the ack so that Slack shows
the problem under the text."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.chat.slack.blocks import (
    REPLY_TEXT_BLOCK,
    REPLY_VIEW,
    TEMPLATE_BLOCK,
    ActionId,
    ReplyForm,
    reply_modal,
)
from bot.chat.slack.calls import PLATFORM, call_slack
from bot.chat.slack.home import from_home
from bot.errors import CommandError, DeliveryError
from bot.replying import Setting
from bot.workflow import Context

if TYPE_CHECKING:
    from bot.chat.slack.app import SlackBot

log = logging.getLogger(__name__)

_NUMBER = re.compile(r"\d{1,9}")
_INCIDENT = re.compile(r"I\d{1,9}")  # an incident card's buttons
ERROR_TEXT = 1500  # what a dialog error shows at most


def _text_value(view: Mapping[str, Any]) -> tuple[str, str]:
    """The reply dialog's text input: (its block id, what was typed)."""
    values = (view.get("state") or {}).get("values") or {}
    for block_id, actions in values.items():
        if block_id.startswith(REPLY_TEXT_BLOCK) and ActionId.REPLY_TEXT.value in actions:
            return block_id, str(actions[ActionId.REPLY_TEXT.value].get("value") or "")
    return f"{REPLY_TEXT_BLOCK}_0", ""


def _selected_template(view: Mapping[str, Any]) -> str | None:
    values = (view.get("state") or {}).get("values") or {}
    picked = (values.get(TEMPLATE_BLOCK) or {}).get(ActionId.TEMPLATE.value) or {}
    option = picked.get("selected_option") or {}
    return option.get("value")


def view_metadata(view: Mapping[str, Any]) -> dict[str, Any]:
    """What a dialog keeps in its private_metadata (`{}` when it is not a JSON object)."""
    try:
        meta = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return meta if isinstance(meta, dict) else {}


async def run_from_dialog(
    bot: SlackBot, line: str, *, user: str, origin: Mapping[str, str]
) -> None:
    """Run a submitted dialog's command; its answer goes where the dialog was opened from
    (privately in the channel, or App Home)."""
    await bot.people.ensure(user)
    channel = origin.get("channel")
    context = Context(actor=user, platform=PLATFORM, channel=bot._playbook_channel(channel))
    answer = await bot.workflow.handle(line, context)
    if channel:
        await bot.adapter.tell(user, answer.text, channel=channel)
    else:
        await bot.publish_home(user, notice=answer.text)


class SlackReplyDialog:
    """The reply dialog: opened from a card, redrawn as it is filled in, submitted as `reply`."""

    def __init__(self, bot: SlackBot):
        self.bot = bot

    def listen(self, bolt: AsyncApp) -> None:
        """Register the Reply button's, the dialog's and its submission's listeners."""
        bolt.action(ActionId.REPLY.value)(self._on_reply_button)
        bolt.action(ActionId.TEMPLATE.value)(self._on_template)
        bolt.action(ActionId.REPLY_TEXT.value)(self._on_typing)
        bolt.view(REPLY_VIEW)(self._on_reply_submit)

    async def _on_reply_button(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        value = str(action.get("value", ""))
        if _NUMBER.fullmatch(value):
            self.bot.spawn(self._open_reply(int(value), body, respond), "reply dialog")
        elif _INCIDENT.fullmatch(value):
            self.bot.spawn(self.bot.reply_all.open(value, body, respond), "reply-all dialog")

    async def _open_reply(self, number: int, body: dict[str, Any], respond: AsyncRespond) -> None:
        user = str(body["user"]["id"])
        try:
            setting = await self.bot.drafts.setting(number)
        except CommandError as exc:
            if from_home(body):
                await self.bot.publish_home(user, notice=str(exc))
            else:
                await self.bot._respond(respond, str(exc))
            return
        channel = (body.get("channel") or {}).get("id")
        origin = {"home": "1"} if from_home(body) or not channel else {"channel": channel}
        form = self._form(setting, text="", version=0, template=None, origin=origin)
        trigger = str(body.get("trigger_id", ""))
        await call_slack(
            "views.open",
            lambda: self.bot.client.views_open(trigger_id=trigger, view=reply_modal(form)),
        )
        # Templates say who answers: have the name ready for when one is picked.
        await self.bot.people.ensure(user)

    def _form(
        self,
        setting: Setting,
        *,
        text: str,
        version: int,
        template: str | None,
        origin: dict[str, str],
    ) -> ReplyForm:
        mention = setting.mention
        return ReplyForm(
            number=mention.number,
            author=f"@{mention.author.handle}",
            source=mention.source,
            mention_text=mention.text,
            templates=self.bot.drafts.template_names(),
            text=text,
            count_note=self.bot.drafts.count(setting, text).note,
            version=version,
            template=template,
            origin=origin,
        )

    async def _redraw(self, body: dict[str, Any], *, template: str | None, typed: str) -> None:
        """views.update the dialog: a picked template refills the text, typing recounts."""
        view = body.get("view") or {}
        meta = view_metadata(view)
        number = meta.get("number")
        if not isinstance(number, int):
            return
        setting = await self.bot.drafts.setting(number)
        version = int(meta.get("version", 0))
        text = typed
        if template is not None:
            agent = await self.bot.people.ensure(str(body["user"]["id"]))
            text = self.bot.drafts.from_template(setting, template, agent=agent)
            version += 1  # a new block id makes Slack show the new text
        form = self._form(
            setting,
            text=text,
            version=version,
            template=template or _selected_template(view),
            origin=meta.get("origin") or {},
        )
        try:
            await call_slack(
                "views.update",
                lambda: self.bot.client.views_update(
                    view_id=str(view.get("id")), hash=view.get("hash"), view=reply_modal(form)
                ),
            )
        except DeliveryError as exc:
            if "hash_conflict" not in str(exc):
                raise
            log.debug("Slack: reply dialog changed meanwhile; a newer update follows")

    async def _on_template(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        name = str((action.get("selected_option") or {}).get("value", ""))
        _, typed = _text_value(body.get("view") or {})
        self.bot.spawn(self._redraw(body, template=name, typed=typed), "template pick")

    async def _on_typing(self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        typed = str(action.get("value") or "")
        self.bot.spawn(self._redraw(body, template=None, typed=typed), "reply count")

    async def _on_reply_submit(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        # Checked before the ack: Slack shows these errors in the dialog, under the text.
        user = str(body["user"]["id"])
        block_id, text = _text_value(view)
        meta = view_metadata(view)
        number = meta.get("number")
        if not isinstance(number, int):
            await ack(response_action="errors", errors={block_id: "This dialog is out of date."})
            return
        problem = await self.bot.drafts.problem(number, actor=user, text=text)
        if problem is not None:
            await ack(response_action="errors", errors={block_id: problem[:ERROR_TEXT]})
            return
        await ack()
        origin = meta.get("origin") or {}
        self.bot.spawn(self._send_reply(number, text.strip(), user, origin), "reply")

    async def _send_reply(self, number: int, text: str, user: str, origin: dict[str, str]) -> None:
        await run_from_dialog(self.bot, f"reply {number} {text}", user=user, origin=origin)
