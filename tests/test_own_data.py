"""The command line on a user's own, mostly unlabelled CSV (issue 12, section 1).

Every case goes through the real entry point (``skmollal.cli.main``; one through
``python -m skmollal``) on temporary CSVs; the LLMs are keyword rules behind the annotator
spec strings, so a run takes seconds.
"""
import csv
import json
import subprocess
import sys
import zlib
from pathlib import Path

import joblib
import numpy as np
import pytest

from skmollal import cli
from skmollal.annotators import specs
from skmollal.annotators.base import AnnotationResult
from skmollal.own_data import load_csv, split_labelled

LABELS = ["politics", "sports", "tech"]
WORDS = {"politics": "vote election party", "sports": "match goal team",
         "tech": "chip software code"}


class KeywordLLM:
    """A fake LLM: answers the class whose words the text holds (``noise`` of them wrong)."""

    def __init__(self, name, labels, noise=0.1, fail=False):
        self.name, self.labels, self.noise, self.fail = name, list(labels), noise, fail
        self.n_texts = 0

    def identity(self):
        return f"keyword-llm:{self.name}:{self.noise}"

    def annotate(self, texts):
        if self.fail:
            raise RuntimeError("connection refused by the LLM server")
        self.n_texts += len(texts)
        probs = []
        for text in texts:
            hit = [any(w in text for w in WORDS[lab].split()) for lab in self.labels]
            said = int(np.argmax(hit))
            if np.random.default_rng(zlib.crc32(f"{self.name}|{text}".encode())).random() < self.noise:
                said = (said + 1) % len(self.labels)
            p = np.full(len(self.labels), 0.02)
            p[said] = 1 - 0.02 * (len(self.labels) - 1)
            probs.append(p)
        probs = np.asarray(probs)
        return AnnotationResult(probs=probs, votes=np.eye(len(self.labels))[probs.argmax(1)])


@pytest.fixture
def llms(monkeypatch):
    """Annotator specs ``kw1``, ``kw2`` ... build keyword LLMs; ``broken`` one that fails."""
    made = []

    def build(spec, labels, recordings=None, task_name=None):
        made.append(KeywordLLM(spec, labels, fail=spec == "broken"))
        return made[-1]

    monkeypatch.setattr(specs, "build_annotator", build)
    return made


def write_csv(path, n=100, n_labelled=10, bom=True, label=lambda lab, i: lab, header="text,label,id"):
    """``n`` texts, the first ``n_labelled`` labelled, the rest blank or -1."""
    lines = [header]
    for i in range(n):
        lab = LABELS[i % 3]
        given = label(lab, i) if i < n_labelled else ("" if i % 2 else "-1")
        lines.append(f"{WORDS[lab]} item {i},{given},r{i}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig" if bom else "utf-8")
    return path


def run(tmp_path, *extra, data=None):
    data = data or write_csv(tmp_path / "data.csv")
    return cli.main(["run", "--data", str(data), "--annotator", "kw1", "--annotator", "kw2",
                     "--featurizer", "tfidf", "--classifier", "logreg", "--mixture", "majority",
                     "--rounds", "2", "--batch", "10", "--output", str(tmp_path / "out"),
                     "--no-progress", *extra])


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# ------------------------------------------------------------------------------ reading
def test_bom_csv_is_read(tmp_path):
    data = load_csv(write_csv(tmp_path / "d.csv", n=6, n_labelled=3), labels=LABELS)
    assert data.texts[0].startswith("vote") and data.y.tolist() == [0, 1, 2, -1, -1, -1]
    assert data.ids == [f"r{i}" for i in range(6)] and data.lines == list(range(2, 8))


@pytest.mark.parametrize("bad, suggestion", [("Sports", "sports"), ("sport", "sports"),
                                             ("tehc", "tech"), ("weather", None)])
