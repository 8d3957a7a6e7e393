"""`allhands triage train | eval | learn`: make, measure and refit the complaint model."""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from bot import triage_training as training
from bot.errors import AllhandsError
from bot.triage_model import SHIPPED, load_model, save_model

if TYPE_CHECKING:
    from bot.triage_learning import MatcherFor

YES = frozenset({"1", "true", "yes", "y", "complaint"})
NO = frozenset({"0", "false", "no", "n", "not", "not complaint", "other", "question", "praise"})
MAX_FIELD = 1_000_000  # characters in one CSV cell


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row `triage eval` could not use, and why."""

    line: int
    reason: str


def labelled_rows(
    path: Path, *, text_column: str, label_column: str
) -> Iterator[tuple[int, str, bool] | BadRow]:
    """(line, text, is_complaint) for each usable row, a BadRow for each other one.

    click.UsageError when the file has no header or lacks a named column."""
    csv.field_size_limit(MAX_FIELD)
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames or []
        for column in (text_column, label_column):
            if column not in header:
                raise click.UsageError(
                    f"{path}: no column {column!r}; the header has {', '.join(header) or 'nothing'}"
                )
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield BadRow(reader.line_num, f"not readable as CSV: {exc}")
                continue
            line = reader.line_num
            text, label = row.get(text_column), row.get(label_column)
            if text is None or label is None:
                filled = sum(value is not None for value in row.values())
                yield BadRow(line, f"has {filled} of {len(header)} columns")
            elif not text.strip():
                yield BadRow(line, f"{text_column} is empty")
            elif label.strip().lower() in YES:
                yield line, text, True
            elif label.strip().lower() in NO:
                yield line, text, False
            else:
                shown = label.strip()[:40] or "empty"
                yield BadRow(line, f"{label_column} is {shown!r}; write 1/0, yes/no or complaint")


@click.group()
def triage() -> None:
    """Train and measure the complaint model."""


@triage.command()
@click.option(
    "--data",
    type=click.Path(path_type=Path),
    default=training.ACL_DATA,
    show_default=True,
    help="The labelled ACL 2019 CSV (tweet_id, text, is_complaint, domain).",
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=SHIPPED, show_default=True, help="Write here."
)
def train(data: Path, out: Path) -> None:
    """Train the complaint model from labelled tweets and write it (exit 2 without data)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if not data.is_file():
        raise click.UsageError(f"no labelled data at {data} (see ../shared/data/README.md)")
    examples = training.load_acl(data, SentimentIntensityAnalyzer())
    model = training.fit(examples, trained_on=f"{data.name} ({len(examples):,} posts)")
    path = save_model(model, out)
    figures = model.figures
    click.echo(
        f"wrote {path} ({path.stat().st_size:,} bytes): {len(model.weights):,} features,"
        f" threshold {model.threshold:.2f}; out-of-fold complaint F1 {figures.get('f1', 0):.3f}"
        f" (precision {figures.get('precision', 0):.3f}, recall {figures.get('recall', 0):.3f})"
    )


