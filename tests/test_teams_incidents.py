"""Storm mode on Teams over HTTP: one incident card, updated in place, and the alert."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.clock import FakeClock
from tests.conftest import write_posts
from tests.teams_harness import SUPPORT, TeamsHarness, teams_app

OUTAGE = [
    "No signal in the north since 9am, is there an outage?",
    "north outage again?? no signal, calls dead",
    "Signal gone in the north area. Outage?",
]


def texts(h: TeamsHarness, post_id: str) -> list[str]:
    card = h.fake.card(h.fake.posts[post_id])
    return [i["text"] for block in card["body"] for i in block.get("inlines", [])]


async def test_an_incident_is_one_card_updated_in_place(tmp_path: Path, clock: FakeClock) -> None:
    async with teams_app(tmp_path, clock) as h:
        assert await h.post(h.installed()) == 200
        write_posts(tmp_path / "posts.jsonl", [
            {"id": f"o{i}", "text": OUTAGE[i % 3], "author": {"handle": f"u{i}"}}
            for i in range(20)
        ])  # fmt: skip
        await h.app.poll_all()
        await h.deliver()
        posts = h.fake.channel_posts(SUPPORT)
        cards = [p for p in posts if p.activity.get("attachments")]
        incident = [p for p in cards if texts(h, p.id)[0].startswith("I1 incident · support")]
        assert len(incident) == 1  # one card for twenty mentions
        assert "20 mentions from 20 people" in " ".join(texts(h, incident[0].id))
        assert h.fake.card(incident[0])["actions"] == []  # no buttons on Teams (yet)
        assert any("Spike for team support" in str(p.activity) for p in posts)
        assert "You are on I1" in (await h.app.workflow.handle("claim I1", _ctx())).text
        clock.advance(timedelta(seconds=31))
        await h.deliver()
        assert incident[0].versions == 2  # drawn again in place
        assert "On it: someone" in " ".join(texts(h, incident[0].id))


def _ctx():  # type: ignore[no-untyped-def]
    from bot.workflow import Context

    return Context(actor="someone", platform="teams")