def test_unknown_label_names_line_row_label_and_labels(tmp_path, llms, capsys, bad, suggestion):
    data = write_csv(tmp_path / "d.csv", label=lambda lab, i: bad if i == 4 else lab)
    assert run(tmp_path, "--labels", ",".join(LABELS), data=data) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    assert f"line 6 (data row 4, counting from 0): label {bad!r}" in err
    assert str(LABELS) in err
    assert (f"did you mean {suggestion!r}" in err) == (suggestion is not None)
    assert not llms  # refused before any annotator was built


def test_a_quote_never_closed_is_refused_naming_its_line(tmp_path, llms, capsys):
    data = tmp_path / "d.csv"
    rows = [f"text {i} about sports,sports" for i in range(6)]
    rows[3] = '"Videos do not play'  # a text cut at its comma: the quote is never closed
    data.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert run(tmp_path, data=data) == 2
    err = capsys.readouterr().err
    assert "line 5: a quoted text opens here and is never closed" in err and not llms


def test_loose_quoting_is_read_as_excel_does(tmp_path):
    data = tmp_path / "d.csv"
    data.write_text('text,label\n"a, b" ,sports\nsay "hi" now,\n"two\nlines",\n',
                    encoding="utf-8")
    got = load_csv(data, labels=LABELS)
    assert got.texts == ["a, b ", 'say "hi" now', "two\nlines"] and got.lines == [2, 3, 4]


def test_missing_text_column(tmp_path, llms, capsys):
    data = write_csv(tmp_path / "d.csv", header="sentence,label,id")
    assert run(tmp_path, data=data) == 2
    err = capsys.readouterr().err
    assert "no 'text' column" in err and "'sentence'" in err and not llms


def test_split_labelled_uses_only_labelled_rows():
    y = np.full(50, -1)
    y[:12] = np.arange(12) % 3
    seed, pool, test = split_labelled(y, LABELS, seed_size=5, test_size=0.25, random_state=3)
    assert len(test) == 3 and set(test) < set(range(12))
    assert len(seed) == 5 and set(seed) < set(range(12)) and not set(seed) & set(test)
    assert set(pool) == set(range(50)) - set(seed) - set(test)
    with pytest.raises(ValueError, match="no row is labelled"):
        split_labelled(np.full(5, -1))
    with pytest.raises(ValueError, match="at least two classes"):
        split_labelled(np.array([1, 1, -1, -1]))
    with pytest.raises(ValueError, match="nothing to annotate"):
        split_labelled(np.array([0, 1, 0, 1]))


# ------------------------------------------------------------------------------ a run
def test_ten_labelled_rows_of_a_hundred(tmp_path, llms, capsys):
    assert run(tmp_path) == 0
    out = tmp_path / "out"
    res = json.loads((out / "results.json").read_text())
    assert (res["n_seed"], res["n_pool"], res["n_test"]) == (10, 90, 0)
    assert res["test_accuracy"] is None and res["test_note"].startswith("no held-out gold")
    printed = capsys.readouterr().out
    assert "no held-out gold: accuracy not measured" in printed
    # every queried row is an unlabelled one
    assert all(i >= 10 for h in res["history"] for i in h["queried"])
    table = read_csv(out / "labels.csv")
    assert len(table) == 10 + 20
    assert list(table[0]) == ["row", "id", "text", "label", "confidence", "gold", "llm:kw1",
                              "llm:kw2"]
    gold = [r for r in table if r["gold"] == "True"]
    assert sorted(int(r["row"]) for r in gold) == list(range(10))
    assert all(r["label"] == LABELS[int(r["row"]) % 3] and float(r["confidence"]) == 1.0
               for r in gold)
    for r in table:
        assert r["id"] == f"r{r['row']}" and r["text"].endswith(f"item {r['row']}")
        assert r["llm:kw1"] in LABELS and r["llm:kw2"] in LABELS
        assert 0 < float(r["confidence"]) <= 1 and r["label"] in LABELS
    # the keyword LLMs are mostly right, so the fused labels are too
    assert np.mean([r["label"] == LABELS[int(r["row"]) % 3] for r in table]) > 0.8
    # the saved model labels new texts, in Python and through `skmollal predict`
    model = joblib.load(out / "model.joblib")
    assert list(model.predict(["election vote news", "software chip"])) == ["politics", "tech"]
    new = tmp_path / "new.csv"
    new.write_text("\ufeffid,text\na,goal match today\nb,party vote\n", encoding="utf-8")
    assert cli.main(["predict", "--model", str(out / "model.joblib"), "--data", str(new),
                     "--output", str(tmp_path / "pred.csv")]) == 0
    pred = read_csv(tmp_path / "pred.csv")
    assert [(p["id"], p["label"]) for p in pred] == [("a", "sports"), ("b", "politics")]
    assert {f"p:{lab}" for lab in LABELS} <= set(pred[0])


