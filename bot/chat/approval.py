"""Asking a lead to approve a held answer: the platform-neutral request and its text form.

The outbox carries an `approval_request` payload (see `ApprovalRequest`). A chat adapter
that can show buttons implements `ApprovalAdapter`: `ask_approval` renders Approve / Edit
/ Reject, which map to the commands `approve N`, `edit N <text>` and `reject N <reason>`
(a button also names the held answer it was made for, so that it never decides another),
and returns where it posted the request; once a lead decides, the outbox has every
request posted drawn again through `show_decision`, without buttons. Any other adapter
is sent `render_text(request)` through `tell`, and its leads are told the decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from bot.chat import ChatAdapter, MessageRef
from bot.errors import DeliveryError


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """One lead asked to decide on one held answer. Text fields are untrusted: escape them."""

    person: str  # the lead asked
    mention: int
    reply: int
    text: str  # exactly what would be posted
    reasons: tuple[str, ...]  # one line each: `rule: what and why`
    responder: str
    source: str = ""
    author: str = ""  # the customer's handle
    url: str = ""  # the customer's post

    @property
    def approve(self) -> str:
        """The command an Approve button runs."""
        return f"approve {self.mention}"

    @property
    def edit(self) -> str:
        """The command an Edit dialog runs, with the lead's text after it."""
        return f"edit {self.mention} <new text>"

    @property
    def reject(self) -> str:
        """The command a Reject dialog runs, with the lead's reason after it."""
        return f"reject {self.mention} <reason>"

    def payload(self) -> dict[str, Any]:
        """The outbox payload."""
        return {
            "person": self.person,
            "mention": self.mention,
            "reply": self.reply,
            "text": self.text,
            "reasons": list(self.reasons),
            "responder": self.responder,
            "source": self.source,
            "author": self.author,
            "url": self.url,
        }

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> ApprovalRequest:
        """Read an outbox payload back."""
        return cls(
            person=str(payload["person"]),
            mention=int(payload["mention"]),
            reply=int(payload["reply"]),
            text=str(payload["text"]),
            reasons=tuple(str(r) for r in payload.get("reasons", ())),
            responder=str(payload["responder"]),
            source=str(payload.get("source", "")),
            author=str(payload.get("author", "")),
            url=str(payload.get("url", "")),
        )


@dataclass(frozen=True, slots=True)
class ApprovalDecision:
    """What a lead decided on a held answer, as its requests show it once decided."""

    state: str  # approved | edited | rejected
    by: str  # the lead who decided (an id; adapters name them)
    at: datetime
    text: str = ""  # edited: what goes out instead
    note: str = ""  # rejected: why


@runtime_checkable
class ApprovalAdapter(Protocol):
    """A chat adapter that shows an approval request with Approve / Edit / Reject buttons."""

    async def ask_approval(self, request: ApprovalRequest) -> MessageRef:
        """Show `request` to `request.person` only and return where it was posted; raise
        DeliveryError on failure."""
        ...

    async def show_decision(
        self, ref: MessageRef, request: ApprovalRequest, decision: ApprovalDecision
    ) -> None:
        """Draw the request posted at `ref` again with `decision` in place of its buttons
        (`request.person` is the lead it was posted to); raise DeliveryError on failure."""
        ...


def render_text(request: ApprovalRequest) -> str:
    """The request as plain text, with the commands to type."""
    where = f" (@{request.author} on {request.source})" if request.author else ""
    lines = [
        f"{request.responder}'s answer to #{request.mention}{where} waits for your approval."
        " Nothing is posted until a lead decides.",
        *(f"- {reason}" for reason in request.reasons),
        "It would post:",
        *(f"> {line}" for line in request.text.splitlines() or [""]),
        f"Approve: `{request.approve}` · Edit: `{request.edit}` · Reject: `{request.reject}`",
    ]
    return "\n".join(lines)


async def deliver(adapter: ChatAdapter, payload: dict[str, Any]) -> MessageRef | None:
    """Show an approval request with the adapter's buttons, or as text where it has none;
    where the request with buttons was posted (None for text, which is never redrawn)."""
    request = ApprovalRequest.from_payload(payload)
    if isinstance(adapter, ApprovalAdapter):
        return await adapter.ask_approval(request)
    await adapter.tell(request.person, render_text(request))
    return None


async def redraw(
    adapter: ChatAdapter, ref: MessageRef, request: ApprovalRequest, decision: ApprovalDecision
) -> None:
    """Draw a posted request again with the decision (only adapters with buttons post any)."""
    if not isinstance(adapter, ApprovalAdapter):
        raise DeliveryError(
            f"{adapter.platform} chat cannot redraw an approval request", permanent=True
        )
    await adapter.show_decision(ref, request, decision)
