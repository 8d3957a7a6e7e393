"""`allhands triage eval` on a CSV with bad rows, and `triage learn` with its guard."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.clock import FakeClock
from bot.domain.mentions import Author, Item, Triage
from bot.store import corrections, mentions
from bot.store.db import Database
from bot.triage_model import learned_path, load_model

COMPLAINTS = ["my order never arrived", "still no refund", "app keeps crashing", "charged twice"]
OTHERS = ["how do I pay online", "love the new store", "what time do you open", "thanks a lot"]


def test_eval_reports_each_bad_row_and_counts_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text(
        "id,body,label\n"
        '1,"My order never arrived and nobody answers",1\n'
        "2,How do I reset my password?,no\n"
        "3,,1\n"
        '4,"ok thanks",maybe\n'
        "5,cut short\n"
        '6,"The app crashed again, third time today",complaint\n'
        '7,"multi\nline, with ""quotes"" and é",0\n',
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        main, ["triage", "eval", str(path), "--text", "body", "--label", "label"]
    )
    assert result.exit_code == 1, result.output
    assert f"{path}:4: body is empty" in result.stderr
    assert f"{path}:5: label is 'maybe'; write 1/0, yes/no or complaint" in result.stderr
    assert f"{path}:6: has 2 of 3 columns" in result.stderr
    assert "rows used: 4  complaints: 2  bad rows: 3" in result.stdout
    assert "model (threshold 0." in result.stdout and "rules alone" in result.stdout


def test_eval_refuses_a_missing_column_or_a_file_without_usable_rows(tmp_path: Path) -> None:
    path = tmp_path / "mine.csv"
    path.write_text("text,label\n,1\n", encoding="utf-8")
    runner = CliRunner()
    missing = runner.invoke(
        main, ["triage", "eval", str(path), "--text", "body", "--label", "label"]
    )
    assert (
        missing.exit_code == 2 and "no column 'body'; the header has text, label" in missing.output
    )
    empty = runner.invoke(main, ["triage", "eval", str(path), "--text", "text", "--label", "label"])
    assert empty.exit_code == 2 and "no usable rows" in empty.stderr
    absent = runner.invoke(
        main, ["triage", "eval", str(tmp_path / "x.csv"), "--text", "a", "--label", "b"]
    )
    assert absent.exit_code == 2


def _labelled(path: Path, rng: random.Random, count: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        for n in range(count):
            complaint = rng.random() < 0.4
            said = rng.choice(COMPLAINTS if complaint else OTHERS)
            text = f"@shop {said} {rng.choice(['', 'today', 'again'])}"
            writer.writerow([n, text, int(complaint), "retail"])


async def _store_with_corrections(
    path: str, clock: FakeClock, labels: list[tuple[str, str]]
) -> None:
    db = await Database(path).open()
    triage = Triage(kind="other", sentiment=0.0, urgency="low", team="support", rule="test")
    items = [(Item(str(i), text, Author(f"u{i}")), triage) for i, (text, _) in enumerate(labels)]
    await db.write(
        mentions.ingest, source="s", items=items, cursor=None, now=clock.now(), channel_of={}
    )
    for number, (_, kind) in enumerate(labels, start=1):
        mention = await db.read(mentions.get, number=number)
        assert mention is not None
        if kind != mention.kind:
            await db.write(
                corrections.relabel, mention=mention, kind=kind, actor="dana", now=clock.now()
            )
    await db.close()


async def test_learn_installs_a_better_model_and_refuses_a_worse_one(
    tmp_path: Path, clock: FakeClock
) -> None:
    rng = random.Random(5)
    data = tmp_path / "labelled.csv"
    _labelled(data, rng, 240)
    honest = [(f"@shop {t}", "complaint") for t in COMPLAINTS] * 3 + [
        (f"@shop {t}", "question") for t in OTHERS
    ] * 3
    store = str(tmp_path / "honest.db")
    await _store_with_corrections(store, clock, honest)
    # Two posts people moved to billing become billing's examples for routing by meaning.
    db = await Database(store).open()
    for number in (1, 2):
        mention = await db.read(mentions.get, number=number)
        assert mention is not None
        await db.write(
            corrections.move,
            mention=mention,
            team="billing",
            channel="console:#billing",
            actor="dana",
            now=clock.now(),
        )
    await db.close()
    runner = CliRunner()
    result = runner.invoke(main, ["triage", "learn", "--data", str(data), "--db", store])
    assert result.exit_code == 0, result.output
    assert "24 correction(s): 20 to learn from, 4 held out; 240 labelled posts" in result.stdout
    assert (
        "F1 on held-out corrections" in result.stdout and "F1 on the labelled data" in result.stdout
    )
    installed = learned_path(store)
    assert f"installed {installed}" in result.stdout
    assert "routing: 2 moved post(s) become teams' examples (billing 2)" in result.stdout
    before = installed.read_bytes()
    learned = load_model(installed)
    assert learned.team_examples == {
        "billing": (f"@shop {COMPLAINTS[1]}", f"@shop {COMPLAINTS[0]}")
    }

    # Corrections that swap complaints and the rest make a model worse on the labelled
    # data: it is measured, refused, and the installed one stays.
    poisoned = [
        (f"@shop {t} {end}", "complaint" if t in OTHERS else "praise")
        for t in COMPLAINTS + OTHERS
        for end in ("", "today", "again")
        for _ in range(8)
    ]
    poisoned_store = str(tmp_path / "poisoned.db")
    await _store_with_corrections(poisoned_store, clock, poisoned)
    learned_path(poisoned_store).write_bytes(before)
    refused = runner.invoke(main, ["triage", "learn", "--data", str(data), "--db", poisoned_store])
    assert refused.exit_code == 1, refused.output
    assert "not installed: the refitted model scores worse on the labelled data" in refused.stderr
    assert learned_path(poisoned_store).read_bytes() == before


def test_learn_and_train_without_data_say_so(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in (["train"], ["learn", "--db", str(tmp_path / "x.db")]):
        result = runner.invoke(main, ["triage", *command, "--data", str(tmp_path / "none.csv")])
        assert result.exit_code == 2 and "no labelled data at" in result.output


async def test_the_nightly_job_refits_and_triages_with_the_refit(
    tmp_path: Path, clock: FakeClock
) -> None:
    import io

    from bot.app import App
    from bot.chat.console import ConsoleAdapter
    from bot.playbooks import load_playbooks
    from bot.settings import Settings

    rng = random.Random(9)
    data = tmp_path / "labelled.csv"
    _labelled(data, rng, 240)
    store = str(tmp_path / "app.db")
    await _store_with_corrections(store, clock, [(f"@shop {t}", "complaint") for t in COMPLAINTS])
    book = tmp_path / "book.yaml"
    for enabled in ("false", "true"):
        book.write_text(
            "teams:\n  support: {channel: 'console:#support'}\n"
            f"triage: {{learn_nightly: {enabled}}}\n",
            encoding="utf-8",
        )
        app = App(
            settings=Settings(db_path=store),
            adapters={"console": ConsoleAdapter(io.StringIO())},
            clock=clock,
            playbooks=load_playbooks(book),
        )
        await app.start()
        try:
            shipped = app.triager.model
            done = await app.learn_nightly(data=data)
            if enabled == "false":
                assert done is None and app.triager.model is shipped
                continue
            assert done is not None and done.installed == learned_path(store)
            assert app.triager.model is done.model and done.model is not shipped
            # Without labelled data the job says so in the log and changes nothing.
            assert await app.learn_nightly(data=tmp_path / "none.csv") is None
            assert app.triager.model is done.model
        finally:
            await app.stop()
