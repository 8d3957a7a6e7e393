"""The command grammar and what each command does; every refusal is one clear line."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.commands import Command, parse
from bot.domain.mentions import State
from bot.errors import CommandError
from bot.store import mentions, replies
from tests.conftest import ConsoleHarness


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("/allhands claim 3", Command("claim", number=3)),
        ("claim #3", Command("claim", number=3)),
        ("  CLAIM   3  ", Command("claim", number=3)),
        ("/allhands", Command("help")),
        ("help", Command("help")),
        ("list", Command("list", scope="open")),
        ("list mine", Command("list", scope="mine")),
        ("list TEAM", Command("list", scope="team")),
        ("reply 4 Thanks, we're on it!", Command("reply", number=4, text="Thanks, we're on it!")),
        ("ignore 5 spam bot", Command("ignore", number=5, text="spam bot")),
        ("snooze 6 1h30m", Command("snooze", number=6, duration=timedelta(minutes=90))),
        ("assign 7 @dana", Command("assign", number=7, text="dana")),
        ("show 8", Command("show", number=8)),
    ],
)
def test_good_commands(line: str, expected: Command) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("frobnicate 3", "Unknown command `frobnicate`. Type `help` for the list."),
        ("claim", "`claim` needs a mention number like 42 or #42, not nothing."),
        ("claim three", "`claim` needs a mention number like 42 or #42, not three."),
        ("claim -1", "`claim` needs a mention number like 42 or #42, not -1."),
        ("claim 99999999999", "`claim` needs a mention number like 42 or #42, not 99999999999."),
        ("claim 3 now", "`claim 3` takes nothing more; got `now`."),
        ("reply 3", "`reply 3` needs what to say, e.g. `reply 42 Thanks, we are on it`."),
        ("ignore 3", "`ignore 3` needs why, e.g. `ignore 42 spam`."),
        ("snooze 3", "`snooze 3` needs for how long, e.g. `snooze 42 2h`."),
        ("snooze 3 soon", "'soon' is not a duration; write it like 90s, 15m, 4h or 2d"),
        ("snooze 3 0m", "'0m' is not a duration; it must be longer than zero"),
        ("snooze 3 400d", "'400d' is longer than a year"),
        ("list everything", "`list everything`: choose one of open, mine, team, all."),
        ("reply 3 " + "x" * 20_000, "That command is 20,008 characters; the limit is 10,000."),
        ("<!channel> 3", "Unknown command `<!channel>`. Type `help` for the list."),
    ],
)
def test_bad_commands_get_one_line(line: str, message: str) -> None:
    with pytest.raises(CommandError) as caught:
        parse(line)
    assert str(caught.value) == message


@pytest.fixture
async def ready(harness: ConsoleHarness) -> ConsoleHarness:
    """The harness with its three posts in their channels."""
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    harness.output()
    return harness


async def state_of(h: ConsoleHarness, number: int) -> State:
    m = await h.app.database.read(mentions.get, number=number)
    assert m is not None
    return m.state


async def test_wrong_numbers_and_states_are_explained(ready: ConsoleHarness) -> None:
    h = ready
    assert await h.say("claim 99") == "There is no #99. `list` shows what is open."
    assert await h.say("claim 1", "bob") == "#1 is yours. Answer with `reply 1 <text>`."
    assert await h.say("claim 1", "bob") == "You already have #1."
    assert await h.say("claim 1") == "#1 is already claimed by bob."
    assert await h.say("reply 1 hi") == (
        "#1 is claimed by bob; ask them, or `assign 1 <you>` first."
    )
    assert await h.say("release 1") == "#1 is claimed by bob; only they can release it."
    assert await h.say("resolve 1") == (
        "#1 is claimed by bob, who may be answering it now; ask them first."
    )
    assert await h.say("resolve 2") == "#2 is resolved. Thank you!"
    assert await h.say("resolve 2") == "#2 is resolved and cannot be resolved now."
    assert (
        await h.say("release 3") == "#3 is open and is not claimed, so there is nothing to release."
    )
    assert await h.say("reopen 3") == (
        "#3 is open and is still open; only resolved or ignored mentions can be reopened."
    )
    assert await h.say("nonsense") == "Unknown command `nonsense`. Type `help` for the list."


async def test_claim_release_assign_snooze_ignore_reopen(ready: ConsoleHarness) -> None:
    h = ready
    await h.say("claim 1")
    assert await h.say("release 1") == "You released #1; it is back in the team's queue."
    assert await state_of(h, 1) == State.OPEN
    assert await h.say("assign 1 @dana") == "#1 is now dana's; they have been told."
    printed = h.output()
    assert "(only dana sees this) alice gave you #1" in printed
    assert "Claimed by dana" in printed
    assert await h.say("snooze 3 2h") == "#3 is snoozed for 2h."
    m = await h.app.database.read(mentions.get, number=3)
    assert m is not None and m.snoozed_until == h.app.clock.now() + timedelta(hours=2)
    assert await h.say("ignore 3 not for us") == "#3 is ignored (not for us)."
    assert await h.say("reopen 3") == "#3 is open again."
    assert await state_of(h, 3) == State.REOPENED
    history = await h.app.database.read(mentions.events, number=3)
    assert [(e.action.value, e.actor) for e in history][-3:] == [
        ("snooze", "alice"), ("ignore", "alice"), ("reopen", "alice"),
    ]  # fmt: skip
    assert history[-2].detail == {"reason": "not for us"}


async def test_lists(ready: ConsoleHarness) -> None:
    h = ready
    await h.say("claim 2")
    mine = await h.say("list mine")
    assert mine.startswith("Yours (1):") and "#2 [claimed alice]" in mine
    opened = await h.say("list")
    assert "#1 [open]" in opened and "#3 [open]" in opened and "#2" not in opened
    assert await h.say("list mine", "zed") == "Yours: nothing. Well done."
    assert await h.say("list team") == "This channel belongs to no team; try `list open`."
    from bot.workflow import Context

    team = await h.app.workflow.handle("list team", Context(actor="a", channel="#billing"))
    assert "#1" in team.text and "#2" not in team.text


async def test_reply_claims_and_posts_on_the_platform(ready: ConsoleHarness) -> None:
    h = ready
    answer = await h.say("reply 2 Settings, then Security.")
    assert answer == "Sending your reply to #2 on the demo network, in the customer's thread."
    assert h.app.connectors["social"].sent == [("a2", "Settings, then Security.")]  # type: ignore[attr-defined]
    assert await state_of(h, 2) == State.ANSWERED
    printed = h.output()
    assert (
        "alice's answer is posted in the customer's thread: https://social.example/@bob/a2#"
        in printed
    )
    history = await h.app.database.read(mentions.events, number=2)
    assert [e.action.value for e in history] == ["ingest", "announce", "claim", "answer"]


async def test_reply_too_long_is_refused_before_anything_is_stored(ready: ConsoleHarness) -> None:
    h = ready
    answer = await h.say("reply 2 " + "y" * 612)
    assert answer == (
        "Not sent: your reply to #2 breaks 1 rule (nothing was stored).\n"
        "- length: your reply is 612 characters; the demo network allows 500. Shorten it by 112."
    )
    assert await state_of(h, 2) == State.OPEN
    assert h.app.connectors["social"].sent == []  # type: ignore[attr-defined]


async def test_reply_on_a_source_that_cannot_reply(ready: ConsoleHarness) -> None:
    h = ready
    from bot.domain.mentions import Author, Item, Triage

    await h.app.database.write(
        mentions.ingest, source="blog",
        items=[(Item(external_id="e1", text="Outage post", author=Author("status"),
                     url="https://blog.example/outage"),
                Triage("complaint", -0.5, "high", "support", "test"))],
        cursor=None, now=h.app.clock.now(), channel_of={"support": "console:#support"},
    )  # fmt: skip
    answer = await h.say("reply 4 We are on it, sorry!")
    assert answer == (
        "Recorded your answer to #4 and marked it answered. blog cannot be answered from chat:"
        " post it by hand at https://blog.example/outage"
    )
    assert await state_of(h, 4) == State.ANSWERED
    stored = await h.app.database.read(replies.for_mention, mention=4)
    assert [(r.status, r.text) for r in stored] == [("manual", "We are on it, sorry!")]


async def test_a_later_message_number_points_to_its_conversation(ready: ConsoleHarness) -> None:
    h = ready
    with h.replay.open("a", encoding="utf-8") as f:
        f.write(
            '{"id": "a4", "text": "hello?", "in_reply_to": "a2", "author": {"handle": "bob"}}\n'
        )
    await h.app.poll_all()
    assert await h.say("claim 4") == ("#4 is a later message in the conversation of #2; use #2.")
    shown = await h.say("show 2")
    assert "↳ @bob: hello?" in shown


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("list all 2", Command("list", scope="all", number=2)),
        ("list 3", Command("list", scope="open", number=3)),
        ("list mine page 2", Command("list", scope="mine", number=2)),
        ("list open 1", Command("list", scope="open")),
    ],
)
def test_list_takes_a_page(line: str, expected: Command) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize("line", ["list open x", "list all 0", "list all -1", "list 2 3"])
def test_list_refuses_a_page_that_is_not_one(line: str) -> None:
    with pytest.raises(CommandError):
        parse(line)
