"""Reading one playbook file: size, nesting and alias limits, YAML with line numbers,
${VAR} from the environment, and every problem worded as `file:line: key: problem (hint)`."""

from __future__ import annotations

import difflib
import os
import re
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.constructor import RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.errors import Problem
from bot.playbooks.schema import PlaybookFile

MAX_FILE_BYTES = 1_000_000
MAX_VALUES = 100_000  # values in one file once YAML aliases are expanded
MAX_FLOW_DEPTH = 64  # [ and { nested this deep is no playbook (and slows the YAML scanner)
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def line_at(node: Any, loc: tuple[Any, ...]) -> int | None:
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


class Reader:
    """Collects problems for one load; each file's document is kept for line look-ups."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.docs: dict[str, CommentedMap] = {}
        self.unset: set[tuple[str, tuple[Any, ...]]] = set()  # values emptied by a missing ${VAR}

    def add(self, message: str, *, file: str, loc: tuple[Any, ...] = (), hint: str = "") -> None:
        """Note a problem at `loc` of `file`, with its line when the document is known."""
        line = line_at(self.docs.get(file), loc) if loc else None
        self.problems.append(Problem(message, file=file, line=line, key=_key_path(loc), hint=hint))

    def pydantic(
        self,
        exc: ValidationError,
        *,
        file: str,
        prefix: tuple[Any, ...] = (),
        fields: list[str] | None = None,
    ) -> None:
        """Note each of a pydantic error's problems, worded for an admin."""
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
        """The file's YAML document, or None when it cannot be read (the problem is noted)."""
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
