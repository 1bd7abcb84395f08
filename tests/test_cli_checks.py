"""What the command line says about input a new user gets wrong, and about what it reports.

Every run here uses fake annotators (:class:`skmollal.testing.FakeAnnotator`, built for
whatever classes the CSV has) or recordings written by the test, so nothing is downloaded.
"""
import csv
import json

import numpy as np
import pytest

from skmollal import cli
from skmollal.annotators import specs
from skmollal.testing import FakeAnnotator

WORDS = {"alpha": "apple apricot", "beta": "bear bison", "gamma": "gold gravel"}
FAST = ["--featurizer", "tfidf", "--classifier", "logreg", "--mixture", "majority",
        "--no-progress"]


@pytest.fixture
def built(monkeypatch):
    """Every annotator spec builds a FakeAnnotator on the run's classes; the list of them."""
    made = []

    def fake(spec, labels, recordings=None, task_name=None):
        made.append(FakeAnnotator(labels, name=spec.replace(":", "-")))
        return made[-1]

    monkeypatch.setattr(specs, "build_annotator", fake)
    return made


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def rows_of(n, n_labelled, seed=0, classes=tuple(WORDS)):
    """``n`` rows, the first ``n_labelled`` labelled (every class among them)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        label = classes[i % len(classes)] if i < n_labelled else classes[rng.integers(3)]
        noise = " ".join(f"w{k}" for k in rng.integers(0, 300, 4))  # tfidf needs a vocabulary
        out.append((f"{WORDS[label]} {noise} number {i}", label if i < n_labelled else ""))
    return out


def run(tmp_path, data, *extra, rounds=1):
    return cli.main(["run", "--data", str(data), "--annotator", "x", "--annotator", "y",
                     "--rounds", str(rounds), "--batch", "8", "--output",
                     str(tmp_path / "out"), *FAST, *extra])


def one_line_error(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


# ------------------------------------------------------------------- the labels of a CSV
def test_one_text_with_two_gold_labels_is_refused_before_any_call(tmp_path, built, capsys):
    rows = rows_of(40, 12)
    rows[20] = (rows[3][0], "beta" if rows[3][1] != "beta" else "gamma")  # line 22
    data = write_csv(tmp_path / "data.csv", rows)
    assert run(tmp_path, data) == 2
    err = one_line_error(capsys)
    assert "one text has different labels" in err
    assert f"line 5 {rows[3][1]!r}, line 22 {rows[20][1]!r}" in err
    assert rows[3][0] in err
    assert built == []  # refused before any annotator was built
    # the same text twice with the same label is fine
    rows[20] = rows[3]
    assert run(tmp_path, write_csv(tmp_path / "data.csv", rows)) == 0


def test_labels_read_from_the_file_warn_about_case_and_one_off_classes(tmp_path, built,
                                                                       caplog):
    rows = rows_of(40, 15)
    rows[30] = (rows[30][0], "Alpha")   # line 32: case-only variant, on one row
    rows[31] = (rows[31][0], "gama")    # line 33: a typo, on one row
    data = write_csv(tmp_path / "data.csv", rows)
    assert run(tmp_path, data) == 0
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    case = [m for m in warned if "differ only in case" in m]
    assert len(case) == 1 and "'Alpha' (line 32)" in case[0] and "'alpha' (lines 2," in case[0]
    single = [m for m in warned if "single labelled row" in m]
    assert any("'gama'" in m and "line 33" in m and "typo of 'gamma'" in m for m in single)
    assert any("'Alpha'" in m for m in single)
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["labels"] == ["Alpha", "alpha", "beta", "gama", "gamma"]
    assert sorted(results["notes"]) == sorted(case + single)  # kept with the results


def test_deliberate_labels_give_no_warning(tmp_path, built, caplog):
    data = write_csv(tmp_path / "data.csv", rows_of(40, 15))
    assert run(tmp_path, data) == 0
    assert not [r for r in caplog.records
                if "differ only in case" in r.getMessage()
                or "single labelled row" in r.getMessage()]


# ------------------------------------------------------------------- settings
@pytest.mark.parametrize("extra,message", [
    (["--max-epochs", "0"], "--max-epochs must be a whole number >= 1; got 0"),
    (["--max-epochs", "-1"], "--max-epochs must be a whole number >= 1; got -1"),
    (["--stop", "kappa:kappa=2"], "kappa must be a number in [-1, 1]"),
    (["--stop", "labels:max_changed=-1"], "max_changed must be a number in [0, 1]"),
])
def test_settings_that_could_never_work_are_refused(tmp_path, built, capsys, extra, message):
    data = write_csv(tmp_path / "data.csv", rows_of(40, 12))
    assert run(tmp_path, data, *extra) == 2
    assert message in one_line_error(capsys)
    assert built == []


def test_labels_without_a_csv_are_refused(tmp_path, capsys):
    argv = ["run", "--task", "trec", "--labels", "a,b", "--output", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    err = one_line_error(capsys)
    assert "--labels names the classes of your CSV (--data)" in err and "'trec'" in err


def test_predict_with_a_file_that_is_no_model(tmp_path, capsys):
    (tmp_path / "results.json").write_text(json.dumps({"config": {}, "history": []}))
    data = write_csv(tmp_path / "new.csv", [("a text", "")])
    argv = ["predict", "--model", str(tmp_path / "results.json"), "--data", str(data),
            "--output", str(tmp_path / "p.csv")]
    assert cli.main(argv) == 2
    err = one_line_error(capsys)
    assert "results.json is not a model file" in err and "model.joblib" in err
    assert not (tmp_path / "p.csv").exists()


# ------------------------------------------------------------------- recorded answers
def write_recordings(folder, texts, gold, labels=("alpha", "beta", "gamma"), seed=0):
    """Recordings of task ``tix`` by two LLMs, in the format of the shared recordings."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for llm in ("m1", "m2"):
        with open(folder / f"tix_{llm}.json", "w") as fh:
            for text, label in zip(texts, gold):
                said = label if rng.random() < 0.8 else labels[rng.integers(3)]
                probs = [0.9 if c == said else 0.05 for c in labels]
                fh.write(json.dumps({"text": text, "label": label, "llm_logits": probs,
                                     "llm_label": [said] * 5}) + "\n")
    return folder


