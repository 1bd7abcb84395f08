"""The MoLLIA loop: rounds, bookkeeping, state save/resume, failures, bad input."""
import json

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from skmollal.annotators.panel import annotate_signals
from skmollal.active_learning import MoLLIALoop, area_under_curve
from skmollal.testing.pool import (CountingAnnotator, MeanProbMixture, SpyClassifier,
                                   make_pool, seed_y)
from skmollal.testing.pool import counting_panel as panel

@pytest.fixture
def pool():
    return make_pool()


def test_annotate_signals_shape_and_calls(pool):
    X, texts, y = pool
    p = panel()
    S = annotate_signals(p, texts[:7])
    assert S.shape == (7, 3, 2, 3)
    assert [a.calls for a in p] == [7, 7, 7]


def test_rounds_bookkeeping(pool, tmp_path):
    X, texts, y = pool
    ys = seed_y(y)
    p = panel()
    spy = SpyClassifier()
    loop = MoLLIALoop(spy, p, X, ys, texts=texts, mixture=MeanProbMixture(),
                      batch_size=10, X_val=X, y_val=y, y_monitor=y, random_state=0,
                      output_dir=tmp_path, discrepancy="reference", nl_threshold=0.001)
    hist = loop.run(3)
    assert loop.estimator_ is not spy and not hasattr(spy, "calls_")  # cloned, not mutated
    assert [h["round"] for h in hist] == [0, 1, 2, 3]
    assert [h["n_labeled"] for h in hist] == [15, 25, 35, 45]
    # the seed is annotated once (for the mixture), then 10 texts per round, per LLM
    assert [a.calls for a in p] == [45, 45, 45]
    assert hist[-1]["llm_calls"] == 45 * 3 and hist[-1]["llm_calls_round"] == 30
    queried = sum((h["queried"] for h in hist), [])
    assert len(set(queried)) == 30 and not set(queried) & set(np.flatnonzero(ys != -1))
    for key in ("annotation_s", "mixture_s", "fit_s", "query_s", "val_accuracy",
                "val_macro_f1", "mixture_label_accuracy"):
        assert key in hist[-1]
    assert hist[-1]["val_accuracy"] > 0.6
    assert 0 < area_under_curve(hist) <= 1
    # what the classifier got in the last round: seed weight 1, labels = mixture argmax
    call = loop.estimator_.calls_[-1]
    assert call["n"] == 45
    np.testing.assert_array_equal(call["sample_weight"][:15], 1.0)
    assert set(np.unique(call["sample_weight"])) <= {0.5, 1.0}
    assert call["negative_mask"].shape == (45, 3) and call["negative_mask"][15:].any()
    assert not call["negative_mask"][np.arange(45), call["y"]].any()
    # NL schedule: 0.4 + 0.06 * (round - 1)
    assert [c["nl_weight"] for c in loop.estimator_.calls_[1:]] == pytest.approx(
        [0.4, 0.46, 0.52])
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["round"] == 3 and len(saved["history"]) == 4


def test_discrepancy_weight_off_and_negative_learning_off(pool):
    X, texts, y = pool
    loop = MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, discrepancy="reference",
                      discrepancy_weight=None, nl_threshold=None, random_state=0)
    with pytest.warns(FutureWarning, match="discrepancy=None"):
        loop.run(2)
    call = loop.estimator_.calls_[-1]
    np.testing.assert_array_equal(call["sample_weight"], 1.0)
    assert not call["negative_mask"].any()


def test_resume_pays_for_nothing_twice(pool, tmp_path):
    X, texts, y = pool
    ys = seed_y(y)
    p = panel()
    MoLLIALoop(SpyClassifier(), p, X, ys, texts=texts, mixture=MeanProbMixture(),
               batch_size=10, random_state=0, output_dir=tmp_path).run(2)
    paid = [a.calls for a in p]
    # a new process: same output dir, asks for 4 rounds in total
    p2 = panel()
    loop = MoLLIALoop.resume(tmp_path, SpyClassifier(), p2, X, ys, texts=texts,
                             mixture=MeanProbMixture(), batch_size=10, random_state=0)
    assert loop.round_ == 2
    hist = loop.run(4)
    assert [a.calls for a in p2] == [20, 20, 20]  # only rounds 3 and 4
    assert [h["round"] for h in hist] == [0, 1, 2, 3, 4]
    assert hist[-1]["llm_calls"] == (paid[0] + 20) * 3
    # running again to the same number of rounds costs nothing
    p3 = panel()
    MoLLIALoop.resume(tmp_path, SpyClassifier(), p3, X, ys, texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, random_state=0).run(4)
    assert [a.calls for a in p3] == [0, 0, 0]
    # a fresh loop never silently continues (or overwrites) a saved run
    with pytest.raises(FileExistsError, match="MoLLIALoop.resume"):
        MoLLIALoop(SpyClassifier(), panel(), X, ys, texts=texts, mixture=MeanProbMixture(),
                   batch_size=10, random_state=0, output_dir=tmp_path).run(1)
    with pytest.raises(FileNotFoundError, match="no saved"):
        MoLLIALoop.resume(tmp_path / "empty", SpyClassifier(), panel(), X, ys, texts=texts)


