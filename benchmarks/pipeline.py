"""How many mentions a second the pipeline takes: VADER alone, normalise + triage, store.

Run from the repository root:

    .venv/bin/python benchmarks/pipeline.py [--count 10000] [--batch 100] [--seed 7]
        [--postgres postgresql://user@host:port/postgres] [--meaning-only] [--repeat N]

Posts are synthetic (templates filled with random words, handles, audiences and lengths;
some HTML, entities, emoji, replies and long posts), the same for every run of a seed.
The store is a real SQLite file in a temporary directory, written through the writer
thread as the bot writes; with --postgres, two scratch databases made on that PostgreSQL
server (and dropped afterwards) instead. The example playbooks route about one post in six
by meaning (the rest by routes and keywords); with --meaning-only, every post. With
--repeat N, normalise + triage is timed N times over the same posts and the fastest pass
is printed beside the first: on a shared machine one pass of a few seconds can lose a
fifth of its speed to a neighbour, and the fastest pass is the least disturbed (later passes
find the words' letter and meaning shares remembered, as a running bot does). A benchmark,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.app import build_triager
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.domain.normalise import normalise
from bot.domain.triage import SENTIMENT_SCANNED
from bot.domain.triager import Triager
from bot.ingest import prepare, store_batch
from bot.playbooks import Playbooks, load_playbooks
from bot.store import mentions
from bot.store.db import Database
from connectors.base import Batch


def _listed(text: str) -> list[str]:
    return [w.strip() for w in text.split(",") if w.strip()]


# Routed by the example playbooks: their routes in order, team keywords, the default team.
PLAYBOOKS = load_playbooks(Path(__file__).resolve().parent.parent / "playbooks")
CHANNEL_OF = PLAYBOOKS.channel_of()
SOURCE = "synthetic"
START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LONG = 2000  # characters from which a post counts as long in the report

TEMPLATES = [
    "{at} my {thing} has been {broken} since {time}. {filler}",
    "Why is my {thing} still not {working}? {days} days now {at}",
    "Charged twice for my {month} bill by {at}. I want a refund. {filler}",
    "{at} how do I {action} my {thing}? {filler}",
    "Does {at} have a way to {action} all my {thing}s at once? Can't find it in the app.",
    "Love the new {thing} from {at}, {praise}! {emoji}",
    "Thanks {at}, the engineer who fixed our {thing} was {praise}. {emoji}",
    "Is there a {at} outage in {place}? Whole street has no signal.",
    "{filler} {filler} {at}",
    "Worst customer service ever. Waited {days} minutes on hold with {at} and got cut off.",
    "Moving to {place} next month. Can I take my {at} contract with me?",
    "{at} {thing} keeps dropping every evening around {time}. {filler}",
    "Just switched to {at}. {filler} {emoji}",
]
WORDS = {
    "thing": _listed(
        "router, internet, invoice, app, phone, line, wifi, fibre, order, account, sim card, "
        "contract, bill, signal, tv box, payment"
    ),
    "broken": ["down", "broken", "slow", "dead", "flaky", "offline", "useless"],
    "working": ["working", "here", "fixed", "sorted", "connected", "delivered"],
    "time": ["7am", "yesterday", "Monday", "last week", "8pm", "this morning", "noon"],
    "month": ["January", "March", "October", "December"],
    "action": ["export", "cancel", "pause", "transfer", "upgrade", "download", "change"],
    "praise": ["brilliant", "friendly and quick", "great", "so helpful", "spot on"],
    "place": ["Leeds", "the north", "Porto", "the city centre", "Main Street", "Zürich"],
    "emoji": ["🙂", "🎉", "😡", "👍", "🙄", "❤️", "📶", ""],
}
FILLER = _listed(
    "the, a, to, and, of, in, it, is, for, on, with, as, at, this, be, was, have, not, you, are, "
    "but, or, my, we, so, today, still, again, really, just, please, very, thanks, issue, help, "
    "time, week, call, engineer, speed, price, network, customer, service, support, team, "
    "update, message, screen, evening"
)
ENTITIES = ["&amp;", "&lt;3", "&#x1F600;", "&quot;ok&quot;", "&nbsp;", "&#8217;"]


def _filler(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(FILLER) for _ in range(words)).capitalize() + "."


def _post(rng: random.Random, handle: str) -> tuple[str, bool]:
    """One post's text and whether it is HTML."""
    fill = {k: rng.choice(v) for k, v in WORDS.items()}
    text = rng.choice(TEMPLATES).format(
        at=handle,
        days=rng.randint(2, 90),
        filler=_filler(rng, rng.randint(0, 25)),
        **fill,
    )
    if rng.random() < 0.03:  # a long post: a blog article or a forum thread, 2-20 KB
        paragraphs = [_filler(rng, rng.randint(40, 200)) for _ in range(rng.randint(5, 20))]
        text = text + "\n\n" + "\n\n".join(paragraphs)
    if rng.random() < 0.15:
        text = text.replace(" ", f" {rng.choice(ENTITIES)} ", 1)
    if rng.random() < 0.2:
        body = "".join(f"<p>{p}</p>" for p in text.split("\n\n"))
        return f'<div><b>{handle}</b> {body}<a href="https://x.example/1">link</a></div>', True
    return text, False


