"""Slack users: their names (users.info) kept in the people directory, and their ids found
from the e-mail addresses playbooks name them by (users.lookupByEmail)."""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.slack.calls import PLATFORM, call_slack
from bot.clock import Clock
from bot.errors import DeliveryError
from bot.store import people
from bot.store.db import Database

log = logging.getLogger(__name__)

_USER_ID = re.compile(r"[UW][A-Z0-9]{2,}")
# Slack user ids where our own texts name people (claims and events record the id).


class SlackPeople:
    """Slack users' names from users.info, kept in the people directory (bot.store.people).

    A name is looked up when its person acts and at most once per `max_age`; a failed
    look-up keeps the name already known (or the id) rather than stopping anything.
    """

    def __init__(
        self,
        *,
        client: AsyncWebClient,
        database: Database,
        clock: Clock,
        max_age: timedelta = timedelta(days=1),
    ):
        self.client = client
        self.database = database
        self.clock = clock
        self.max_age = max_age
        self._fetched: dict[str, datetime] = {}

    async def ensure(self, user_id: str) -> str:
        """The name of a Slack user, looked up if not done within `max_age`; never raises."""
        now = self.clock.now()
        fetched = self._fetched.get(user_id)
        if fetched is None or now - fetched >= self.max_age:
            try:
                response = await call_slack(
                    "users.info", lambda: self.client.users_info(user=user_id)
                )
            except DeliveryError as exc:
                log.warning("Slack: could not look up the name of %s: %s", user_id, exc)
            else:
                await self._remember(response.get("user") or {}, fallback=user_id)
        known = await self.database.read(people.names, ids=[user_id])
        return known.get(user_id, user_id)

    async def by_email(self, email: str) -> str | None:
        """The Slack user id of the person with this e-mail address (users.lookupByEmail)."""
        try:
            response = await call_slack(
                "users.lookupByEmail", lambda: self.client.users_lookupByEmail(email=email)
            )
        except DeliveryError as exc:
            log.warning("Slack: no user found for %s: %s", email, exc)
            return None
        user = response.get("user") or {}
        if not _USER_ID.fullmatch(str(user.get("id", ""))):
            return None
        await self._remember(user, fallback=str(user["id"]))
        return str(user["id"])

    async def _remember(self, user: dict[str, Any], *, fallback: str) -> None:
        """Keep a user's shown name and the names they go by (handle, names, e-mail)."""
        user_id = str(user.get("id") or fallback)
        profile = user.get("profile") or {}
        names = [
            profile.get("display_name"),
            profile.get("real_name"),
            user.get("real_name"),
            user.get("name"),
        ]
        name = next((str(n) for n in names if n), user_id)[:80]
        aliases = [str(a) for a in (*names, profile.get("email")) if a]
        now = self.clock.now()
        await self.database.write(
            people.remember, id=user_id, name=name, platform=PLATFORM, now=now, aliases=aliases
        )
        self._fetched[user_id] = now

    async def user_id(self, person: str) -> str:
        """The Slack user id of a person as allhands names them: an id already, or (for a
        playbook's `dana@lumo.example`) found by e-mail; DeliveryError if Slack has nobody."""
        if _USER_ID.fullmatch(person):
            return person
        if "@" in person.strip("@") and (found := await self.by_email(person.strip())):
            return found
        raise DeliveryError(
            f"{person!r} is no Slack user allhands knows; in playbooks, name people by their"
            " Slack e-mail address or member id (U0123ABCD)",
            permanent=True,
        )

    async def name(self, person: str | None) -> str:
        """How Slack shows one person: their name where known, else their id. (Texts arrive
        with people named already: nothing is swapped into finished text, where a
        customer's words could hold an id.)"""
        return await self.database.read(people.name_of, id=person)