def test_annotator_failing_mid_round_keeps_paid_chunks(pool, tmp_path):
    X, texts, y = pool
    ys = seed_y(y)
    # chunks of 4: seed 15 (4+4+4+3), round 1 10 (4+4+2), round 2: 4+4 succeed, then the
    # server fails on the last chunk of 2
    p = panel(fail_after=15 + 10 + 9)
    loop = MoLLIALoop(SpyClassifier(), p, X, ys, texts=texts, mixture=MeanProbMixture(),
                      batch_size=10, annotate_chunk=4, random_state=0, output_dir=tmp_path)
    with pytest.raises(RuntimeError, match="server went away"):
        loop.run(3)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["round"] == 1 and state["pending"]["round"] == 2
    pending = state["pending"]["queried"]
    saved = np.load(tmp_path / "state.npz")["annotated_idx"].tolist()
    done_in_round2 = [i for i in pending if i in saved]
    assert len(done_in_round2) == 8  # the paid chunks of round 2 were kept
    # resume with a healthy panel: only the 2 missing texts of round 2 + 10 of round 3
    p2 = panel()
    loop2 = MoLLIALoop.resume(tmp_path, SpyClassifier(), p2, X, ys, texts=texts,
                              mixture=MeanProbMixture(), batch_size=10, annotate_chunk=4,
                              random_state=0)
    hist = loop2.run(3)
    assert [a.calls for a in p2] == [12, 12, 12]
    assert hist[2]["queried"] == pending
    annotated = sum((h["queried"] for h in hist), [])
    assert len(annotated) == len(set(annotated)) == 30


def test_pool_smaller_than_batch_takes_the_rest_then_stops(pool):
    X, texts, y = pool
    X, texts, y = X[:40], texts[:40], y[:40]
    ys = seed_y(y, n_seed=15)
    loop = MoLLIALoop(SpyClassifier(), panel(), X, ys, texts=texts, mixture=MeanProbMixture(),
                      batch_size=20, random_state=0)
    hist = loop.run(5)
    assert [h["n_labeled"] for h in hist] == [15, 35, 40]
    assert loop.step() is None


def test_bad_input(pool, tmp_path):
    X, texts, y = pool

    def run(*args, **kw):
        return MoLLIALoop(*args, **kw).run(1)

    with pytest.raises(ValueError, match="at least 2 different classes"):
        run(SpyClassifier(), panel(), X, np.where(np.arange(len(y)) < 5, 0, -1), texts=texts)
    with pytest.raises(ValueError, match="no labeled rows"):
        run(SpyClassifier(), panel(), X, np.full(len(y), -1), texts=texts)
    with pytest.raises(TypeError, match=r"text 3 is a int"):
        run(SpyClassifier(), panel(), X, seed_y(y), texts=texts[:3] + [3] + texts[4:])
    with pytest.raises(ValueError, match=r"y\[\d+\] = 7 is outside the valid range -1..2"):
        run(SpyClassifier(), panel(), X, np.where(seed_y(y) >= 0, 7, -1), texts=texts)
    with pytest.raises(ValueError, match="disagree on the labels"):
        bad = panel()
        bad[1].labels = ["x", "y", "z"]
        run(SpyClassifier(), bad, X, seed_y(y), texts=texts)
    with pytest.raises(ValueError, match="batch_size"):
        run(SpyClassifier(), panel(), X, seed_y(y), texts=texts, batch_size=0)
    # state of another run in the output dir: resuming it with other data says what differs
    MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), texts=texts, mixture=MeanProbMixture(),
               batch_size=5, output_dir=tmp_path).run(1)
    with pytest.raises(ValueError, match="different run.*seed_idx"):
        MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, seed_y(y, seed=1),
                          texts=texts, mixture=MeanProbMixture(), batch_size=5)
    with pytest.raises(ValueError, match="different run.*batch_size"):
        MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, seed_y(y), texts=texts,
                          mixture=MeanProbMixture(), batch_size=6)
    other_texts = texts[:-1] + ["another text about alpha"]
    with pytest.raises(ValueError, match="different run.*texts_sha256"):
        MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, seed_y(y), texts=other_texts,
                          mixture=MeanProbMixture(), batch_size=5)
    other_panel = panel()
    other_panel[2].noise = 0.45  # same size, same names: another annotator all the same
    with pytest.raises(ValueError, match="different run.*annotators"):
        MoLLIALoop.resume(tmp_path, SpyClassifier(), other_panel, X, seed_y(y), texts=texts,
                          mixture=MeanProbMixture(), batch_size=5)


