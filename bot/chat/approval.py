"""Asking a lead to approve a held answer: the platform-neutral request and its text form.

The outbox carries an `approval_request` payload (see `ApprovalRequest`). A chat adapter
that can show buttons implements `ApprovalAdapter.ask_approval` and renders Approve /
Edit / Reject, which map to the commands `approve N`, `edit N <text>` and `reject N
<reason>`; any other adapter is sent `render_text(request)` through `tell`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from bot.chat import ChatAdapter


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


@runtime_checkable
class ApprovalAdapter(Protocol):
    """A chat adapter that shows an approval request with Approve / Edit / Reject buttons."""

    async def ask_approval(self, request: ApprovalRequest) -> None:
        """Show `request` to `request.person` only; raise DeliveryError on failure."""
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


async def deliver(adapter: ChatAdapter, payload: dict[str, Any]) -> None:
    """Show an approval request with the adapter's buttons, or as text where it has none."""
    request = ApprovalRequest.from_payload(payload)
    if isinstance(adapter, ApprovalAdapter):
        await adapter.ask_approval(request)
    else:
        await adapter.tell(request.person, render_text(request))
