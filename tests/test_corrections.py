"""`move` and `kind` on the console: the card moves, the old one says where, corrections kept."""

from __future__ import annotations

from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.store import corrections, mentions
from bot.store.db import Database
from tests.conftest import ConsoleHarness, move_to_billing


async def test_move_sends_the_card_to_the_team_and_the_old_card_says_where(
    harness: ConsoleHarness,
) -> None:
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()
    assert "#support  #2 question" in harness.output()
    answer = await harness.say("/allhands move 2 billing", actor="carol")
    assert answer == "#2 moved to billing (#billing); the old card says so."
    printed = harness.output()
    assert "~ #2" in printed and "Moved to billing (#billing) by carol" in printed
    assert "#billing  #2 question" in printed
    moved = await app.database.read(mentions.get, number=2)
    assert moved is not None and moved.team == "billing"
    found = await app.database.read(corrections.latest, field="team")
    assert [(c.mention, c.old, c.new) for c in found] == [(2, "support", "billing")]
    history = await app.database.read(mentions.events, number=2)
    assert history[-1].action.value == "move" and history[-1].detail == {
        "from": "support",
        "to": "billing",
    }
    # Later updates go to the new card only.
    await harness.say("/allhands claim 2", actor="carol")
    assert "Moved to" not in harness.output()


async def test_kind_corrects_the_card_and_is_kept(harness: ConsoleHarness) -> None:
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()
    harness.output()
    assert await harness.say("kind 2 complaint", actor="dan") == (
        "#2 is now a complaint (was question); triage will learn from it."
    )
    assert "~ #2 open" in harness.output()  # the card is drawn again
    relabelled = await app.database.read(mentions.get, number=2)
    assert relabelled is not None and relabelled.kind == "complaint"
    assert "#2 · open · complaint " in await harness.say("show 2")
    assert await harness.say("kind 2 complaint") == "#2 is already a complaint."
    found = await app.database.read(corrections.latest, field="kind")
    assert [(c.mention, c.old, c.new) for c in found] == [(2, "question", "complaint")]


async def test_bad_moves_and_kinds_are_refused_with_a_reason(harness: ConsoleHarness) -> None:
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    assert await harness.say("move 2 nowhere") == "No team `nowhere`; teams: billing, support."
    assert await harness.say("move 2") == "`move 2` needs the team, e.g. `move 42 billing`."
    assert await harness.say("kind 2 angry") == (
        "`kind 2` takes one of complaint, question, praise, other; not `angry`."
    )
    assert await harness.say("move 99 billing") == "There is no #99. `list` shows what is open."
    assert await harness.say("move 2 support") == "#2 is already with support."
    assert await harness.app.database.read(corrections.latest, field="team") == []


async def test_a_card_not_posted_yet_goes_to_the_new_team_instead(
    database: Database, clock: FakeClock
) -> None:
    triage = Triage(kind="question", sentiment=0.0, urgency="normal", team="support", rule="t")
    await database.write(
        mentions.ingest,
        source="s",
        items=[(Item("1", "where is my bill", Author("ann")), triage)],
        cursor=None,
        now=clock.now(),
        channel_of={"support": "console:#support"},
    )
    await move_to_billing(database, 1, clock=clock)
    due = await database.read(
        lambda db: db.execute("SELECT kind, target FROM outbox ORDER BY id").fetchall()
    )
    assert due == [("card_post", "console:#billing")]
