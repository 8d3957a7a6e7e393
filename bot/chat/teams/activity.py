"""What Teams sends to /api/messages, read and checked: activities, mentions, card submits. Pure.

Only the fields allhands uses are modelled; everything else in an activity is ignored.
Text from an activity is untrusted like any other.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from bot.chat.teams.cards import (
    EDIT_INPUT,
    HELD_KEY,
    INCIDENT_KEY,
    NUMBER_KEY,
    REJECT_INPUT,
    REPLY_ALL_INPUT,
    REPLY_INPUT,
    SNOOZE_INPUT,
    VERB_KEY,
)
from bot.errors import CommandError

# The buttons a mention card carries, and those of a lead's approval card; a submit
# naming any other verb is refused.
SUBMIT_VERBS = ("claim", "reply", "resolve", "snooze", "release", "reopen")
DECISION_VERBS = ("approve", "edit", "reject")
INCIDENT_VERBS = ("claim", "resolve", "reply-all")  # an incident card's buttons
_INCIDENT = re.compile(r"I([1-9][0-9]{0,8})", re.ASCII)


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Account(_Lenient):
    """A user or bot as an activity names it."""

    id: str = Field(default="", max_length=500)
    name: str = Field(default="", max_length=500)
    aad_object_id: str = Field(default="", alias="aadObjectId", max_length=100)


class ConversationInfo(_Lenient):
    """The conversation an activity belongs to."""

    id: str = Field(min_length=1, max_length=1000)
    conversation_type: str = Field(default="", alias="conversationType", max_length=50)
    tenant_id: str = Field(default="", alias="tenantId", max_length=100)
    is_group: bool | None = Field(default=None, alias="isGroup")


class Activity(_Lenient):
    """One Bot Framework activity, as far as allhands reads it."""

    type: str = Field(max_length=50)
    id: str = Field(default="", max_length=500)
    service_url: str = Field(default="", alias="serviceUrl", max_length=1000)
    channel_id: str = Field(default="", alias="channelId", max_length=100)
    from_: Account = Field(default_factory=Account, alias="from")
    recipient: Account = Field(default_factory=Account)
    conversation: ConversationInfo
    channel_data: dict[str, Any] = Field(default_factory=dict, alias="channelData")
    text: str = Field(default="", max_length=40_000)
    value: Any = None
    entities: list[dict[str, Any]] = Field(default_factory=list, max_length=200)
    members_added: list[Account] = Field(default_factory=list, alias="membersAdded")
    members_removed: list[Account] = Field(default_factory=list, alias="membersRemoved")
    reply_to_id: str = Field(default="", alias="replyToId", max_length=500)
    action: str = Field(default="", max_length=50)

    @property
    def actor(self) -> str:
        """Who did this, as allhands records them: the AAD object id (or the emulator's id)."""
        return self.from_.aad_object_id or self.from_.id

    @property
    def tenant_id(self) -> str:
        """The organisation the activity comes from."""
        tenant = _dict(self.channel_data.get("tenant")).get("id")
        return self.conversation.tenant_id or (tenant if isinstance(tenant, str) else "")

    @property
    def base_conversation_id(self) -> str:
        """The conversation id without a thread's `;messageid=` suffix: the channel itself."""
        return base_conversation_id(self.conversation.id)

    @property
    def team_id(self) -> str | None:
        """The team of a channel conversation, when Teams says."""
        team = _dict(self.channel_data.get("team")).get("id")
        return team if isinstance(team, str) and team else None

    @property
    def channel_name(self) -> str:
        """The channel's name, when Teams says (the General channel has none)."""
        name = _dict(self.channel_data.get("channel")).get("name")
        return name if isinstance(name, str) else ""

    @property
    def event_type(self) -> str:
        """Teams' own event name on a conversationUpdate (teamMemberAdded, channelCreated...)."""
        event = self.channel_data.get("eventType")
        return event if isinstance(event, str) else ""

    @property
    def created_channel_id(self) -> str | None:
        """The channel a channelCreated event is about."""
        channel = _dict(self.channel_data.get("channel")).get("id")
        return channel if isinstance(channel, str) and channel else None

    @property
    def kind(self) -> str:
        """channel, groupChat or personal."""
        kind = self.conversation.conversation_type
        if kind in ("channel", "groupChat", "personal"):
            return kind
        return "groupChat" if self.conversation.is_group else "personal"


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def base_conversation_id(conversation_id: str) -> str:
    """`19:abc@thread.tacv2;messageid=123` -> `19:abc@thread.tacv2`."""
    return conversation_id.split(";", 1)[0]


def mentions(activity: Activity) -> list[tuple[str, str, str]]:
    """The mentions Teams reports in a message: (text as in the message, user id, name)."""
    found = []
    for entity in activity.entities:
        if entity.get("type") != "mention":
            continue
        text = entity.get("text")
        who = _dict(entity.get("mentioned"))
        user_id, name = who.get("id"), who.get("name", "")
        if isinstance(text, str) and text and isinstance(user_id, str) and isinstance(name, str):
            found.append((text, user_id, name))
    return found


_AT_TAG = re.compile(r"</?at>", re.IGNORECASE)


def command_text(activity: Activity, *, people: dict[str, str] | None = None) -> str:
    """The command a message carries: the bot's @mention removed, other mentions as people.

    `people` maps a mentioned user's Teams id to the person id to put in their place (so
    `@allhands assign 42 @Dana` assigns to Dana's id); mentions not in it become names.
    """
    text = activity.text
    for mention_text, user_id, name in mentions(activity):
        if user_id == activity.recipient.id:
            text = text.replace(mention_text, " ")
        else:
            text = text.replace(mention_text, (people or {}).get(user_id) or name)
    text = html.unescape(_AT_TAG.sub("", text)).replace("\xa0", " ")
    return text.strip()


@dataclass(frozen=True, slots=True)
class Submit:
    """A card button's click, checked: the command line it means, and what it is about."""

    line: str
    number: int
    held: int | None = None  # the held answer an approval card's button decides
    incident: bool = False  # `number` is an incident's (an incident card's button)


def _positive(value: Any, problem: str) -> int:
    """A mention or answer number from a submit (an int, or digits as text)."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value < 10**9:
        raise CommandError(problem)
    return value


def _typed(value: dict[str, Any], key: str, problem: str) -> str:
    text = value.get(key, "")
    if not isinstance(text, str):
        raise CommandError(problem)
    return text


def read_submit(value: Any) -> Submit:
    """What a card button means; CommandError if the submit is not one of ours."""
    if not isinstance(value, dict):
        raise CommandError("That button sent nothing allhands understands.")
    if INCIDENT_KEY in value:
        return _incident_submit(value)
    verb = value.get(VERB_KEY)
    if not isinstance(verb, str) or verb not in (*SUBMIT_VERBS, *DECISION_VERBS):
        raise CommandError("That button is not one of allhands' buttons.")
    number = _positive(value.get(NUMBER_KEY), "That button names no mention number.")
    if verb in DECISION_VERBS:
        return _decision(value, verb, number)
    if verb == "reply":
        text = _typed(value, REPLY_INPUT, "The reply must be text.")
        return Submit(f"reply {number} {text}".strip(), number)
    if verb == "snooze":
        duration = _typed(value, SNOOZE_INPUT, "Choose how long to snooze.")
        return Submit(f"snooze {number} {duration}".strip(), number)
    return Submit(f"{verb} {number}", number)


def _incident_submit(value: dict[str, Any]) -> Submit:
    """Claim / Resolve / Reply-all on an incident's card, which names the incident (`I7`)."""
    verb = value.get(VERB_KEY)
    if not isinstance(verb, str) or verb not in INCIDENT_VERBS or NUMBER_KEY in value:
        raise CommandError("That button is not one of allhands' buttons.")
    ref = value.get(INCIDENT_KEY)
    found = _INCIDENT.fullmatch(ref) if isinstance(ref, str) else None
    if found is None:
        raise CommandError("That button names no incident.")
    number = int(found.group(1))
    if verb != "reply-all":
        return Submit(f"{verb} I{number}", number, incident=True)
    text = _typed(value, REPLY_ALL_INPUT, "The answer must be text.").strip()
    if not text:
        raise CommandError(
            f"Write the answer for every customer of I{number} first; nothing was posted."
        )
    return Submit(f"reply-all I{number} {text}", number, incident=True)


def _decision(value: dict[str, Any], verb: str, number: int) -> Submit:
    """Approve / Edit / Reject on an approval card; the lead's text must be there."""
    held = _positive(value.get(HELD_KEY), "That button names no answer waiting for approval.")
    if verb == "approve":
        return Submit(f"approve {number}", number, held)
    if verb == "edit":
        text = _typed(value, EDIT_INPUT, "The new text must be text.").strip()
        if not text:
            raise CommandError(
                f"Write the text to post in the Edit box first; the answer to #{number} still"
                " waits and nothing was posted."
            )
        return Submit(f"edit {number} {text}", number, held)
    reason = " ".join(_typed(value, REJECT_INPUT, "The reason must be text.").split())
    if not reason:
        raise CommandError(
            f"Say why you reject the answer to #{number} (its writer is told); it still waits"
            " and nothing was posted."
        )
    return Submit(f"reject {number} {reason}", number, held)


def submitted_command(value: Any) -> str:
    """The command line a card button means; CommandError if the submit is not one of ours."""
    return read_submit(value).line
