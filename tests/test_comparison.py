"""The majority-vote loop beside a run: the same texts and cached answers, no new LLM call."""
import json

import pytest

from skmollal import cli

from test_cli import _write_csv, fake_annotators


def test_compare_majority_reuses_the_runs_answers(tmp_path, monkeypatch, capsys):
    pytest.importorskip("skmollal.aggregation")
    made = fake_annotators(monkeypatch, noise=0.4)
    data = tmp_path / "data.csv"
    _write_csv(data)
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "x", "--annotator", "y",
            "--featurizer", "tfidf", "--classifier", "logreg", "--rounds", "2",
            "--mixture", "two-view",  # reads the features too: the labels table passes them
            "--batch", "10", "--seed-size", "12", "--test-size", "0.2", "--output", str(out),
            "--compare-majority", "--no-progress"]
    assert cli.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    majority = res["majority_vote"]
    assert [h["round"] for h in majority["history"]] == [h["round"] for h in res["history"]]
    assert majority["llm_calls_paid"] == 0  # every answer served by the cache
    calls = sum(a.calls for a in made)
    assert calls == res["llm_calls_paid"]  # the annotators were asked once per text
    assert 0 <= majority["test_accuracy"] <= 1
    printed = capsys.readouterr().out
    assert "majority vote" in printed and "side by side" in printed
