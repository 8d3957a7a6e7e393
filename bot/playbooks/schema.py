"""The playbook schema: every key an admin may write, with its type and its checks.

docs/playbooks.md documents each field here; tests/test_playbook_docs.py fails when one
is missing there.
"""

from __future__ import annotations

import re
import string
import zoneinfo
from datetime import date, time, timedelta
from functools import cache
from typing import Annotated, Any, Literal

import regex
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from bot.domain.durations import parse_duration

PLATFORMS = ("console", "slack", "teams")
KINDS = ("complaint", "question", "praise", "other")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# What a reply template may say about the mention it answers.
PLACEHOLDERS = ("author", "name", "number", "team", "agent", "url", "opens_at")

_SLACK_NAME = re.compile(r"#[a-z0-9][a-z0-9._-]{0,79}")
_SLACK_ID = re.compile(r"[CGD][A-Z0-9]{8,}")
_TEAMS_ID = re.compile(r"19:[^@\s]+@thread\.(?:tacv2|skype|v2)")
_CONSOLE = re.compile(r"#?[\w.-]{1,80}")


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} has no unit; write a duration like 90s, 15m, 4h or 2d")
    return parse_duration(value)


def _time_of_day(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 08:30 as a sexagesimal number (510).
        value = f"{value // 60:02d}:{value % 60:02d}"
    text = str(value).strip()
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ValueError(f"{text!r} is not a time of day; write it like 08:30 or 17:00")
    return time(int(match.group(1)), int(match.group(2)))


def _some_days(value: list[str]) -> list[str]:
    if not value:
        raise ValueError("needs at least one working day, e.g. [mon, tue, wed, thu, fri]")
    return value


def _regex(value: str) -> str:
    try:
        regex.compile(value)
    except regex.error as exc:
        raise ValueError(f"regex does not compile: {exc.msg} at position {exc.pos}") from None
    return value


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def _timezone(value: str) -> str:
    if value not in _zones():
        import difflib

        close = difflib.get_close_matches(value, sorted(_zones()), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "; write it like Europe/Berlin"
        raise ValueError(f"unknown time zone {value!r}{hint}")
    return value


def _template(value: str) -> str:
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
    except ValueError as exc:
        raise ValueError(f"template braces do not match: {exc}; write {{{{ for a brace") from None
    for name in fields:
        if name not in PLACEHOLDERS:
            raise ValueError(
                f"unknown placeholder {{{name}}}; known: "
                + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            )
    return value


def check_channel(text: str) -> str:
    """Refuse a channel written in a form no adapter understands; return it as written."""
    platform, sep, channel = text.partition(":")
    if not sep or platform not in PLATFORMS:
        raise ValueError(
            f"{text!r} is not a channel; write platform:channel, e.g. slack:#support"
            f" (platforms: {', '.join(PLATFORMS)})"
        )
    if platform == "slack" and not (_SLACK_NAME.fullmatch(channel) or _SLACK_ID.fullmatch(channel)):
        raise ValueError(
            f"{channel!r} is not a Slack channel; write #name (lower case, no spaces)"
            " or its id like C0123ABCDEF"
        )
    if platform == "teams" and not _TEAMS_ID.fullmatch(channel):
        raise ValueError(
            f"{channel!r} is not a Teams channel id; it looks like 19:abc...@thread.tacv2"
            " (type `@allhands channel` in the channel to see it)"
        )
    if platform == "console" and not _CONSOLE.fullmatch(channel):
        raise ValueError(f"{channel!r} is not a console channel; write #name")
    return text


Duration = Annotated[timedelta, BeforeValidator(_duration)]
TimeOfDay = Annotated[time, BeforeValidator(_time_of_day)]
Regex = Annotated[str, AfterValidator(_regex)]
TimeZone = Annotated[str, AfterValidator(_timezone)]
Template = Annotated[str, AfterValidator(_template)]
WorkingDays = Annotated[list[Weekday], AfterValidator(_some_days)]
Channel = Annotated[str, AfterValidator(check_channel)]
Kind = Literal["complaint", "question", "praise", "other"]
NonEmpty = Annotated[str, Field(min_length=1)]


class Strict(BaseModel):
    """Unknown keys are refused, never ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class BusinessHours(Strict):
    """When a team is at work: time zone, weekdays, opening hours, holidays."""

    timezone: TimeZone
    weekdays: WorkingDays = ["mon", "tue", "wed", "thu", "fri"]
    open: TimeOfDay = time(9, 0)
    close: TimeOfDay = time(17, 0)
    holidays: list[date] = []

    @model_validator(mode="after")
    def _close_after_open(self) -> BusinessHours:
        if self.close <= self.open:
            raise ValueError(f"close ({self.close:%H:%M}) must be after open ({self.open:%H:%M})")
        return self


class Sla(Strict):
    """How fast a team promises to act, and what happens when it does not."""

    claim_within: Duration | None = None
    reply_within: Duration | None = None
    escalate_after: Duration | None = None
    renudge_every: Duration | None = None
    release_claim_after: Duration | None = None
    clock: Literal["always", "business_hours"] = "always"
    hours: str | None = None
    ping: Literal["none", "here", "channel"] = "none"
    holding_reply: str | None = None

    @model_validator(mode="after")
    def _hours_for_business_clock(self) -> Sla:
        if self.clock == "business_hours" and not self.hours:
            raise ValueError("clock: business_hours needs hours: naming a business_hours entry")
        if self.holding_reply and not self.hours:
            raise ValueError(
                "holding_reply needs hours: naming a business_hours entry (it is sent out of"
                " those hours)"
            )
        return self


class Digest(Strict):
    """The leads' digest: when, how often, to whom."""

    time: TimeOfDay = time(8, 30)
    weekly: Weekday | None = None
    recipients: list[NonEmpty] = []
    enabled: bool = True
    timezone: TimeZone | None = None


class Retention(Strict):
    """How long customers' text and identity are kept before they are blanked."""

    customers: Duration


class Approval(Strict):
    """When a lead must approve a reply before it goes out."""

    on_hold: bool = True
    audience_over: int | None = Field(default=None, ge=0)
    first_replies: int = Field(default=0, ge=0)


def _phone_region(value: str) -> str:
    import phonenumbers

    code = value.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"{value!r} is not a country code; write two letters, e.g. US, GB, PT")
    return code


def _link_domain(value: str) -> str:
    domain = value.strip().lower().removeprefix("www.")
    if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
        raise ValueError(
            f"{value!r} is not a domain; write it like lumo.example (no https:// and no path)"
        )
    return domain


PhoneRegion = Annotated[str, AfterValidator(_phone_region)]
LinkDomain = Annotated[str, AfterValidator(_link_domain)]


class Guardrails(Strict):
    """What must never go out in public, and when a second pair of eyes is needed."""

    private_data: bool = True
    phone_regions: list[PhoneRegion] = ["US", "GB"]
    account_patterns: list[Regex] = []
    banned_phrases: list[NonEmpty] = []
    sign_off: str | None = None
    link_domains: list[LinkDomain] | None = None
    tone_check: bool = True
    approval: Approval = Approval()


class Route(Strict):
    """A routing rule: when every condition given holds, the post goes to `team`.

    keywords, phrases and regex match the text (any of them is enough); sources, kinds,
    languages and authors must each hold when given.
    """

    team: NonEmpty
    name: str = ""
    keywords: list[NonEmpty] = []
    phrases: list[NonEmpty] = []
    regex: Regex | None = None
    sources: list[NonEmpty] = []
    kinds: list[Kind] = []
    languages: list[NonEmpty] = []
    authors: list[NonEmpty] = []

    @model_validator(mode="after")
    def _has_a_condition(self) -> Route:
        conditions = (
            self.keywords,
            self.phrases,
            self.regex,
            self.sources,
            self.kinds,
            self.languages,
            self.authors,
        )
        if not any(conditions):
            raise ValueError(
                "a route needs at least one condition (keywords, phrases, regex, sources,"
                " kinds, languages or authors); the fallback is default_team"
            )
        return self


class Spike(Strict):
    """When a team's rate of new mentions is a spike, told to its channel and leads."""

    enabled: bool = True
    sensitivity: float = Field(default=3.0, gt=1, le=100)
    floor: int = Field(default=20, ge=2)
    window: Duration = timedelta(minutes=5)
    baseline: Duration = timedelta(days=7)
    cooldown: Duration = timedelta(hours=1)

    @model_validator(mode="after")
    def _window_inside_baseline(self) -> Spike:
        if self.window <= timedelta(0) or self.window >= self.baseline:
            raise ValueError("window must be longer than 0 and shorter than baseline")
        return self


class ChatBudget(Strict):
    """How many new cards a team's channel takes per period before they are rolled up."""

    messages: int = Field(default=30, ge=1, le=10_000)
    per: Duration = timedelta(minutes=10)


class Incidents(Strict):
    """Which members of an open incident still get their own card."""

    own_card_audience: int = Field(default=10_000, ge=0)
    own_card_urgencies: list[Literal["critical", "high", "normal", "low"]] = []


class Team(Strict):
    """A team: where its cards go, who leads it, what it promises."""

    channel: Channel
    name: str = ""
    leads: list[NonEmpty] = []
    keywords: list[NonEmpty] = []
    description: str = ""
    examples: list[NonEmpty] = []
    sla: Sla = Sla()
    digest: Digest | None = None
    guardrails: Guardrails | None = None
    spike: Spike = Spike()
    chat_budget: ChatBudget = ChatBudget()
    incidents: Incidents = Incidents()


Score = Annotated[float, Field(ge=0.0, le=1.0)]


class TriageSection(Strict):
    """How triage decides kind, urgency and team beyond the routes."""

    complaint_threshold: Score | None = None
    route_threshold: Score = 0.1
    audience_weight: Annotated[float, Field(ge=0.0, le=10.0)] = 0.0
    severity: dict[NonEmpty, list[NonEmpty]] = {}
    learn_nightly: bool = False


class Source(BaseModel):
    """A source; keys other than these are the connector's own settings."""

    model_config = ConfigDict(extra="allow", frozen=True)
    id: NonEmpty
    kind: NonEmpty
    every: Duration = timedelta(minutes=5)
    enabled: bool = True


class PlaybookFile(Strict):
    """The top level of one playbook file. Files in a folder are merged."""

    sources: list[Source] = []
    teams: dict[str, Team] = {}
    routes: list[Route] = []
    default_team: str | None = None
    business_hours: dict[str, BusinessHours] = {}
    templates: dict[str, Template] = {}
    guardrails: Guardrails | None = None
    admin_channel: Channel | None = None
    retention: Retention | None = None
    triage: TriageSection | None = None
