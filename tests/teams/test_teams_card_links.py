"""Private notes about a mention link to its card on Teams: a deep link to the channel post."""

from __future__ import annotations

import html
from datetime import timedelta
from pathlib import Path

from bot.card_links import teams_message_link
from bot.clock import FakeClock
from tests.teams_harness import DANA, PLAYBOOK, SUPPORT, TENANT, teams_app

WITH_SLA = PLAYBOOK.replace(
    "    channel: teams:{support}\n",
    "    channel: teams:{support}\n    leads: [dana@lumo.example]\n"
    "    sla: {{claim_within: 2h, escalate_after: 1h}}\n",
)


def test_the_deep_link_has_the_shape_teams_documents() -> None:
    link = teams_message_link("19:abc@thread.tacv2", "1648741500652", tenant_id="t-1")
    assert link == (
        "https://teams.microsoft.com/l/message/19:abc@thread.tacv2/1648741500652"
        "?tenantId=t-1&parentMessageId=1648741500652"
    )
    grouped = teams_message_link("19:abc@thread.tacv2", "16", tenant_id="t", group_id="g&1")
    assert grouped.endswith("?tenantId=t&groupId=g%261&parentMessageId=16")


async def test_an_escalation_links_to_the_card_in_its_channel(
    tmp_path: Path, clock: FakeClock
) -> None:
    async with teams_app(tmp_path, clock, playbook=WITH_SLA) as h:
        assert await h.post(h.installed()) == 200
        await h.app.poll_all()
        await h.deliver()
        cards = {p.id for p in h.fake.channel_posts(SUPPORT)}
        clock.advance(timedelta(minutes=90))
        await h.app.sla.sweep()
        await h.deliver()
        chat = "a:1" + DANA["id"][3:]  # Dana's 1:1 chat with the bot
        notes = [html.unescape(str(a.get("text", ""))) for a in h.fake.chats[chat]]  # as shown
        escalations = [n for n in notes if n.startswith("Escalation for support")]
        assert escalations, notes
        for note in escalations:
            link = note.rpartition("The card: ")[2]
            prefix = f"https://teams.microsoft.com/l/message/{SUPPORT}/"
            assert link.startswith(prefix), note
            post, _, query = link.removeprefix(prefix).partition("?")
            assert post in cards
            assert query == f"tenantId={TENANT}&parentMessageId={post}"
            assert "The card is in" not in note
