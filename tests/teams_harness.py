"""A whole allhands on Teams for tests: the app, its web server, and the fake Bot Framework.

Activities are built the way Teams sends them (channel messages with an <at> mention,
Adaptive Card submits as a message with `value`, conversationUpdate on install) and
posted to /api/messages over HTTP with a token signed by the fake's key.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.chat.teams.adapter import TeamsAdapter
from bot.clock import FakeClock
from bot.playbooks import load_playbooks
from bot.settings import Settings
from tests.conftest import POSTS, served, write_posts
from tests.fakes.teams_connector import BotFrameworkFake, Post

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
TEAM = "19:general-support@thread.tacv2"  # a team's id is its General channel's id
SUPPORT = TEAM
GROUP = "8d3c1f2e-5b7a-4c9d-a1e6-0f2b3c4d5e6f"  # the team's id in Graph (aadGroupId)
BILLING = "19:billing-mentions@thread.tacv2"  # a channel of the same team, never addressed
BOT_NAME = "allhands"

DANA = {
    "id": "29:1dAnA-teams-user",
    "name": "Dana Scully",
    "aadObjectId": "6f1c2a9e-0b5d-4c1e-9a77-3d2e8f1b4c01",
}
CARMEN = {
    "id": "29:1cArMeN-teams-user",
    "name": "Carmen Ruiz",
    "aadObjectId": "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b",
}
BOB = {
    "id": "29:1b0B-teams-user",
    "name": "Bob Ng",
    "aadObjectId": "0a9b8c7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d",
}

PLAYBOOK = """\
sources:
  - id: social
    kind: replay
    file: {replay}
    batch: 50
teams:
  billing:
    channel: teams:{billing}
    keywords: [refund, invoice, charged]
  support:
    channel: teams:{support}
default_team: support
"""


class TeamsHarness:
    """An App with the TeamsAdapter, served on 127.0.0.1, talking to a BotFrameworkFake."""

    def __init__(
        self,
        app: App,
        teams: TeamsAdapter,
        fake: BotFrameworkFake,
        url: str,
        http: aiohttp.ClientSession,
        replay: Path,
    ):
        self.app = app
        self.teams = teams
        self.fake = fake
        self.url = url
        self.http = http
        self.replay = replay
        self._ids = itertools.count(1_600_000_000_001)

    @property
    def bot(self) -> dict[str, str]:
        """The bot as activities name it."""
        return {"id": f"28:{self.fake.app_id}", "name": BOT_NAME}

    def activity(
        self,
        kind: str = "message",
        *,
        user: dict[str, str] = DANA,
        conversation: str = SUPPORT,
        conversation_type: str = "channel",
        **fields: Any,
    ) -> dict[str, Any]:
        """An activity shaped like Teams', in a channel of the test team by default."""
        base = conversation.partition(";")[0]
        channel_data: dict[str, Any] = {"tenant": {"id": TENANT}}
        if conversation_type == "channel":
            channel_data |= {
                "team": {"id": TEAM, "name": "Support"},
                "channel": {"id": base},
                "teamsTeamId": TEAM,
                "teamsChannelId": base,
            }
        activity = {
            "type": kind,
            "id": str(next(self._ids)),
            "timestamp": "2026-01-05T09:00:00.000Z",
            "serviceUrl": self.fake.service_url,
            "channelId": "msteams",
            "from": user,
            "recipient": self.bot,
            "conversation": {
                "isGroup": conversation_type != "personal",
                "conversationType": conversation_type,
                "tenantId": TENANT,
                "id": conversation,
            },
            "channelData": channel_data,
            "locale": "en-US",
        }
        activity.update(fields)
        return activity

    def command(
        self, text: str, *, user: dict[str, str] = DANA, conversation: str = SUPPORT, **fields: Any
    ) -> dict[str, Any]:
        """`@allhands <text>` typed in a channel, with the mention entity Teams adds."""
        mention = f"<at>{BOT_NAME}</at>"
        entities = [
            {"type": "mention", "text": mention, "mentioned": self.bot},
            {"type": "clientInfo", "locale": "en-US", "platform": "Web"},
        ]
        entities += fields.pop("entities", [])
        activity = self.activity(
            user=user,
            conversation=conversation,
            text=f"{mention} {text}",
            textFormat="plain",
            entities=entities,
            **fields,
        )
        if conversation.startswith("19:") and ";" not in conversation:
            # A new post in a channel starts a thread: Teams names it after the post's id.
            activity["conversation"]["id"] = f"{conversation};messageid={activity['id']}"
            self.fake.posts[activity["id"]] = Post(activity["id"], conversation, activity)
        return activity

    def submit(
        self, card_id: str, value: Any, *, user: dict[str, str] = DANA, channel: str = BILLING
    ) -> dict[str, Any]:
        """A click on an Action.Submit button of the card `card_id`, as Teams posts it."""
        return self.activity(
            user=user, conversation=f"{channel};messageid={card_id}", replyToId=card_id, value=value
        )

    def chat_submit(
        self, chat: str, card_id: str, value: Any, *, user: dict[str, str] = DANA
    ) -> dict[str, Any]:
        """A click on an Action.Submit button of a card the bot sent in a 1:1 chat."""
        return self.activity(
            user=user,
            conversation=chat,
            conversation_type="personal",
            replyToId=card_id,
            value=value,
        )

    def installed(self, *, conversation: str = TEAM, user: dict[str, str] = BOB) -> dict[str, Any]:
        """The conversationUpdate Teams sends when someone adds the app to a team."""
        activity = self.activity(
            "conversationUpdate",
            user=user,
            conversation=conversation,
            membersAdded=[{"id": self.bot["id"]}],
        )
        activity["channelData"]["eventType"] = "teamMemberAdded"
        return activity

    async def post(
        self, activity: Any, *, token: str | None = "valid", headers: dict[str, str] | None = None
    ) -> int:
        """POST an activity to /api/messages; wait for the bot's answers; return the status."""
        sent_headers = dict(headers or {})
        if token == "valid":
            service_url = activity.get("serviceUrl") if isinstance(activity, dict) else None
            token = self.fake.sign(serviceurl=service_url or self.fake.service_url)
        if token is not None:
            sent_headers["Authorization"] = f"Bearer {token}"
        async with self.http.post(self.url, json=activity, headers=sent_headers) as response:
            status = response.status
        await self.teams.settle()
        return status

    async def deliver(self) -> None:
        """Run the outbox until nothing more is due."""
        await self.app.outbox.drain()

    def answers(self, conversation: str) -> list[str]:
        """The texts the bot sent into a thread `channel;messageid=root` (or a chat)."""
        base, _, root = conversation.partition(";messageid=")
        if root:
            return [r.get("text", "") for r in self.fake.posts[root].replies]
        return [a.get("text", "") for a in self.fake.chats.get(base, [])]


