"""`move` and `kind` typed in Teams: the card moves between channels, the old one says where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from bot.store import corrections, mentions
from tests.teams_harness import BILLING, BOB, SUPPORT, teams_app


def runs(card: dict[str, Any]) -> list[str]:
    return [i["text"] for block in card["body"] for i in block.get("inlines", [])]


async def test_move_and_kind_on_teams(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        await h.deliver()
        [old] = h.fake.channel_posts(BILLING)
        before = len(h.fake.channel_posts(SUPPORT))
        typed = h.command("move 1 support", user=BOB)
        assert await h.post(typed) == 200
        await h.deliver()
        assert any("#1 moved to support" in t for t in h.answers(typed["conversation"]["id"]))
        left = runs(h.fake.card(old))
        assert any(t.startswith("Moved to support") and "Bob Ng" in t for t in left)
        # Nothing to click on the card left behind but the link to the post.
        assert [a["title"] for a in h.fake.card(old).get("actions", [])] == ["Open the post"]
        posts = h.fake.channel_posts(SUPPORT)
        # The typed command starts a thread of its own; then the card arrives.
        assert len(posts) == before + 2 and runs(h.fake.card(posts[-1]))[0].startswith("#1 ")
        mention = await h.app.database.read(mentions.get, number=1)
        assert mention is not None and mention.team == "support"

        typed = h.command("kind 1 question", user=BOB)
        assert await h.post(typed) == 200
        await h.deliver()
        assert runs(h.fake.card(posts[-1]))[0].startswith("#1 question")
        kinds = await h.app.database.read(corrections.latest, field="kind")
        assert [(c.mention, c.old, c.new) for c in kinds] == [(1, "complaint", "question")]
