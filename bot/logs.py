"""How allhands logs: lines for people (the default) or one JSON object a line for pipelines.

Log lines about one mention, team, outbox effect or source carry them as fields: passed
with `extra={"mention": 42}` or set for a stretch of work with `about(...)`.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from functools import wraps
from typing import Any, ParamSpec, Protocol, TypeVar

FIELDS = ("mention", "team", "effect", "source")
HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_about: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "allhands_log_about", default=None
)
P = ParamSpec("P")
T = TypeVar("T")


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message and the fields that apply."""

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_about.get() or {})
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(*, verbose: bool, format: str) -> None:
    """Send the log to stderr as `format` says: "text" for people, "json" for pipelines."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if format == "json" else logging.Formatter(HUMAN_FORMAT))
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    if not verbose:
        # APScheduler logs every run of every job ("Running job ...", "... executed
        # successfully"): routine lines that drowned the rest. Shown with -v.
        logging.getLogger("apscheduler").setLevel(logging.WARNING)


@contextlib.contextmanager
def about(**fields: Any) -> Iterator[None]:
    """Log lines inside this block carry these fields (mention, team, effect, source)."""
    token = _about.set({**(_about.get() or {}), **{k: v for k, v in fields.items() if v}})
    try:
        yield
    finally:
        _about.reset(token)


class _Effect(Protocol):
    id: int
    mention: int | None


def about_effect(
    method: Callable[[Any, Any], Awaitable[T]],
) -> Callable[[Any, Any], Awaitable[T]]:
    """A method delivering one outbox effect logs with that effect's id and mention."""

    @wraps(method)
    async def run(self: Any, effect: _Effect) -> T:
        with about(effect=effect.id, mention=effect.mention):
            return await method(self, effect)

    return run