def synthetic_items(count: int, *, seed: int) -> list[Item]:
    """`count` varied posts; about one in ten replies to an earlier one."""
    rng = random.Random(seed)
    handles = [f"user{n}_{rng.choice(FILLER)}" for n in range(count // 3 + 1)]
    items = []
    for n in range(count):
        text, is_html = _post(rng, rng.choice(["@lumo", "@LumoHelp", "Lumo", "@lumo_uk"]))
        parent = f"p{rng.randrange(n)}" if n and rng.random() < 0.1 else None
        audience = None if rng.random() < 0.1 else int(rng.lognormvariate(5, 2))
        items.append(
            Item(
                external_id=f"p{n}",
                text=text,
                is_html=is_html,
                title="" if rng.random() < 0.9 else _filler(rng, 6),
                author=Author(rng.choice(handles), name="", audience=audience),
                url=f"https://social.example/p{n}",
                created_at=START + timedelta(seconds=n),
                language=rng.choice(["en", "en", "en", "pt", None]),
                parent_id=parent,
                conversation_id=parent,
            )
        )
    return items


def batches(items: list[Item], size: int) -> list[list[Item]]:
    """The items in consecutive batches of `size`."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def timed(fn: Callable[[], object]) -> float:
    """Seconds `fn()` takes."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Figures:
    """Seconds taken by each stage for the same mentions."""

    count: int
    long_posts: int
    vader: float
    vader_long: float
    prepare: float
    store: float
    end_to_end: float
    prepare_best: float = 0.0  # the fastest of the repeated passes (0: not repeated)
    passes: int = 1


async def store_prepared(prepared: list[list[tuple[Item, Triage]]], *, path: str) -> float:
    """Seconds to write the prepared batches through mentions.ingest on a fresh store."""
    db = await Database(path).open()
    try:
        started = time.perf_counter()
        for n, batch in enumerate(prepared):
            await db.write(
                mentions.ingest,
                source=SOURCE,
                items=batch,
                cursor=f"c{n}",
                now=START,
                channel_of=CHANNEL_OF,
            )
        return time.perf_counter() - started
    finally:
        await db.close()


async def run_end_to_end(item_batches: list[list[Item]], triager: Triager, *, path: str) -> float:
    """Seconds for the bot's own path, bot.ingest.store_batch, batch after batch."""
    db = await Database(path).open()
    clock = FakeClock(START)
    try:
        started = time.perf_counter()
        for n, batch in enumerate(item_batches):
            await store_batch(
                Batch(items=batch, cursor=f"c{n}"),
                source=SOURCE,
                database=db,
                triager=triager,
                channel_of=CHANNEL_OF,
                clock=clock,
            )
        return time.perf_counter() - started
    finally:
        await db.close()


@contextlib.contextmanager
def stores(postgres: str) -> Iterator[tuple[str, str]]:
    """Two empty stores: SQLite files in a temporary folder, or PostgreSQL databases."""
    if not postgres:
        with tempfile.TemporaryDirectory(prefix="allhands-bench-") as tmp:
            yield str(Path(tmp) / "store.db"), str(Path(tmp) / "e2e.db")
        return
    names = [f"allhands_bench_{os.getpid()}_{n}" for n in ("store", "e2e")]
    with psycopg.connect(postgres, autocommit=True) as admin:
        for name in names:
            admin.execute(f"CREATE DATABASE {name}")
        try:
            at = [urlunsplit(urlsplit(postgres)._replace(path="/" + n)) for n in names]
            yield at[0], at[1]
        finally:
            for name in names:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def by_meaning_only(playbooks: Playbooks) -> Playbooks:
    """The playbooks without routes or team keywords: every post is routed by meaning."""
    teams = {k: replace(t, keywords=()) for k, t in playbooks.teams.items()}
    return replace(playbooks, routes=(), teams=teams)


def measure(
    count: int,
    *,
    batch: int,
    seed: int,
    postgres: str = "",
    meaning_only: bool = False,
    repeat: int = 1,
) -> Figures:
    """Generate the posts and time every stage on them."""
    items = synthetic_items(count, seed=seed)
    item_batches = batches(items, batch)
    analyzer = SentimentIntensityAnalyzer()
    triager = build_triager(by_meaning_only(PLAYBOOKS) if meaning_only else PLAYBOOKS, analyzer)
    # The exact strings the triager hands VADER: normalised title and text, cut to
    # SENTIMENT_SCANNED.
    cleaned = [normalise(item) for item in items]
    whole = [f"{i.title}\n{i.text}" if i.title else i.text for i in cleaned]
    short = [t[:SENTIMENT_SCANNED] for t in whole if len(t) < LONG]
    long_ = [t[:SENTIMENT_SCANNED] for t in whole if len(t) >= LONG]
    vader_short = timed(lambda: [analyzer.polarity_scores(t) for t in short])
    vader_long = timed(lambda: [analyzer.polarity_scores(t) for t in long_])
    prepared: list[list[tuple[Item, Triage]]] = []
    prep = timed(lambda: prepared.extend(prepare(b, triager, source=SOURCE) for b in item_batches))
    again = [
        timed(lambda: [prepare(b, triager, source=SOURCE) for b in item_batches])
        for _ in range(repeat - 1)
    ]
    with stores(postgres) as (store_at, e2e_at):
        store = asyncio.run(store_prepared(prepared, path=store_at))
        e2e = asyncio.run(run_end_to_end(item_batches, triager, path=e2e_at))
    return Figures(
        count=count,
        long_posts=len(long_),
        vader=vader_short + vader_long,
        vader_long=vader_long,
        prepare=prep,
        store=store,
        end_to_end=e2e,
        prepare_best=min([prep, *again]) if again else 0.0,
        passes=repeat,
    )


def report(figures: Figures, *, batch: int) -> None:
    """Print mentions a second for each stage and the store's share of the time."""
    n = figures.count
    staged = figures.prepare + figures.store
    print(f"mentions: {n}, batches of {batch}")
    print(f"{'stage':<44} {'seconds':>8} {'mentions/s':>11}")
    rows = [
        ("VADER polarity_scores alone", figures.vader),
        ("normalise + triage (bot.ingest.prepare)", figures.prepare),
        ("store (mentions.ingest via Database.write)", figures.store),
        ("end to end, stages one after the other", staged),
        ("end to end, bot.ingest.store_batch", figures.end_to_end),
    ]
    if figures.prepare_best:
        rows.insert(2, (f"  the fastest of {figures.passes} passes", figures.prepare_best))
    for name, seconds in rows:
        print(f"{name:<44} {seconds:>8.2f} {n / seconds:>11,.0f}")
    print(f"VADER's share of normalise + triage: {figures.vader / figures.prepare:.0%}")
    print(
        f"posts of {LONG:,}+ characters: {figures.long_posts / n:.0%} of the posts,"
        f" {figures.vader_long / figures.vader:.0%} of VADER's time"
    )
    print(f"store's share of the end-to-end time: {figures.store / staged:.0%}")


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="how many mentions")
    parser.add_argument("--batch", type=int, default=100, help="mentions per write")
    parser.add_argument("--seed", type=int, default=7, help="seed for the synthetic posts")
    parser.add_argument(
        "--postgres", default="", help="a PostgreSQL server URL to store in instead of SQLite"
    )
    parser.add_argument(
        "--meaning-only",
        action="store_true",
        help="route every post by meaning (the playbooks without routes or team keywords)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="time normalise + triage this many times"
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat: at least 1")
    figures = measure(
        args.count,
        batch=args.batch,
        seed=args.seed,
        postgres=args.postgres,
        meaning_only=args.meaning_only,
        repeat=args.repeat,
    )
    print(f"store: {'PostgreSQL' if args.postgres else 'SQLite'}")
    if args.meaning_only:
        print("routing: every post by meaning (no routes, no team keywords)")
    report(figures, batch=args.batch)
    return 0


if __name__ == "__main__":
    sys.exit(main())
