"""Storm mode: grouping (pure), incidents end to end on the console, spike alerts, budget."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

from benchmarks.storm_gen import calm_day, score, storm
from bot.domain.incidents import Grouper, Post
from bot.domain.spikes import SpikeSettings, SpikeWatch, spike_threshold
from bot.domain.topic_features import features
from bot.incident_cards import draw_summary
from bot.store import incidents, mentions, outbox
from bot.store import reply_all as reply_all_store
from tests.conftest import ConsoleHarness, write_posts

START = datetime(2026, 3, 3, 10, tzinfo=UTC)


def _group(posts: list) -> tuple[Grouper, list[int]]:
    grouper = Grouper()
    placed = [
        grouper.add(Post(i, p.text, p.at, p.author, p.url)).cluster for i, p in enumerate(posts)
    ]
    return grouper, placed


def test_a_storm_is_grouped_into_one_incident_and_nothing_else_is_swallowed() -> None:
    posts = storm(2_000, seed=3, start=START, span=timedelta(minutes=2))
    _, placed = _group(posts)
    precision, recall = score([p.outage for p in posts], placed)
    assert precision >= 0.95
    assert recall >= 0.90


def test_phrasings_that_share_one_word_each_still_come_together() -> None:
    posts = storm(2_000, seed=3, start=START, span=timedelta(minutes=2), family="payments")
    _, placed = _group(posts)
    precision, recall = score([p.outage for p in posts], placed)
    assert precision >= 0.95
    assert recall >= 0.80


def test_grouping_is_deterministic_and_says_why() -> None:
    posts = storm(600, seed=5, start=START, span=timedelta(minutes=1))
    first, placed = _group(posts)
    _, again = _group(posts)
    assert placed == again
    biggest = max(first.clusters.values(), key=lambda c: len(c.members))
    assert {"north", "outage", "signal"} & set(biggest.why())


def test_a_calm_day_groups_nothing_into_an_incident() -> None:
    grouper = Grouper()
    posts = calm_day(start=START)
    assert len(posts) == 24 * 60
    assert not any(
        grouper.add(Post(i, p.text, p.at, p.author)).incident for i, p in enumerate(posts)
    )


def test_the_same_link_groups_different_words_and_typos_do_not_break_it() -> None:
    grouper = Grouper()
    link = "https://status.example/incidents/42"
    a = grouper.add(Post(1, f"what is this {link}", START, "a"))
    b = grouper.add(Post(2, f"seen {link}?", START, "b"))
    c = grouper.add(Post(3, "lovely weather in Porto", START, "c"))
    assert a.cluster == b.cluster != c.cluster
    assert "link:status.example/incidents/42" in features(f"x {link}/?utm=1")


def test_the_account_a_post_is_addressed_to_is_not_what_it_is_about() -> None:
    assert set(features("@lumo @ann@social.example u/bob my invoice")) == {"invoice"}
    grouper = Grouper()
    things = ["kiwi red", "plum tan", "fig blue", "pear grey", "lime pink", "sloe jade"]
    posts = [f"@lumo invoice: {thing}" for thing in things]
    found = {grouper.add(Post(n, text, START, f"p{n}")).cluster for n, text in enumerate(posts)}
    assert len(found) == len(posts)  # the brand's handle and one shared word are no storm


def test_spikes_have_a_floor_a_baseline_and_a_cooldown() -> None:
    settings = SpikeSettings(
        window=timedelta(minutes=5), floor=10, sensitivity=3, cooldown=timedelta(hours=1)
    )
    # A quiet team: the floor. A busy one: three times its usual five minutes.
    assert spike_threshold(0, timedelta(0), settings) == 10
    assert spike_threshold(7 * 24 * 12 * 20, timedelta(days=7), settings) == 60
    watch = SpikeWatch(settings)
    fired = [watch.observe("t", START + timedelta(seconds=i), threshold=10) for i in range(30)]
    assert [i for i, f in enumerate(fired) if f] == [9]
    assert fired[9] is not None and fired[9].count == 10 and fired[9].onset == START
    later = START + timedelta(hours=2)
    again = [watch.observe("t", later + timedelta(seconds=i), threshold=10) for i in range(10)]
    assert again[-1] is not None
    slow = SpikeWatch(settings)  # one a minute never fills a window of five minutes to ten
    assert not any(
        slow.observe("t", START + timedelta(minutes=i), threshold=10) for i in range(600)
    )


OUTAGE = [
    "No signal in the north since 9am, is there an outage?",
    "north outage again?? no signal, calls dead",
    "Signal gone in the north area. Outage?",
    "still no signal up north, when is the outage fixed",
    "is there an outage in the north? zero signal",
]


def storm_posts(n: int) -> list[dict]:
    posts = [
        {"id": f"o{i}", "text": f"{OUTAGE[i % len(OUTAGE)]} #{i}", "author": {"handle": f"u{i}"}}
        for i in range(n)
    ]
    posts.append({"id": "x1", "text": "How do I change my password?", "author": {"handle": "pw"}})
    posts.append({
        "id": "big", "text": OUTAGE[0], "author": {"handle": "famous", "followers": 500_000},
    })  # fmt: skip
    return posts


async def test_a_storm_becomes_one_incident_card_with_an_alert(harness: ConsoleHarness) -> None:
    write_posts(harness.replay, storm_posts(30))
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()
    printed = harness.output()
    assert printed.count("I1 incident · support") == 1
    assert "Spike for team support" in printed
    assert "Incident I1: `show I1`" in printed
    # Only the unrelated post and the member with a large audience have their own card.
    assert printed.count("#support  #") == 2
    assert "How do I change my password?" in printed
    assert "famous" in printed
    members = await app.database.read(incidents.members, incident=1)
    assert len(members) == 31
    # Every mention is stored and reachable.
    assert (await app.database.read(mentions.count_by_state))["new"] == 30

    shown = await harness.say("show I1")
    assert "31 mentions from 31 people" in shown and "By source: social 31" in shown
    assert "I1 cannot be merged with itself." in await harness.say("merge I1 I1")
    assert "There is no incident I9." in await harness.say("show I9")
    assert "You are on I1" in await harness.say("claim I1")
    assert "already on I1" in await harness.say("claim I1", actor="bob")
    listed = await harness.say("list")
    assert "I1 [support]" in listed
    assert f"  #{members[0]} [new in I1]" in listed

    detached = await harness.say(f"detach {members[3]}")
    assert "has its own card" in detached
    assert f"#support  #{members[3]}" in harness.output()
    split = await harness.say(f"split I1 {members[4]} {members[5]}")
    assert "are now I2" in split
    assert "is not in I1" in await harness.say(f"split I1 {members[3]}")
    assert "now in I1" in await harness.say("merge I1 I2")
    resolved = await harness.say("resolve I1")
    assert "I1 is resolved, with 30 of its mentions." in resolved
    assert await app.database.read(mentions.get, number=members[0]) is not None
    states = await app.database.read(mentions.count_by_state)
    assert states.get("resolved") == 30
    assert states.get("new", 0) + states.get("open", 0) == 2  # the detached one and the stranger
    for _ in range(2):  # the two cards take turns in the channel
        app.clock.advance(timedelta(seconds=31))  # type: ignore[attr-defined]
        await app.outbox.drain()
    assert set(await app.database.read(outbox.counts)) == {"done"}
    assert "~ I1 resolved: Resolved" in harness.output()  # the incident's card, drawn again


async def test_the_incident_card_is_drawn_again_at_most_every_thirty_seconds(
    harness: ConsoleHarness,
) -> None:
    app = harness.app
    write_posts(harness.replay, storm_posts(12))
    await app.poll_all()
    await app.outbox.drain()
    assert harness.output().count("I1 incident") == 1
    posts = storm_posts(40)[12:40]
    for i in range(len(posts)):
        write_posts(harness.replay, [*storm_posts(12), *posts[: i + 1]])
        harness.app.clock.advance(timedelta(seconds=2))  # type: ignore[attr-defined]
        await app.poll_all()
        await app.outbox.drain()
    updates = harness.output().count("~ I1 open")
    assert updates == 1  # 28 new members over 56 seconds: one redraw, after 30 s
    app.clock.advance(timedelta(seconds=31))  # type: ignore[attr-defined]
    await app.outbox.drain()
    assert harness.output().count("~ I1 open") == 1  # the last redraw, when it was due
    assert set(await app.database.read(outbox.counts)) == {"done"}


def test_check_refuses_bad_spike_and_budget_settings(tmp_path) -> None:
    import pytest

    from bot.errors import ConfigError
    from bot.playbooks import load_playbooks

    book = tmp_path / "book.yaml"
    book.write_text(
        "teams:\n  ops:\n    channel: console:#ops\n"
        "    spike: {window: 2d, baseline: 1d}\n"
        "    chat_budget: {messages: 0}\n"
        "    incidents: {own_card_urgencies: [urgent]}\n"
        "default_team: ops\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_playbooks(book)
    said = "\n".join(str(p) for p in caught.value.problems)
    assert "book.yaml:4: teams.ops.spike" in said
    assert "window must be longer than 0 and shorter than baseline" in said
    assert "teams.ops.chat_budget.messages" in said
    assert "teams.ops.incidents.own_card_urgencies" in said
    book.write_text(
        "teams:\n  ops:\n    channel: console:#ops\n    spike: {sensitivity: 0.5}\n"
        "default_team: ops\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_playbooks(book)
    assert "book.yaml:4: teams.ops.spike.sensitivity" in str(caught.value.problems[0])
    book.write_text(
        "teams:\n  ops:\n    channel: console:#ops\n"
        "    spike: {floor: 5, cooldown: 30m}\n    chat_budget: {messages: 10, per: 5m}\n"
        "default_team: ops\n",
        encoding="utf-8",
    )
    team = load_playbooks(book).teams["ops"]
    assert team.spike is not None and team.spike.floor == 5
    assert team.spike.cooldown == timedelta(minutes=30)
    assert team.chat_budget.messages == 10


async def _until_answered(app, incident: int = 1, drain: bool = True) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        counts = await app.database.read(reply_all_store.reply_all_counts, incident=incident)
        if not counts["by"].get("planned"):
            break
        await asyncio.sleep(0.01)
    if drain:
        await app.outbox.drain()


async def test_reply_all_answers_each_customer_once_personalised(harness: ConsoleHarness) -> None:
    posts = storm_posts(12)
    posts.append({"id": "again", "text": OUTAGE[1] + " still!", "author": {"handle": "u3"}})
    write_posts(harness.replay, posts)
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()
    members = await app.database.read(incidents.members, incident=1)
    assert len(members) == 14  # 12 + the famous one + u3's second post
    held_by_bob = members[0]
    assert "is yours" in await harness.say(f"claim {held_by_bob}", actor="bob")

    assert "needs the text" in await harness.say("reply-all I1")
    assert "not a template" in await harness.say("reply-all I1 Hi {author")
    assert "no incident I5" in await harness.say("reply-all I5 hello")
    said = await harness.say("reply-all I1 Hi {author}, we know about the outage and are on it.")
    assert "Answering 13 customers of I1 (1 more mentions are from the same customers)" in said
    await _until_answered(app, drain=False)
    # Suppose the platform asked us to wait: the card says when its answers go on.
    later = (app.clock.now() + timedelta(minutes=10)).isoformat()
    await app.database.write(
        lambda db: db.execute(
            "UPDATE outbox SET next_at = ? WHERE kind = 'public_reply' AND state = 'pending'",
            [later],
        )
    )
    card = await app.database.read(draw_summary, key="incident:1", now=app.clock.now())
    assert "posted 0 of 13 · 12 still to go · social next at 09:10 UTC · 1 refused" in card.status
    await app.database.write(
        lambda db: db.execute("UPDATE outbox SET next_at = created_at WHERE state = 'pending'")
    )
    await app.outbox.drain()
    sent = app.connectors["social"].sent  # type: ignore[attr-defined]
    assert len(sent) == 12  # 13 customers, one refused: bob holds it
    assert len({ext for ext, _ in sent}) == 12
    assert ("o5", "Hi u5, we know about the outage and are on it.") in sent
    assert [text for ext, text in sent if ext in ("o3", "again")] == [
        "Hi u3, we know about the outage and are on it."
    ]
    shown = await harness.say("show I1")
    assert "posted 12 of 13" in shown and "1 refused" in shown and "bob" in shown
    # The day's digest tells of the incident.
    from bot.incident_commands import digest_section

    now = app.clock.now()
    section = await app.database.read(
        digest_section, team="support", start=now - timedelta(days=1), end=now + timedelta(days=1)
    )
    assert "Incidents (1):" in section
    assert "14 mentions (social 14); first answer after 0s; answered by alice 12" in section
    # Again: nobody is answered twice.
    again = await harness.say("reply-all I1 Hi again {author}")
    assert "answered or planned already" in again
    assert len(app.connectors["social"].sent) == 12  # type: ignore[attr-defined]


async def test_reply_all_resumes_after_a_restart(harness: ConsoleHarness, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.app import App
    from bot.chat.console import ConsoleAdapter
    from bot.playbooks import load_playbooks
    from bot.settings import Settings

    write_posts(harness.replay, storm_posts(10))
    app = harness.app
    await app.poll_all()
    await app.outbox.drain()
    # The plan is stored, then the bot stops before answering anyone.
    planned = await app.database.write(
        reply_all_store.plan_reply_all,
        incident=1,
        actor="alice",
        platform="console",
        text="Sorry {name}!",
        now=app.clock.now(),
    )
    assert planned == (11, 0)
    await app.stop()
    again = App(
        settings=Settings(db_path=app.settings.db_path),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=app.clock,
        playbooks=load_playbooks(tmp_path / "playbook.yaml"),
    )
    await again.start()
    try:
        await _until_answered(again)
        sent = again.connectors["social"].sent  # type: ignore[attr-defined]
        assert sorted(ext for ext, _ in sent) == sorted([f"o{i}" for i in range(10)] + ["big"])
        assert ("o0", "Sorry u0!") in sent
    finally:
        await again.stop()


async def test_an_incident_growing_fast_is_told_when_the_busy_team_is_not(
    harness: ConsoleHarness,
) -> None:
    app = harness.app
    history = [
        {"id": f"h{i}", "text": f"note{i} about widget{i} colour{i}", "author": {"handle": f"h{i}"}}
        for i in range(200)
    ]
    write_posts(harness.replay, history)
    for _ in range(4):
        await app.poll_all()
    await app.outbox.drain()
    app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    harness.output()
    write_posts(harness.replay, [*history, *storm_posts(30)[:30]])
    await app.poll_all()
    await app.outbox.drain()
    printed = harness.output()
    assert "Spike for team" not in printed  # 30 in 5 minutes is ordinary for this team
    assert "Spike for incident I1: 20 new mentions in the last 5 min" in printed
    assert "Incident I1: `show I1`" in printed


async def test_a_member_who_writes_again_gets_a_card_with_the_message(
    harness: ConsoleHarness,
) -> None:
    app = harness.app
    posts = storm_posts(12)
    write_posts(harness.replay, posts)
    await app.poll_all()
    await app.outbox.drain()
    members = await app.database.read(incidents.members, incident=1)
    found = [await app.database.read(mentions.get, number=m) for m in members]
    o5 = next(m.number for m in found if m is not None and m.external_id == "o5")
    assert "I1 is resolved" in await harness.say("resolve I1")
    harness.output()
    later = {"id": "r5", "text": "still broken!", "author": {"handle": "u5"}, "in_reply_to": "o5"}
    write_posts(harness.replay, [*posts, later])
    await app.poll_all()
    await app.outbox.drain()
    printed = harness.output()
    assert f"#support  #{o5} " in printed  # its own card, at last
    assert "@u5 wrote again: still broken!" in printed  # and the message in its thread
    again = await app.database.read(mentions.get, number=o5)
    assert again is not None and again.state.value == "reopened"


async def test_a_large_account_before_the_incident_keeps_its_card(harness: ConsoleHarness) -> None:
    posts = storm_posts(12)
    posts[0]["author"] = {"handle": "star", "followers": 250_000}
    write_posts(harness.replay, posts)
    await harness.app.poll_all()
    await harness.app.outbox.drain()
    printed = harness.output()
    assert printed.count("I1 incident · support") == 1
    assert "#support  #1 " in printed and "star" in printed  # its own card as well
    assert printed.count("#support  #") == 3  # star, the stranger and the other large account
