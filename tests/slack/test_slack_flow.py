"""Slack end to end over HTTP: cards in channels, the slash command, buttons, the thread."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.store import mentions, outbox, people
from tests.conftest import write_posts
from tests.fakes.slack_api import Failure
from tests.slack.conftest import BILLING, DANA, FELIX, POSTS, SUPPORT, SlackHarness


async def test_cards_go_to_channels_named_by_id_or_name(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    billing = slack.fake.messages(BILLING)
    support = slack.fake.messages(SUPPORT)
    [title] = [m["blocks"][0]["text"]["text"] for m in billing]
    # The complaint model's score sits after the kind: `#1 complaint 0.97 · high · billing`.
    assert title.startswith("#1 complaint ") and title.endswith(" · high · billing")
    assert 0.5 < float(title.split()[2]) <= 1.0
    assert len(support) == 2
    # `#billing` was found by listing channels: four visible (a private one the bot is not
    # in is not), two to a page.
    lists = slack.fake.calls_to("conversations.list")
    assert [c.args.get("cursor") for c in lists] == [None, "2"]
    posts = slack.fake.calls_to("chat.postMessage")
    assert all(c.args["unfurl_links"] is False and c.args["unfurl_media"] is False for c in posts)
    assert all(c.args.get("link_names") in (False, None) for c in posts)
    card = slack.card(BILLING, 1)
    actions = card["blocks"][-1]["elements"]
    assert [e.get("action_id") for e in actions] == [
        "allhands_claim", "allhands_reply", "allhands_resolve", "allhands_snooze",
    ]  # fmt: skip
    assert "Original: <https://social.example/@ann/a1>" in str(card["blocks"])
    events = await slack.app.database.read(mentions.events, number=1)
    assert events[-1].detail == {"channel": f"slack:{BILLING}"}


async def test_slash_command_is_acked_fast_and_answered_privately(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    status, body, took = await slack.send(slack.command_body("claim 1"))
    assert status == 200 and body == ""
    assert took < 3.0
    await slack.settle()
    name, answer = slack.fake.responses[-1]
    assert name.startswith("command-")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("#1 is yours.")
    mention = await slack.app.database.read(mentions.get, number=1)
    assert mention is not None and mention.claimed_by == DANA
    card = slack.card(BILLING, 1)
    assert "Claimed by Dana Scully" in str(card["blocks"])
    assert [e.get("action_id") for e in card["blocks"][-1]["elements"]] == [
        "allhands_reply", "allhands_resolve", "allhands_snooze", "allhands_release",
    ]  # fmt: skip
    # The name came from users.info once and is kept.
    await slack.command("list mine")
    await slack.settle()
    assert "Yours (1):" in slack.fake.responses[-1][1]["text"]
    assert "Dana Scully" in slack.fake.responses[-1][1]["text"]
    assert len(slack.fake.calls_to("users.info")) == 1
    assert await slack.app.database.read(people.names, ids=[DANA]) == {DANA: "Dana Scully"}


async def test_buttons_act_and_refusals_reach_only_the_clicker(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    ts = slack.card_ts(BILLING, 1)
    status, _, _ = await slack.click(
        {"action_id": "allhands_claim", "type": "button", "value": "1", "block_id": "b"},
        user=DANA, message_ts=ts,
    )  # fmt: skip
    assert status == 200
    await slack.settle()
    assert "Claimed by Dana Scully" in str(slack.card(BILLING, 1)["blocks"])
    responses = len(slack.fake.responses)
    assert responses == 0  # success shows on the card; nobody is told twice

    await slack.click(
        {"action_id": "allhands_claim", "type": "button", "value": "1", "block_id": "b"},
        user=FELIX, message_ts=ts,
    )  # fmt: skip
    await slack.settle()
    refusal = slack.fake.responses[-1][1]
    assert refusal["response_type"] == "ephemeral" and refusal["replace_original"] is False
    assert refusal["text"] == "#1 is already claimed by Dana Scully."

    await slack.click(
        {"action_id": "allhands_snooze", "type": "static_select", "block_id": "b",
         "selected_option": {"value": "1 2h", "text": {"type": "plain_text", "text": "2 hours"}}},
        user=DANA, message_ts=ts,
    )  # fmt: skip
    await slack.settle()
    assert "snoozed until 2026-01-05 11:" in str(slack.card(BILLING, 1)["blocks"])

    await slack.click(
        {"action_id": "allhands_resolve", "type": "button", "value": "1", "block_id": "b"},
        user=DANA, message_ts=ts,
    )  # fmt: skip
    await slack.settle()
    card = slack.card(BILLING, 1)
    assert "Resolved by Dana Scully at 2026-01-05" in str(card["blocks"])
    assert [e.get("action_id") for e in card["blocks"][-1]["elements"]] == ["allhands_reopen"]
    history = await slack.app.database.read(mentions.events, number=1)
    assert [(e.action.value, e.actor) for e in history][-3:] == [
        ("claim", DANA), ("snooze", DANA), ("resolve", DANA),
    ]  # fmt: skip
    # One chat.update per change, each to the card's own message.
    updates = slack.fake.calls_to("chat.update")
    assert len(updates) == 3 and {u.args["ts"] for u in updates} == {ts}


async def test_a_later_post_goes_to_the_thread_and_reopens(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("resolve 2", channel=SUPPORT)
    await slack.settle()
    write_posts(
        slack.replay,
        [*POSTS, {"id": "a4", "text": "Still can't change it <!here>", "author": {"handle": "bob"},
                  "in_reply_to": "a2"}],
    )  # fmt: skip
    await slack.app.poll_all()
    await slack.settle()
    ts = slack.card_ts(SUPPORT, 2)
    thread = slack.fake.replies(SUPPORT, ts)
    assert len(thread) == 1
    assert thread[0]["text"] == "@bob wrote again: Still can't change it &lt;!here&gt;"
    card = slack.card(SUPPORT, 2)
    assert "Reopened: the customer wrote again" in str(card["blocks"])
    assert "1 later message in the thread" in str(card["blocks"])


async def test_unknown_and_bad_commands_are_answered_not_dropped(slack: SlackHarness) -> None:
    # Each answer goes to its response_url on its own task: settle after each command so
    # the order compared below is the order typed, not the order the tasks happened to run.
    for line in ("frobnicate 3", "assign 1 dana", ""):
        await slack.command(line)
        await slack.settle()
    texts = [r[1]["text"] for r in slack.fake.responses]
    assert texts[0] == "Unknown command `frobnicate`. Type `help` for the list."
    assert texts[1].startswith("Name the person with an @mention")
    assert texts[2].startswith("allhands commands")


async def test_assign_names_the_person_and_tells_them(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command(f"assign 2 <@{FELIX}|felix>", channel=SUPPORT)
    await slack.settle()
    assert slack.fake.responses[-1][1]["text"] == "#2 is now Felix's; they have been told."
    dm = slack.fake.messages("D" + FELIX[1:])
    assert len(dm) == 1 and dm[0]["text"].startswith("Dana Scully gave you #2:")
    assert "Claimed by Felix" in str(slack.card(SUPPORT, 2)["blocks"])
    assert await slack.app.database.read(outbox.counts) == {"done": 5}  # 3 cards, 1 update, 1 note


async def test_team_lists_know_the_channel_and_names_are_refreshed(slack: SlackHarness) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("claim 1")  # typed in #billing, which the playbook names by name
    await slack.settle()  # each command's work runs after its ack: one at a time here
    await slack.command("list team")
    await slack.settle()
    await slack.command("show 1")
    await slack.settle()
    listed, shown = (r[1]["text"] for r in slack.fake.responses[-2:])
    assert listed.startswith("Team billing (1):") and "claimed Dana Scully" in listed
    assert "Dana Scully claim (open -&gt; claimed)" in shown  # escaped, as all answers are
    # A day later the name is looked up again; a failing look-up keeps the last one known.
    slack.fake.add_user(DANA, "Dana S.")
    slack.clock.advance(timedelta(days=1, seconds=1))
    await slack.command("list mine")
    await slack.settle()
    assert "claimed Dana S." in slack.fake.responses[-1][1]["text"]
    slack.fake.fail("users.info", Failure(status=500, error="internal_error", times=5))
    slack.clock.advance(timedelta(days=1, seconds=1))
    await slack.command("list mine")
    await slack.settle()
    assert "claimed Dana S." in slack.fake.responses[-1][1]["text"]
    assert len(slack.fake.calls_to("users.info")) == 3


async def test_an_sla_nudge_pings_here_when_the_playbook_says_so(slack: SlackHarness) -> None:
    book = slack.app.playbooks
    team = book.teams["billing"]
    sla = team.sla.model_copy(update={"claim_within": timedelta(minutes=10), "ping": "here"})
    slack.app.playbooks = replace(book, teams={**book.teams, "billing": replace(team, sla=sla)})
    write_posts(
        slack.replay, [{"id": "n1", "text": "<!channel> refund me", "author": {"handle": "x"}}]
    )
    await slack.app.poll_all()
    await slack.settle()
    slack.clock.advance(timedelta(minutes=11))
    await slack.app.sla.sweep()
    await slack.settle()
    [nudge] = slack.fake.replies(BILLING, slack.card_ts(BILLING, 1))
    assert nudge["text"].startswith("<!here> ")
    assert nudge["text"].count("<!") == 1


async def test_a_held_reply_asks_the_lead_in_slack_and_their_approval_sends_it(
    slack: SlackHarness,
) -> None:
    book = slack.app.playbooks
    team = book.teams["support"]
    guardrails = team.guardrails.model_copy(
        update={"approval": team.guardrails.approval.model_copy(update={"audience_over": 50})}
    )
    slack.app.playbooks = replace(
        book, teams={**book.teams, "support": replace(team, leads=(FELIX,), guardrails=guardrails)}
    )
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("reply 3 Thank you so much!", channel=SUPPORT)  # cy has 90 followers
    await slack.settle()
    assert "waits for a lead's approval" in slack.fake.responses[-1][1]["text"]
    assert slack.app.connectors["social"].sent == []  # type: ignore[attr-defined]
    [asked] = slack.fake.messages("D" + FELIX[1:])
    assert asked["text"].startswith("Dana Scully's answer to #3")
    assert "`/allhands approve 3`" in str(asked["blocks"])  # typing it works too
    await slack.command("approve 3", user=FELIX, channel=SUPPORT)
    await slack.settle()
    assert slack.app.connectors["social"].sent == [("a3", "Thank you so much!")]  # type: ignore[attr-defined]


async def test_a_digest_comes_in_the_leads_dm_with_its_figures(slack: SlackHarness) -> None:
    await slack.app.adapters["slack"].send_report(
        DANA, "Digest for support: 3 in, 2 answered", image=b"\x89PNG", image_name="d.png",
        image_text="day   in  answered\nmon    3         2",
    )  # fmt: skip
    [digest] = slack.fake.messages("D" + DANA[1:])
    assert digest["text"].startswith("Digest for support: 3 in, 2 answered")
    # The chart itself, its figures as the image's text for screen readers.
    [chart] = digest["files"]
    assert chart["name"] == "d.png" and chart["mimetype"] == "image/png"
    assert chart["alt_txt"] == "day   in  answered\nmon    3         2"
    assert slack.fake.uploads[chart["id"]].data == b"\x89PNG"


async def test_a_lead_named_by_email_is_asked_and_recognised(slack: SlackHarness) -> None:
    book = slack.app.playbooks
    team = book.teams["support"]
    guardrails = team.guardrails.model_copy(
        update={"approval": team.guardrails.approval.model_copy(update={"audience_over": 50})}
    )
    slack.app.playbooks = replace(
        book,
        teams={
            **book.teams,
            "support": replace(team, leads=("Felix@Lumo.example",), guardrails=guardrails),
        },
    )
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("reply 3 Thank you so much!", channel=SUPPORT)
    await slack.settle()
    # Felix never used allhands: Slack found him by his e-mail address.
    assert [c.args.get("email") for c in slack.fake.calls_to("users.lookupByEmail")] == [
        "Felix@Lumo.example"
    ]
    [asked] = slack.fake.messages("D" + FELIX[1:])
    assert "`/allhands approve 3`" in str(asked["blocks"])  # typing it works too
    await slack.command("approve 3", user=FELIX, channel=SUPPORT)  # his id: he is the lead
    await slack.settle()
    assert slack.app.connectors["social"].sent == [("a3", "Thank you so much!")]  # type: ignore[attr-defined]
