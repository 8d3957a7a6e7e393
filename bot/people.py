"""Who people are: the names shown for the ids chat platforms give, looked up and cached.

An actor is written `platform:id` (`slack:U0123ABCD`) when a chat platform identifies
people by id; claims and events record that, and what people read shows the name. Each
platform registers how to look a name up; the console's actors are plain names already.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta

from bot.clock import Clock
from bot.store import people
from bot.store.db import Database

log = logging.getLogger(__name__)

NameLookup = Callable[[str], Awaitable[str]]
"""platform user id -> the name to show; raises on failure."""


def actor_id(platform: str, user_id: str) -> str:
    """The actor for a platform's user id: `slack:U0123ABCD`."""
    return f"{platform}:{user_id}"


def split_actor(actor: str) -> tuple[str, str] | None:
    """(platform, user id) of a `platform:id` actor, or None for a plain name."""
    platform, sep, user_id = actor.partition(":")
    if not sep or not platform.isalpha() or not user_id:
        return None
    return platform, user_id


class PeopleDirectory:
    """Names for actors, from the store when fresh enough, else from their platform."""

    def __init__(self, *, database: Database, clock: Clock, max_age: timedelta = timedelta(days=1)):
        self.database = database
        self.clock = clock
        self.max_age = max_age
        self._lookups: dict[str, NameLookup] = {}

    def register(self, platform: str, lookup: NameLookup) -> None:
        """Say how to look up the names of `platform`'s people."""
        self._lookups[platform] = lookup

    async def ensure(self, actor: str) -> str:
        """The actor's name, looked up on its platform if unknown or stale; never raises."""
        known = await self.database.read(people.known, actor=actor)
        now = self.clock.now()
        if known is not None and now - known[1] < self.max_age:
            return known[0]
        parts = split_actor(actor)
        lookup = self._lookups.get(parts[0]) if parts else None
        if parts is None or lookup is None:
            return known[0] if known else actor
        try:
            name = (await lookup(parts[1])).strip()
        except Exception as exc:  # a name is nice to have; the id still works everywhere
            log.warning("could not look up the name of %s: %s", actor, exc)
            return known[0] if known else actor
        name = name or (known[0] if known else parts[1])
        await self.database.write(people.remember, actor=actor, name=name, now=now)
        return name

    async def names(self, actors: Iterable[str | None]) -> dict[str, str]:
        """actor -> name for those already known (no lookups)."""
        return await self.database.read(people.names, actors=actors)