def test_pipeline_estimator_on_texts_gets_routed_fit_params(pool):
    import sklearn
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    X, texts, y = pool
    with sklearn.config_context(enable_metadata_routing=True):
        spy = SpyClassifier().set_fit_request(sample_weight=True, negative_mask=True)
    pipe = make_pipeline(TfidfVectorizer(), spy)
    loop = MoLLIALoop(pipe, panel(), texts, seed_y(y), mixture=MeanProbMixture(),
                      strategy="entropy", batch_size=10, random_state=0, relabel=False)
    loop.run(2)
    assert not hasattr(spy, "calls_") and spy.nl_weight == 0.0  # the user's pipeline: untouched
    call = loop.estimator_[-1].calls_[-1]
    assert call["n"] == 35 and call["negative_mask"].shape == (35, 3)
    assert call["sample_weight"].shape == (35,)
    assert call["nl_weight"] == pytest.approx(0.46)
    assert loop.history[-1]["n_labeled"] == 35


def test_pipeline_step_that_requests_nothing_gets_nothing_and_a_warning(pool, caplog):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    X, texts, y = pool
    loop = MoLLIALoop(make_pipeline(TfidfVectorizer(), SpyClassifier()), panel(), texts,
                      seed_y(y), mixture=MeanProbMixture(), batch_size=10, random_state=0,
                      discrepancy="reference", nl_threshold=0.001)
    with caplog.at_level("WARNING", logger="skmollal"):
        loop.run(2)
    call = loop.estimator_[-1].calls_[-1]
    assert call["sample_weight"] is None and call["negative_mask"] is None
    warned = [r.getMessage() for r in caplog.records if "does not take" in r.getMessage()]
    assert len(warned) == 2 and "set_fit_request" in warned[0]  # once per argument


@pytest.mark.parametrize("strategy", ["bemps", "noise_stability", "coreset"])
def test_loop_with_negative_learning_classifier(pool, strategy):
    nl = pytest.importorskip("skmollal.negative_learning")
    X, texts, y = pool
    ys = seed_y(y)
    clf = nl.NegativeLearningClassifier(max_epochs=5, random_state=0)
    loop = MoLLIALoop(clf, panel(), X.astype("float32"), ys, texts=texts,
                      mixture=MeanProbMixture(), strategy=strategy, batch_size=10,
                      soft_labels=True, X_val=X.astype("float32"), y_val=y, random_state=0)
    hist = loop.run(2)
    assert hist[-1]["n_labeled"] == 35
    assert loop.estimator_.nl_weight == pytest.approx(0.46)
    assert loop.estimator_.classes_.tolist() == [0, 1, 2]
    assert clf.nl_weight == 0.4 and not hasattr(clf, "n_classes_")  # the user's: untouched
    assert hist[-1]["val_accuracy"] > 0.5


