"""Loading playbooks: YAML with line numbers, the schema, merging files, cross-references.

Every problem is collected and reported at once as `file:line: key: problem (hint)`.
"""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.domain.incidents import Budget, OwnCard
from bot.domain.spikes import SpikeSettings
from bot.errors import ConfigError, Problem
from bot.playbooks.schema import (
    PLATFORMS,
    BusinessHours,
    Guardrails,
    PlaybookFile,
    Retention,
    Route,
    Source,
    Team,
    TriageSection,
)
from connectors.base import ConnectorConfig
from connectors.registry import BUILT_IN, connector_class

MAX_FILE_BYTES = 1_000_000
MAX_VALUES = 100_000  # values in one file once YAML aliases are expanded
MAX_FLOW_DEPTH = 64  # [ and { nested this deep is no playbook (and slows the YAML scanner)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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


def playbook_files(path: Path) -> list[Path]:
    """The YAML files a path names: the file itself, or a folder's *.yaml and *.yml."""
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    return [path]


def _line(node: Any, loc: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest node that `loc` reaches in a ruamel document."""
    line = None
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _key_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def did_you_mean(word: str, choices: list[str], noun: str = "keys") -> str:
    """A hint naming the closest choice, or listing them all."""
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f"did you mean {close[0]!r}?"
    return f"known {noun}: {', '.join(choices)}" if choices else f"no {noun} are defined"


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys allowed where `loc` points, following models, dicts, lists and optionals."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
    current = _unwrap(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) not in (dict, list) and len(args) == 1:
        return args[0]
    return annotation


class _Reader:
    """Collects problems for one load; each file's document is kept for line look-ups."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.docs: dict[str, CommentedMap] = {}
        self.unset: set[tuple[str, tuple[Any, ...]]] = set()  # values emptied by a missing ${VAR}

    def add(self, message: str, *, file: str, loc: tuple[Any, ...] = (), hint: str = "") -> None:
        line = _line(self.docs.get(file), loc) if loc else None
        self.problems.append(Problem(message, file=file, line=line, key=_key_path(loc), hint=hint))

    def pydantic(
        self,
        exc: ValidationError,
        *,
        file: str,
        prefix: tuple[Any, ...] = (),
        fields: list[str] | None = None,
    ) -> None:
        for err in exc.errors():
            loc = (*prefix, *err["loc"])
            if (file, loc) in self.unset:
                continue  # already reported as an unset environment variable
            if err["type"] == "extra_forbidden":
                known = fields if fields is not None else _fields_at(PlaybookFile, err["loc"][:-1])
                self.add(
                    "unknown key", file=file, loc=loc, hint=did_you_mean(str(err["loc"][-1]), known)
                )
                continue
            if err["type"] == "missing":
                self.add("is required", file=file, loc=loc)
                continue
            self.add(_friendly(err), file=file, loc=_trim_loc(loc))

    def read(self, file_path: Path) -> CommentedMap | None:
        file = str(file_path)
        try:
            raw = file_path.read_bytes()
        except OSError as exc:
            self.add(f"cannot read: {exc.strerror}", file=file)
            return None
        if len(raw) > MAX_FILE_BYTES:
            self.add(
                f"file is {len(raw):,} bytes; the limit is {MAX_FILE_BYTES:,}",
                file=file,
                hint="split it into several files in the playbooks folder",
            )
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.add(f"not UTF-8 text (byte {exc.start})", file=file)
            return None
        depth, deepest_line = _flow_depth(text)
        if depth > MAX_FLOW_DEPTH:
            self.problems.append(
                Problem(
                    f"brackets nested more than {MAX_FLOW_DEPTH} levels deep",
                    file=file,
                    line=deepest_line,
                    hint="a playbook needs a few levels; check for a runaway [ or {",
                )
            )
            return None
        try:
            doc = _yaml().load(text)
        except MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark is not None else None
            what = (exc.problem or exc.context or "invalid YAML").strip()
            lines = text.splitlines()
            bad = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
            hint = "indent with spaces, not tabs" if "\t" in bad else ""
            if not hint and "block" in what:
                hint = "check the indentation of this line and the one above"
            self.problems.append(
                Problem(f"YAML syntax error: {what}", file=file, line=line, hint=hint)
            )
            return None
        except RecursionError:
            self.add(
                "nested too deeply to read",
                file=file,
                hint="a playbook needs a few levels of indentation; check the indentation",
            )
            return None
        except (YAMLError, ValueError) as exc:
            self.add(f"YAML error: {exc}", file=file)
            return None
        if doc is None:
            self.add("the file is empty", file=file, hint="add sources: and teams:")
            return None
        if not isinstance(doc, CommentedMap):
            kind = _what(doc)
            self.problems.append(
                Problem(
                    f"the file is {kind}, not a mapping",
                    file=file,
                    line=1,
                    hint="start with keys such as sources: and teams:",
                )
            )
            return None
        if _expanded_size(doc) > MAX_VALUES:
            self.add(
                f"the file holds more than {MAX_VALUES:,} values once its YAML aliases"
                " (*name) are expanded",
                file=file,
                hint="write the values out instead of nesting aliases",
            )
            return None
        self.docs[file] = doc
        return doc

    def expand_env(self, node: Any, file: str, loc: tuple[Any, ...] = ()) -> Any:
        """Replace ${VAR} in every string with the environment's value; unset ones are problems."""
        if isinstance(node, CommentedMap):
            for key in list(node):
                node[key] = self.expand_env(node[key], file, (*loc, key))
            return node
        if isinstance(node, CommentedSeq):
            for i, value in enumerate(node):
                node[i] = self.expand_env(value, file, (*loc, i))
            return node
        if isinstance(node, str) and "${" in node:

            def swap(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in os.environ:
                    self.unset.add((file, loc))
                    self.add(
                        f"environment variable {name} is not set",
                        file=file,
                        loc=loc,
                        hint=f"export {name}=... before starting allhands",
                    )
                    return ""
                return os.environ[name]

            return _ENV.sub(swap, node)
        return node


def _flow_depth(text: str) -> tuple[int, int]:
    """The deepest nesting of YAML flow brackets ([ and {) outside quotes and comments, and
    the line where it is first reached. Linear, so it can run before the YAML scanner, which
    slows down sharply on deep flow nesting."""
    depth = deepest = 0
    line = where = 1
    quote = ""
    comment = False
    previous = "\n"
    for char in text:
        if char == "\n":
            line += 1
            comment = False
        elif comment:
            pass
        elif quote:
            if char == quote and not (quote == '"' and previous == "\\"):
                quote = ""
        elif char in "'\"" and previous in " \t\n[{,:":
            quote = char
        elif char == "#" and previous in " \t\n":
            comment = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, line
        elif char in "]}":
            depth = max(0, depth - 1)
        previous = char
    return deepest, where


def _expanded_size(root: Any) -> int:
    """How many values a document has with aliases expanded; counted once per node, so an
    alias bomb (a list of ten aliases to a list of ten aliases to ...) is measured at once."""
    sizes: dict[int, int] = {}
    visiting: set[int] = set()
    # Post-order without recursion: a node is sized after all its children are.
    stack: list[tuple[Any, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, CommentedMap | CommentedSeq) or id(node) in sizes:
            continue
        if not children_done:
            if id(node) in visiting:  # a node inside itself: `&a [*a]` never ends
                return MAX_VALUES + 1
            visiting.add(id(node))
        children = list(node.values()) if isinstance(node, CommentedMap) else list(node)
        if children_done:
            sizes[id(node)] = 1 + sum(
                sizes.get(id(c), 1) if isinstance(c, CommentedMap | CommentedSeq) else 1
                for c in children
            )
            continue
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes.get(id(root), 1)


_TYPE_NAMES = {
    "str": "text",
    "int": "a number",
    "float": "a number",
    "bool": "true or false",
    "CommentedSeq": "a list",
    "list": "a list",
    "CommentedMap": "a mapping",
    "dict": "a mapping",
    "NoneType": "empty",
}


def _what(value: Any) -> str:
    name = type(value).__name__
    return _TYPE_NAMES.get(name, name)


def _friendly(err: Any) -> str:
    """A pydantic error said the way an admin reads it."""
    kind = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind in ("dict_type", "model_type"):
        return f"should be a mapping (key: value on lines below), not {_what(value)}"
    if kind == "list_type":
        return f"should be a list ([a, b] or lines starting with -), not {_what(value)}"
    if kind == "string_type":
        return f"should be some text, not {_what(value)}"
    if kind == "string_too_short":
        least = ctx.get("min_length", 1)
        if least <= 1:
            return "should not be empty"
        return f"should be at least {least} characters long, not {len(str(value))}"
    if kind in ("int_type", "int_parsing", "int_from_float", "float_parsing"):
        return f"should be a whole number, not {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"should be true or false, not {value!r}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        bound = {
            "greater_than_equal": "{ge} or more",
            "less_than_equal": "{le} or less",
            "greater_than": "more than {gt}",
            "less_than": "less than {lt}",
        }[kind]
        return f"must be {bound.format(**ctx)}, not {value!r}"
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return f"{value!r} is not a date; write it like 2026-12-25"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind == "literal_error":
        return f"{value!r} is not allowed; " + message[0].lower() + message[1:]
    return message


def _yaml() -> YAML:
    """A round-trip loader (it keeps line numbers) that leaves dates as text for the schema."""
    yaml = YAML(typ="rt")
    yaml.constructor.add_constructor(
        "tag:yaml.org,2002:timestamp", RoundTripConstructor.construct_yaml_str
    )
    return yaml


def _trim_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """Drop pydantic's internal loc parts (validator and union branch names)."""
    return tuple(
        p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function-")))
    )


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
    reader = _Reader()
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
    doc: dict[str, Any], file: str, merged: _Merged, reader: _Reader
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


def _merge(model: PlaybookFile, file: str, merged: _Merged, reader: _Reader) -> None:
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


def _resolve(merged: _Merged, reader: _Reader, root: Path, files: list[Path]) -> Playbooks | None:
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
        line = _line(reader.docs.get(file), ("routes", i))
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


def _source_spec(source: Source, *, file: str, index: int, reader: _Reader) -> SourceSpec | None:
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
