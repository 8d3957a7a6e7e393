"""How well triage finds complaints, measured on the labelled tweets of Preoțiuc-Pietro et al. 2019.

Run from the repository root:

    .venv/bin/python benchmarks/triage_eval.py [--data PATH] [--errors N] [--cv [--seeds 7,8,9]]

The shipped complaint model was trained on this very set, so its figure here is not a
measure; `--cv` measures the model honestly (several minutes): 10-fold cross-validation
(each post scored by a model trained, calibrated and thresholded without it; `--seeds`
repeats it for several shuffles and prints their mean and range) and whole
domains held out (each company domain scored by a model that saw none of its posts; the
random tweets, which hold no complaints, by the 10-fold models).

The data is read from ../shared/data/complaints-acl2019.csv (never copied into this
repository); without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.domain.normalise import clean_text
from bot.domain.triage import kind_of
from bot.triage_model import SHIPPED, load_model
from bot.triage_training import Score

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "complaints-acl2019.csv"
VADER_THRESHOLD = -0.05  # VADER's own cut-off for "negative"


@dataclass(frozen=True, slots=True)
class Row:
    """One labelled tweet with its VADER scores."""

    text: str
    is_complaint: bool
    domain: str
    compound: float
    neg: float = 0.0
    pos: float = 0.0


def load_rows(path: Path, analyzer: SentimentIntensityAnalyzer) -> list[Row]:
    """The labelled tweets (tweet_id, text, is_complaint, domain; no header), normalised as the
    bot normalises posts (the tweets carry HTML entities such as &amp;) and scored."""
    rows = []
    with path.open(newline="", encoding="utf-8") as f:
        for _tweet_id, raw, label, domain in csv.reader(f):
            text = clean_text(raw)
            tone = analyzer.polarity_scores(text)
            rows.append(
                Row(
                    text,
                    label.strip() == "1",
                    domain.strip(),
                    float(tone["compound"]),
                    float(tone["neg"]),
                    float(tone["pos"]),
                )
            )
    return rows


def score(rows: Iterable[Row], flagged: Callable[[Row], bool]) -> Score:
    """Count hits, false alarms and misses of `flagged` against the labels."""
    tp = fp = fn = 0
    for row in rows:
        said = flagged(row)
        tp += said and row.is_complaint
        fp += said and not row.is_complaint
        fn += not said and row.is_complaint
    return Score(tp, fp, fn)


def ours(row: Row) -> bool:
    """Our triage calls it a complaint."""
    return kind_of(row.text, compound=row.compound) == "complaint"


def vader_alone(row: Row) -> bool:
    """VADER's compound alone calls it negative."""
    return row.compound <= VADER_THRESHOLD


def report(rows: list[Row], *, errors: int) -> None:
    """Print the overall scores, the per-domain table and, if asked, some mistakes."""
    complaints = sum(r.is_complaint for r in rows)
    print(f"rows: {len(rows)}  complaints: {complaints}")
    print()
    print(f"{'complaint detection':<34} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name, decide in (
        ("allhands kind_of", ours),
        (f"VADER compound <= {VADER_THRESHOLD}", vader_alone),
    ):
        s = score(rows, decide)
        print(f"{name:<34} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}")
    print()
    print("per domain (F1; for domains without complaints, the false alarms instead)")
    print(f"{'domain':<14} {'rows':>5} {'compl.':>6} {'ours F1':>8} {'VADER F1':>9}")
    for domain in sorted({r.domain for r in rows}):
        subset = [r for r in rows if r.domain == domain]
        positives = sum(r.is_complaint for r in subset)
        mine, vader = score(subset, ours), score(subset, vader_alone)
        if positives:
            cells = f"{mine.f1:>8.3f} {vader.f1:>9.3f}"
        else:
            cells = f"{f'{mine.fp} FP':>8} {f'{vader.fp} FP':>9}"
        print(f"{domain:<14} {len(subset):>5} {positives:>6} {cells}")
    if errors:
        _print_errors(rows, limit=errors)


