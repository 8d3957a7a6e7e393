"""Slack: App Home, where a person sees the mentions they claimed and their teams' queues."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncApp

from bot import incident_cards
from bot.chat.cards import Card
from bot.chat.slack.blocks import HomeQueue, home_view
from bot.chat.slack.calls import PLATFORM, call_slack
from bot.domain.mentions import UNCLAIMED, State
from bot.errors import DeliveryError
from bot.mention_cards import load_card
from bot.store import mentions

if TYPE_CHECKING:
    from bot.chat.slack.app import SlackBot

log = logging.getLogger(__name__)

HOME_OPENED = "app_home_opened"  # the bot event Slack sends when App Home is shown
HOME_MINE = 10
HOME_QUEUE = 8


def from_home(body: Mapping[str, Any]) -> bool:
    """True when a click came from App Home rather than a channel's card."""
    return (body.get("view") or {}).get("type") == "home"


class SlackHome:
    """App Home: drawn when a person opens it, and again after what they did there."""

    def __init__(self, bot: SlackBot):
        self.bot = bot

    def listen(self, bolt: AsyncApp) -> None:
        """Register the listener for App Home being opened."""
        bolt.event(HOME_OPENED)(self._on_home_opened)

    async def _on_home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") == "home" and event.get("user"):
            self.bot.spawn(self.publish(str(event["user"])), "App Home")

    async def publish(self, user: str, *, notice: str | None = None) -> None:
        """Show a person their claimed mentions and their teams' open queues (views.publish)."""
        await self.bot.people.ensure(user)
        mine = await self.bot.database.read(
            mentions.find, states=(State.CLAIMED, State.ANSWERED), claimed_by=user, limit=500
        )
        teams, note = await self._teams_of(user)
        now = self.bot.clock.now()
        queues = []
        for team in teams:
            waiting = await self.bot.database.read(
                mentions.find, states=UNCLAIMED, team=team, limit=500
            )
            label = self.bot.playbooks().teams[team].name or team
            cards = await self._cards([m.number for m in waiting[:HOME_QUEUE]])
            storms = await self.bot.database.read(incident_cards.open_cards, team=team, now=now)
            queues.append(HomeQueue(team=label, cards=(*storms, *cards), total=len(waiting)))
        view = home_view(
            mine=await self._cards([m.number for m in mine[:HOME_MINE]]),
            mine_total=len(mine),
            queues=queues,
            notice=notice or None,
            note=note,
        )
        await call_slack(
            "views.publish", lambda: self.bot.client.views_publish(user_id=user, view=view)
        )

    async def _cards(self, numbers: list[int]) -> tuple[Card, ...]:
        now = self.bot.clock.now()
        return tuple(
            [await self.bot.database.read(load_card, number=number, now=now) for number in numbers]
        )

    async def _teams_of(self, user: str) -> tuple[list[str], str | None]:
        """The teams whose Slack channel the person is in; all teams (with a note) if none."""
        slack_teams = {
            team.id: team.channel.channel
            for team in self.bot.playbooks().teams.values()
            if team.channel.platform == PLATFORM
        }
        try:
            member_of = await self.bot.adapter.channels.member_of(user)
        except DeliveryError as exc:
            log.warning("Slack: could not list %s's channels: %s", user, exc)
            member_of = frozenset()
        mine = []
        for team_id, channel in slack_teams.items():
            try:
                channel_id = await self.bot.adapter.channels.resolve(channel)
            except DeliveryError:
                continue
            if channel_id in member_of:
                mine.append(team_id)
        if mine:
            return mine, None
        note = "You are in none of the teams' channels, so here is every team's queue."
        return list(slack_teams), note
