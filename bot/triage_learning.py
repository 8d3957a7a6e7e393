"""Refitting the complaint model on the labelled data plus the team's `kind` corrections,
and installing it in the store, where every replica finds it.

Used by `allhands triage learn` and by the nightly job (`triage.learn_nightly`). The refit
runs on a worker thread; the install is one write through the store's writer.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from bot import triage_training as training
from bot.domain.complaint_model import ComplaintModel
from bot.domain.team_match import TeamMatcher
from bot.domain.triage import SentimentAnalyzer
from bot.errors import AllhandsError
from bot.store import complaint_models, corrections, sql
from bot.store.complaint_models import Installed
from bot.store.db import Database
from bot.triage_model import InstalledModels, encode

MOVED_EXAMPLES = 50  # the most recent posts moved to a team that count as its examples
# Builds the routing matcher the bot would use with these teams' examples (None: no routing
# by meaning), to measure routing before and after on the moves held out.
MatcherFor = Callable[[Mapping[str, tuple[str, ...]]], TeamMatcher | None]


class LearnError(AllhandsError):
    """Learning cannot start (no labelled data, no store), or another install came first."""


@dataclass(frozen=True, slots=True)
class Learned:
    """What one refit measured and whether it installed the refitted model."""

    corrections: int
    learned: int
    held_out: int
    labelled: int
    held_before: float | None  # F1 on the held-out corrections; None without any
    held_after: float | None
    labelled_before: float
    labelled_after: float
    installed: int | None  # the refit's id in the store, if it was installed
    model: ComplaintModel
    moved: int = 0  # posts moved between teams, learned as the teams' examples
    moves_held_out: int = 0  # of those, held out to measure routing before and after
    routed_before: float | None = None  # share of them routed to the team they were moved to
    routed_after: float | None = None

    @property
    def worse(self) -> bool:
        """The refit scores worse on the labelled data (so it was not installed)."""
        return self.labelled_after < self.labelled_before

    def figures(self) -> dict[str, float]:
        """The refit's figures as the store keeps them beside it."""
        found = dict(self.model.figures)
        found.update(
            labelled_before=self.labelled_before,
            labelled_after=self.labelled_after,
            corrections=float(self.corrections),
        )
        if self.held_before is not None and self.held_after is not None:
            found.update(held_before=self.held_before, held_after=self.held_after)
        return found


async def learn(
    *,
    data: Path,
    models: InstalledModels,
    analyzer: SentimentAnalyzer,
    now: datetime,
    dry_run: bool = False,
    matcher_for: MatcherFor | None = None,
) -> Learned:
    """Refit, measure before and after against the newest installed model, and install the
    refit in the store only if it is no worse on the labelled data (and this is not a dry
    run). With `matcher_for`, routing is measured before and after on one move in five,
    held out of the teams' examples. LearnError if another model was installed while this
    one was fitted."""
    if not await asyncio.to_thread(data.is_file):
        raise LearnError(f"no labelled data at {data} (see ../shared/data/README.md)")
    database = models.database
    await models.refresh()
    current, over = models.in_use.model, models.newest_seen
    # Read before the posts: an erasure after it makes the install refuse this fit.
    erasures = await database.read(complaint_models.erasures_seen)
    kinds = await database.read(corrections.latest, field="kind")
    moved = await database.read(corrections.latest, field="team")
    done = await asyncio.to_thread(_refit, data, analyzer, kinds, moved, current, matcher_for)
    if done.worse or dry_run:
        return done
    body = await asyncio.to_thread(encode, done.model)
    figures = done.figures()
    trained_on = done.model.trained_on
    installed = await database.write(
        complaint_models.install,
        body=body,
        trained_on=trained_on,
        figures=figures,
        now=now,
        over=over,
        erasures=erasures,
    )
    if installed is None:
        raise LearnError(
            "another complaint model was installed, or an erasure ran, while this one was"
            " fitted; nothing was installed (run `allhands triage learn` again)"
        )
    models.adopt(Installed(installed, now, trained_on, figures), done.model)
    return replace(done, installed=installed)


