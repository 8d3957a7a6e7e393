"""Loading playbooks: the files of a folder, merged, with references between them checked.

Every problem is collected and reported at once as `file:line: key: problem (hint)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.domain.incidents import Budget, OwnCard
from bot.domain.spikes import SpikeSettings
from bot.errors import ConfigError, Problem
from bot.playbooks.reader import Reader, did_you_mean, line_at
from bot.playbooks.schema import (
    BusinessHours,
    Guardrails,
    PlaybookFile,
    Retention,
    Route,
    Source,
    Team,
    TriageSection,
)
from bot.playbooks.specs import ChannelRef, Playbooks, RouteSpec, SourceSpec, TeamSpec
from connectors.registry import BUILT_IN, connector_class


def playbook_files(path: Path) -> list[Path]:
    """The YAML files a path names: the file itself, or a folder's *.yaml and *.yml."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


@dataclass
class _Merged:
    sources: list[tuple[Source, str, int]] = field(default_factory=list)
    teams: dict[str, tuple[Team, str]] = field(default_factory=dict)
    routes: list[tuple[Route, str, int]] = field(default_factory=list)
    hours: dict[str, tuple[BusinessHours, str]] = field(default_factory=dict)
    templates: dict[str, tuple[str, str]] = field(default_factory=dict)
    default_team: tuple[str, str] | None = None
    guardrails: tuple[Guardrails, str] | None = None
    admin_channel: tuple[str, str] | None = None
    retention: tuple[Retention, str] | None = None
    # Left out after a structural error: names referring to them are not "unknown".
    broken_teams: set[str] = field(default_factory=set)
    broken_sections: set[str] = field(default_factory=set)

    def may_be_team(self, name: str) -> bool:
        """True when `name` might be a team that a structural error left out."""
        return name in self.broken_teams or "teams" in self.broken_sections

    triage: tuple[TriageSection, str] | None = None


def load_playbooks(path: str | Path) -> Playbooks:
    """Read and check the playbooks in a file or folder; ConfigError lists every problem."""
    root = Path(path)
    reader = Reader()
    if not root.exists():
        raise ConfigError([Problem("no such file or folder", file=str(root))])
    files = playbook_files(root)
    if not files:
        raise ConfigError([Problem("no .yaml files in this folder", file=str(root))])
    merged = _Merged()
    for file_path in files:
        file = str(file_path)
        doc = reader.read(file_path)
        if doc is None:
            continue
        doc = reader.expand_env(doc, file)
        model = _validate(dict(doc), file, merged, reader)
        if model is not None:
            _merge(model, file, merged, reader)
    playbooks = _resolve(merged, reader, root, files)
    if reader.problems:
        raise ConfigError(reader.problems)
    assert playbooks is not None
    return playbooks


_NAMED = ("teams", "business_hours", "templates")


def _validate(
    doc: dict[str, Any], file: str, merged: _Merged, reader: Reader
) -> PlaybookFile | None:
    """The file's model; its problems are reported, and what is wrong is left out (a broken
    team, or a whole section) so that every other problem of the files is listed too."""
    for _ in range(8):
        try:
            return PlaybookFile.model_validate(doc)
        except ValidationError as exc:
            reader.pydantic(exc, file=file)
            doc = dict(doc)
            for err in exc.errors():
                loc = err["loc"]
                if len(loc) >= 2 and loc[0] in _NAMED and isinstance(doc.get(loc[0]), dict):
                    section = dict(doc[loc[0]])
                    section.pop(loc[1], None)
                    doc[loc[0]] = section
                    if loc[0] == "teams":
                        merged.broken_teams.add(str(loc[1]))
                elif loc:
                    merged.broken_sections.add(str(loc[0]))
                    doc.pop(str(loc[0]), None)
                else:
                    return None
    return None


def _merge(model: PlaybookFile, file: str, merged: _Merged, reader: Reader) -> None:
    """Add one file's content to what earlier files said; the same id twice is a problem."""
    for i, source in enumerate(model.sources):
        merged.sources.append((source, file, i))
    for i, route in enumerate(model.routes):
        merged.routes.append((route, file, i))
    for section, mine, theirs in (
        ("teams", model.teams, merged.teams),
        ("business_hours", model.business_hours, merged.hours),
        ("templates", model.templates, merged.templates),
    ):
        for key, value in mine.items():
            if key in theirs:
                first = theirs[key][1]
                reader.add(
                    f"{section[:-1] if section != 'business_hours' else 'business_hours'}"
                    f" {key!r} is defined twice",
                    file=file,
                    loc=(section, key),
                    hint=f"first in {first}",
                )
                continue
            theirs[key] = (value, file)  # type: ignore[assignment]
    singles: tuple[tuple[str, Any], ...] = (
        ("default_team", model.default_team),
        ("guardrails", model.guardrails),
        ("admin_channel", model.admin_channel),
        ("retention", model.retention),
        ("triage", model.triage),
    )
    for slot, value in singles:
        if value is None:
            continue
        if getattr(merged, slot) is not None:
            reader.add(
                f"{slot} is set in more than one file",
                file=file,
                loc=(slot,),
                hint=f"first in {getattr(merged, slot)[1]}",
            )
            continue
        setattr(merged, slot, (value, file))


