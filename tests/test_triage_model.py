"""The learned complaint model: the shipped file, its absence, calibration, thresholds,
other languages, severity and routing by meaning, through the real Triager."""

from __future__ import annotations

import gzip
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot import triage_training as training
from bot.clock import FakeClock
from bot.domain.complaint_model import ComplaintModel, features
from bot.domain.language import detect
from bot.domain.mentions import Author, Item
from bot.domain.routes import Route, Router
from bot.domain.team_match import TeamMatcher, TeamProfile
from bot.domain.triager import Triager, TriageSettings
from bot.domain.urgency import urgency, with_overrides
from bot.errors import ModelError
from bot.ingest import store_batch
from bot.store import mentions
from bot.store.db import Database
from bot.triage_model import SHIPPED, load_model, save_model
from connectors.base import Batch


@pytest.fixture(scope="module")
def analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def triager(analyzer: SentimentIntensityAnalyzer) -> Triager:
    return Triager(analyzer, Router([], default_team="support"), model=load_model())


def _scored(model: ComplaintModel, text: str, analyzer: SentimentIntensityAnalyzer) -> float:
    tone = analyzer.polarity_scores(text)
    return model.score(text, compound=tone["compound"], neg=tone["neg"], pos=tone["pos"])


def item(text: str, **kw: object) -> Item:
    return Item(external_id="1", text=text, author=Author("ana"), **kw)  # type: ignore[arg-type]


def test_the_shipped_model_is_small_and_a_model() -> None:
    # Its load time is printed by benchmarks/triage_eval.py (speed is not a test here).
    assert SHIPPED.stat().st_size <= 20 * 1024 * 1024
    model = load_model()
    assert len(model.weights) > 1000 and 0.05 < model.threshold < 0.95
    assert model.languages == ("en",)


def test_a_missing_or_broken_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"no complaint model at .*allhands triage train"):
        load_model(tmp_path / "absent.json.gz")
    (tmp_path / "plain.json.gz").write_text("not gzip")
    with pytest.raises(ModelError, match="not a readable complaint model"):
        load_model(tmp_path / "plain.json.gz")
    for name, data in (
        ("list", [1, 2]),
        ("format", {"format": "something else"}),
        ("lengths", {"format": "allhands-complaint-model/1", "features": ["a"], "weights": []}),
    ):
        path = tmp_path / f"{name}.json.gz"
        with gzip.open(path, "wt") as f:
            json.dump(data, f)
        with pytest.raises(ModelError, match="not a complaint model"):
            load_model(path)


def test_a_saved_model_scores_as_the_original(tmp_path: Path) -> None:
    model = load_model()
    copy = load_model(save_model(model, tmp_path / "m.json.gz"))
    for text in ("my order never came", "love it", "how do I pay?"):
        tone = {"compound": -0.3, "neg": 0.4, "pos": 0.1}
        assert copy.score(text, **tone) == pytest.approx(model.score(text, **tone))


def _synthetic(rng: random.Random, n: int, analyzer: SentimentIntensityAnalyzer) -> list:
    bad = ["never arrived", "still broken", "charged twice", "no reply", "keeps crashing"]
    good = ["how do I pay", "love the app", "what time do you open", "thanks team", "new phone"]
    out = []
    for _ in range(n):
        # Labels follow the words only 80% of the time, so scores must be graded, not 0/1.
        complaint = rng.random() < 0.35
        words = bad if complaint else good
        text = f"{rng.choice(words)} {rng.choice(['today', 'again', 'please', ''])}"
        label = complaint if rng.random() < 0.8 else not complaint
        out.append(training.example(text, label, analyzer))
    return out


