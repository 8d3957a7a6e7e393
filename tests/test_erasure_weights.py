"""Erasure reaches the learned complaint models' weights: a word `triage learn` learned only
from a person's corrected posts (or from their name written in others' posts) leaves every
kept model when they are forgotten or their posts expire; what the public data also
taught stays as it was, and a model no erased post taught anything is not rewritten."""

from __future__ import annotations

import gzip
import logging
import random
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from bot.clock import FakeClock
from bot.domain.complaint_model import (
    ComplaintModel,
    forgotten,
    text_feature_names,
    without_features,
)
from bot.domain.mentions import Author, Item, Triage
from bot.store import complaint_models, corrections, erasure, mentions
from bot.store.db import Database
from bot.triage_model import decode, load_model
from tests.stores import rows
from tests.test_erasure_models import forget
from tests.test_triage_store import install, labelled, learn

WORD = "glorbnax"  # made up: in no public post
NAME = "Quorvath"  # the erased person's surname, also written in someone else's posts
OTHER = "Snorkwidget"  # made up too, in someone else's corrected posts
TRIAGE = Triage(kind="other", sentiment=0.0, urgency="low", team="support", rule="test")
# handle, name, text, corrected kind (None: nobody corrected it)
POSTS = [
    ("zed", f"Zed {NAME}", f"@shop my {WORD} blender broke again", "complaint"),
    ("zed", f"Zed {NAME}", f"@shop my {WORD} lid cracked, still no refund", "complaint"),
    ("amy", "Amy", f"@shop did Zed {NAME} get a refund? my order never arrived", "complaint"),
    ("amy", "Amy", f"@shop did Zed {NAME} say when the shop opens", "question"),
    ("cy", "Cy", "@shop love the new store", "praise"),  # the fifth: learn holds it out
    ("bo", "Bo", f"@shop my {OTHER} is charged twice", "complaint"),
    ("bo", "Bo", f"@shop where do I return my {OTHER}", "question"),
    ("dave", "Dave", "@shop thanks for the quick answer", None),
]
COMMON = "@shop my order never arrived, still no refund"


async def fill(
    target: str, clock: FakeClock, posts: list[tuple[str, str, str, str | None]]
) -> None:
    """Ingest `posts` on source `s`, then correct the kinds as people do in chat."""
    db = await Database(target).open()
    try:
        top = await db.read(lambda c: c.execute("SELECT coalesce(max(number), 0) FROM mentions"))
        first = int(top.fetchone()[0]) + 1
        items = [
            (Item(f"p{first + i}", text, Author(handle, name=name)), TRIAGE)
            for i, (handle, name, text, _) in enumerate(posts)
        ]
        await db.write(
            mentions.ingest, source="s", items=items, cursor=None, now=clock.now(), channel_of={}
        )
        for number, (_, _, _, kind) in enumerate(posts, start=first):
            mention = await db.read(mentions.get, number=number)
            assert mention is not None
            if kind:
                await db.write(
                    corrections.relabel, mention=mention, kind=kind, actor="dana", now=clock.now()
                )
    finally:
        await db.close()


def bodies(target: str) -> list[tuple[int, bytes]]:
    """Every kept model's id and body, oldest first."""
    return [(i, bytes(b)) for i, b in rows(target, "SELECT id, body FROM complaint_models")]


def model(body: bytes) -> ComplaintModel:
    return decode(body, "a kept model")


def score(found: ComplaintModel, text: str) -> float:
    return found.score(text, compound=-0.4, neg=0.3, pos=0.0)


