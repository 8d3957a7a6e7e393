"""`allhands sources`: how each source is doing, read from the store, as a table for people."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot.store import sources, sql


@dataclass(frozen=True, slots=True)
class SourceLine:
    """One source as the report shows it."""

    source: str
    kind: str
    status: str
    last_success: str
    last_error: str
    items_seen: int
    healthy: bool


def read_health(db_path: str) -> dict[str, dict[str, Any]] | None:
    """The health rows of the store at `db_path`, opened read-only; None if there is none."""
    if not sql.store_exists(db_path):
        return None
    try:
        with sql.read_only(db_path) as db:
            return sources.health(db)
    except sql.MISSING_TABLE:
        return {}  # a store that was never opened by allhands has no tables yet


def _when(text: str | None) -> str:
    if not text:
        return "never"
    return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S %Z").strip()


def lines(
    health: dict[str, dict[str, Any]],
    configured: dict[str, tuple[str, bool]],
    *,
    now: datetime,
) -> list[SourceLine]:
    """A line per source in the playbooks (id -> kind, enabled) or in the store."""
    found = []
    for source in sorted(configured.keys() | health.keys()):
        kind, enabled = configured.get(source, ("?", True))
        row = health.get(source)
        failures = int((row or {}).get("failures") or 0)
        if not enabled:
            status = "disabled"
        elif row is None:
            status = "waiting for requests" if kind == "webhook" else "not read yet"
        elif failures:
            status = f"FAILING ({failures} in a row)"
        elif row.get("last_success"):
            status = "ok"
        else:
            status = "FAILING"
        resting = (row or {}).get("retry_at")
        if resting and datetime.fromisoformat(resting) > now:
            status += f", next read after {_when(resting)}"
        if source not in configured and configured:
            status += " (no longer in the playbooks)"
        error = ""
        if row and row.get("last_error"):
            error = f"{_when(row.get('last_error_at'))}: {row['last_error']}"
        found.append(
            SourceLine(
                source=source,
                kind=kind,
                status=status,
                last_success=_when((row or {}).get("last_success")),
                last_error=error,
                items_seen=int((row or {}).get("items_seen") or 0),
                healthy=not failures and not (row and not row.get("last_success")),
            )
        )
    return found


def render(found: list[SourceLine]) -> str:
    """The lines as an aligned table; the last error goes on a line of its own."""
    if not found:
        return "No sources: none in the playbooks and none in the store."
    headings = ("source", "kind", "status", "last success", "items seen")
    rows = [(s.source, s.kind, s.status, s.last_success, str(s.items_seen)) for s in found]
    widths = [max(len(r[i]) for r in [headings, *rows]) for i in range(len(headings))]
    out = ["  ".join(h.ljust(w) for h, w in zip(headings, widths, strict=True)).rstrip()]
    for line, row in zip(found, rows, strict=True):
        out.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if line.last_error:
            out.append(f"  last error {line.last_error}")
    return "\n".join(out)