def _resolve(merged: _Merged, reader: Reader, root: Path, files: list[Path]) -> Playbooks | None:
    """Check references between sections and build the specs."""
    sources: list[SourceSpec] = []
    seen_sources: set[str] = set()
    for source, file, i in merged.sources:
        spec = _source_spec(source, file=file, index=i, reader=reader)
        if spec is None:
            continue
        if spec.id in seen_sources:
            reader.add(f"source id {spec.id!r} is used twice", file=file, loc=("sources", i, "id"))
        seen_sources.add(spec.id)
        sources.append(spec)
    team_ids = list(merged.teams)
    hours_ids = list(merged.hours)
    template_ids = list(merged.templates)
    teams: dict[str, TeamSpec] = {}
    base_guardrails = merged.guardrails[0] if merged.guardrails else Guardrails()
    for team_id, (team, file) in merged.teams.items():
        sla = team.sla
        if sla.hours is not None and sla.hours not in merged.hours:
            reader.add(
                f"unknown business_hours {sla.hours!r}",
                file=file,
                loc=("teams", team_id, "sla", "hours"),
                hint=did_you_mean(sla.hours, hours_ids, "business_hours"),
            )
        if sla.holding_reply is not None and sla.holding_reply not in merged.templates:
            reader.add(
                f"unknown template {sla.holding_reply!r}",
                file=file,
                loc=("teams", team_id, "sla", "holding_reply"),
                hint=did_you_mean(sla.holding_reply, template_ids, "templates"),
            )
        teams[team_id] = TeamSpec(
            id=team_id,
            name=team.name or team_id,
            channel=ChannelRef.parse(team.channel),
            leads=tuple(team.leads),
            keywords=tuple(k.strip() for k in team.keywords if k.strip()),
            description=team.description.strip(),
            examples=tuple(team.examples),
            sla=sla,
            digest=team.digest,
            guardrails=team.guardrails or base_guardrails,
            spike=SpikeSettings(
                window=team.spike.window,
                baseline=team.spike.baseline,
                sensitivity=team.spike.sensitivity,
                floor=team.spike.floor,
                cooldown=team.spike.cooldown,
            )
            if team.spike.enabled
            else None,
            chat_budget=Budget(messages=team.chat_budget.messages, per=team.chat_budget.per),
            own_card=OwnCard(
                audience_over=team.incidents.own_card_audience,
                urgencies=tuple(team.incidents.own_card_urgencies),
            ),
        )
    routes: list[RouteSpec] = []
    for route, file, i in merged.routes:
        if route.team not in merged.teams and not merged.may_be_team(route.team):
            reader.add(
                f"unknown team {route.team!r}",
                file=file,
                loc=("routes", i, "team"),
                hint=did_you_mean(route.team, team_ids, "teams"),
            )
        for j, source_id in enumerate(route.sources):
            if source_id not in seen_sources and "sources" not in merged.broken_sections:
                reader.add(
                    f"unknown source {source_id!r}",
                    file=file,
                    loc=("routes", i, "sources", j),
                    hint=did_you_mean(source_id, sorted(seen_sources), "sources"),
                )
        line = line_at(reader.docs.get(file), ("routes", i))
        routes.append(RouteSpec(rule=route, where=f"{file}:{line}"))
    if not merged.teams and not reader.problems:
        reader.add("no teams defined", file=str(root), hint="add a teams: section")
    chosen = ""
    if merged.default_team is not None:
        chosen, file = merged.default_team
        if merged.teams and chosen not in merged.teams and not merged.may_be_team(chosen):
            reader.add(
                f"unknown team {chosen!r}",
                file=file,
                loc=("default_team",),
                hint=did_you_mean(chosen, team_ids, "teams"),
            )
    elif merged.teams:
        chosen = team_ids[0]
    if reader.problems:
        return None
    return Playbooks(
        sources=tuple(sources),
        teams=teams,
        default_team=chosen,
        files=tuple(str(f) for f in files),
        routes=tuple(routes),
        business_hours={k: v for k, (v, _) in merged.hours.items()},
        templates={k: v for k, (v, _) in merged.templates.items()},
        admin_channel=ChannelRef.parse(merged.admin_channel[0]) if merged.admin_channel else None,
        guardrails=base_guardrails,
        retention=merged.retention[0].customers if merged.retention else None,
        triage=merged.triage[0] if merged.triage else TriageSection(),
    )


def _source_spec(source: Source, *, file: str, index: int, reader: Reader) -> SourceSpec | None:
    prefix = ("sources", index)
    try:
        cls = connector_class(source.kind)
    except KeyError:
        reader.add(
            f"unknown source kind {source.kind!r}",
            file=file,
            loc=(*prefix, "kind"),
            hint=did_you_mean(source.kind, sorted(BUILT_IN), "kinds"),
        )
        return None
    try:
        config = cls.Config.model_validate(dict(source.model_extra or {}))
    except ValidationError as exc:
        fields = [*Source.model_fields, *cls.Config.model_fields]
        reader.pydantic(exc, file=file, prefix=prefix, fields=fields)
        return None
    return SourceSpec(
        id=source.id, kind=source.kind, every=source.every, config=config, enabled=source.enabled
    )