@triage.command(name="eval")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--text", "text_column", required=True, help="The column with the post's text.")
@click.option("--label", "label_column", required=True, help="The column saying complaint or not.")
@click.option("--model", "model_path", type=click.Path(path_type=Path), default=None)
@click.option("--threshold", type=click.FloatRange(0, 1), default=None, help="Complaint from here.")
def evaluate(
    file: Path,
    text_column: str,
    label_column: str,
    model_path: Path | None,
    threshold: float | None,
) -> None:
    """Measure complaint detection on your own labelled CSV (with a header row).

    Each bad row is reported with its line and skipped; the figures count the others.
    Exits 1 when some rows were bad, 2 when none could be used."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from bot.domain.triage import kind_of

    model = load_model(model_path)
    cut = model.threshold if threshold is None else threshold
    analyzer = SentimentIntensityAnalyzer()
    examples, bad = [], []
    for found in labelled_rows(file, text_column=text_column, label_column=label_column):
        if isinstance(found, BadRow):
            bad.append(found)
            click.echo(f"{file}:{found.line}: {found.reason}", err=True)
            continue
        _line, text, label = found
        examples.append(training.example(text, label, analyzer))
    if not examples:
        click.echo(f"error: no usable rows in {file} ({len(bad)} bad)", err=True)
        sys.exit(2)
    complaints = sum(e.is_complaint for e in examples)
    click.echo(f"rows used: {len(examples):,}  complaints: {complaints:,}  bad rows: {len(bad):,}")
    click.echo(f"{'':<28} {'precision':>9} {'recall':>7} {'F1':>6}")
    for name, decide in (
        (
            f"model (threshold {cut:.2f})",
            lambda e: e.score(model) >= cut,
        ),
        ("rules alone", lambda e: kind_of(e.text, compound=e.compound) == "complaint"),
    ):
        s = training.evaluate(examples, decide)
        click.echo(f"{name:<28} {s.precision:>9.3f} {s.recall:>7.3f} {s.f1:>6.3f}")
    if bad:
        sys.exit(1)


@triage.command()
@click.option(
    "--data", type=click.Path(path_type=Path), default=training.ACL_DATA, show_default=True
)
@click.option("--db", "db_path", default=None, help="The store (default: $ALLHANDS_DB).")
@click.option("--dry-run", is_flag=True, help="Measure, but install nothing.")
@click.option(
    "--playbooks",
    "playbooks_path",
    default=None,
    help="The teams routing is measured with (default: $ALLHANDS_PLAYBOOKS or ./playbooks).",
)
def learn(data: Path, db_path: str | None, dry_run: bool, playbooks_path: str | None) -> None:
    """Refit the complaint model on the labelled data plus the team's `kind` corrections.

    One correction in five is held out and the current and refitted models are compared on
    them; the refitted model is installed in the store only if it scores at least as well
    as the current one on the labelled data. Running bots switch to it within a minute.
    With ten moves or more, one in five is held out too, and routing with the playbooks'
    teams is measured on them before and after."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    from bot.clock import SystemClock
    from bot.settings import Settings
    from bot.triage_learning import LearnError, learn_in_store

    settings = Settings.from_env()
    try:
        done = learn_in_store(
            data=data,
            db_path=db_path or settings.db_path,
            analyzer=SentimentIntensityAnalyzer(),
            now=SystemClock().now(),
            dry_run=dry_run,
            matcher_for=_matcher_for(playbooks_path or settings.playbooks),
        )
    except LearnError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(
        f"{done.corrections} correction(s): {done.learned} to learn from, {done.held_out} held"
        f" out; {done.labelled:,} labelled posts"
    )
    click.echo(f"{'':<34} {'before':>7} {'after':>7}")
    if done.held_before is not None and done.held_after is not None:
        name = "F1 on held-out corrections"
        click.echo(f"{name:<34} {done.held_before:>7.3f} {done.held_after:>7.3f}")
    name = "F1 on the labelled data"
    click.echo(f"{name:<34} {done.labelled_before:>7.3f} {done.labelled_after:>7.3f}")
    if done.moved:
        teams = ", ".join(f"{t} {len(x)}" for t, x in sorted(done.model.team_examples.items()))
        click.echo(f"routing: {done.moved} moved post(s) become teams' examples ({teams})")
    if done.routed_before is not None and done.routed_after is not None:
        name = f"routed right, {done.moves_held_out} held-out move(s)"
        click.echo(f"{name:<34} {done.routed_before:>7.0%} {done.routed_after:>7.0%}")
    if done.worse:
        click.echo(
            f"not installed: the refitted model scores worse on the labelled data"
            f" ({done.labelled_after:.3f} < {done.labelled_before:.3f}); the current model stays",
            err=True,
        )
        sys.exit(1)
    if done.installed is None:
        click.echo("dry run: nothing installed")
        return
    click.echo(
        f"installed in the store as complaint model #{done.installed};"
        " running bots switch to it within a minute"
    )


def _matcher_for(path: str) -> MatcherFor:
    """Routing as the bot does it with the playbooks at `path`; where they do not load, with
    the teams people moved posts to and their examples alone."""
    from bot.app import build_matcher
    from bot.domain.team_match import TeamMatcher, TeamProfile
    from bot.meaning_model import shipped_meaning
    from bot.playbooks import load_playbooks

    try:
        playbooks = load_playbooks(path) if Path(path).exists() else None
    except AllhandsError as exc:
        click.echo(f"routing measured without the playbooks at {path}: {exc}", err=True)
        playbooks = None
    if playbooks is not None:
        found = playbooks
        return lambda examples: build_matcher(found, examples)

    def from_examples(examples: Mapping[str, tuple[str, ...]]) -> TeamMatcher | None:
        profiles = [TeamProfile(team, examples=texts) for team, texts in examples.items() if texts]
        return TeamMatcher(profiles, shipped_meaning()) if profiles else None

    return from_examples
