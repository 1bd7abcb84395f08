"""The command line: skmollal run / demo / recordings-summary."""
import json
import subprocess
import sys

import numpy as np
import pytest

from skmollal import cli
from skmollal.annotators import specs

from skmollal.testing.pool import LABELS, CountingAnnotator


def test_parser_defaults_and_specs():
    args = cli.build_parser().parse_args(["run", "--rounds", "3", "--annotator", "recorded:yi",
                                          "--annotator", "http://h:1/v1#m"])
    assert args.rounds == 3 and args.batch == 50
    # seed and test sizes: every labelled row and no test for a CSV, else the all-gold split
    assert args.seed_size is None and args.test_size is None
    assert cli.RUN_DEFAULTS["seed_size"] is None
    assert args.annotator == ["recorded:yi", "http://h:1/v1#m"]
    demo = cli.build_parser().parse_args(["demo"])
    assert demo.task == "demo" and demo.rounds == cli.DEMO_DEFAULTS["rounds"]
    assert not demo.recorded
    assert args.discrepancy_update == "query"
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--discrepancy-update", "never"])
    # noise handling: off by default; the reference is two options away
    assert args.discrepancy is None and not args.negative_learning
    ref = cli.build_parser().parse_args(["run", "--discrepancy", "reference",
                                         "--negative-learning", "--nl-source", "posterior"])
    assert (ref.discrepancy, ref.negative_learning, ref.nl_source) == ("reference", True,
                                                                       "posterior")
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["run", "--discrepancy", "sometimes"])


def test_bad_setting_exits_with_its_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["run", "--task", "demo", "--annotator", "gpt4", "--output", str(tmp_path)]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown annotator spec 'gpt4'" in err and "recorded:NAME" in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="unknown annotator spec"):
        cli.main(["-v", *argv])


def _write_csv(path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    words = {"alpha": "apple apricot", "beta": "bear bison", "gamma": "gold gravel"}
    lines = ["text,label"]
    for i in range(n):
        lab = LABELS[rng.integers(0, 3)]
        lines.append(f"{words[lab]} number {i} {lab},{lab}")
    path.write_text("\n".join(lines) + "\n")


def fake_annotators(monkeypatch, noise=0.2):
    """Make every ``--annotator`` spec a CountingAnnotator; return the list of those made."""
    made = []

    def fake(spec, labels, recordings=None, task_name=None):
        a = CountingAnnotator(spec, noise=noise, seed=len(made))
        made.append(a)
        return a

    monkeypatch.setattr(specs, "build_annotator", fake)
    return made


def test_run_on_csv_with_fake_annotators(tmp_path, monkeypatch):
    pytest.importorskip("skmollal.aggregation")
    made = fake_annotators(monkeypatch)
    data = tmp_path / "data.csv"
    _write_csv(data)
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "x", "--annotator", "y",
            "--mixture", "majority", "--featurizer", "tfidf", "--classifier", "logreg",
            "--rounds", "2", "--batch", "10", "--seed-size", "12", "--test-size", "0.2",
            "--output", str(out),
            "--discrepancy-update", "round", "--no-progress"]
    assert cli.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["discrepancy_update"] == "round"
    assert [h["n_labeled"] for h in res["history"]] == [12, 22, 32]
    assert res["n_test"] == 24 and 0 <= res["test_accuracy"] <= 1
    assert res["llm_calls"] == 32 * 2 == sum(a.calls for a in made)
    assert (out / "learning_curve.png").stat().st_size > 1000
    # rerun with one more round: resumes, pays only for the new round
    made.clear()
    rerun = list(argv)
    rerun[rerun.index("--rounds") + 1] = "3"
    assert cli.main(rerun) == 0
    assert sum(a.calls for a in made) == 10 * 2


def _fake_annotators(monkeypatch, noise=0.3):
    """Every annotator spec builds a CountingAnnotator; returns the list of those built."""
    made = []

    def fake(spec, labels, recordings=None, task_name=None):
        made.append(CountingAnnotator(spec, noise=noise, seed=len(spec)))
        return made[-1]

    monkeypatch.setattr(specs, "build_annotator", fake)
    return made


