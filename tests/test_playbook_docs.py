"""Every playbook key is documented in docs/playbooks.md, and nothing documented is gone."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from bot.playbooks.schema import PlaybookFile
from connectors.registry import BUILT_IN

DOC = Path(__file__).resolve().parent.parent / "docs" / "playbooks.md"


def sections() -> dict[str, set[str]]:
    """heading -> the keys in the table under it."""
    found: dict[str, set[str]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("#"):
            current = line.lstrip("#").strip()
            found[current] = set()
        elif current is not None and (row := re.match(r"\| `([a-z_]+)` \|", line)):
            found[current].add(row.group(1))
    return found


def model_of(annotation: Any) -> tuple[type[BaseModel] | None, str]:
    """The model inside an annotation, and the path suffix its container adds."""
    origin = get_origin(annotation)
    if origin is list:
        inner, _ = model_of(get_args(annotation)[0])
        return inner, "[]"
    if origin is dict:
        inner, _ = model_of(get_args(annotation)[1])
        return inner, ".<id>"
    for arg in get_args(annotation):
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg, ""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    return None, ""


def schema_sections() -> dict[str, set[str]]:
    """Section heading as the doc writes it -> the keys that model has."""
    wanted: dict[str, set[str]] = {"Top level": set(PlaybookFile.model_fields)}
    seen: set[type[BaseModel]] = {PlaybookFile}

    # Breadth first, so a model used at the top and inside a team is named by its top path.
    queue: list[tuple[type[BaseModel], str]] = [(PlaybookFile, "")]
    while queue:
        model, path = queue.pop(0)
        for name, info in model.model_fields.items():
            inner, suffix = model_of(info.annotation)
            if inner is None or inner in seen:
                continue
            seen.add(inner)
            here = f"{path}.{name}{suffix}" if path else f"{name}{suffix}"
            wanted[f"`{here}`"] = set(inner.model_fields)
            queue.append((inner, here))
    for kind, cls in BUILT_IN.items():
        wanted[f"`sources[]` with `kind: {kind}`"] = set(cls.Config.model_fields)
    return wanted


def test_every_key_is_documented_and_every_documented_key_exists() -> None:
    documented = sections()
    for heading, keys in schema_sections().items():
        assert heading in documented, f"docs/playbooks.md has no section {heading}"
        assert keys - documented[heading] == set(), f"undocumented under {heading}"
        assert documented[heading] - keys == set(), f"documented but not in the schema: {heading}"


def test_every_source_kind_is_named() -> None:
    text = DOC.read_text(encoding="utf-8")
    for kind in BUILT_IN:
        assert f"`{kind}`" in text