def test_llm_panel_with_cache_resumes_after_failure(pool, tmp_path):
    panel_mod = pytest.importorskip("skmollal.annotators.panel")
    cache_mod = pytest.importorskip("skmollal.annotators.cache")
    X, texts, y = pool
    ys = seed_y(y)
    cache = cache_mod.AnnotationCache(tmp_path / "cache.sqlite")
    flaky = panel(fail_after=15 + 10 + 3)
    llm_panel = panel_mod.LLMPanel(flaky, cache=cache, show_progress=False)
    loop = MoLLIALoop(SpyClassifier(), llm_panel, X, ys, texts=texts, mixture=MeanProbMixture(),
                      batch_size=10, annotate_chunk=10, random_state=0,
                      output_dir=tmp_path / "state")
    with pytest.raises(Exception, match="server went away"):
        loop.run(2)
    # the other LLMs' answers for the failed chunk were cached: a healthy rerun asks them
    # nothing twice
    fresh = panel()
    loop2 = MoLLIALoop.resume(tmp_path / "state", SpyClassifier(),
                              panel_mod.LLMPanel(fresh, cache=cache, show_progress=False),
                              X, ys, texts=texts, mixture=MeanProbMixture(), batch_size=10,
                              annotate_chunk=10, random_state=0)
    hist = loop2.run(2)
    assert hist[-1]["n_labeled"] == 35
    assert sum(a.calls for a in fresh) + sum(a.calls for a in flaky) == 35 * 3


class CyclingClassifier(ClassifierMixin, BaseEstimator):
    """Predicts one class for every row, a different one after each fit; records weights."""

    def fit(self, X, y, sample_weight=None):
        self.n_fits_ = getattr(self, "n_fits_", 0) + 1
        self.weights_ = getattr(self, "weights_", []) + [np.asarray(sample_weight)]
        self.classes_ = np.arange(3)
        return self

    def predict_proba(self, X):
        return np.tile(np.eye(3)[(self.n_fits_ - 1) % 3], (len(X), 1))


@pytest.mark.parametrize("update", ["query", "round"])
def test_discrepancy_update_query_keeps_round_recomputes(pool, update):
    X, texts, y = pool
    ys = seed_y(y)
    loop = MoLLIALoop(CyclingClassifier(), panel(), X, ys, texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, discrepancy_update=update,
                      discrepancy="reference", nl_threshold=None, random_state=0)
    loop.run(3)
    rows = loop.training_rows()[len(loop.seed_idx):]  # annotated pool rows, in order
    labels = loop.mixture_.predict_proba(np.stack([loop.signals[i] for i in rows])).argmax(1)
    final = loop.estimator_.weights_[-1][len(loop.seed_idx):]
    # the classifier that weighed round r's rows predicted class (r - 1) % 3 for every row
    asked = np.repeat([0, 1, 2], 10) if update == "query" else np.full(30, 2)
    np.testing.assert_array_equal(final, np.where(labels == asked, 1.0, 0.5))
    assert set(np.unique(final)) == {0.5, 1.0}


def test_discrepancy_update_must_be_known(pool):
    X, texts, y = pool
    with pytest.raises(ValueError, match="discrepancy_update"):
        MoLLIALoop(CyclingClassifier(), panel(), X, seed_y(y), texts=texts,
                   discrepancy_update="sometimes").run(1)


def test_noise_handling_is_off_by_default(pool):
    X, texts, y = pool
    loop = MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, random_state=0)
    loop.run(2)
    call = loop.estimator_.calls_[-1]
    np.testing.assert_array_equal(call["sample_weight"], 1.0)
    assert not call["negative_mask"].any()
    assert loop.history[-1]["n_downweighted"] == 0


def test_learning_curve_plot_tells_many_curves_apart(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from skmollal.active_learning import plot_learning_curve

    rng = np.random.default_rng(0)
    curves = {f"method {k}": [[{"n_labeled": n, "val_accuracy": rng.random()}
                               for n in (10, 20, 30)] for _ in range(2)] for k in range(14)}
    ax = plot_learning_curve(curves, path=tmp_path / "curve.png")
    styles = {(matplotlib.colors.to_hex(line.get_color()), line.get_linestyle())
              for line in ax.get_lines()}
    assert len(ax.get_lines()) == 14 and len(styles) == 14
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(curves)
    assert (tmp_path / "curve.png").stat().st_size > 1000


def test_a_second_writer_on_the_same_folder_is_refused(pool, tmp_path):
    from skmollal.active_learning.state import FolderBusyError

    X, texts, y = pool
    ys = seed_y(y)
    kw = dict(texts=texts, mixture=MeanProbMixture(), batch_size=10, random_state=0)
    first = MoLLIALoop(SpyClassifier(), panel(), X, ys, output_dir=tmp_path, **kw)
    first.step()  # driven round by round: holds the folder until released
    with pytest.raises(FolderBusyError, match=r"another run \(process \d+\)"):
        MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, ys, **kw)  # before any call
    first.release()
    hist = MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, ys, **kw).run(2)
    assert [h["round"] for h in hist] == [0, 1, 2]  # run() releases at its end
    MoLLIALoop.resume(tmp_path, SpyClassifier(), panel(), X, ys, **kw).run(3)


