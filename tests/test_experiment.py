"""The shared experiment runner: splits, factories by name, spec strings, one tiny run."""
import json

import numpy as np
import pytest

from skmollal import experiment
from skmollal.annotators import specs
from skmollal.annotators.specs import SPEC_FORMS, build_annotator, build_panel
from skmollal.classifiers import (AUTO_CANDIDATES, CLASSIFIERS, choose_classifier,
                                  make_classifier, resolve_classifier)
from skmollal.testing import FakeAnnotator

from skmollal.testing.pool import LABELS


# ------------------------------------------------------------------------------ splits
@pytest.mark.parametrize("n, seed_size, test_size", [(100, 10, 0.2), (57, 5, 0.3), (10, 1, 0.5)])
def test_split_rows_is_a_sorted_partition(n, seed_size, test_size):
    seed, pool, test = experiment.split_rows(n, seed_size, test_size, random_state=1)
    assert len(seed) == seed_size and len(test) == int(round(test_size * n))
    assert len(seed) + len(pool) + len(test) == n
    assert sorted(np.concatenate([seed, pool, test]).tolist()) == list(range(n))
    for part in (seed, pool, test):
        assert part.tolist() == sorted(part.tolist())


def test_split_rows_seeding_and_pool_size():
    seed, pool, test = experiment.split_rows(100, 10, 0.2, random_state=1)
    again = experiment.split_rows(100, 10, 0.2, random_state=1)
    assert all(a.tolist() == b.tolist() for a, b in zip((seed, pool, test), again))
    other = experiment.split_rows(100, 10, 0.2, random_state=2)
    assert other[2].tolist() != test.tolist()
    seed2, pool2, test2 = experiment.split_rows(100, 10, 0.2, pool_size=30, random_state=1)
    assert seed2.tolist() == seed.tolist() and test2.tolist() == test.tolist()
    assert len(pool2) == 30 and set(pool2) <= set(pool)
    with pytest.raises(ValueError, match="test_size"):
        experiment.split_rows(100, 10, 1.5)
    with pytest.raises(ValueError, match="leaves no pool"):
        experiment.split_rows(20, 16, 0.2)


def test_training_labels_gold_on_seed_only():
    y_gold = np.array([0, 1, 2, 1, 0, -1])
    rows, y = experiment.training_labels(y_gold, np.array([1, 2]), np.array([0, 5]))
    assert rows.tolist() == [1, 2, 0, 5] and y.tolist() == [1, 2, -1, -1]
    with pytest.raises(ValueError, match="no gold label"):
        experiment.training_labels(y_gold, np.array([5]), np.array([0]))


def test_load_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\none,b\ntwo,a\nthree,\nfour,c\n")
    data = experiment.load_csv(path)
    assert data.texts == ["one", "two", "three", "four"] and data.labels == ["a", "b", "c"]
    assert data.y.tolist() == [1, 0, -1, 2]
    assert experiment.load_csv(path, labels="b,a,c").y.tolist() == [0, 1, -1, 2]
    with pytest.raises(ValueError, match=r"line 5 \(data row 3, counting from 0\): label 'c' "
                                         r"is not one of the labels \['b', 'a'\]"):
        experiment.load_csv(path, labels="b,a")  # a label that is not a class: no silent drop
    (tmp_path / "bad.csv").write_text("sentence\nx\n")
    with pytest.raises(ValueError, match="'text' column"):
        experiment.load_csv(tmp_path / "bad.csv")


def test_load_experiment_data_demo():
    data = experiment.load_experiment_data("demo")
    assert len(data.texts) == len(data.y) == 180 and data.recordings is None
    assert len(data.labels) == 6 and (data.y >= 0).all()


# ------------------------------------------------------------------------------ factories
def test_make_classifier_kinds():
    from sklearn.linear_model import LogisticRegression

    from skmollal.finetune import TransformerTextClassifier
    from skmollal.negative_learning import NegativeLearningClassifier

    mlp = make_classifier("mlp", random_state=3, max_epochs=4)
    assert type(mlp) is NegativeLearningClassifier
    assert (mlp.random_state, mlp.max_epochs) == (3, 4)
    assert make_classifier("mlp").max_epochs == NegativeLearningClassifier().max_epochs
    ft = make_classifier("finetune", random_state=1, max_epochs=2)
    assert type(ft) is TransformerTextClassifier and (ft.random_state, ft.max_epochs) == (1, 2)
    assert isinstance(make_classifier("logreg", random_state=0), LogisticRegression)
    assert set(CLASSIFIERS) == {"mlp", "logreg", "finetune", "auto"}
    assert experiment.make_classifier is make_classifier
    with pytest.raises(ValueError, match="unknown classifier 'svm'.*finetune.*logreg.*mlp"):
        make_classifier("svm")
    with pytest.raises(ValueError, match="'auto' is chosen from the gold rows"):
        make_classifier("auto")