def test_seed_size_draws_from_labelled_rows_only(tmp_path, llms):
    data = write_csv(tmp_path / "d.csv", n_labelled=30)
    assert run(tmp_path, "--seed-size", "6", "--rounds", "0", data=data) == 0
    out = tmp_path / "out"
    res = json.loads((out / "results.json").read_text())
    assert (res["n_seed"], res["n_pool"]) == (6, 94)
    seed_rows = {int(r["row"]) for r in read_csv(out / "labels.csv") if r["gold"] == "True"}
    assert len(seed_rows) == 6 and seed_rows < set(range(30))


def test_test_split_only_when_asked_and_only_labelled(tmp_path, llms):
    data = write_csv(tmp_path / "d.csv", n_labelled=40)
    assert run(tmp_path, "--test-size", "0.25", data=data) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert (res["n_seed"], res["n_test"], res["n_pool"]) == (30, 10, 60)
    assert 0 <= res["test_accuracy"] <= 1 and "test_note" not in res
    assert (tmp_path / "out" / "learning_curve.png").exists()


def test_paid_calls_and_cache_hits_are_counted_apart(tmp_path, llms, capsys):
    assert run(tmp_path) == 0
    first = json.loads((tmp_path / "out" / "results.json").read_text())
    assert first["llm_calls"] == 30 * 2 == first["llm_calls_paid"] == sum(a.n_texts for a in llms)
    assert first["llm_answers_cached"] == 0
    # start the run afresh (state deleted): every answer now comes from the cache
    import shutil

    shutil.rmtree(tmp_path / "out" / "state")
    llms.clear()
    capsys.readouterr()
    assert run(tmp_path) == 0
    second = json.loads((tmp_path / "out" / "results.json").read_text())
    assert sum(a.n_texts for a in llms) == 0
    assert (second["llm_calls_paid"], second["llm_answers_cached"]) == (0, 60)
    assert "0 LLM calls paid now, 60 from the annotation cache" in capsys.readouterr().out


# ------------------------------------------------------------------------------ refusals
@pytest.mark.parametrize("extra, message", [
    (["--rounds", "-3"], "--rounds must be a whole number >= 0; got -3"),
    (["--batch", "0"], "--batch: The 'batch_size' parameter of skmollal run must be an int in "
                          "the range [1, inf). Got 0 instead."),
    (["--strategy", "entropyy"], "unknown --strategy 'entropyy'"),
    (["--mixture", "vote"], "unknown --mixture 'vote'"),
    (["--seed-size", "50"], "seed size 50 is more than the 10 labelled rows"),
    (["--annotator", "gpt4"], "unknown annotator spec 'kw1'"),
])
def test_bad_settings_are_refused_before_any_llm_call(tmp_path, llms, capsys, monkeypatch,
                                                       extra, message):
    if "gpt4" in extra:
        monkeypatch.undo()  # the real spec parser: it names the first unknown spec, kw1
        monkeypatch.chdir(tmp_path)
    assert run(tmp_path, *extra) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "Traceback" not in err
    assert sum(a.n_texts for a in llms) == 0