def learn_in_store(
    *,
    data: Path,
    db_path: str,
    analyzer: SentimentAnalyzer,
    now: datetime,
    dry_run: bool = False,
    matcher_for: MatcherFor | None = None,
) -> Learned:
    """`learn` on the store at `db_path`, opened for this call (for the CLI)."""
    if not data.is_file():
        raise LearnError(f"no labelled data at {data} (see ../shared/data/README.md)")
    if not sql.store_exists(db_path):
        raise LearnError(f"no store at {db_path} (ALLHANDS_DB)")
    try:  # a wrong --db is refused, not made into a store
        with sql.read_only(db_path) as db:
            ours = sql.table_exists(db, "mentions")
    except sql.UNUSABLE as exc:
        raise LearnError(f"cannot open the store at {db_path}: {exc}") from None
    if not ours:
        raise LearnError(f"{db_path} is not an allhands store (it has no mentions)")
    return asyncio.run(
        _learn_in_store(
            data=data,
            db_path=db_path,
            analyzer=analyzer,
            now=now,
            dry_run=dry_run,
            matcher_for=matcher_for,
        )
    )


async def _learn_in_store(
    *,
    data: Path,
    db_path: str,
    analyzer: SentimentAnalyzer,
    now: datetime,
    dry_run: bool,
    matcher_for: MatcherFor | None,
) -> Learned:
    database = Database(db_path)
    try:
        await database.open()
    except sql.UNUSABLE as exc:
        raise LearnError(f"cannot open the store at {db_path}: {exc}") from None
    try:
        models = InstalledModels(database)
        await models.start()
        return await learn(
            data=data,
            models=models,
            analyzer=analyzer,
            now=now,
            dry_run=dry_run,
            matcher_for=matcher_for,
        )
    finally:
        await database.close()


def _refit(
    data: Path,
    analyzer: SentimentAnalyzer,
    kinds: list[corrections.Correction],
    moved: list[corrections.Correction],
    current: ComplaintModel,
    matcher_for: MatcherFor | None = None,
) -> Learned:
    """Fit on the labelled data and the corrections but one in five, and measure (blocking)."""
    shipped = training.load_acl(data, analyzer)
    corrected = [training.example(c.text, c.new == "complaint", analyzer) for c in kinds]
    held = corrected[4::5]
    taught = [e for i, e in enumerate(corrected) if i % 5 != 4]
    refitted = training.fit(
        [*shipped, *taught], trained_on=f"{data.name} + {len(taught)} corrections"
    )
    # Routing is measured on one move in five, as the complaint model on one correction in
    # five; only with enough moves (before that, every move is worth more as an example).
    held_moves = moved[4::5] if matcher_for is not None and len(moved) >= 10 else []
    held_texts = {c.text[: corrections.EXAMPLE_CHARS] for c in held_moves}
    examples: dict[str, list[str]] = {}
    for correction in reversed(moved):  # the most recent first
        texts = examples.setdefault(correction.new, [])
        text = correction.text[: corrections.EXAMPLE_CHARS]
        if len(texts) < MOVED_EXAMPLES and text not in held_texts:
            texts.append(text)
    refitted = replace(refitted, team_examples={t: tuple(x) for t, x in examples.items()})
    routed_before = routed_after = None
    if held_moves and matcher_for is not None:
        # The current model's examples may hold the held-out posts (an earlier learn took
        # them): without them, or "before" would be read off its own answers.
        earlier = {
            team: tuple(t for t in texts if t not in held_texts)
            for team, texts in current.team_examples.items()
        }
        routed_before = _routed(held_moves, matcher_for(earlier))
        routed_after = _routed(held_moves, matcher_for(refitted.team_examples))
    return Learned(
        corrections=len(kinds),
        learned=len(taught),
        held_out=len(held),
        labelled=len(shipped),
        held_before=_f1(held, current) if held else None,
        held_after=_f1(held, refitted) if held else None,
        labelled_before=_f1(shipped, current),
        labelled_after=_f1(shipped, refitted),
        installed=None,
        model=refitted,
        moved=len(moved),
        moves_held_out=len(held_moves),
        routed_before=routed_before,
        routed_after=routed_after,
    )


def _routed(moves: list[corrections.Correction], matcher: TeamMatcher | None) -> float:
    """The share of `moves` whose most alike team is the one people moved them to."""
    if matcher is None:
        return 0.0
    right = 0
    for move in moves:
        scores = matcher.scores(move.text)
        right += bool(scores) and scores[0][0] == move.new and scores[0][1] > 0
    return right / len(moves)


def _f1(examples: list[training.Example], model: ComplaintModel) -> float:
    return training.evaluate(examples, _decides(model)).f1


def _decides(model: ComplaintModel) -> Callable[[training.Example], bool]:
    return lambda e: e.score(model) >= model.threshold