class WrongClassifier(ClassifierMixin, BaseEstimator):
    """Predicts a wrong class (the next one) for every row, with probability 0.6; records
    the weights and negative labels it was fitted with."""

    def __init__(self, y_true=None):
        self.y_true = y_true

    def fit(self, X, y, sample_weight=None, negative_mask=None):
        self.weights_ = np.asarray(sample_weight)
        self.negative_ = np.asarray(negative_mask)
        self.classes_ = np.arange(3)
        return self

    def predict_proba(self, X):
        wrong = (np.asarray(self.y_true)[X[:, -1].astype(int)] + 1) % 3
        proba = np.full((len(X), 3), 0.2)
        proba[np.arange(len(X)), wrong] = 0.6
        return proba


def _with_row_index(X):
    return np.column_stack([X, np.arange(len(X))])


@pytest.mark.parametrize("mode, expected", [("reference", 0.5), ("confident", 1.0)])
def test_confident_discrepancy_ignores_a_wrong_unsure_classifier(pool, mode, expected):
    X, texts, y = pool
    loop = MoLLIALoop(WrongClassifier(y), [CountingAnnotator("a", 0.0, 1)], _with_row_index(X),
                      seed_y(y), texts=texts, batch_size=10, discrepancy=mode,
                      nl_threshold=None, random_state=0)
    loop.run(2)
    pool_weights = loop.estimator_.weights_[len(loop.seed_idx):]
    # a noiseless LLM: the mixture labels are right and surer (0.999) than the classifier
    assert len(pool_weights) == 20
    np.testing.assert_array_equal(pool_weights, expected)


def test_mixture_confidence_weights_every_row_by_its_posterior(pool):
    X, texts, y = pool
    loop = MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, discrepancy="mixture_confidence",
                      discrepancy_weight=0.0, nl_threshold=None, random_state=0)
    loop.run(3)
    rows = loop.training_rows()[len(loop.seed_idx):]
    posterior = loop.mixture_.predict_proba(loop.signals[rows])
    weights = loop.estimator_.calls_[-1]["sample_weight"][len(loop.seed_idx):]
    np.testing.assert_allclose(weights, posterior.max(axis=1))
    assert (weights < 1).any()


class FirstLLMMixture(MeanProbMixture):
    """A mixture that trusts only the first LLM (not the panel's mean)."""

    def predict_proba(self, S):
        return S[:, 0, 0] / S[:, 0, 0].sum(axis=1, keepdims=True)


def test_negative_labels_from_the_posterior_and_their_hits(pool):
    X, texts, y = pool
    ys = seed_y(y)
    runs = {}
    for source in ("signals", "posterior"):
        loop = MoLLIALoop(SpyClassifier(), panel(), X, ys, texts=texts,
                          mixture=FirstLLMMixture(), batch_size=10, nl_source=source,
                          nl_threshold=0.01, discrepancy=None, y_monitor=y, random_state=0)
        loop.run(2)
        rows = loop.training_rows()[len(loop.seed_idx):]
        runs[source] = (loop.estimator_.calls_[-1]["negative_mask"][len(loop.seed_idx):],
                        loop.history[-1]["negative_label_hits"], rows, loop)
    mask, hits, rows, loop = runs["posterior"]
    posterior = loop.mixture_.predict_proba(loop.signals[rows])
    expected = posterior <= 0.01
    expected[np.arange(len(rows)), posterior.argmax(1)] = False
    np.testing.assert_array_equal(mask, expected)
    assert not np.array_equal(mask, runs["signals"][0])
    for mask, hits, rows, _ in runs.values():
        gold = y[rows]
        assert hits == pytest.approx(mask[np.arange(len(rows)), gold].sum() / mask.sum())


@pytest.mark.parametrize("param, value", [("discrepancy", "always"), ("nl_source", "llms")])
def test_noise_modes_must_be_known(pool, param, value):
    X, texts, y = pool
    with pytest.raises(ValueError, match=param):
        MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), texts=texts,
                   **{param: value}).run(1)


