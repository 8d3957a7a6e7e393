"""Approval requests on Slack: a lead's Approve, Edit and Reject, run as the leads' commands.

Approve acknowledges at once and runs `approve N` after the ack, like the card's buttons.
Edit and Reject open a modal after the ack; its submission runs `edit N <text>` or
`reject N <reason>` before answering Slack, because a refusal (the lead's text breaks a
guardrail, another lead decided first) must be shown in the modal itself; that is one
guardrail check and one transaction, as the reply dialog's check is. Each decision
carries the held answer its button names (`Context.held`), and is refused in its own
transaction if another answer waits now. Once decided, the outbox draws every lead's
request again with the decision in place of its buttons (`SlackAdapter.show_decision`),
and the lead is told the outcome privately. Whoever clicks, the workflow decides whether
they may: a refusal reaches only them and changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.chat import MessageRef
from bot.chat.slack.approval_blocks import (
    CHANNEL_ID,
    EDIT_BLOCK,
    EDIT_VIEW,
    MESSAGE_TS,
    REASON_BLOCK,
    REJECT_VIEW,
    ApprovalAction,
    ApprovalClick,
    DecisionForm,
    edit_modal,
    read_click,
    read_form,
    reject_modal,
    submitted,
)
from bot.chat.slack.blocks import text_message
from bot.chat.slack.calls import PLATFORM, call_slack
from bot.errors import CommandError
from bot.store import approvals
from bot.workflow import Context

if TYPE_CHECKING:
    from bot.chat.slack.app import SlackBot

log = logging.getLogger(__name__)

ERROR_TEXT = 1500  # what a modal shows under an input at most
NOT_OURS = "That button is not one allhands made; nothing was done."


def request_message_ref(body: Mapping[str, Any]) -> MessageRef | None:
    """The message a button was clicked in (Slack's `container`), if it reads as one."""
    container = body.get("container") or {}
    channel = str(container.get("channel_id") or "")
    ts = str(container.get("message_ts") or "")
    if container.get("type") != "message" or container.get("is_ephemeral"):
        return None
    if not (CHANNEL_ID.fullmatch(channel) and MESSAGE_TS.fullmatch(ts)):
        return None
    return MessageRef(PLATFORM, channel, ts)


class SlackApprovals:
    """The listeners behind an approval request's buttons and modals."""

    def __init__(self, bot: SlackBot):
        self.bot = bot

    def listen(self, bolt: AsyncApp) -> None:
        """Register the buttons' and the modals' listeners."""
        bolt.action(ApprovalAction.APPROVE.value)(self._on_approve)
        bolt.action(ApprovalAction.EDIT.value)(self._on_open)
        bolt.action(ApprovalAction.REJECT.value)(self._on_open)
        bolt.view(EDIT_VIEW)(self._on_edit)
        bolt.view(REJECT_VIEW)(self._on_reject)

    # ---- buttons

    async def _on_approve(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        click = self._click(action)
        if click is None:
            self.bot.spawn(self._respond(respond, NOT_OURS), "refusing a forged button")
            return
        self.bot.spawn(self._approve(click, body, respond), "approve button")

    async def _approve(self, click: ApprovalClick, body: dict[str, Any], respond: Any) -> None:
        user = str(body["user"]["id"])
        await self.bot.people.ensure(user)
        context = Context(actor=user, platform=PLATFORM, channel=None, held=click.reply)
        answer = await self.bot.workflow.handle(f"approve {click.mention}", context)
        await self._respond(respond, answer.text)

    async def _on_open(
        self, ack: AsyncAck, body: dict[str, Any], action: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        click = self._click(action)
        if click is None:
            self.bot.spawn(self._respond(respond, NOT_OURS), "refusing a forged button")
            return
        self.bot.spawn(self._open(click, body, respond), f"{click.verb} dialog")

    async def _open(self, click: ApprovalClick, body: dict[str, Any], respond: Any) -> None:
        """Open the Edit or Reject modal for a lead who may decide now (Slack's trigger
        lasts three seconds: names are looked up after)."""
        user = str(body["user"]["id"])
        ref = request_message_ref(body)
        held = await self._refusal(click, user)
        if isinstance(held, str):
            await self._respond(respond, held)
            return
        form = DecisionForm(
            click.mention, click.reply, ref.channel if ref else "", ref.id if ref else ""
        )
        responder = await self.bot.people.name(held.responder)
        if click.verb == "edit":
            view = edit_modal(form, responder=responder, text=held.text)
        else:
            view = reject_modal(form, responder=responder)
        trigger = str(body.get("trigger_id", ""))
        await call_slack(
            "views.open", lambda: self.bot.client.views_open(trigger_id=trigger, view=view)
        )
        await self.bot.people.ensure(user)  # the writer is told who decided, by name

    # ---- modals

    async def _on_edit(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        text = submitted(view, EDIT_BLOCK).strip()
        if not text:
            await ack(
                response_action="errors",
                errors={EDIT_BLOCK: "Write what the customer will read, or Cancel."},
            )
            return
        await self._submit(ack, body, view, "edit", text, EDIT_BLOCK)

    async def _on_reject(self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        reason = " ".join(submitted(view, REASON_BLOCK).split())
        if not reason:
            await ack(
                response_action="errors",
                errors={REASON_BLOCK: "Say why, so that the writer can do better."},
            )
            return
        await self._submit(ack, body, view, "reject", reason, REASON_BLOCK)

    async def _submit(
        self,
        ack: AsyncAck,
        body: dict[str, Any],
        view: dict[str, Any],
        verb: str,
        text: str,
        block: str,
    ) -> None:
        """Decide before the ack: a refusal is shown under the modal's input."""
        user = str(body["user"]["id"])
        form = read_form(view)
        if form is None:
            await ack(response_action="errors", errors={block: "This dialog is out of date."})
            return
        context = Context(actor=user, platform=PLATFORM, channel=None, held=form.reply)
        answer = await self.bot.workflow.handle(f"{verb} {form.mention} {text}", context)
        if not answer.ok:
            await ack(response_action="errors", errors={block: answer.text[:ERROR_TEXT]})
            return
        await ack()
        channel = form.channel or None
        self.bot.spawn(self.bot.adapter.tell(user, answer.text, channel=channel), f"{verb} dialog")

    # ---- shared

    @staticmethod
    def _click(action: Mapping[str, Any]) -> ApprovalClick | None:
        click = read_click(str(action.get("action_id", "")), str(action.get("value", "")))
        if click is None:
            log.warning("Slack: refused an approval button with a value allhands did not make")
        return click

    async def _refusal(self, click: ApprovalClick, user: str) -> approvals.Held | str:
        """The held answer `user` may decide on now, or why not (as the commands say it):
        before a dialog opens. The decision itself checks again, in its transaction."""
        try:
            return await self.bot.workflow.leads_desk.waiting_for(
                click.mention, actor=user, verb=click.verb, expected=click.reply
            )
        except CommandError as exc:
            return str(exc)

    async def _respond(self, respond: Any, text: str) -> None:
        """Answer only the lead who clicked (the button's response_url)."""
        await respond(
            response_type="ephemeral",
            replace_original=False,
            unfurl_links=False,
            unfurl_media=False,
            **text_message(text),
        )
