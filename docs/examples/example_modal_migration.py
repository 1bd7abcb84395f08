"""A modAL loop, moved to skmollal by changing one import.

The loop below is modAL's pool-based sampling recipe: fit on a small labeled set, query
the most uncertain pool rows, label them (here: from ``y``, standing in for a human), teach.
Only the ``ActiveLearner`` import changed; modAL's own query strategies still work in it,
and skmollal's strategies work in modAL's learner.

Run it with ``python docs/examples/example_modal_migration.py``; the test suite runs
``test_modal_loop``.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from skmollal.active_learning import ActiveLearner, max_entropy  # was: modAL.models


def make_data(n=300, n_classes=3, seed=0):
    """Three Gaussian blobs in four dimensions."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    X = rng.normal(size=(n, 4)) + 2.0 * np.eye(4)[y]
    return X, y


def run(query_strategy, n_rounds=5, batch=10, seed=0):
    X, y = make_data(seed=seed)
    X_test, y_test = X[200:], y[200:]
    X_pool, y_pool = X[9:200], y[9:200]
    learner = ActiveLearner(
        estimator=LogisticRegression(),
        query_strategy=query_strategy,
        X_training=X[:9],
        y_training=y[:9],
    )
    scores = [learner.score(X_test, y_test)]
    for _ in range(n_rounds):
        query_idx, query_rows = learner.query(X_pool, n_instances=batch)
        learner.teach(query_rows, y_pool[query_idx])  # the "oracle" labels the batch
        X_pool = np.delete(X_pool, query_idx, axis=0)
        y_pool = np.delete(y_pool, query_idx)
        scores.append(learner.score(X_test, y_test))
    return learner, scores


def main():
    learner, scores = run(max_entropy)
    print("max_entropy, test accuracy per round:", np.round(scores, 3))
    try:
        from modAL.uncertainty import uncertainty_sampling
    except ImportError:  # modAL is optional
        return learner, scores
    _, modal_scores = run(uncertainty_sampling)  # modAL's strategy in skmollal's learner
    print("modAL uncertainty_sampling:       ", np.round(modal_scores, 3))
    return learner, scores


def test_modal_loop():
    learner, scores = main()
    assert len(learner.y_training) == 9 + 5 * 10
    assert scores[-1] >= scores[0] - 0.05  # more labels do not make it worse
    assert scores[-1] > 0.6


if __name__ == "__main__":
    main()
