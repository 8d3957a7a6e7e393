"""Strangers' text on Slack: it pings no one, and links only where the text really links."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.chat.cards import build_card
from bot.chat.slack.blocks import ReplyForm, card_message, home_view, reply_modal, text_message
from bot.chat.slack.text import command_from_slack, fit, from_slack, mrkdwn
from bot.domain.mentions import Author, Mention, State
from bot.domain.normalise import clean_text
from bot.errors import CommandError
from bot.store import mentions
from tests.conftest import write_posts
from tests.fakes.slack_api import check_blocks, check_view
from tests.slack.conftest import BILLING, DANA, FELIX, SUPPORT, SlackHarness

NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
HOSTILE = [
    "<!channel> refund now",
    "<!here|here> everyone look",
    "<!everyone>",
    "<!subteam^S1> ping the team",
    "<!subteam^S0123|@support> again",
    "hey <@U123> and <@W999|boss>",
    "<#C123|general> is where",
    "log in at <https://evil.example|yourbank.com> today",
    "<mailto:x@evil.example|help@yourbank.com>",
    "<javascript:alert(1)|click me>",
    "@channel @here @everyone, plain",
    "&lt;!channel&gt; &lt;@U123&gt; &#60;!here&#62; &lt;https://evil.example|bank&gt;",
    "&amp;lt;!channel&amp;gt; double-encoded",
    "pay \u202e00.01\u202c now, zero\u200bwidth \u2066isolate\u2069 \ufeffbom",
    "*bold* _it_ `code` ```block``` &gt; quote",
    "real link https://lumo.example/help?a=1&b=2. end",
    "<https://good.example/path>",
    "x" * 50_000 + " <!channel> at the end",
]
_LINK = re.compile(r"<([^<>]*)>")


def mention(text: str, *, handle: str = "ann", name: str = "") -> Mention:
    return Mention(
        number=42, source="social", external_id="x1", url="https://social.example/@ann/x1",
        author=Author(handle=handle, name=name, audience=18250), text=text, state=State.NEW,
        team="billing", kind="complaint", urgency="high", sentiment=-0.6,
        created_at=NOW, received_at=NOW,
    )  # fmt: skip


def texts(node: Any) -> list[tuple[str, str]]:
    """Every (kind, text) in a Block Kit structure: kind is mrkdwn, plain_text or fallback."""
    found: list[tuple[str, str]] = []
    if isinstance(node, dict):
        if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
            found.append((node["type"], node["text"]))
        for value in node.values():
            found.extend(texts(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(texts(value))
    return found


def assert_inert(kind: str, text: str, original: str) -> None:
    """Nothing that Slack reads as a mention; links only to addresses in the original."""
    for special in ("<!", "<@", "<#", "<mailto", "<javascript"):
        assert special not in text, (kind, text[:200])
    for found in _LINK.finditer(text):
        target = found.group(1)
        assert kind == "mrkdwn", (kind, text[:200])
        assert "|" not in target, text[:200]  # no label: a link shows where it goes
        assert re.match(r"https?://", target), target
        assert html.unescape(target) in original, target
    assert not re.search(r"@(channel|here|everyone)\b", text), text[:200]
    for invisible in ("\u202e", "\u202c", "\u200b", "\u2066", "\u2069", "\ufeff"):
        assert invisible not in text


@pytest.mark.parametrize("raw", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text_makes_an_inert_card(raw: str) -> None:
    text = clean_text(raw)  # what normalising makes of it: entities decoded once
    card = build_card(mention(text, handle="<!here>", name="<@U1> \u202eevil"), now=NOW)
    message = card_message(card)
    assert check_blocks(message["blocks"], most=50) == []
    assert len(message["text"]) <= 3000
    for kind, shown in [("fallback", message["text"]), *texts(message["blocks"])]:
        assert_inert(kind, shown, f"{text} {card.url}")
    assert "yourbank.com>" not in json.dumps(message)  # never a link label


def test_text_links_only_where_it_really_links() -> None:
    shown = mrkdwn(
        "log in at <https://evil.example|yourbank.com> or https://lumo.example/a?b=1&c=2."
    )
    assert shown == (
        "log in at &lt;<https://evil.example>|yourbank.com&gt; or"
        " <https://lumo.example/a?b=1&amp;c=2>."
    )
    assert mrkdwn("(see https://lumo.example/x_(y))") == "(see <https://lumo.example/x_(y)>)"
    assert mrkdwn("http:// nothing") == "http:// nothing"


def test_revealed_invisible_characters_and_entities() -> None:
    card = build_card(
        mention(clean_text("pay \u202e00.01 &lt;!channel&gt; &amp;lt;b&amp;gt;")), now=NOW
    )
    section = card_message(card)["blocks"][2]["text"]
    assert section == {
        "type": "mrkdwn",
        "text": "pay &lt;U+202E&gt;00.01 &lt;!channel&gt; &amp;lt;b&amp;gt;",
        "verbatim": True,
    }


def test_fifty_kilobytes_fit_every_limit() -> None:
    huge = "&<>" * 17_000 + " https://lumo.example/" + "y" * 5000
    for limit in (75, 150, 3000):
        assert len(fit(huge, limit)) <= limit
        assert len(fit(huge, limit, links=False)) <= limit
    card = build_card(mention(huge), now=NOW)
    message = card_message(card)
    assert check_blocks(message["blocks"], most=50) == []
    assert message["blocks"][2]["text"]["text"].endswith("…")
    answer = text_message("\n".join([huge] * 30))
    assert check_blocks(answer["blocks"], most=50) == []
    form = ReplyForm(
        number=42, author=huge, source="social", mention_text=huge,
        templates=tuple(f"t{i}" for i in range(150)), text=huge, count_note=huge,
    )  # fmt: skip
    assert check_view(reply_modal(form)) == []
    home = home_view(mine=[card] * 40, mine_total=40, queues=[], notice=huge)
    assert check_view(home) == []


def test_every_text_of_a_dialog_and_home_is_inert() -> None:
    raw = "<!channel> <https://evil.example|bank> @here"
    card = build_card(mention(raw), now=NOW)
    form = ReplyForm(number=42, author="<!here>", source="<@U1>", mention_text=raw,
                     templates=("<!channel>",), text="", count_note="<@U2>")  # fmt: skip
    home = home_view(mine=[card], mine_total=1, queues=[], notice=raw)
    for view in (reply_modal(form), home):
        for kind, shown in texts(view["blocks"]):
            assert_inert(kind, shown, f"{raw} {card.url}")


def test_what_people_type_in_slack_is_read_back_as_plain_text() -> None:
    typed = (
        "reply 4 see <https://lumo.example/help> &amp; <http://lumo.example|lumo.example>"
        " <@U1|dana>"
    )
    assert from_slack(typed) == "reply 4 see https://lumo.example/help & lumo.example @dana"
    assert from_slack("<!here> <!subteam^S1|@ops> <#C1|general> &lt;3") == "@here @ops #general <3"
    assert command_from_slack("assign 4 <@U0FELIX001|felix>") == "assign 4 U0FELIX001"
    assert command_from_slack("assign 4") == "assign 4"
    with pytest.raises(CommandError):
        command_from_slack("assign 4 felix")
    with pytest.raises(CommandError):
        command_from_slack("assign 4 <@U1> and <@U2>")


async def test_hostile_posts_reach_slack_inert(slack: SlackHarness) -> None:
    posts = [
        {"id": f"h{i}", "text": text, "author": {"handle": "<!channel>", "name": "<@U0DANA0001>"}}
        for i, text in enumerate(HOSTILE)
    ]
    posts.append({
        "id": "html", "html": True, "author": {"handle": "h"},
        "text": "<p>&lt;!channel&gt; <a href='https://evil.example'>yourbank.com</a></p>",
    })  # fmt: skip
    write_posts(slack.replay, posts)
    await slack.app.poll_all()
    await slack.settle()
    sent = slack.fake.calls_to("chat.postMessage")
    assert len(sent) == len(posts) and all(c.status == 200 and c.error is None for c in sent)
    for call in sent:
        number = int(call.args["blocks"][0]["text"]["text"].split()[0].lstrip("#"))
        stored = await slack.app.database.read(mentions.get, number=number)
        assert stored is not None
        assert call.args["unfurl_links"] is False and call.args["unfurl_media"] is False
        for kind, shown in [("fallback", call.args["text"]), *texts(call.args["blocks"])]:
            assert_inert(kind, shown, f"{stored.text} {stored.url}")
    # The post's own address holds the hostile handle: shown as text, not as a link.
    assert "Original: https://social.example/@&lt;!channel&gt;/h0" in json.dumps(
        [c.args for c in sent]
    )
    assert len(slack.fake.messages(SUPPORT)) + len(slack.fake.messages(BILLING)) == len(posts)


def test_a_playbook_ping_is_the_only_mention_ever_written() -> None:
    message = text_message("<!channel> @here #1 waits: <@U1> &lt;!here&gt;", ping="here")
    assert message["text"].startswith("<!here> ")
    assert message["blocks"][0]["text"]["text"].startswith("<!here> ")
    for kind, shown in [("fallback", message["text"]), *texts(message["blocks"])]:
        rest = shown.removeprefix("<!here> ")
        assert_inert(kind, rest, "")
    assert check_blocks(message["blocks"], most=50) == []
    long = text_message("x" * 5000 + "\n" + "y" * 5000, ping="channel")
    assert check_blocks(long["blocks"], most=50) == []
    assert "<!" not in json.dumps(text_message("<!here>"))


async def test_a_post_quoting_an_employees_id_is_not_shown_with_their_name(
    slack: SlackHarness,
) -> None:
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("claim 1", user=DANA)  # Dana is known, by name, from now on
    await slack.settle()
    spoof = f"Agent {DANA} told me to pay by wire"
    with slack.replay.open("a", encoding="utf-8") as f:
        f.write(json.dumps({"id": "s1", "text": f"refund? {spoof}", "author": {"handle": "x"}}))
        f.write("\n")
    await slack.app.poll_all()
    await slack.settle()
    await slack.command("show 4", user=FELIX, channel=SUPPORT)
    await slack.settle()
    shown = slack.fake.responses[-1][1]["text"]
    assert spoof in shown and "Dana Scully" not in shown  # the customer's words as written
    await slack.command("show 1", user=FELIX, channel=SUPPORT)
    await slack.settle()
    assert "Dana Scully claim" in slack.fake.responses[-1][1]["text"]  # the bot names people
