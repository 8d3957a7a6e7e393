"""How fast the reply guardrails are, and how often they trip on ordinary text.

Run from the repository root:

    .venv/bin/python benchmarks/guardrails.py [--data PATH]

Times `bot.domain.guardrails.check_reply` (with VADER) on real tweets addressed to
companies (../shared/data/complaints-acl2019.csv, read in place, never copied; skipped
when absent) and on long hostile inputs of 10,000 characters, the most a command may
carry. On the tweets it also counts how often each rule trips: they are customers' words,
not our replies, so the tone figures say how the check reads angry and calm text, and any
private-data or link hit is worth a look.
"""

from __future__ import annotations

import argparse
import csv
import random
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from bot.domain.guardrails import Policy, check_reply
from bot.domain.normalise import clean_text

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data" / "complaints-acl2019.csv"
POLICY = Policy(
    account_patterns=(r"\bLU-\d{8}\b",),
    banned_phrases=("as I already said", "not our fault", "guaranteed"),
    link_domains=("lumo.example",),
    phone_regions=("US", "GB"),
    max_length=280,
)


def hostile_inputs() -> dict[str, str]:
    """Long inputs that stress one finder each."""
    rng = random.Random(7)
    return {
        "prose": ("We are sorry about the outage; the team is on it, more soon. " * 170)[:10_000],
        "spaced digits": ("1 2 3 4 5 6 7 8 9 0 " * 500)[:10_000],
        "card-like groups": ("4111 1111 1111 1112 " * 500)[:10_000],
        "sentences with dots": ("a. " * 3400)[:10_000],
        "spelled at/dot": ("x at y dot " * 1000)[:10_000],
        "number words": ("one two three four five " * 420)[:10_000],
        "symbol soup": "".join(rng.choice("ab1 .@-()") for _ in range(10_000)),
    }


def timed(text: str, analyzer: SentimentIntensityAnalyzer, repeat: int) -> tuple[float, list[str]]:
    """Milliseconds per check (best of `repeat`) and the rules that tripped."""
    best = float("inf")
    rules: list[str] = []
    for _ in range(repeat):
        start = time.perf_counter()
        verdict = check_reply(text, POLICY, analyzer=analyzer)
        best = min(best, time.perf_counter() - start)
        rules = [f.rule.value for f in verdict.findings]
    return best * 1000, rules


def tweets(path: Path) -> list[tuple[str, bool]]:
    """(text, is complaint) for each labelled tweet."""
    with path.open(encoding="utf-8", newline="") as f:
        return [(clean_text(row[1]), row[2] == "1") for row in csv.reader(f) if len(row) >= 4]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    args = parser.parse_args()
    analyzer = SentimentIntensityAnalyzer()
    check_reply("warm up: call 020 7946 0958 or mail a@b.example", POLICY, analyzer=analyzer)

    if args.data.exists():
        rows = tweets(args.data)
        times = []
        tripped: Counter[str] = Counter()
        tone = Counter[bool]()
        for text, complaint in rows:
            start = time.perf_counter()
            verdict = check_reply(text, POLICY, analyzer=analyzer)
            times.append((time.perf_counter() - start) * 1000)
            rules = {f.rule.value for f in verdict.findings}
            tripped.update(rules)
            if "tone" in rules:
                tone[complaint] += 1
        complaints = sum(c for _, c in rows)
        times.sort()
        print(f"tweets: {len(rows):,} ({complaints:,} complaints)")
        median, p95 = times[len(times) // 2], times[int(len(times) * 0.95)]
        print(
            f"  check_reply ms: mean {statistics.fmean(times):.2f}, median {median:.2f},"
            f" p95 {p95:.2f}, max {times[-1]:.2f}"
        )
        for rule, count in tripped.most_common():
            print(f"  {rule:14} {count:5,}  ({count / len(rows):.1%})")
        print(
            f"  tone holds: {tone[True] / complaints:.1%} of complaints,"
            f" {tone[False] / (len(rows) - complaints):.1%} of the rest"
        )
    else:
        print(f"no data at {args.data}; skipping the tweets (see ../shared/data/README.md)")

    print("10,000-character inputs (best of 3):")
    for name, text in hostile_inputs().items():
        ms, rules = timed(text, analyzer, 3)
        print(f"  {name:20} {ms:8.1f} ms  {', '.join(dict.fromkeys(rules)) or 'allowed'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