async def test_forget_drops_what_the_weights_learned_only_from_the_person(
    store_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    await fill(store_url, clock, POSTS)
    data = tmp_path / "labelled.csv"
    labelled(data, random.Random(3), 120)
    learned = await learn("--data", str(data), "--db", store_url)
    assert learned.exit_code == 0, learned.output
    assert "installed in the store as complaint model #1;" in learned.stdout
    [(_, body)] = bodies(store_url)
    before = model(body)
    public = load_model().weights.keys()
    name, other = NAME.lower(), OTHER.lower()
    # The test can fail: learn took the made-up words from the corrected posts.
    for feature in (f"w {WORD}", f"b my {WORD}", f"w {name}", "b did zed", f"w {other}"):
        assert feature in before.weights and feature not in public, feature

    out = await forget(store_url, "zed")
    assert "2 mention(s) blanked" in out
    assert "1 kept complaint model(s) cleaned of their posts" in out
    [(id_, cleaned)] = bodies(store_url)
    assert id_ == 2  # a newer id: every replica reads it within a minute
    after = model(cleaned)
    unzipped = gzip.decompress(cleaned).lower()
    assert WORD.encode() not in unzipped and name.encode() not in unzipped
    gone = before.weights.keys() - after.weights.keys()
    assert gone >= {f"w {WORD}", f"b my {WORD}", f"c{WORD[:5]}", f"w {name}", "b did zed"}
    # Nothing else: only features of their posts, their names, and pairs holding a name.
    theirs = set().union(*(text_feature_names(t) for t in ("zed", *POSTS[0][1:3], POSTS[1][2])))
    paired = {f for f in gone if f.startswith("b ") and {"zed", name} & set(f.split())}
    assert gone <= theirs | paired, gone - theirs - paired
    assert not gone & public
    # What others taught, and every weight kept, is as learn wrote it.
    assert after.weights == {k: v for k, v in before.weights.items() if k not in gone}
    assert {f"w {other}", "w refund", "w never"} <= after.weights.keys()
    assert (after.bias, after.scale, after.shift) == (before.bias, before.scale, before.shift)
    assert score(after, COMMON) == score(before, COMMON)
    assert score(after, f"my {WORD} broke") != score(before, f"my {WORD} broke")

    # Someone none of whose posts was corrected: the model is left byte for byte.
    out = await forget(store_url, "dave")
    assert "0 kept complaint model(s) cleaned" in out
    assert bodies(store_url) == [(2, cleaned)]


async def test_retention_drops_what_the_weights_learned_from_expired_posts(
    store_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    old = [
        ("zed", "Zed", f"@shop my {WORD} broke", "complaint"),
        ("amy", "Amy", f"@shop my {OTHER} is late", None),  # not corrected: not learned from
    ]
    await fill(store_url, clock, old)
    clock.advance(timedelta(days=3))
    await fill(store_url, clock, [("bo", "Bo", f"@shop the {WORD} {OTHER} is late", "complaint")])
    public = ComplaintModel(weights={"w my": 0.1, "b my order": 0.2, "c brok": 0.3}, bias=0.0)
    taught = {f"w {WORD}": 0.9, f"b my {WORD}": 0.4, f"c{WORD[:5]}": 0.3, f"w {OTHER.lower()}": 0.5}
    learned = replace(public, weights={**public.weights, **taught})
    assert await install(store_url, b"\x1f\x8b not a model", clock) == 1  # left as it is
    assert await install(store_url, learned, clock) == 2
    assert await install(store_url, public, clock) == 3  # nothing to drop in it
    caplog.set_level(logging.INFO, logger="bot.store.complaint_models")

    db = await Database(store_url).open()
    try:
        done = await db.write(
            erasure.expire, before=clock.now() - timedelta(days=2), now=clock.now()
        )
        assert (done.mentions, done.models) == (2, 1)
        again = await db.write(
            erasure.expire, before=clock.now() - timedelta(days=2), now=clock.now()
        )
        assert (again.mentions, again.models) == (0, 0)
    finally:
        await db.close()
    kept = bodies(store_url)
    assert [i for i, _ in kept] == [1, 4, 5]
    assert kept[0][1] == b"\x1f\x8b not a model"
    after = model(kept[1][1])
    # The newer post still holds the word: a refit would keep it only with two such posts,
    # and the erasure does what a refit without the expired post would most nearly do.
    assert after.weights == {**public.weights, f"w {OTHER.lower()}": 0.5}
    assert model(kept[2][1]).weights == public.weights
    logged = [r.getMessage() for r in caplog.records if "text feature" in r.getMessage()]
    assert logged == ["erasure: 3 learned text feature(s) dropped from 1 kept complaint model(s)"]
    assert WORD not in caplog.text


async def test_an_erasure_of_posts_nobody_corrected_leaves_the_models_as_they_are(
    store_url: str, clock: FakeClock
) -> None:
    await fill(store_url, clock, [("eve", "Eve", f"@shop my {WORD} broke", None)])
    learned = ComplaintModel(weights={"w my": 0.1, f"w {WORD}": 0.9}, bias=0.0)
    assert await install(store_url, learned, clock) == 1
    before = bodies(store_url)
    db = await Database(store_url).open()
    try:
        done = await db.write(erasure.expire, before=clock.now() + timedelta(1), now=clock.now())
    finally:
        await db.close()
    assert (done.mentions, done.models) == (1, 0)
    assert bodies(store_url) == before


def test_what_an_erasure_forgets_is_exact() -> None:
    public = frozenset({"w my", "w the", "b my order", "c ord", "w order"})
    names = ["the_quorvath", "Z", "@zorvex@mastodon.social", "yindle.bsky.social"]
    found = forgotten(["my order", f"the {WORD}"], names=names, public=public)
    assert f"w {WORD}" in found.features and f"b the {WORD}" in found.features
    assert "w quorvath" in found.features and f"c{WORD[:6]}" in found.features
    assert {"w zorvex", "w yindle"} <= found.features
    # Public features, one letter (a weight too small to ship) and a handle's server are
    # no one's.
    assert not found.features & public
    assert not {"w z", "cz", "c z", "cx ", "c x "} & found.features
    assert not {f for f in found.features if "mastodon" in f or "bsky" in f}
    assert found.name_words == {"quorvath", "zorvex", "yindle"}  # "the" is public
    assert found.drops("b did quorvath") and found.drops("b quorvath said")
    assert not found.drops("b did the") and not found.drops("w did")

    data = replace(load_model(), weights={"w order": 1.0, f"w {WORD}": 2.0, "b i quorvath": 3.0})
    cleaned, count = without_features(data.to_dict(), found)
    assert count == 2
    assert ComplaintModel.from_dict(cleaned).weights == {"w order": 1.0}
    assert {k: v for k, v in cleaned.items() if k not in ("features", "weights")} == {
        k: v for k, v in data.to_dict().items() if k not in ("features", "weights")
    }
    assert without_features(cleaned, found) == (cleaned, 0)
    assert without_features({"features": [["x"]], "weights": [1]}, found)[1] == 0
    assert without_features({"features": "w x"}, found)[1] == 0


def test_the_shipped_models_features_are_the_public_ones() -> None:
    assert complaint_models.public_features() == frozenset(load_model().weights)
