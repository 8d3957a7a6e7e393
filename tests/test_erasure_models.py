"""Erasure reaches the kept complaint models: a person's posts moved to a team, which
`triage learn` keeps as the team's examples, leave every kept model's body when they are
forgotten or expire, and every replica switches to the cleaned model."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.app import App
from bot.chat.console import ConsoleAdapter
from bot.cli import main
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.playbooks import load_playbooks
from bot.settings import Settings
from bot.store import complaint_models, corrections, erasure, mentions
from bot.store.db import Database
from bot.triage_model import decode, encode, load_model
from tests.conftest import move_to, move_to_billing
from tests.stores import rows
from tests.test_triage_store import install, labelled, learn

TRIAGE = Triage(kind="complaint", sentiment=-0.5, urgency="low", team="support", rule="test")
LONG = "the kettle-of-doom ZX-4471 leaks " * 30  # past the 500 characters learn keeps
# (handle, title, text, team it is moved to or None)
POSTS = [
    ("zelda_q", "", '@shop my "kettle-of-doom" leaks again 🔥 <!channel>', "billing"),
    ("zelda_q", "Broken kettle", LONG, "shipping"),
    ("bob", "", "@shop did @zelda_q get her refund? mine is late", "billing"),
    ("carol", "", "@shop where is my parcel, it is a week late", "shipping"),
    ("dave", "", "@shop thanks for the quick answer", None),
]
BOOK = "teams:\n  support: {channel: 'console:#support'}\n  billing: {channel: 'console:#b'}\n"


async def fill(target: str, clock: FakeClock) -> None:
    """Ingest POSTS on source `s` and move each to its team, as people do in chat."""
    db = await Database(target).open()
    try:
        items = [
            (Item(f"p{i}", text, Author(handle, name=handle.title()), title=title), TRIAGE)
            for i, (handle, title, text, _) in enumerate(POSTS)
        ]
        await db.write(
            mentions.ingest, source="s", items=items, cursor=None, now=clock.now(), channel_of={}
        )
        for number, (_, _, _, team) in enumerate(POSTS, start=1):
            if team:
                await move_to(db, number, team, clock=clock)
    finally:
        await db.close()


def kept(target: str, after: int = 0) -> list[tuple[int, str, dict[str, tuple[str, ...]], bytes]]:
    """Every kept model past id `after`: id, what it says it was trained on, teams'
    examples, the body unzipped."""
    found = rows(target, "SELECT id, body FROM complaint_models WHERE id > ? ORDER BY id", [after])
    models = [(id_, decode(bytes(body), f"#{id_}"), gzip.decompress(body)) for id_, body in found]
    return [(i, m.trained_on, dict(m.team_examples), body) for i, m, body in models]


async def forget(target: str, author: str) -> str:
    """`allhands forget` as an operator types it (off this test's event loop)."""
    result = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["forget", "--db", target, "--source", "s", "--author", author, "--yes"],
    )
    assert result.exit_code == 0, result.output
    return result.output