def test_run_prints_and_saves_the_label_report(tmp_path, monkeypatch, capsys):
    _fake_annotators(monkeypatch)
    data = tmp_path / "data.csv"
    _write_csv(data, n=80)
    lines = data.read_text().splitlines()
    # 20 labelled rows (the gold seed), the rest unlabelled
    data.write_text("\n".join([lines[0]] + [line if i < 20 else line.rsplit(",", 1)[0] + ","
                                            for i, line in enumerate(lines[1:])]) + "\n")
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "x", "--annotator", "yy",
            "--featurizer", "tfidf", "--classifier", "logreg", "--rounds", "2", "--batch", "10",
            "--output", str(out), "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Label report" in printed and "estimated label accuracy" in printed
    report = json.loads((out / "label_report.json").read_text())
    assert set(report) == {"accuracy", "accuracy_interval", "n_cv", "n_gold", "warning",
                           "classes", "annotators", "view_weights", "suspects"}
    assert report["classes"] == LABELS and report["n_cv"] == report["n_gold"] == 20
    assert report["warning"] is None and "warning:" not in printed
    lo, hi = report["accuracy_interval"]
    assert 0 <= lo <= report["accuracy"] <= hi <= 1
    assert [a["name"] for a in report["annotators"]] == ["x", "yy"]
    for llm in report["annotators"]:
        confusion = np.asarray(llm["confusion"])
        assert confusion.shape == (3, 3) and confusion.sum() == 20  # the gold rows
        assert llm["gold_accuracy"] == pytest.approx(np.trace(confusion) / 20, abs=1e-4)
        assert 0 <= llm["influence"] <= 1
    texts = [line.rsplit(",", 1)[0] for line in lines[1:]]
    suspects = report["suspects"]
    assert 0 < len(suspects) <= 20
    for s in suspects:  # unlabelled data rows, named as in the CSV
        assert s["row"] >= 20 and s["text"] == texts[s["row"]] and s["label"] in LABELS
    confidences = [s["confidence"] for s in suspects]
    assert confidences == sorted(confidences)  # least confident first
    assert f"row {suspects[0]['row']} " in printed
    res = json.loads((out / "results.json").read_text())
    assert res["files"]["label_report"] == str(out / "label_report.json")
    assert res["label_report"].startswith("estimated label accuracy")
    assert (out / "label_report.png").stat().st_size > 1000


def test_classifier_auto_is_chosen_on_the_gold_seed_and_resumes(tmp_path, monkeypatch, capsys):
    made = _fake_annotators(monkeypatch, noise=0.2)
    data = tmp_path / "data.csv"
    _write_csv(data, n=80)
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "x", "--annotator", "yy",
            "--featurizer", "tfidf", "--classifier", "auto", "--max-epochs", "5",
            "--seed-size", "24", "--rounds", "1", "--batch", "10", "--output", str(out),
            "--no-progress"]
    assert cli.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["classifier"] == "auto" and res["classifier"] in ("mlp", "logreg")
    assert set(res["classifier_cv"]) == {"mlp", "logreg"}
    assert all(0 <= acc <= 1 for acc in res["classifier_cv"].values())
    assert f"classifier {res['classifier']}, chosen by cross-validation" in capsys.readouterr().out
    made.clear()
    argv[argv.index("--rounds") + 1] = "2"  # the same choice again: the run resumes
    assert cli.main(argv) == 0
    assert sum(a.calls for a in made) == 10 * 2
    assert json.loads((out / "results.json").read_text())["classifier"] == res["classifier"]


def test_cascade_run_has_no_label_report(tmp_path, monkeypatch, caplog):
    _fake_annotators(monkeypatch)
    data = tmp_path / "data.csv"
    _write_csv(data, n=80)
    out = tmp_path / "out"
    assert cli.main(["run", "--data", str(data), "--annotator", "x", "--annotator", "yy",
                     "--featurizer", "tfidf", "--classifier", "logreg", "--rounds", "1",
                     "--batch", "10", "--seed-size", "20", "--cascade", "0.8",
                     "--output", str(out), "--no-progress"]) == 0
    assert "no label report" in caplog.text and "cascade" in caplog.text
    assert not (out / "label_report.json").exists()
    assert json.loads((out / "results.json").read_text())["label_report"] is None


@pytest.mark.recordings
def test_recordings_summary(recordings_dir, capsys):
    assert cli.main(["recordings-summary", "--recordings", str(recordings_dir)]) == 0
    out = capsys.readouterr().out
    assert "yi" in out and "majority vote" in out


@pytest.mark.slow
@pytest.mark.recordings
def test_run_on_recordings(recordings_dir, tmp_path):
    pytest.importorskip("skmollal.aggregation")
    out = tmp_path / "rec"
    argv = ["run", "--recordings", str(recordings_dir), "--task", "trec",
            "--mixture", "majority", "--featurizer", "tfidf", "--classifier", "logreg",
            "--rounds", "1", "--batch", "20", "--pool-size", "100", "--output", str(out),
            "--discrepancy-update", "round", "--no-progress"]
    assert cli.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["discrepancy_update"] == "round"
    assert res["panel"] == ["gemma", "llama", "mistral", "qwen", "yi"]
    assert res["history"][-1]["n_labeled"] == 70
    assert (res["llm_calls_paid"], res["llm_answers_recorded"]) == (0, 70 * 5)
    assert (out / "labels.csv").read_text().count("\n") == 71  # header + seed + annotated


def test_python_dash_m_help():
    proc = subprocess.run([sys.executable, "-m", "skmollal", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0 and "recordings-summary" in proc.stdout


@pytest.mark.parametrize("progress", [False, True])
def test_no_progress_hides_bars_that_other_libraries_draw_with_tqdm(progress):
    # transformers' GGUF loader draws its de-quantizing bar with plain tqdm
    code = ("import os; os.environ.pop('TQDM_DISABLE', None)\n"
            "from skmollal import cli\n"
            f"cli._configure_output(False, {progress})\n"
            "from tqdm.auto import tqdm\n"
            "for _ in tqdm(range(3), desc='de-quantizing'): pass\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert ("de-quantizing" in proc.stderr) is progress