def _separable(n=60, seed=0):
    """Three well separated classes, features far from zero (a 1-epoch MLP cannot fit them)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    X = (rng.normal(size=(n, 5)) + 6.0 * np.eye(3, 5)[y] + 20.0).astype(np.float32)
    return X, y


def test_choose_classifier_keeps_the_richest_unless_a_simpler_one_is_clearly_better():
    X, y = _separable()
    assert AUTO_CANDIDATES[0] == "mlp"
    name, scores = choose_classifier(X, y, random_state=0)  # both fit it: keep the first
    assert name == "mlp" and scores["mlp"] >= 0.9 and scores["logreg"] >= 0.9
    name, scores = choose_classifier(X, y, random_state=0, max_epochs=1)  # MLP undertrained
    assert name == "logreg" and scores["logreg"] > scores["mlp"] + 0.3
    name, scores = choose_classifier(X, y, ("logreg", "mlp"), random_state=0, max_epochs=1)
    assert name == "logreg"


def test_choose_classifier_with_too_little_gold_keeps_the_first():
    X, y = _separable(4)
    assert choose_classifier(X[:1], y[:1]) == ("mlp", {})
    assert choose_classifier(X[[0, 3]], y[[0, 3]]) == ("mlp", {})  # one class
    name, scores = choose_classifier(X[:4], y[:4], random_state=0)  # a class with one row
    assert name in AUTO_CANDIDATES and set(scores) == set(AUTO_CANDIDATES)
    with pytest.raises(ValueError, match="no candidates"):
        choose_classifier(X, y, ())


def test_resolve_classifier_reads_only_the_gold_rows():
    X, y = _separable()
    X_all = np.vstack([X, np.full((20, 5), np.nan, np.float32)])  # unlabeled rows: unusable
    y_all = np.concatenate([y, np.full(20, -1)])
    assert resolve_classifier("mlp", X_all, y_all) == ("mlp", {})
    name, scores = resolve_classifier("auto", X_all, y_all, random_state=0, max_epochs=1)
    assert name == "logreg" and set(scores) == {"mlp", "logreg"}


def test_make_aggregator_names():
    import skmollal

    for name, cls in experiment.AGGREGATORS.items():
        agg = experiment.make_aggregator(name)
        assert type(agg) is getattr(skmollal, cls)
        assert agg is not experiment.make_aggregator(name)  # a fresh one each time
    assert type(experiment.make_aggregator("mollia")) is skmollal.MixtureOfLLMsAnnotator
    with pytest.raises(ValueError, match="unknown aggregator 'vote'") as err:
        experiment.make_aggregator("vote")
    for name in experiment.AGGREGATORS:
        assert repr(name) in str(err.value)


def test_make_featurizer_names():
    feats = experiment.make_featurizer("tfidf").fit_transform(
        [f"text number {i} about {w}" for i, w in enumerate(["cats", "dogs"] * 40)])
    assert feats.shape == (80, 64)
    with pytest.raises(ValueError, match="unknown featurizer 'bow'.*minilm.*tfidf"):
        experiment.make_featurizer("bow")


# ------------------------------------------------------------------------------ specs
def test_unknown_spec_lists_the_known_forms(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="unknown annotator spec 'gpt4'") as err:
        build_annotator("gpt4", LABELS)
    for form in SPEC_FORMS:
        assert form in str(err.value)
    with pytest.raises(ValueError, match="unknown annotator spec"):
        build_panel(["gpt4"], LABELS)


def test_spec_errors_name_what_is_missing():
    with pytest.raises(ValueError, match="model name after '#'"):
        build_annotator("http://localhost:8000/v1", LABELS)
    with pytest.raises(ValueError, match="need --recordings"):
        build_annotator("recorded:yi", LABELS)


def test_spec_forms_that_build_without_a_model(tmp_path):
    from skmollal.annotators.local import TransformersAnnotator
    from skmollal.annotators.openai import OpenAICompatibleAnnotator

    server = build_annotator("http://localhost:8000/v1#my-model", LABELS, task_name="t")
    assert isinstance(server, OpenAICompatibleAnnotator) and list(server.labels) == LABELS
    local = build_annotator(str(tmp_path), LABELS)  # an existing folder: a local model
    assert isinstance(local, TransformersAnnotator) and local.name == tmp_path.name
    hub = build_annotator("hf:org/some-model", LABELS)
    assert isinstance(hub, TransformersAnnotator) and hub.name == "some-model"


def test_build_panel_flattens_and_caches_live_annotators(tmp_path, monkeypatch):
    from skmollal.annotators.cache import CachedAnnotator
    from skmollal.annotators.panel import LLMPanel

    def fake(spec, labels, recordings=None, task_name=None):
        if spec == "many":
            return LLMPanel([FakeAnnotator(labels, name=f"p{i}") for i in range(3)])
        return FakeAnnotator(labels, name=spec)

    monkeypatch.setattr(specs, "build_annotator", fake)
    panel = build_panel(["a", "many", "b"], LABELS)
    assert [a.name for a in panel] == ["a", "p0", "p1", "p2", "b"]
    assert not any(isinstance(a, CachedAnnotator) for a in panel)
    cached = build_panel(["a", "many"], LABELS, cache_path=tmp_path / "c.sqlite")
    assert len(cached) == 4 and all(isinstance(a, CachedAnnotator) for a in cached)


# ------------------------------------------------------------------------------ a run
@pytest.fixture
def fake_specs(monkeypatch):
    made = []

    def fake(spec, labels, recordings=None, task_name=None):
        made.append(FakeAnnotator(labels, name=spec, seed=len(made)))
        return made[-1]

    monkeypatch.setattr(specs, "build_annotator", fake)
    return made


def test_run_experiment_on_the_demo_set(tmp_path, fake_specs):
    out = tmp_path / "run"
    config = {"task": "demo", "annotator": ["x", "y", "z"], "mixture": "majority",
              "featurizer": "tfidf", "classifier": "logreg", "rounds": 2, "batch": 8,
              "seed_size": 12, "output": out, "no_progress": True}
    res = experiment.run_experiment(config)
    assert res == json.loads((out / "results.json").read_text())
    assert res["panel"] == ["x", "y", "z"] and len(res["labels"]) == 6
    assert (res["n_seed"], res["n_test"], res["n_pool"]) == (12, 36, 180 - 36 - 12)
    assert [h["n_labeled"] for h in res["history"]] == [12, 20, 28]
    assert res["llm_calls"] == 3 * 28 == sum(a.n_texts for a in fake_specs)
    assert 0 <= res["test_accuracy"] <= 1 and 0 <= res["test_macro_f1"] <= 1
    # the settings not given take the command line's defaults, and are recorded
    assert res["config"]["strategy"] == experiment.RUN_DEFAULTS["strategy"]
    assert res["config"]["output"] == str(out)
    seed, pool, test = experiment.split_rows(180, 12, 0.2, random_state=0)
    queried = {i for h in res["history"] for i in h["queried"]}
    assert queried <= set(pool) and len(queried) == 16
    assert (out / "learning_curve.png").exists()


def test_run_experiment_needs_specs_without_recordings(tmp_path):
    with pytest.raises(ValueError, match="give --annotator specs"):
        experiment.run_experiment({"task": "demo", "output": tmp_path})


@pytest.mark.recordings
def test_recorded_specs_are_never_cached(recordings_dir, tmp_path):
    from skmollal.annotators.recorded import RecordedAnnotator

    data = experiment.load_experiment_data("trec", recordings_dir)
    assert data.recordings is not None and len(data.texts) == len(data.y)
    panel = build_panel(["recorded:yi", "recorded:qwen"], data.labels, data.recordings,
                        cache_path=tmp_path / "c.sqlite")
    assert [type(a) for a in panel] == [RecordedAnnotator] * 2
    assert [a.name for a in panel] == ["yi", "qwen"]
    assert "majority vote" in experiment.recordings_summary(recordings_dir, "trec")
