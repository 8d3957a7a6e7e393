"""What loaded playbooks are: sources, teams, routes and channels, checked and ready to run."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.domain.incidents import Budget, OwnCard
from bot.domain.spikes import SpikeSettings
from bot.playbooks.schema import PLATFORMS, BusinessHours, Guardrails, Route, TriageSection
from connectors.base import ConnectorConfig


@dataclass(frozen=True, slots=True)
class ChannelRef:
    """Where a team's cards go: a platform and the channel's name or id there."""

    platform: str
    channel: str

    def __str__(self) -> str:
        return f"{self.platform}:{self.channel}"

    @classmethod
    def parse(cls, text: str) -> ChannelRef:
        """Read `slack:#support`, `teams:19:abc@thread.tacv2` or `console:#support`."""
        platform, sep, channel = text.partition(":")
        if not sep or platform not in PLATFORMS or not channel.strip():
            raise ValueError(f"{text!r} is not a channel; write platform:channel")
        return cls(platform, channel.strip())


@dataclass(frozen=True, slots=True)
class SourceSpec:
    """A source ready to run."""

    id: str
    kind: str
    every: timedelta
    config: ConnectorConfig
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class TeamSpec:
    """A team ready to route to, with its SLA, digest and guardrails."""

    id: str
    name: str
    channel: ChannelRef
    leads: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    description: str = ""
    examples: tuple[str, ...] = ()
    sla: Any = None
    digest: Any = None
    guardrails: Guardrails = field(default_factory=Guardrails)
    spike: SpikeSettings | None = None  # None: no spike alerts
    chat_budget: Budget = field(default_factory=Budget)
    own_card: OwnCard = field(default_factory=OwnCard)


@dataclass(frozen=True, slots=True)
class RouteSpec:
    """A routing rule and where it was written, so `check --route` can say which decided."""

    rule: Route
    where: str


@dataclass(frozen=True, slots=True)
class Playbooks:
    """Everything the playbook files say, checked and merged."""

    sources: tuple[SourceSpec, ...]
    teams: dict[str, TeamSpec]
    default_team: str
    files: tuple[str, ...] = ()
    routes: tuple[RouteSpec, ...] = ()
    business_hours: dict[str, BusinessHours] = field(default_factory=dict)
    templates: dict[str, str] = field(default_factory=dict)
    admin_channel: ChannelRef | None = None
    guardrails: Guardrails = field(default_factory=Guardrails)  # the top level, for all teams
    retention: timedelta | None = None  # how long customers' text and handles are kept
    triage: TriageSection = field(default_factory=TriageSection)

    def channel_of(self) -> dict[str, str]:
        """team id -> `platform:channel`, for queuing cards."""
        return {t.id: str(t.channel) for t in self.teams.values()}