def test_verbose_after_run_shows_the_traceback(tmp_path, llms):
    from skmollal.experiment import ConfigError

    with pytest.raises(ConfigError, match="--rounds"):
        run(tmp_path, "-v", "--rounds", "-3")
    args = cli.build_parser().parse_args(["run", "-v"])
    assert args.verbose and not cli.build_parser().parse_args(["run"]).verbose


def test_a_failing_llm_is_a_one_line_run_error(tmp_path, llms, capsys):
    data = write_csv(tmp_path / "d.csv")
    status = cli.main(["run", "--data", str(data), "--annotator", "broken", "--featurizer",
                       "tfidf", "--classifier", "logreg", "--output", str(tmp_path / "o"),
                       "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert status == 1 and "\n" not in err
    assert "connection refused" in err and "run the same command to resume" in err


def test_a_different_run_in_the_same_folder_is_refused(tmp_path, llms, capsys):
    assert run(tmp_path) == 0
    before = (tmp_path / "out" / "results.json").read_text()
    assert run(tmp_path, "--strategy", "entropy") == 1
    err = capsys.readouterr().err
    assert "different run" in err and "strategy" in err
    assert "run the same command to resume" not in err  # that would not help here
    assert (tmp_path / "out" / "results.json").read_text() == before


def test_run_help_describes_the_csv_the_seed_and_every_output(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for needed in ("CSV format", "byte-order mark", "blank or -1", "--seed-size", "seed",
                   "pool", "--test-size", "results.json", "labels.csv", "model.joblib",
                   "learning_curve.png", "annotations.sqlite", "state/", "skmollal predict",
                   "Exit status"):
        assert needed in text, needed


def test_predict_without_a_model_file(tmp_path, capsys):
    status = cli.main(["predict", "--model", str(tmp_path / "none.joblib"), "--data", "x.csv"])
    assert status == 2 and "no such file" in capsys.readouterr().err


def test_exit_status_through_python_dash_m(tmp_path):
    data = write_csv(tmp_path / "d.csv")
    proc = subprocess.run([sys.executable, "-m", "skmollal", "run", "--data", str(data),
                           "--annotator", "gpt4", "--rounds", "-3", "--output",
                           str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=300,
                          cwd=Path(__file__).resolve().parents[1])
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert lines == ["skmollal run: --rounds must be a whole number >= 0; got -3. "
                     "(-v shows the traceback)"]


# ------------------------------------------------------------------------------ saved runs
# (issue 12, section 2: MoLLIAClassifier(output_dir=...) under a parameter search)
from sklearn.model_selection import GridSearchCV, PredefinedSplit  # noqa: E402

from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402

from skmollal.testing.pool import LABELS as LABELS3, CountingAnnotator, MeanProbMixture  # noqa: E402
from skmollal.testing.pool import VOCAB, make_texts  # noqa: E402
from skmollal.testing.pool import small_mollia_classifier as make_clf  # noqa: E402


def noisy_panel():
    return [CountingAnnotator("a", 0.3, 1), CountingAnnotator("b", 0.5, 2)]


def search(output_dir=None):
    """GridSearchCV over four candidates scored on a gold dev fold."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 120)
    every = sorted(w for words in VOCAB.values() for w in words)
    # one word of the class among three of any class: a hard task, so candidates differ
    texts = [" ".join([rng.choice(VOCAB[LABELS3[c]]), *rng.choice(every, 3)])
             + f" {LABELS3[c]}" for c in y]
    y_search = np.full(len(y), -1)
    y_search[:9] = y[:9]  # the seed
    y_search[90:] = y[90:]  # the dev fold
    fold = np.where(np.arange(len(y)) >= 90, 0, -1)
    clf = make_clf(panel=noisy_panel(), mixture=MeanProbMixture(), output_dir=output_dir,
                   featurizer=TfidfVectorizer(token_pattern=r"[a-z]+\b", stop_words=LABELS3))
    grid = GridSearchCV(clf, {"batch_size": [5, 15], "strategy": ["random", "margin"]},
                        cv=PredefinedSplit(fold), refit=False, error_score="raise")
    return grid.fit(texts, y_search)


def test_grid_search_with_output_dir_scores_as_without(tmp_path):
    plain = search()
    saved = search(tmp_path)
    scores = saved.cv_results_["mean_test_score"]
    np.testing.assert_array_equal(scores, plain.cv_results_["mean_test_score"])
    assert len({round(s, 6) for s in scores}) > 1  # the candidates do differ
    assert len(list(tmp_path.glob("run-*"))) == 4  # one sub-folder per candidate
    # the same search again resumes every candidate's own folder: same scores
    np.testing.assert_array_equal(search(tmp_path).cv_results_["mean_test_score"], scores)


def test_refit_resumes_its_own_folder_and_other_data_gets_another(tmp_path):
    texts, y = make_texts(100, seed=2)
    ys = np.where(np.arange(100) < 12, y, -1)
    first = make_clf(output_dir=tmp_path).fit(texts, ys)
    assert first.run_dir_.parent == tmp_path and len(first.run_dir_.name) == len("run-") + 12
    again = make_clf(output_dir=tmp_path)
    again.fit(texts, ys)
    assert again.run_dir_ == first.run_dir_
    assert sum(a.calls for a in again.panel) == 0  # resumed: nothing annotated again
    np.testing.assert_array_equal(again.predict(texts), first.predict(texts))
    other = make_clf(output_dir=tmp_path).fit(texts[:80], ys[:80])
    assert other.run_dir_ != first.run_dir_ and sum(a.calls for a in other.panel) > 0
    assert make_clf(output_dir=None).fit(texts, ys).run_dir_ is None


class HeavyAnnotator(CountingAnnotator):
    """Holds 40 MB of "weights" in ``_loaded`` and drops them when pickled, as
    ``TransformersAnnotator`` does for a model loaded by name."""

    def __init__(self, *args, **kw):
        super().__init__(*args, **kw)
        self._loaded = np.ones(5_000_000)

    def __getstate__(self):
        return {**self.__dict__, "_loaded": None}


def test_a_joblib_saved_classifier_is_small(tmp_path):
    texts, y = make_texts(100, seed=3)
    clf = make_clf(panel=[HeavyAnnotator("a", 0.1, 1), HeavyAnnotator("b", 0.2, 2)])
    clf.fit(texts, np.where(np.arange(100) < 12, y, -1))
    path = tmp_path / "clf.joblib"
    joblib.dump(clf, path)
    assert path.stat().st_size < 2_000_000  # the panel's 80 MB of weights stayed out
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded.predict(texts), clf.predict(texts))


def test_damaged_cache_names_the_file_and_refresh_cache_recovers(tmp_path, llms, capsys):
    assert run(tmp_path) == 0
    import shutil

    shutil.rmtree(tmp_path / "out" / "state")  # start afresh on a damaged cache
    import gc

    gc.collect()  # close the first run's connections, as a new process would have none
    cache = tmp_path / "out" / "annotations.sqlite"
    for part in ("-wal", "-shm"):
        (tmp_path / "out" / f"annotations.sqlite{part}").unlink(missing_ok=True)
    cache.write_bytes(b"this is not a database" * 100)
    capsys.readouterr()
    assert run(tmp_path) == 1
    err = capsys.readouterr().err
    assert "annotations.sqlite" in err and "--refresh-cache" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    llms.clear()
    assert run(tmp_path, "--refresh-cache") == 0
    assert sum(a.n_texts for a in llms) == 60  # the unreadable answers were bought again
