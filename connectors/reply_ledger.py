"""At most one reply per idempotency key, for platforms that cannot be told the key.

A send whose outcome is unknown (a timeout after the platform took the post) is retried
by the outbox under the same key. The ledger remembers the keys sent and the keys tried:
before trying a key again, the connector's own search of its recent posts says whether
the earlier try got through. Used by the X and Reddit connectors.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from connectors.base import ExternalRef


class ReplyLedger:
    """The replies a connector posted (by key) and the keys it tried to post."""

    def __init__(self) -> None:
        self._sent: dict[str, ExternalRef] = {}
        self._tried: set[str] = set()

    def sent(self, key: str) -> ExternalRef | None:
        """Where the reply of `key` was posted, if it is known to have been."""
        return self._sent.get(key)

    async def earlier(
        self, key: str, find: Callable[[], Awaitable[ExternalRef | None]]
    ) -> ExternalRef | None:
        """Before a send: the reply an earlier try of `key` posted (asked of `find` only
        when there was an earlier try), or None; `key` counts as tried from now on."""
        if key in self._tried:
            found = await find()
            if found is not None:
                self._sent[key] = found
                return found
        self._tried.add(key)
        return None

    def posted(self, key: str, ref: ExternalRef) -> ExternalRef:
        """Remember that the reply of `key` is posted at `ref`."""
        self._sent[key] = ref
        return ref
