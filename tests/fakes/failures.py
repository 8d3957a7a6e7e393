"""Failures a test injects into a fake by path: the next request under the path answers a
status with a JSON body (or a text body, when the body given is a string)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

# (path prefix, status, body): None for the fake's own error body.
Failure = tuple[str, int, Any]


def injected(
    failures: list[Failure], path: str, default: Callable[[int], Any] = lambda status: {}
) -> web.Response | None:
    """The answer of the first failure waiting under `path` (used up), or None."""
    for failure in failures:
        prefix, status, body = failure
        if path.startswith(prefix):
            failures.remove(failure)
            if isinstance(body, str):
                return web.Response(status=status, text=body)
            return web.json_response(body or default(status), status=status)
    return None


class FailsOnRequest:
    """For a fake with a `failures` list: `fail()` queues one."""

    failures: list[Failure]

    def fail(self, path: str, status: int, body: Any = None) -> None:
        """The next request under `path` answers `status` (JSON `body`, or text if a str)."""
        self.failures.append((path, status, body))