@asynccontextmanager
async def teams_app(
    tmp_path: Path, clock: FakeClock, *, playbook: str = PLAYBOOK, **settings: Any
) -> AsyncIterator[TeamsHarness]:
    """Start the fake Bot Framework, an App on Teams and its web server; stop them after."""
    fake = await BotFrameworkFake().start()
    fake.channels |= {SUPPORT, BILLING}
    fake.graph.groups[TEAM] = GROUP
    fake.now = clock.now
    fake.members |= {
        u["id"]: {
            **u,
            "email": f"{u['name'].split()[0].lower()}@lumo.example",
            "userPrincipalName": f"{u['name'].split()[0].lower()}@lumo.example",
            "givenName": u["name"].split()[0],
            "tenantId": TENANT,
        }
        for u in (DANA, BOB, CARMEN)
    }
    replay = tmp_path / "posts.jsonl"
    write_posts(replay, POSTS)
    book = tmp_path / "playbook.yaml"
    book.write_text(
        playbook.format(replay=replay, billing=BILLING, support=SUPPORT), encoding="utf-8"
    )
    config = Settings(
        db_path=str(tmp_path / "teams.db"),
        microsoft_app_id=fake.app_id,
        microsoft_app_password=fake.password,
        teams_openid_url=fake.openid_url,
        teams_token_url=fake.token_url,
        teams_graph_url=fake.graph_url,
    )
    config = replace(config, **settings)
    app = App(
        settings=config,
        adapters={"console": ConsoleAdapter()},
        clock=clock,
        playbooks=load_playbooks(book),
    )
    teams = TeamsAdapter.from_settings(config, database=app.database, clock=clock)
    app.adapters["teams"] = teams
    await app.start()
    try:
        async with served(app) as url, aiohttp.ClientSession() as http:
            yield TeamsHarness(app, teams, fake, f"{url}/api/messages", http, replay)
    finally:
        await teams.close()
        await app.stop()
        await fake.close()
