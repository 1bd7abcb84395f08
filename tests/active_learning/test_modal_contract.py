"""ActiveLearner keeps modAL's contract where code written for modAL relies on it.

Each test states one behaviour of ``modAL.models.ActiveLearner`` (its own test suite checks
them) and checks skmollal's learner against it, without modAL installed.
"""
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from sklearn.base import clone
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.validation import check_is_fitted

from skmollal.active_learning import ActiveLearner


def blobs(n=60, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return rng.normal(size=(n, 3)) + 2.0 * y[:, None], y


def self_transforming(seen):
    """A strategy written as modAL's batch strategies are: it transforms the pool itself
    when the learner says ``on_transformed``."""

    def strategy(classifier, X, n_instances=1):
        seen.append(X)
        features = (classifier.transform_without_estimating(X) if classifier.on_transformed
                    else X)
        score = np.asarray(features.sum(axis=1)).ravel()
        return np.argsort(-score, kind="stable")[:n_instances]

    return strategy


def test_on_transformed_strategy_gets_the_raw_pool_and_transforms_it_once():
    rng = np.random.default_rng(0)
    pool = pd.DataFrame(rng.random((10, 5)))
    y = np.array([0, 1] * 5)
    seen = []
    pipe = make_pipeline(FunctionTransformer(pd.DataFrame.to_numpy), LogisticRegression())
    learner = ActiveLearner(pipe, self_transforming(seen), X_training=pool.iloc[:2],
                            y_training=y[:2], on_transformed=True)
    idx, rows = learner.query(pool, n_instances=2)
    assert seen[0] is pool  # the pool as given, not its pipeline features
    expected = np.argsort(-pool.to_numpy().sum(axis=1), kind="stable")[:2]
    np.testing.assert_array_equal(idx, expected)
    pd.testing.assert_frame_equal(rows, pool.iloc[expected])
    learner.teach(rows, y[idx])
    assert len(learner.X_training) == 4


def test_on_transformed_with_a_transformation_that_changes_when_refitted():
    labelled, pool, y = ["Dog", "Cat", "Tree"], ["Airplane", "House"], [0, 1, 1, 0, 1]
    seen, taught = [], []
    learner = ActiveLearner(make_pipeline(CountVectorizer(), LogisticRegression()),
                            self_transforming(seen), X_training=labelled, y_training=y[:3],
                            on_transformed=True)
    for _ in pool:
        idx, rows = learner.query(pool, n_instances=1)
        assert seen[-1] is pool and rows == [pool[idx[0]]]
        learner.teach(rows, [y[3 + idx[0]]])
        taught += rows
    assert learner.X_training == labelled + taught


@pytest.mark.parametrize("make_pool", [np.asarray, sp.csr_matrix])
def test_a_single_index_gives_that_index_and_its_row(make_pool):
    X = np.arange(20.0).reshape(10, 2)
    pool = make_pool(X)
    learner = ActiveLearner(None, lambda clf, X: 3)
    idx, row = learner.query(pool)
    assert idx == 3 and isinstance(idx, int)
    dense = row.toarray() if sp.issparse(row) else row
    np.testing.assert_array_equal(np.asarray(dense).ravel(), X[3])
    assert np.ndim(row) == np.ndim(pool[3])  # a row, as X_pool[3] is
    learner = ActiveLearner(None, lambda clf, X: (7, 0.25))
    idx, row, metric = learner.query(pool, return_metrics=True)
    assert (idx, metric) == (7, 0.25)


def test_a_single_index_on_texts_and_data_frames():
    texts = ["a", "b", "c", "d"]
    assert ActiveLearner(None, lambda clf, X: 2).query(texts) == (2, "c")
    frame = pd.DataFrame({"x": [1, 2, 3], "y": [4, 5, 6]})
    idx, row = ActiveLearner(None, lambda clf, X: 1).query(frame)
    assert idx == 1 and row.to_dict() == {"x": 2, "y": 5}


def test_repeated_indices_are_returned_as_the_strategy_gave_them():
    X, y = blobs(10)
    chosen = np.array([4, 1, 4])

    def strategy(classifier, X_pool):  # the old interface: (indices, instances)
        return chosen, X_pool[chosen]

    learner = ActiveLearner(LogisticRegression(), strategy, X_training=X[[0, 9]],
                            y_training=np.array([0, 1]))
    idx, rows = learner.query(X)
    np.testing.assert_array_equal(idx, chosen)
    np.testing.assert_array_equal(rows, X[chosen])
    learner.teach(rows, y[idx])
    assert len(learner.y_training) == 5


def test_teach_only_new_fits_the_new_rows_and_keeps_the_training_data():
    X, _ = blobs(12)
    y = np.zeros(12, dtype=int)
    learner = ActiveLearner(DummyClassifier(strategy="most_frequent"), X_training=X[:8],
                            y_training=y[:8])
    learner.teach(X[8:], np.ones(4, dtype=int), only_new=True)
    assert learner.X_training is not None and len(learner.X_training) == 8
    np.testing.assert_array_equal(learner.X_training, X[:8])
    np.testing.assert_array_equal(learner.predict(X), np.ones(12))  # fitted on the new rows
    learner.teach(X[8:], np.ones(4, dtype=int))  # without only_new: added and refitted
    assert len(learner.X_training) == 12
    np.testing.assert_array_equal(learner.predict(X), np.zeros(12))


def test_clone_is_unfitted_and_keeps_the_data_and_the_fit_keyword_arguments():
    X, y = blobs()
    weights = np.linspace(0.5, 1.5, 12)
    learner = ActiveLearner(LogisticRegression(), X_training=X[:12], y_training=y[:12],
                            sample_weight=weights)
    copy = clone(learner)
    with pytest.raises(NotFittedError):
        check_is_fitted(copy)
    with pytest.raises(NotFittedError):
        copy.predict(X)
    assert set(copy.fit_kwargs) == {"sample_weight"}
    np.testing.assert_array_equal(copy.fit_kwargs["sample_weight"], weights)
    np.testing.assert_array_equal(copy.X_training, X[:12])
    assert copy.estimator is not learner.estimator
    # taught the same rows, the copy learns what the original learns
    learner.teach(X[12:20], y[12:20])
    copy.teach(X[12:20], y[12:20])
    np.testing.assert_allclose(copy.predict_proba(X), learner.predict_proba(X))


def test_the_mollia_loop_refuses_a_strategy_that_repeats_an_index():
    from skmollal.active_learning import MoLLIALoop
    from skmollal.testing.pool import (MeanProbMixture, SpyClassifier, counting_panel,
                                       make_pool, seed_y)

    X, texts, y = make_pool(60)

    def repeats(classifier, X_pool, n_instances=1):
        return np.zeros(n_instances, dtype=int)

    loop = MoLLIALoop(SpyClassifier(), counting_panel(), X, seed_y(y), texts=texts,
                      mixture=MeanProbMixture(), strategy=repeats, batch_size=3)
    with pytest.raises(ValueError, match=r"repeated indices: \[0, 0, 0\].*annotated once"):
        loop.run(1)
