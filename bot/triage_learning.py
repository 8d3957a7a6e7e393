"""Refitting the complaint model on the labelled data plus the team's `kind` corrections.

Used by `allhands triage learn` and by the nightly job (`triage.learn_nightly`). Blocking:
callers in the event loop run it on a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from bot import triage_training as training
from bot.domain.complaint_model import ComplaintModel
from bot.domain.triage import SentimentAnalyzer
from bot.errors import AllhandsError
from bot.store import corrections, sql
from bot.triage_model import learned_path, load_installed, save_model

MOVED_EXAMPLES = 50  # the most recent posts moved to a team that count as its examples


class LearnError(AllhandsError):
    """Learning cannot start: no labelled data, or no store to read corrections from."""


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
    installed: Path | None
    model: ComplaintModel
    moved: int = 0  # posts moved between teams, learned as the teams' examples

    @property
    def worse(self) -> bool:
        """The refit scores worse on the labelled data (so it was not installed)."""
        return self.labelled_after < self.labelled_before


def read_corrections(db_path: str, field: str = "kind") -> list[corrections.Correction]:
    """The latest correction of `field` on each mention in the store (read-only)."""
    if not sql.store_exists(db_path):
        raise LearnError(f"no store at {db_path} (ALLHANDS_DB)")
    try:
        with sql.read_only(db_path) as db:
            return corrections.latest(db, field=field)
    except sql.MISSING_TABLE as exc:
        raise LearnError(f"{db_path} is not an allhands store: {exc}") from None


def learn(
    *, data: Path, db_path: str, analyzer: SentimentAnalyzer, dry_run: bool = False
) -> Learned:
    """Refit, measure before and after, and install the refit only if it is no worse on the
    labelled data (and this is not a dry run)."""
    if not data.is_file():
        raise LearnError(f"no labelled data at {data} (see ../shared/data/README.md)")
    shipped = training.load_acl(data, analyzer)
    found = read_corrections(db_path)
    corrected = [training.example(c.text, c.new == "complaint", analyzer) for c in found]
    held = corrected[4::5]
    taught = [e for i, e in enumerate(corrected) if i % 5 != 4]
    current = load_installed(db_path)
    refitted = training.fit(
        [*shipped, *taught], trained_on=f"{data.name} + {len(taught)} corrections"
    )
    moved = read_corrections(db_path, "team")
    examples: dict[str, list[str]] = {}
    for correction in reversed(moved):  # the most recent first
        texts = examples.setdefault(correction.new, [])
        if len(texts) < MOVED_EXAMPLES:
            texts.append(correction.text[:500])
    refitted = replace(refitted, team_examples={t: tuple(x) for t, x in examples.items()})
    before, after = _f1(shipped, current), _f1(shipped, refitted)
    installed = None
    if after >= before and not dry_run:
        installed = save_model(refitted, learned_path(db_path))
    return Learned(
        corrections=len(found),
        learned=len(taught),
        held_out=len(held),
        labelled=len(shipped),
        held_before=_f1(held, current) if held else None,
        held_after=_f1(held, refitted) if held else None,
        labelled_before=before,
        labelled_after=after,
        installed=installed,
        model=refitted,
        moved=len(moved),
    )


def _f1(examples: list[training.Example], model: ComplaintModel) -> float:
    return training.evaluate(examples, _decides(model)).f1


def _decides(model: ComplaintModel) -> Callable[[training.Example], bool]:
    return lambda e: model.score(e.text, compound=e.compound) >= model.threshold