def test_refit_trains_another_classifier_on_the_final_targets(pool):
    from sklearn.dummy import DummyClassifier

    X, texts, y = pool
    params = dict(texts=texts, mixture=MeanProbMixture(), batch_size=10, random_state=0,
                  discrepancy="mixture_confidence")
    full = MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), **params)
    full.run(3)
    # random queries and mixture-only weights: the rounds never read their classifier
    cheap = MoLLIALoop(DummyClassifier(), panel(), X, seed_y(y), **params)
    cheap.run(3)
    given = SpyClassifier()
    assert cheap.refit(given) is cheap
    assert not hasattr(given, "calls_")  # a clone was trained
    last, again = full.estimator_.calls_[-1], cheap.estimator_.calls_[-1]
    assert again["n"] == last["n"] == 45
    np.testing.assert_array_equal(again["y"], last["y"])
    np.testing.assert_allclose(again["sample_weight"], last["sample_weight"])
    assert (again["sample_weight"] < 1).any()
    np.testing.assert_allclose(cheap.learner.predict_proba(X), full.learner.predict_proba(X))
    with pytest.raises(ValueError, match="started loop"):
        MoLLIALoop(SpyClassifier(), panel(), X, seed_y(y), **params).refit()


class SoftSpy(ClassifierMixin, BaseEstimator):
    """Records the targets of each fit (any shape); predicts class 0."""

    def fit(self, X, y):
        self.y_ = np.asarray(y)
        self.classes_ = np.arange(3)
        return self

    def predict_proba(self, X):
        return np.tile([1.0, 0.0, 0.0], (len(X), 1))

    def predict(self, X):
        return np.zeros(len(X), dtype=int)


def test_soft_labels_train_on_the_mixture_posterior(pool):
    X, texts, y = pool
    ys = seed_y(y)
    loop = MoLLIALoop(SoftSpy(), panel(), X, ys, texts=texts, mixture=MeanProbMixture(),
                      batch_size=10, soft_labels=True, random_state=0)
    loop.run(2)
    target = loop.estimator_.y_
    seed = np.flatnonzero(ys >= 0)
    pool_rows = loop.state.pool_rows()
    assert target.shape == (len(seed) + len(pool_rows), 3)
    np.testing.assert_array_equal(target[:len(seed)], np.eye(3)[ys[seed]])
    np.testing.assert_allclose(target[len(seed):],
                               MeanProbMixture().predict_proba(loop.state.signals[pool_rows]))
    assert (target[len(seed):].max(axis=1) < 1).all()  # not one-hot


def test_soft_labels_auto_follows_the_classifier():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skmollal.active_learning.targets import resolve_soft_labels
    from skmollal.negative_learning import NegativeLearningClassifier

    nl = NegativeLearningClassifier(max_epochs=1)
    assert resolve_soft_labels("auto", nl) is True
    assert resolve_soft_labels("auto", make_pipeline(StandardScaler(), nl)) is True
    assert resolve_soft_labels("auto", LogisticRegression()) is False
    assert resolve_soft_labels(False, nl) is False
    assert resolve_soft_labels(True, LogisticRegression()) is True

    class OwnSoftClassifier(LogisticRegression):  # a user's classifier that declares it
        takes_proba_targets = True

    assert resolve_soft_labels("auto", OwnSoftClassifier()) is True
    with pytest.raises(ValueError, match="soft_labels must be"):
        resolve_soft_labels("yes", nl)


def test_default_loop_trains_an_nl_classifier_on_probabilities_and_others_on_labels(pool):
    from skmollal.negative_learning import NegativeLearningClassifier

    class NLSpy(NegativeLearningClassifier):
        """A NegativeLearningClassifier that records its targets instead of training."""

        classes_ = np.arange(3)

        def fit(self, X, y, **fit_params):
            self.y_ = np.asarray(y)
            return self

        def predict_proba(self, X):
            return np.tile([1.0, 0.0, 0.0], (len(X), 1))

    X, texts, y = pool
    ys = seed_y(y)
    for spy, ndim in ((NLSpy(max_epochs=1), 2), (SoftSpy(), 1)):
        loop = MoLLIALoop(spy, panel(), X, ys, texts=texts, mixture=MeanProbMixture(),
                          batch_size=10, random_state=0)
        loop.run(1)
        assert loop.estimator_.y_.ndim == ndim, type(spy).__name__
