"""`allhands triage eval` on a CSV with bad rows; `train` and `learn` without data.

`triage learn` in the store, with its guard: tests/test_triage_store.py."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from bot.cli import main


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


def test_learn_and_train_without_data_say_so(tmp_path: Path) -> None:
    runner = CliRunner()
    for command in (["train"], ["learn", "--db", str(tmp_path / "x.db")]):
        result = runner.invoke(main, ["triage", *command, "--data", str(tmp_path / "none.csv")])
        assert result.exit_code == 2 and "no labelled data at" in result.output
