"""The story on Teams, end to end over HTTP: install, card, claim, reply, resolve, updated card."""

from __future__ import annotations

import base64
import html
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from bot.clock import FakeClock
from bot.store import mentions, outbox
from tests.conftest import write_posts
from tests.fakes.teams_connector import Post
from tests.teams_harness import (
    BILLING,
    BOB,
    CARMEN,
    DANA,
    PLAYBOOK,
    SUPPORT,
    TEAM,
    TeamsHarness,
    teams_app,
)


def runs(card: dict[str, Any]) -> list[str]:
    """Every TextRun's text on a card, in order."""
    return [i["text"] for block in card["body"] for i in block.get("inlines", [])]


def buttons(card: dict[str, Any]) -> list[str]:
    """The titles of a card's actions."""
    return [a["title"] for a in card["actions"]]


async def installed_with_cards(h: TeamsHarness) -> Post:
    assert await h.post(h.installed()) == 200
    await h.app.poll_all()
    await h.deliver()
    [card_post] = h.fake.channel_posts(BILLING)
    return card_post


async def test_card_claim_reply_resolve_updates_the_card(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        [welcome] = h.fake.channel_posts(TEAM)
        assert f"channel: teams:{TEAM}" in runs(h.fake.card(welcome))

        await h.app.poll_all()
        await h.deliver()
        [post] = h.fake.channel_posts(BILLING)  # a channel the bot was never addressed in
        card = h.fake.card(post)
        title, *rest = runs(card)[:3]
        # The complaint model's score sits after the kind: `#1 complaint 0.97 · high · ...`.
        assert title.startswith("#1 complaint 0.") or title.startswith("#1 complaint 1.00")
        assert title.endswith(" · high · billing")
        assert rest == ["@ann on the demo network · en", "I was charged twice, I want a refund"]
        assert buttons(card) == ["Claim", "Reply", "Resolve", "Snooze", "Open the post"]
        assert len(h.fake.channel_posts(SUPPORT)) == 1 + 2  # the welcome and two cards
        thread = f"{BILLING};messageid={post.id}"

        assert await h.post(h.submit(post.id, {"allhands": "claim", "number": 1})) == 200
        assert h.answers(thread)[-1].startswith("Dana Scully: #1 is yours.")
        await h.deliver()
        card = h.fake.card(post)
        assert "Claimed by Dana Scully" in runs(card)
        assert buttons(card) == ["Reply", "Resolve", "Snooze", "Release", "Open the post"]

        reply = {"allhands": "reply", "number": 1, "reply_text": "Sorry! We refunded it today."}
        assert await h.post(h.submit(post.id, reply)) == 200
        await h.deliver()
        assert h.app.connectors["social"].sent == [("a1", "Sorry! We refunded it today.")]  # type: ignore[attr-defined]
        assert any(
            "Dana Scully's answer is posted in the customer's thread" in t
            for t in h.answers(thread)
        )
        assert (
            "Answered by Dana Scully · answer posted: https://social.example/@ann/a1#"
            in runs(h.fake.card(post))[-1]
        )

        assert (
            await h.post(h.submit(post.id, {"allhands": "resolve", "number": 1}, user=BOB)) == 200
        )
        assert "Bob Ng: #1 is resolved. Thank you!" in h.answers(thread)
        await h.deliver()
        card = h.fake.card(post)
        assert runs(card)[-1].startswith("Resolved by Bob Ng at 2026-01-05")
        assert buttons(card) == ["Reopen", "Open the post"]

        history = await h.app.database.read(mentions.events, number=1)
        assert [(e.action.value, e.actor) for e in history] == [
            ("ingest", "allhands"),
            ("announce", "allhands"),
            ("claim", DANA["aadObjectId"]),
            ("answer", DANA["aadObjectId"]),
            ("resolve", BOB["aadObjectId"]),
        ]
        assert set(await h.app.database.read(outbox.counts)) == {"done"}
        # Every card update went to the card itself, in its channel.
        updates = h.fake.connector_calls("PUT")
        assert updates and all(c.activity_id == post.id for c in updates)
        assert all(
            c.raw_path.startswith(
                "/amer/v3/conversations/19%3Abilling-mentions%40thread.tacv2%3Bmessageid%3D"
            )
            for c in updates
        )


async def test_typed_commands_with_the_bots_mention(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        await installed_with_cards(h)
        command = h.command("claim 2")
        thread = command["conversation"]["id"]
        assert await h.post(command) == 200
        assert h.answers(thread) == ["\\#2 is yours. Answer with \\`reply 2 &lt;text&gt;\\`."]
        mention = await h.app.database.read(mentions.get, number=2)
        assert mention is not None and mention.claimed_by == DANA["aadObjectId"]

        for text, expected in [
            ("list mine", "Yours (1):"),
            ("help", "@allhands channel"),
            ("frobnicate 2", "Unknown command \\`frobnicate\\`"),
            ("claim 2", "#2"),
        ]:
            assert await h.post(h.command(text, conversation=thread)) == 200
            assert expected in h.answers(thread)[-1], (text, h.answers(thread)[-1])

        assert await h.post(h.command("channel", conversation=thread)) == 200
        channel_card = h.fake.posts[command["id"]].replies[-1]["attachments"][0]["content"]
        assert f"channel: teams:{SUPPORT}" in runs(channel_card)


async def test_assign_by_mention_tells_the_person_privately(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        await installed_with_cards(h)
        carmen = {
            "type": "mention",
            "text": "<at>Carmen Ruiz</at>",
            "mentioned": {"id": CARMEN["id"], "name": "Carmen Ruiz"},
        }
        command = h.command("assign 2 <at>Carmen Ruiz</at>", entities=[carmen])
        assert await h.post(command) == 200
        assert h.answers(command["conversation"]["id"]) == [
            "\\#2 is now Carmen Ruiz's; they have been told."
        ]
        mention = await h.app.database.read(mentions.get, number=2)
        assert mention is not None and mention.claimed_by == CARMEN["aadObjectId"]
        await h.deliver()
        # Carmen never wrote to the bot: the team's roster, read when the bot was added
        # (two pages of the fake's two), told it how to reach her; her chat was opened.
        reads = [c.raw_path for c in h.fake.connector_calls("GET")]
        assert len(reads) == 2 and all("/pagedmembers" in path for path in reads)
        [(chat, notes)] = h.fake.chats.items()
        assert chat == "a:1" + CARMEN["id"][3:]
        assert notes[0]["text"].startswith("Dana Scully gave you #2:")
        creates = [
            c.body
            for c in h.fake.connector_calls("POST")
            if c.raw_path.endswith("/v3/conversations") and not c.body.get("isGroup")
        ]
        assert creates == [
            {
                "isGroup": False,
                "bot": {"id": h.bot["id"]},
                "members": [{"id": CARMEN["id"]}],
                "tenantId": creates[0]["tenantId"],
                "channelData": {"tenant": {"id": creates[0]["tenantId"]}},
            }
        ]


async def test_follow_ups_go_in_the_cards_reply_chain(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    from tests.conftest import POSTS, write_posts

    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        post = await installed_with_cards(h)
        later = {
            "id": "a9",
            "text": "Still waiting for that refund...",
            "author": {"handle": "ann"},
            "in_reply_to": "a1",
        }
        write_posts(h.replay, [*POSTS, later])
        clock.advance(timedelta(minutes=5))
        await h.app.poll_all()
        await h.deliver()
        assert any(
            "@ann wrote again: Still waiting for that refund" in t
            for t in h.answers(f"{BILLING};messageid={post.id}")
        )
        assert len(h.fake.channel_posts(BILLING)) == 1  # no second card for the same customer


async def test_hostile_posts_and_names_reach_teams_inert(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    hostile = (
        "<at>Dana Scully</at> [refund here](https://evil.example) **now** &lt;at&gt;x&lt;/at&gt;"
    )
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.installed()) == 200
        write_posts(
            h.replay, [{"id": "h1", "text": f"refund {hostile}", "author": {"handle": "x"}}]
        )
        await h.app.poll_all()
        await h.deliver()
        [post] = h.fake.channel_posts(BILLING)
        activity = post.activity
        assert "entities" not in activity and "<" not in activity["summary"]
        # The post, normalised (entities decoded), in a TextRun: shown as text, not rendered.
        assert "refund " + html.unescape(hostile) in runs(h.fake.card(post))
        sneaky = {**DANA, "name": "**Boss** <at>General</at> [x](https://evil.example)"}
        assert (
            await h.post(h.submit(post.id, {"allhands": "claim", "number": 1}, user=sneaky)) == 200
        )
        [answer] = h.answers(f"{BILLING};messageid={post.id}")
        assert answer.startswith(
            "\\*\\*Boss\\*\\* &lt;at&gt;General&lt;/at&gt; \\[x\\](https://evil"
        )
        await h.deliver()
        assert f"Claimed by {sneaky['name']}" in runs(h.fake.card(post))
        refused = h.command(f"show 1 {hostile}")  # an argument the grammar refuses, echoed
        assert await h.post(refused) == 200
        show = h.command("show 1")
        assert await h.post(show) == 200
        for text in (
            *h.answers(refused["conversation"]["id"]),
            *h.answers(show["conversation"]["id"]),
        ):
            assert "<at>" not in text and "](" not in text.replace("\\](", "")
        [shown] = h.answers(show["conversation"]["id"])
        assert "&lt;at&gt;Dana Scully&lt;/at&gt; \\[refund here\\](https://evil.example)" in shown


async def test_welcome_is_sent_once_per_install_and_removal_forgets(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    from bot.store import teams as store

    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        install = h.activity("installationUpdate", conversation=TEAM, action="add")
        assert await h.post(install) == 200
        assert await h.post(h.installed()) == 200
        assert len(h.fake.channel_posts(TEAM)) == 1
        removed = h.activity("conversationUpdate", conversation=TEAM, membersRemoved=[h.bot])
        removed["channelData"]["eventType"] = "teamMemberRemoved"
        assert await h.post(removed) == 200
        assert await h.app.database.read(store.conversation, id=TEAM) is None


async def test_a_report_reaches_a_person_with_its_chart_inline(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        assert await h.post(h.command("list")) == 200  # Dana has written to the bot once
        png = b"\x89PNG\r\n\x1a\n" + b"chart" * 10
        await h.teams.send_report(
            DANA["aadObjectId"], "Digest for *support*", image=png, image_name="week.png"
        )
        [(chat, notes)] = h.fake.chats.items()
        [note] = notes
        assert note["text"] == "Digest for \\*support\\*"  # strangers' markdown stays inert
        [attachment] = note["attachments"]
        assert attachment["contentType"] == "image/png" and attachment["name"] == "week.png"
        prefix = "data:image/png;base64,"
        assert attachment["contentUrl"].startswith(prefix)
        assert base64.b64decode(attachment["contentUrl"][len(prefix) :]) == png

        await h.teams.send_report(DANA["aadObjectId"], "No chart today", image_text="a | b")
        assert h.fake.chats[chat][-1]["text"].endswith("a \\| b")
        assert "attachments" not in h.fake.chats[chat][-1]


async def test_a_channels_report_is_a_new_post_with_its_chart(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        png = b"\x89PNG\r\n\x1a\n" + b"chart" * 10
        assert await h.post(h.installed()) == 200  # the app is in the channel's team
        before = len(h.fake.channel_posts(SUPPORT))
        await h.teams.post_report(SUPPORT, "Daily digest", image=png, image_name="day.png")
        posts = h.fake.channel_posts(SUPPORT)
        assert len(posts) == before + 1
        [attachment] = posts[-1].activity["attachments"]
        assert attachment["contentType"] == "image/png" and attachment["name"] == "day.png"
        assert posts[-1].activity["text"] == "Daily digest"


LEADS_BY_EMAIL = PLAYBOOK.replace(
    "    channel: teams:{support}\n",
    "    channel: teams:{support}\n    leads: [dana@lumo.example]\n"
    "    guardrails: {{approval: {{first_replies: 1}}}}\n",
)


async def test_leads_named_by_email_are_reached_and_recognised(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url, playbook=LEADS_BY_EMAIL) as h:
        await installed_with_cards(h)  # the roster is read when the bot joins the team
        # Bob's first answer waits for a lead: the playbook's dana@lumo.example is Dana.
        command = h.command("reply 2 Try signing out and in again", user=BOB)
        assert await h.post(command) == 200
        assert "Asked: Dana Scully." in h.answers(command["conversation"]["id"])[-1]
        await h.deliver()
        [(chat, notes)] = h.fake.chats.items()  # her 1:1 chat, opened for the request
        assert chat == "a:1" + DANA["id"][3:]
        card = notes[0]["attachments"][0]["content"]  # the request, as a card with buttons
        assert runs(card)[0] == "#2: Bob Ng's answer waits for your approval"
        approve = h.command("approve 2")  # typed by Dana: her AAD id is the actor
        assert await h.post(approve) == 200
        assert h.answers(approve["conversation"]["id"])[-1] == (
            "Approved Bob Ng's answer to #2; it is being posted."
        )
        # A lead Teams does not know is refused by delivery with the reason, not retried.
        await h.app.database.write(
            outbox.enqueue, kind=outbox.Kind.PRIVATE_NOTE, target="teams",
            payload={"person": "nobody@lumo.example", "text": "hi"}, now=clock.now(),
        )  # fmt: skip
        await h.deliver()
        counts = await h.app.database.read(outbox.counts)
        assert counts.get("failed") == 1


async def test_someone_outside_the_roster_is_looked_up_when_mentioned(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        await installed_with_cards(h)
        erin = {"id": "29:1eRiN-teams-user", "name": "Erin Ha", "aadObjectId": "e1"}
        h.fake.members[erin["id"]] = {**erin, "tenantId": "t"}  # joined after the install
        mention = {"type": "mention", "text": "<at>Erin Ha</at>", "mentioned": erin}
        command = h.command("assign 2 <at>Erin Ha</at>", entities=[mention])
        assert await h.post(command) == 200
        assert any(c.raw_path.endswith("/members/29%3A1eRiN-teams-user")
                   for c in h.fake.connector_calls("GET"))  # fmt: skip
        stored = await h.app.database.read(mentions.get, number=2)
        assert stored is not None and stored.claimed_by == "e1"


async def test_a_post_quoting_an_employees_id_is_not_shown_with_their_name(
    tmp_path: Path, clock: FakeClock, store_url: str
) -> None:
    async with teams_app(tmp_path, clock, db_path=store_url) as h:
        await installed_with_cards(h)  # the roster: Dana's AAD id is known with her name
        spoof = f"Support agent {DANA['aadObjectId']} told me to pay by wire"
        with h.replay.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"id": "s1", "text": f"refund? {spoof}", "author": {"handle": "x"}}))
            f.write("\n")
        await h.app.poll_all()
        await h.deliver()
        show = h.command("show 4")
        assert await h.post(show) == 200
        [shown] = h.answers(show["conversation"]["id"])
        # The customer's words as written: no employee's name put into them.
        assert spoof.replace("-", "\\-") in shown or spoof in shown
        assert "Dana Scully" not in shown
        claim = h.command("claim 4")
        assert await h.post(claim) == 200
        show = h.command("show 4", user=BOB)
        assert await h.post(show) == 200
        [shown] = h.answers(show["conversation"]["id"])
        assert "Dana Scully claim" in shown  # people the bot names are shown by name
