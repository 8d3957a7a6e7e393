"""Storm mode on Slack over HTTP: one incident card with buttons, updated in place."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

from bot.store import incidents
from tests.conftest import write_posts
from tests.slack.conftest import DANA, SUPPORT, SlackHarness

OUTAGE = [
    "No signal in the north since 9am, is there an outage?",
    "north outage again?? no signal, calls dead",
    "Signal gone in the north area. Outage?",
]


async def test_an_incident_is_one_card_with_buttons_that_act_on_it(slack: SlackHarness) -> None:
    write_posts(slack.replay, [
        {"id": f"o{i}", "text": OUTAGE[i % 3], "author": {"handle": f"u{i}"}} for i in range(20)
    ])  # fmt: skip
    await slack.app.poll_all()
    await slack.settle()
    posted = [c for c in slack.fake.calls_to("chat.postMessage") if c.status == 200]
    cards = [c for c in posted if "Spike for team" not in str(c.args.get("text"))]
    assert len(cards) == 1  # one card for twenty mentions (and the alert)
    assert cards[0].args["channel"] == SUPPORT
    blocks = cards[0].args["blocks"]
    assert blocks[0]["text"]["text"].startswith("I1 incident · support · ")
    assert "20 mentions from 20 people" in str(blocks)
    buttons = blocks[-1]["elements"]
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("allhands_claim", "I1"), ("allhands_reply", "I1"), ("allhands_resolve", "I1"),
    ]  # fmt: skip
    assert any("Spike for team support" in str(c.args.get("text")) for c in posted)

    ts = next(
        str(m["ts"]) for m in slack.fake.messages(SUPPORT) if "I1 incident" in str(m["blocks"])
    )
    status, _, _ = await slack.click(
        {"action_id": "allhands_claim", "type": "button", "value": "I1", "block_id": "b"},
        user=DANA, message_ts=ts,
    )  # fmt: skip
    assert status == 200
    await slack.settle()
    found = await slack.app.database.read(incidents.get, number=1)
    assert found is not None and found.claimed_by == DANA
    slack.clock.advance(timedelta(seconds=31))
    await slack.settle()
    updates = slack.fake.calls_to("chat.update")
    assert updates and updates[-1].args["ts"] == ts
    assert "On it: Dana Scully" in str(updates[-1].args["blocks"])
    # App Home shows the incident on top of the team's queue, with its buttons.
    assert slack.app.slack is not None
    await slack.app.slack.publish_home(DANA)
    home = slack.fake.calls_to("views.publish")[-1].args["view"]
    assert "I1 incident · support" in str(home["blocks"])
    assert '"value": "I1"' in json.dumps(home["blocks"])
    # A hostile value is ignored, not run.
    await slack.click(
        {"action_id": "allhands_resolve", "type": "button", "value": "I1; drop", "block_id": "b"},
        user=DANA, message_ts=ts,
    )  # fmt: skip
    await slack.settle()
    found = await slack.app.database.read(incidents.get, number=1)
    assert found is not None and found.state == "open"


async def test_reply_to_all_from_a_dialog_on_the_incident_card(slack: SlackHarness) -> None:
    write_posts(slack.replay, [
        {"id": f"o{i}", "text": OUTAGE[i % 3], "author": {"handle": f"u{i}"}} for i in range(12)
    ])  # fmt: skip
    await slack.app.poll_all()
    await slack.settle()
    ts = next(
        str(m["ts"]) for m in slack.fake.messages(SUPPORT) if "I1 incident" in str(m["blocks"])
    )
    status, _, _ = await slack.click(
        {"action_id": "allhands_reply", "type": "button", "value": "I1", "block_id": "b"},
        user=DANA, channel=SUPPORT, message_ts=ts,
    )  # fmt: skip
    assert status == 200
    await slack.settle()
    view = slack.fake.views[max(slack.fake.views)]
    assert view["callback_id"] == "allhands_reply_all"
    assert "Answer all of I1" in view["title"]["text"]
    status, body, _ = await slack.send(slack.submission_body(view, "   "))
    assert json.loads(body)["errors"] == {"allhands_reply_text_all": "Write the answer first."}
    status, body, _ = await slack.send(slack.submission_body(view, "Hi {author}, on it!"))
    assert status == 200 and body == ""
    for _ in range(50):
        await slack.settle()
        sent = slack.app.connectors["social"].sent  # type: ignore[attr-defined]
        if len(sent) == 12:
            break
    assert sorted(text for _, text in sent)[0] == "Hi u0, on it!"
    assert len({ext for ext, _ in sent}) == 12
    told = slack.fake.ephemeral[-1]
    assert told["user"] == DANA and "Answering 12 customers of I1" in told["text"]


async def test_two_sla_sweeps_in_a_row_post_one_roll_up_and_update_it(
    slack: SlackHarness,
) -> None:
    book = slack.app.playbooks
    team = book.teams["support"]
    sla = team.sla.model_copy(
        update={"claim_within": timedelta(minutes=10), "renudge_every": timedelta(minutes=10)}
    )
    slack.app.playbooks = replace(book, teams={**book.teams, "support": replace(team, sla=sla)})
    topics = ["bill", "router", "roaming", "voicemail", "esim", "shop"]
    write_posts(slack.replay, [
        {"id": f"c{i}", "text": f"question about my {t}?", "author": {"handle": f"c{i}"}}
        for i, t in enumerate(topics)
    ])  # fmt: skip
    await slack.app.poll_all()
    await slack.settle()
    title = "Waiting past Support's promise"
    for _ in range(2):
        slack.clock.advance(timedelta(minutes=11))
        assert (await slack.app.sla.sweep()).done
        await slack.settle()
    posted = [
        c
        for c in slack.fake.calls_to("chat.postMessage")
        if c.status == 200 and title in str(c.args.get("blocks"))
    ]
    assert len(posted) == 1 and posted[0].args["channel"] == SUPPORT
    assert "6 mentions wait unclaimed past the team's promise" in str(posted[0].args["blocks"])
    assert "<!" not in str(posted[0].args)  # a roll-up never pings
    ts = next(str(m["ts"]) for m in slack.fake.messages(SUPPORT) if title in str(m["blocks"]))
    updates = [c for c in slack.fake.calls_to("chat.update") if title in str(c.args["blocks"])]
    assert len(updates) == 1 and updates[0].args["ts"] == ts
    assert "as of 09:22 UTC" in str(updates[0].args["blocks"])
    assert not any(slack.fake.replies(SUPPORT, slack.card_ts(SUPPORT, n)) for n in range(1, 7))