async def test_forget_takes_the_persons_posts_out_of_every_kept_model(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    await fill(store_url, clock)
    shipped = load_model()
    # An old model without examples, one made by hand before, then the one learn makes.
    assert await install(store_url, replace(shipped, trained_on="no examples"), clock) == 1
    older = {
        "billing": (POSTS[0][2], "@shop an older billing example"),
        "support": ("@shop a support example",),
    }
    by_hand = replace(shipped, trained_on="by hand", team_examples=older)
    assert await install(store_url, by_hand, clock) == 2
    data = tmp_path / "labelled.csv"
    labelled(data, random.Random(3), 120)
    learned = await learn("--data", str(data), "--db", store_url)
    assert learned.exit_code == 0, learned.output
    assert "installed in the store as complaint model #3;" in learned.stdout
    zelda = (POSTS[0][2], f"Broken kettle\n{LONG}"[:500])
    before = kept(store_url)
    assert before[2][2] == {
        "billing": (POSTS[2][2], zelda[0]),
        "shipping": (POSTS[3][2], zelda[1]),
    }  # the test can fail: learn took zelda's moved posts as examples

    replica = App(
        settings=Settings(db_path=store_url),
        adapters={"console": ConsoleAdapter(io.StringIO())},
        clock=clock,
        playbooks=load_playbooks(_book(tmp_path)),
    )
    await replica.start()
    try:
        assert replica.models.in_use.row is not None and replica.models.in_use.row.id == 3
        out = await forget(store_url, "@zelda_q")
        assert "2 mention(s) blanked" in out
        assert "2 kept complaint model(s) cleaned of their posts" in out
        # The replica's check (every minute) finds the cleaned model and uses it.
        assert await replica.use_newest_model() is True
        in_use = replica.models.in_use
        assert in_use.row is not None and in_use.row.id == 5
        assert replica.model.team_examples == {
            "billing": ("@shop did @[erased] get her refund? mine is late",),
            "shipping": (POSTS[3][2],),
        }
    finally:
        await replica.stop()

    after = kept(store_url)
    # Untouched rows keep their ids; the cleaned ones come again, in order, as the newest.
    assert [(m[0], m[1]) for m in after] == [
        (1, "no examples"),
        (4, "by hand"),
        (5, before[2][1]),
    ]
    assert after[0][3] == before[0][3]
    assert after[1][2] == {
        "billing": ("@shop an older billing example",),
        "support": ("@shop a support example",),
    }
    for _, _, examples, body in after:
        # (single words may be among a model's features, learned from many posts)
        for words in ("zelda_q", "ZX-4471 leaks", "Broken kettle", *zelda):
            assert json.dumps(words)[1:-1].lower().encode() not in body.lower(), words
        assert not set(zelda) & {t for texts in examples.values() for t in texts}
    # Only the examples changed: everything else in the model is as learn wrote it.
    assert (
        decode(gzip.compress(after[2][3]), "x").weights
        == decode(gzip.compress(before[2][3]), "x").weights
    )
    # Learning again does not take the blanked posts as examples.
    assert [c.mention for c in await _latest_moves(store_url)] == [3, 4]

    # Someone with no posts among the examples: the models are left as they are.
    out = await forget(store_url, "dave")
    assert "0 kept complaint model(s) cleaned" in out
    assert kept(store_url) == after


async def test_retention_takes_expired_moved_posts_out_of_the_models(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    await fill(store_url, clock)
    clock.advance(timedelta(days=3))
    db = await Database(store_url).open()
    try:
        late = Item("late", "@shop my invoice is wrong", Author("erin"))
        await db.write(
            mentions.ingest,
            source="s",
            items=[(late, TRIAGE)],
            cursor=None,
            now=clock.now(),
            channel_of={},
        )
        await move_to_billing(db, 6, clock=clock)
    finally:
        await db.close()
    examples = {"billing": (POSTS[0][2], POSTS[2][2], late.text), "shipping": (POSTS[3][2],)}
    model = replace(load_model(), team_examples=examples)
    assert await install(store_url, b"\x1f\x8b not a model", clock) == 1  # left as it is
    assert await install(store_url, model, clock) == 2

    db = await Database(store_url).open()
    try:
        fitting = await db.read(complaint_models.erasures_seen)  # as learn reads it
        # Nothing is old enough: nothing changes.
        nothing = await db.write(
            erasure.expire, before=clock.now() - timedelta(days=5), now=clock.now()
        )
        assert (nothing.mentions, nothing.models) == (0, 0)
        done = await db.write(
            erasure.expire, before=clock.now() - timedelta(days=2), now=clock.now()
        )
        assert (done.mentions, done.models) == (5, 1)
        again = await db.write(
            erasure.expire, before=clock.now() - timedelta(days=2), now=clock.now()
        )
        assert (again.mentions, again.models) == (0, 0)
        assert rows(store_url, "SELECT id, body FROM complaint_models WHERE id = 1") == [
            (1, b"\x1f\x8b not a model")
        ]
        [(id_, _, cleaned, body)] = kept(store_url, after=1)
        assert id_ == 3  # a newer id: every replica reads it within a minute
        assert cleaned == {"billing": (late.text,)}  # shipping had only an expired post
        # A model fitted on posts read before the erasure is not installed over it.
        fitted = {"body": encode(model), "trained_on": "t", "figures": {}, "now": clock.now()}
        assert await db.write(complaint_models.install, over=3, erasures=fitting, **fitted) is None
        now_seen = await db.read(complaint_models.erasures_seen)
        assert await db.write(complaint_models.install, over=3, erasures=now_seen, **fitted) == 4
    finally:
        await db.close()
    for text in (POSTS[0][2], POSTS[2][2], POSTS[3][2]):
        assert text.encode() not in body, text


async def _latest_moves(target: str) -> list[corrections.Correction]:
    db = await Database(target).open()
    try:
        return await db.read(corrections.latest, field="team")
    finally:
        await db.close()


def _book(tmp_path: Path) -> Path:
    book = tmp_path / "book.yaml"
    book.write_text(BOOK, encoding="utf-8")
    return book