def recorded_run(tmp_path, data, recordings, *extra):
    return cli.main(["run", "--data", str(data), "--recordings", str(recordings),
                     "--task", "tix", "--annotator", "recorded:m1", "--annotator",
                     "recorded:m2", "--rounds", "2", "--batch", "8", "--output",
                     str(tmp_path / "out"), *FAST, *extra])


def test_a_csv_of_recorded_texts_is_answered_by_the_recordings(tmp_path, capsys):
    rows = rows_of(60, 12)
    texts = [t for t, _ in rows]
    gold = ["alpha", "beta", "gamma"] * 20
    recordings = write_recordings(tmp_path / "rec", texts + ["never asked"], gold + ["beta"])
    data = write_csv(tmp_path / "data.csv", rows[:50])
    assert recorded_run(tmp_path, data, recordings) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert res["panel"] == ["m1", "m2"] and res["labels"] == ["alpha", "beta", "gamma"]
    assert [h["n_labeled"] for h in res["history"]] == [12, 20, 28]
    assert res["llm_calls_paid"] == 0 and res["llm_answers_recorded"] == 28 * 2
    # a text the recordings do not hold is named before anything runs
    rows[40] = ("a question nobody recorded", "")
    data = write_csv(tmp_path / "data.csv", rows[:50])
    assert recorded_run(tmp_path, data, recordings, "--output", str(tmp_path / "o2")) == 2
    err = one_line_error(capsys)
    assert "line 42 (data row 40): text 'a question nobody recorded'" in err
    assert "1 of the CSV's 50 texts are not" in err
    # --labels must be the recordings' classes
    assert recorded_run(tmp_path, data, recordings, "--labels", "alpha,beta") == 2
    assert "are not the classes of the 'tix' recordings" in one_line_error(capsys)


# ------------------------------------------------------------------- what a run reports
def test_fewer_rounds_than_the_folder_holds_say_so(tmp_path, built, caplog):
    data = write_csv(tmp_path / "data.csv", rows_of(60, 12))
    assert run(tmp_path, data, rounds=3) == 0
    texts_before = sum(a.n_texts for a in built)
    caplog.clear()
    assert run(tmp_path, data, rounds=2) == 0
    note = f"{tmp_path / 'out'} holds 3 rounds, more than --rounds 2: nothing was run"
    assert note in caplog.text
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(res["notes"]) == 1 and res["notes"][0].startswith(note)
    assert sum(a.n_texts for a in built) == texts_before  # nothing asked again
    assert run(tmp_path, data, rounds=3) == 0  # the rounds it holds: no note
    assert json.loads((tmp_path / "out" / "results.json").read_text())["notes"] == []


def test_a_label_report_on_a_tiny_seed_says_it_cannot_rank(tmp_path, built, capsys):
    data = write_csv(tmp_path / "data.csv", rows_of(60, 6))
    assert run(tmp_path, data, "--mixture", "molam") == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "out" / "label_report.json").read_text())
    assert report["n_gold"] == 6
    assert "fewer than 20: too few to rank the LLMs" in report["warning"]
    assert f"warning: these estimates rest on {min(6, report['n_cv'])} gold row(s)" in printed
    assert "(gold acc on 6 gold rows)" in printed


def test_tfidf_on_a_csv_with_a_tiny_vocabulary_runs(tmp_path, built):
    rows = [("my bill is wrong", "alpha"), ("the app crashes", "beta"), ("refund please", "alpha"),
            ("login fails", "beta"), ("hello", ""), ("where is my invoice", ""),
            ("app freezes on start", "")]
    data = write_csv(tmp_path / "tiny.csv", rows)
    assert run(tmp_path, data) == 0  # 17 terms: TruncatedSVD(64) alone refused them