def _print_errors(rows: list[Row], *, limit: int) -> None:
    missed = [r for r in rows if r.is_complaint and not ours(r)]
    false_alarms = [r for r in rows if not r.is_complaint and ours(r)]
    for title, found in (("missed complaints", missed), ("false alarms", false_alarms)):
        print(f"\n{title} ({len(found)}, first {min(limit, len(found))}):")
        for r in found[:limit]:
            print(f"  {r.compound:+.2f} [{r.domain}] {' '.join(r.text.split())[:160]}")


def cross_validated(rows: list[Row], seeds: list[int]) -> None:
    """Print the learned model's 10-fold figures for each shuffle seed (and their mean and
    range) and its figure with whole domains held out."""
    from bot import triage_training as training

    examples = training.mark_random(
        [
            training.Example(r.text, r.is_complaint, r.domain, r.compound, neg=r.neg, pos=r.pos)
            for r in rows
        ]
    )
    labels = [e.is_complaint for e in examples]
    print()
    print("learned model, measured honestly (F1 of the complaint class; macro F1 as in the paper)")
    print(f"{'':<34} {'precision':>9} {'recall':>7} {'F1':>6} {'macro':>6}")

    def line(
        name: str, probabilities: list[tuple[float, float]], only: list[int] | None = None
    ) -> float:
        # Each fold's model chose its own threshold on its own training posts.
        chosen = range(len(labels)) if only is None else only
        s = training.score(
            (labels[i] for i in chosen),
            (probabilities[i][0] >= probabilities[i][1] for i in chosen),
        )
        print(f"{name:<34} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f} {s.macro_f1:>6.3f}")
        return s.f1

    # Every post is scored as the bot scores it: as written to the company, the random
    # tweets too (which makes them harder than anything the bot reads); the companies'
    # tweets alone are what the bot meets.
    companies = [i for i, e in enumerate(examples) if e.to_company]
    folded: list[list[tuple[float, float]]] = []
    for seed in seeds:
        folded.append(training.predictions(examples, training.kfold(len(examples), seed=seed)))
        line(f"10-fold cross-validated, seed {seed}", folded[-1])
        line("  of which the companies' tweets", folded[-1], companies)
    if len(seeds) > 1:
        f1s = [training.score(labels, (p >= c for p, c in f)).f1 for f in folded]
        print(
            f"10-fold F1 over {len(seeds)} seeds: mean {sum(f1s) / len(f1s):.3f}"
            f" (range {min(f1s):.3f}-{max(f1s):.3f})"
        )
        ours = [
            training.score(
                (labels[i] for i in companies), (f[i][0] >= f[i][1] for i in companies)
            ).f1
            for f in folded
        ]
        print(f"  the companies' tweets: mean {sum(ours) / len(ours):.3f}")
    company = [
        [i for i in part if not examples[i].domain.startswith("random")]
        for part in training.by_domain(examples)
    ]
    held = training.predictions(examples, [part for part in company if part])
    # The random tweets, which hold no complaints, as the first seed's 10-fold models saw them.
    domains = [
        h if not e.domain.startswith("random") else f
        for e, h, f in zip(examples, held, folded[0], strict=True)
    ]
    line("whole domains held out", domains)
    line("  of which the companies' tweets", domains, companies)


def main(argv: list[str] | None = None) -> int:
    """Evaluate complaint detection on the shared data set."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the labelled CSV")
    parser.add_argument("--errors", type=int, default=0, help="print up to N mistakes of each kind")
    parser.add_argument("--cv", action="store_true", help="also cross-validate the learned model")
    parser.add_argument(
        "--seeds",
        default="7",
        help="with --cv: the 10-fold shuffles' seeds, comma-separated (e.g. 7,8,9)",
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    model = load_model()
    print(
        f"shipped model: {SHIPPED.stat().st_size:,} bytes, {len(model.weights):,} features,"
        f" loaded in {time.perf_counter() - started:.2f} s"
    )
    if not args.data.is_file():
        print(f"skipped: no data at {args.data} (see ../shared/data/README.md)")
        return 0
    rows = load_rows(args.data, SentimentIntensityAnalyzer())
    report(rows, errors=args.errors)
    if args.cv:
        try:
            seeds = [int(seed) for seed in args.seeds.split(",")]
        except ValueError:
            parser.error(f"--seeds must be whole numbers separated by commas, not {args.seeds!r}")
        cross_validated(rows, seeds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
