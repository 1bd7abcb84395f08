"""skmollal.ActiveLearner: modAL's API, pipelines, clone / get_params, texts."""
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from skmollal.active_learning import ActiveLearner, margin_sampling, random_sampling


def blobs(n=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    X = rng.normal(size=(n, 2)) + 3 * np.eye(3)[y][:, :2] + np.array([0, 0]) * y[:, None]
    X[y == 2] -= 3
    return X, y


def test_query_teach_predict_loop_improves():
    X, y = blobs()
    X_pool, y_pool = X[20:], y[20:]
    learner = ActiveLearner(LogisticRegression(), X_training=X[:6], y_training=y[:6])
    first = learner.score(X_pool, y_pool)
    for _ in range(5):
        idx, rows = learner.query(X_pool, n_instances=5)
        np.testing.assert_array_equal(rows, X_pool[idx])
        learner.teach(rows, y_pool[idx])
        X_pool, y_pool = np.delete(X_pool, idx, 0), np.delete(y_pool, idx)
    assert learner.X_training.shape == (31, 2) and learner.y_training.shape == (31,)
    assert learner.score(X_pool, y_pool) >= first
    assert learner.predict_proba(X_pool).shape == (len(X_pool), 3)
    assert set(learner.classes_) == {0, 1, 2}


def test_query_return_metrics_and_string_strategy():
    X, y = blobs()
    learner = ActiveLearner(LogisticRegression(), "margin", X_training=X[:9], y_training=y[:9])
    idx, rows, metrics = learner.query(X, n_instances=4, return_metrics=True)
    assert len(idx) == len(metrics) == 4
    assert np.all(np.diff(metrics) >= 0)  # smallest margins first


def test_bare_index_strategy_of_two_is_not_mistaken_for_a_pair():
    def two(classifier, X, n_instances=2):
        return np.array([5, 7])

    learner = ActiveLearner(LogisticRegression(), two)
    idx, rows = learner.query(np.arange(10)[:, None])
    assert idx.tolist() == [5, 7]


def test_teach_only_new_and_fit_replace_training_data():
    X, y = blobs()
    learner = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
    learner.teach(X[10:20], y[10:20], only_new=True)
    assert len(learner.y_training) == 10  # as modAL: only_new does not keep the rows
    learner.fit(X[:15], y[:15])
    assert len(learner.y_training) == 15


def test_fit_kwargs_reach_estimator():
    X, y = blobs()
    w = np.ones(20)
    w[:10] = 0.0
    learner = ActiveLearner(LogisticRegression())
    learner.fit(X[:20], y[:20], sample_weight=w)
    ref = LogisticRegression().fit(X[:20], y[:20], sample_weight=w)
    unweighted = LogisticRegression().fit(X[:20], y[:20])
    np.testing.assert_allclose(learner.estimator.coef_, ref.coef_)
    assert not np.allclose(learner.estimator.coef_, unweighted.coef_)


def test_mismatched_lengths_and_missing_y():
    X, y = blobs()
    learner = ActiveLearner(LogisticRegression(), X_training=X[:10], y_training=y[:10])
    with pytest.raises(ValueError, match="X has 3 rows but y has 2"):
        learner.teach(X[:3], y[:2])
    with pytest.raises(ValueError, match="without y_training"):
        ActiveLearner(LogisticRegression(), X_training=X[:3])


def test_texts_through_a_pipeline():
    texts = ["good movie", "bad movie", "great film", "awful film", "good fun", "bad day",
             "great day", "awful fun"]
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    pipe = make_pipeline(TfidfVectorizer(), LogisticRegression())
    learner = ActiveLearner(pipe, X_training=texts[:2], y_training=y[:2])
    idx, rows = learner.query(texts[2:], n_instances=2)
    assert isinstance(rows, list) and all(isinstance(r, str) for r in rows)
    learner.teach(rows, y[2:][idx])
    assert isinstance(learner.X_training, list) and len(learner.X_training) == 4
    assert learner.transform_without_estimating(texts).shape[0] == 8


def test_on_transformed_strategy_gets_the_pool_as_given():
    seen = {}

    def spy(classifier, X, n_instances=1):
        seen["X"] = X
        seen["features"] = classifier.transform_without_estimating(X)
        return np.arange(n_instances), np.zeros(n_instances)

    X, y = blobs()
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    learner = ActiveLearner(pipe, spy, X_training=X[:10], y_training=y[:10], on_transformed=True)
    learner.query(X, n_instances=2)
    assert seen["X"] is X  # as modAL: the strategy transforms it if it wants features
    np.testing.assert_allclose(seen["features"], pipe[0].transform(X))


def test_get_params_set_params_and_clone():
    X, y = blobs()
    learner = ActiveLearner(Pipeline([("sc", StandardScaler()), ("lr", LogisticRegression())]),
                            margin_sampling)
    params = learner.get_params()
    assert params["query_strategy"] is margin_sampling
    assert "estimator__lr__C" in params
    learner.set_params(estimator__lr__C=0.01)
    fresh = clone(learner)
    assert fresh.estimator.named_steps["lr"].C == 0.01
    assert fresh.estimator is not learner.estimator
    assert fresh.X_training is None
    # a learner that holds data clones into an unfitted copy with the same data
    taught = ActiveLearner(LogisticRegression(), X_training=X[:12], y_training=y[:12])
    copy = clone(taught)
    np.testing.assert_array_equal(copy.X_training, taught.X_training)
    copy.fit(copy.X_training, copy.y_training)
    np.testing.assert_allclose(copy.predict_proba(X), taught.predict_proba(X))


def test_learner_inside_gridsearch_and_as_pipeline_step():
    X, y = blobs(150)
    pipe = make_pipeline(StandardScaler(), ActiveLearner(LogisticRegression()))
    pipe.fit(X, y)
    assert pipe.score(X, y) > 0.8
    search = GridSearchCV(ActiveLearner(LogisticRegression(), random_sampling),
                          {"estimator__C": [0.01, 1.0]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["estimator__C"] in (0.01, 1.0)