def test_scores_are_calibrated_on_posts_the_model_did_not_see(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    rng = random.Random(3)
    model = training.fit(_synthetic(rng, 400, analyzer))
    held = _synthetic(rng, 1000, analyzer)
    scores = [e.score(model) for e in held]
    assert all(0.0 <= s <= 1.0 for s in scores)
    # Among posts scored about 0.8 (or 0.2), about 80% (or 20%) are complaints.
    for low, high in ((0.6, 1.0), (0.0, 0.4)):
        picked = [e.is_complaint for e, s in zip(held, scores, strict=True) if low <= s <= high]
        mean = sum(s for s in scores if low <= s <= high) / len(picked)
        assert abs(sum(picked) / len(picked) - mean) < 0.08


def test_the_threshold_decides_and_the_score_is_kept(analyzer: SentimentIntensityAnalyzer) -> None:
    model = load_model()
    router = Router([], default_team="support")
    text = "I've been waiting a while for my order"
    score = _scored(model, text, analyzer)
    strict = Triager(
        analyzer, router, model=model, settings=TriageSettings(complaint_threshold=score + 0.01)
    )
    lenient = Triager(
        analyzer, router, model=model, settings=TriageSettings(complaint_threshold=score)
    )
    assert strict(item(text)).kind != "complaint"
    found = lenient(item(text))
    assert found.kind == "complaint" and found.score == pytest.approx(score)


@pytest.mark.parametrize(
    "text",
    [
        "Gotta love paying for 500 Mbps and getting 20 on a good day @lumo",  # sarcasm
        "@lumo my flight delays again, losing patience with these cancellations",  # inflections
        "My router arrived broken and your shop won't swap it.",
    ],
)
def test_the_model_finds_complaints_the_rules_miss_or_catch(triager: Triager, text: str) -> None:
    assert triager(item(text)).kind == "complaint"


@pytest.mark.parametrize("text", ["I hate you guys @lumo", "fuck you @lumo", "shame on you @lumo"])
def test_anger_at_the_company_is_a_complaint(triager: Triager, text: str) -> None:
    # The labelled set calls such insults no complaint when they are random tweets; every
    # post the bot reads is written to the company, where they are.
    assert triager(item(text)).kind == "complaint"


def test_only_posts_written_to_a_company_count_their_anger_twice(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    model = load_model()
    hostile, thanks = "I hate you guys", "Thanks, sorry for the delay in getting back to you!"
    tones = {text: analyzer.polarity_scores(text) for text in (hostile, thanks)}
    to = {t: features(t, **_tone(tones[t])) for t in tones}
    away = {t: features(t, **_tone(tones[t]), to_company=False) for t in tones}
    assert to[hostile]["t hostile"] == 1.0 and to[hostile]["t neg"] == tones[hostile]["neg"]
    assert "t neg" not in away[hostile] and model.raw(to[hostile]) > model.raw(away[hostile])
    # A thank-you that mentions a delay is positive on the whole: no anger counted.
    assert tones[thanks]["neg"] > 0 and "t neg" not in to[thanks]
    # Training marks the random tweets as not written to a company; the bot scores all as one.
    rows = [
        training.example("I hate Mondays", False, analyzer, "random_tweet"),
        training.example("@lumo I hate your app", True, analyzer, "software"),
    ]
    marked = training._rows(training.mark_random(rows))
    assert "t neg" not in marked[0] and "t neg" in marked[1]


def _tone(tone: dict[str, float]) -> dict[str, float]:
    return {"compound": tone["compound"], "neg": tone["neg"], "pos": tone["pos"]}


@pytest.mark.parametrize(
    "text", ["How do I change my password?", "Love the new app design from @lumo, great work."]
)
def test_the_model_leaves_questions_and_praise(triager: Triager, text: str) -> None:
    assert triager(item(text)).kind != "complaint"


def test_a_language_the_model_does_not_read_is_unsure(triager: Triager) -> None:
    german = "Meine Bestellung ist nicht angekommen und ich warte schon seit Tagen"
    assert detect(german) == "de"
    found = triager(item(german))
    assert (found.kind, found.score, found.language) == ("unsure", None, "de")
    assert found.note == "kind unsure: written in de"
    # The platform's own tag wins over the guess.
    tagged = triager(item("Obrigado pela ajuda", language="pt-BR"))
    assert tagged.kind == "unsure" and tagged.language == "pt-br"
    assert triager(item("My order is late and nobody answers")).language == "en"


@pytest.mark.parametrize(
    ("text", "severity"),
    [
        ("My charger caught fire last night and nobody answers me", "safety"),
        ("Your app leaked my personal data, I'm furious", "data breach"),
        ("The site is down again", "outage"),
        ("Told my lawyer about your contract", "legal"),
        ("Had an allergic reaction to your snack bar", "health"),
        ("I was charged twice for one order", "money lost"),
        ("Everyone at the office is waiting, this is so slow", ""),
    ],
)
def test_severity_cues(triager: Triager, text: str, severity: str) -> None:
    assert triager(item(text)).severity == severity


@pytest.mark.parametrize(
    ("kind", "severity", "score", "compound", "repeat", "expected"),
    [
        ("complaint", "safety", 0.95, -0.2, False, "critical"),  # the cue and a clear complaint
        ("complaint", "safety", 0.6, -0.2, False, "high"),  # the cue alone
        ("complaint", "outage", 0.6, -0.2, True, "critical"),  # the cue and writing again
        ("complaint", "money lost", 0.95, -0.2, False, "high"),  # money weighs less than harm
        ("complaint", "money lost", 0.95, -0.7, False, "critical"),
        ("complaint", "", 0.99, -0.9, True, "high"),  # loud, repeated, nothing at stake
        ("complaint", "", 0.95, -0.2, False, "normal"),
        ("complaint", "", 0.6, -0.2, True, "high"),  # writing again unanswered
        ("question", "health", None, 0.0, False, "high"),
        ("question", "", None, 0.0, False, "normal"),
        ("praise", "outage", 0.1, 0.9, False, "low"),
        ("other", "", 0.1, 0.0, False, "low"),
    ],
)
def test_urgency_adds_up_severity_score_and_repeat_contact(
    kind: str, severity: str, score: float | None, compound: float, repeat: bool, expected: str
) -> None:
    found = urgency(kind=kind, severity=severity, score=score, compound=compound, repeat=repeat)
    assert found == expected


def test_playbook_severity_replaces_a_class_and_audience_only_counts_when_weighted(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    rules = with_overrides({"outage": ["blackout"], "pets": ["my dog"]}, audience_weight=0.0)
    assert rules.severity_of("total blackout in town") == "outage"
    assert rules.severity_of("the site is down") == ""
    assert rules.severity_of("your food made my dog ill") == "pets"
    model = load_model()
    router = Router([], default_team="support")
    text = "Still no refund after three weeks, nobody replies to my emails"
    small, big = item(text), Item("2", text, Author("star", audience=400_000))
    plain = Triager(analyzer, router, model=model)
    weighted = Triager(
        analyzer,
        router,
        model=model,
        settings=TriageSettings(urgency_rules=with_overrides({}, audience_weight=1.0)),
    )
    assert plain(small).urgency == plain(big).urgency
    assert weighted(big).urgency in ("high", "critical")
    assert plain(small, repeat=True).urgency == "high"


PROFILES = [
    TeamProfile(
        "billing",
        "Billing",
        "bills, invoices, charges, refunds and payment methods",
        ("I was charged twice this month", "where is my invoice"),
    ),
    TeamProfile(
        "network",
        "Network",
        "internet connection, wifi, signal, broadband speed",
        ("my wifi keeps dropping", "no signal at home"),
    ),
    TeamProfile("support", "Support", "accounts, passwords, the app and general questions"),
]


def test_a_post_no_rule_takes_goes_to_the_team_it_is_most_like(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    router = Router([Route("billing", ("fatura",))], default_team="support")
    triager = Triager(analyzer, router, model=load_model(), matcher=TeamMatcher(PROFILES))
    found = triager(item("The payment for my invoices was taken two times"))
    assert found.team == "billing" and found.rule.startswith("most like team billing (")
    assert triager(item("A minha fatura")).rule == "keyword 'fatura' -> billing"
    unsure = triager(item("Zebra crossing outside looks nice"))
    assert unsure.team == "support"
    assert unsure.note.startswith("unsure: ") and " · " in unsure.note


def test_check_route_prints_the_scores(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import main

    book = tmp_path / "teams.yaml"
    book.write_text(
        "teams:\n"
        "  support: {channel: 'console:#support', description: accounts and passwords}\n"
        "  billing:\n"
        "    channel: 'console:#billing'\n"
        "    description: bills, invoices, charges and refunds\n"
        "    examples: [I was charged twice]\n"
        "default_team: support\n"
        "triage: {complaint_threshold: 0.3, route_threshold: 0.1}\n"
    )
    result = CliRunner().invoke(
        main, ["check", str(book), "--route", "My invoices charge me twice"]
    )
    assert result.exit_code == 0, result.output
    assert "team:    billing" in result.output
    assert "meaning: billing 0." in result.output and "(threshold 0.10)" in result.output
    assert "kind:    complaint 0." in result.output


def test_the_digest_says_whether_answers_favour_big_accounts() -> None:
    from datetime import timedelta

    from bot.domain.digest import UNKNOWN_AUDIENCE, AudienceRow, audience_verdict, spread

    def row(label: str, *minutes: int) -> AudienceRow:
        return AudienceRow(label, spread([timedelta(minutes=m) for m in minutes]), 0)

    small, big = row("under 1,000", 60, 90, 120), row("10,000 or more", 10, 20)
    assert audience_verdict([small, big]) == "big accounts are answered 6.0x faster than small ones"
    assert audience_verdict([row("under 1,000", 10), row("10,000 or more", 40)]) == (
        "small accounts are answered 4.0x faster than big ones"
    )
    assert audience_verdict([row("under 1,000", 30), row("10,000 or more", 40)]) == (
        "no account size is answered much faster than another"
    )
    assert audience_verdict([small, row("1,000 to 9,999"), row(UNKNOWN_AUDIENCE, 5)]) == ""


async def test_writing_again_while_unanswered_raises_urgency(
    database: Database, clock: FakeClock, analyzer: SentimentIntensityAnalyzer
) -> None:
    triager = Triager(analyzer, Router([], default_team="support"), model=load_model())
    text = "My parcel is a week late and the tracking has not moved"
    first = Item("1", text, Author("ana"))
    later = [Item("2", text, Author("ana")), Item("3", text, Author("ben"))]
    for n, items in enumerate(([first], later)):
        await store_batch(
            Batch(items=items, cursor=str(n)),
            source="s",
            database=database,
            triager=triager,
            channel_of={"support": "console:#support"},
            clock=clock,
        )
    stored = [await database.read(mentions.get, number=n) for n in (1, 2, 3)]
    urgencies = [m.urgency for m in stored if m is not None]
    # ana's first post is still unanswered when she writes again; ben writes once.
    assert urgencies[0] == urgencies[2] == "normal" and urgencies[1] == "high"
    assert stored[0] is not None and stored[0].complaint_score == pytest.approx(
        _scored(load_model(), text, analyzer)
    )


def test_the_card_shows_the_score_the_language_and_what_triage_was_unsure_of() -> None:
    from datetime import UTC, datetime

    from bot.chat.cards import build_card
    from bot.domain.mentions import Mention, State

    at = datetime(2026, 1, 5, 9, tzinfo=UTC)
    mention = Mention(
        number=42, source="mastodon", external_id="1", url="", author=Author("ana"),
        text="Meine Rechnung ist falsch", state=State.OPEN, team="support", kind="unsure",
        urgency="normal", sentiment=0.0, created_at=at, received_at=at, language="de",
        triage_note="kind unsure: written in de; unsure: billing 0.08 · support 0.05",
    )  # fmt: skip
    card = build_card(mention, now=at)
    assert card.title == "#42 unsure · normal · support"
    assert card.where == (
        "mastodon · de · kind unsure: written in de; unsure: billing 0.08 · support 0.05"
    )
    scored = build_card(replace(mention, kind="complaint", complaint_score=0.834), now=at)
    assert scored.title == "#42 complaint 0.83 · normal · support"


def test_a_route_for_kinds_still_takes_a_post_the_model_cannot_read(
    analyzer: SentimentIntensityAnalyzer,
) -> None:
    router = Router([Route("lusophone", languages=("pt",), kinds=("question",))], default_team="s")
    triager = Triager(analyzer, router, model=load_model())
    found = triager(item("Porque é que a internet não funciona?", language="pt"))
    assert (found.kind, found.team) == ("unsure", "lusophone")
