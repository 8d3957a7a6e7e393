"""Reading a newest-first list back to where the last poll stopped.

Reddit's listings and both app stores' reviews come newest first with a page token. The
cursor is the newest time handed over and the ids seen at that edge; a poll pages back
until it meets them, so nothing is skipped or repeated (a deleted post cannot stall it, as
it would an "everything before this id" cursor), and the first poll takes only the newest
page.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

log = logging.getLogger(__name__)

SEEN_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Edge:
    """Where a newest-first list was left: the newest time handed over and recent ids."""

    at: datetime
    seen: tuple[str, ...]


def _edge(data: Any) -> Edge:
    seen = data["seen"]
    if not isinstance(seen, list) or not all(isinstance(s, str) for s in seen):
        raise ValueError("seen is not a list of ids")
    return Edge(at=datetime.fromisoformat(data["at"]), seen=tuple(seen))


def _dump(edge: Edge) -> dict[str, Any]:
    return {"at": edge.at.isoformat(), "seen": list(edge.seen)}


def load_edge(text: str | None, source_id: str) -> Edge | None:
    """The edge in a cursor, or None to start from the newest page."""
    if not text:
        return None
    try:
        return _edge(json.loads(text))
    except (ValueError, TypeError, KeyError):
        log.warning("%s: cursor %.80r is not readable; starting from the newest", source_id, text)
        return None


def dump_edge(edge: Edge | None) -> str | None:
    """The cursor text of an edge."""
    return None if edge is None else json.dumps(_dump(edge))


def load_edges(text: str | None, source_id: str) -> dict[str, Edge]:
    """The edges of several streams in one cursor (stream key -> edge)."""
    if not text:
        return {}
    try:
        return {str(key): _edge(value) for key, value in json.loads(text).items()}
    except (ValueError, TypeError, KeyError, AttributeError):
        log.warning("%s: cursor %.80r is not readable; starting from the newest", source_id, text)
        return {}


def dump_edges(edges: dict[str, Edge]) -> str:
    """The cursor text of several streams' edges."""
    return json.dumps({key: _dump(edge) for key, edge in edges.items()}, sort_keys=True)


class EdgeWalk:
    """Collects one poll's new entries from newest-first pages until the edge is met."""

    def __init__(self, edge: Edge | None):
        self.edge = edge
        self.new: list[tuple[str, datetime]] = []
        self.reached = edge is None  # the first poll: one page is all there is to read
        self.past = False  # an entry older than the edge was met: the rest are older still
        self._seen = set(edge.seen) if edge else set()

    def take(self, ident: str, at: datetime) -> bool:
        """Whether the entry is new; past the edge, the walk is over."""
        if self.edge is not None and at < self.edge.at:
            self.reached = self.past = True
            return False
        if ident in self._seen:
            self.reached = self.reached or (self.edge is not None and at <= self.edge.at)
            return False
        self._seen.add(ident)
        self.new.append((ident, at))
        return True

    def next_edge(self) -> Edge | None:
        """The edge to store after handing over what was taken."""
        if not self.new:
            return self.edge
        newest = max(at for _, at in self.new)
        if self.edge is not None and self.edge.at > newest:
            newest = self.edge.at
        ids = [i for i, _ in sorted(self.new, key=lambda pair: pair[1], reverse=True)]
        older = [i for i in (self.edge.seen if self.edge else ()) if i not in set(ids)]
        return Edge(at=newest, seen=tuple((ids + older)[:SEEN_LIMIT]))
