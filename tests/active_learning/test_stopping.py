"""Stopping rules on synthetic runs whose right stopping round is known."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import cohen_kappa_score

from skmollal.active_learning import Budget, KappaAverage, MoLLIALoop, StableLabels
from skmollal.active_learning.stopping import (Upcoming, check_stopping, cohen_kappa,
                                               labels_changed, make_stopping_rule,
                                               replay_stopping, stopping_sample)

from skmollal.testing.pool import CountingAnnotator, MeanProbMixture, make_pool, seed_y


def synthetic_history(n_rounds, settle, key, n=200, seed=0):
    """Records whose ``key`` list is fresh random labels until round ``settle``, then fixed.

    ``pool_labels`` grows by 20 rows a round (the old rows first, as the loop writes them).
    """
    rng = np.random.default_rng(seed)
    history, fixed = [], None
    for r in range(n_rounds + 1):
        size = n if key == "stop_predictions" else 20 * r
        labels = rng.integers(0, 4, size)
        if r >= settle:
            fixed = labels if fixed is None else np.concatenate([fixed, labels[len(fixed):]])
            labels = fixed[:size]
        history.append({"round": r, "n_annotated": 20 * r, "n_labeled": 10 + 20 * r,
                        key: labels.tolist()})
    return history


@pytest.mark.parametrize("settle, window", [(4, 3), (2, 1), (6, 2)])
def test_kappa_average_stops_window_rounds_after_predictions_settle(settle, window):
    history = synthetic_history(10, settle, "stop_predictions")
    got = replay_stopping(KappaAverage(kappa=0.99, window=window), history, n_llms=3)
    assert got["stopped"] and got["round"] == settle + window
    assert "mean kappa 1.0000" in got["reason"]
    never = synthetic_history(10, 99, "stop_predictions")
    assert not replay_stopping(KappaAverage(), never, 3)["stopped"]


@pytest.mark.parametrize("settle, window", [(3, 2), (5, 1)])
def test_stable_labels_stops_window_rounds_after_labels_settle(settle, window):
    history = synthetic_history(10, settle, "pool_labels")
    got = replay_stopping(StableLabels(max_changed=0.0, window=window), history, n_llms=3)
    assert got["stopped"] and got["round"] == settle + window


def test_labels_changed_compares_the_old_rows_only():
    assert labels_changed([], [1, 2]) is None
    assert labels_changed([0, 1, 2, 0], [0, 1, 1, 0, 2, 2]) == 0.25


def test_cohen_kappa_matches_sklearn_and_treats_identical_as_one():
    rng = np.random.default_rng(0)
    for _ in range(5):
        a, b = rng.integers(0, 4, 50), rng.integers(0, 4, 50)
        b[:30] = a[:30]
        assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa([2, 2, 2], [2, 2, 2]) == 1.0


def test_budget_replay_matches_a_budgeted_run(pool):
    X, texts, y = pool
    ys = seed_y(y)
    free = MoLLIALoop(ConstantClassifier(), [CountingAnnotator("a")], X, ys, texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, random_state=0)
    history = free.run(8)
    budget = Budget(calls=62)
    replayed = replay_stopping(budget, history, n_llms=1)
    run = MoLLIALoop(ConstantClassifier(), [CountingAnnotator("a")], X, ys, texts=texts,
                     mixture=MeanProbMixture(), batch_size=10, random_state=0, budget=budget)
    stopped = run.run(8)
    assert replayed["round"] == stopped[-1]["round"] == 4  # 15 + 4 x 10 = 55; +10 > 62
    assert stopped[-1]["stopped_by"]["rule"] == "budget"


# --------------------------------------------------------------------------- real loops
class ConstantClassifier(ClassifierMixin, BaseEstimator):
    """Predicts class 0 for everything."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.arange(3)
        return self

    def predict_proba(self, X):
        return np.tile([1.0, 0.0, 0.0], (len(X), 1))


class SettlingClassifier(ClassifierMixin, BaseEstimator):
    """Predictions that move with the training size until it reaches ``settle``, then fix."""

    def __init__(self, settle=45):
        self.settle = settle

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.arange(3)
        self.shift_ = 0 if len(X) >= self.settle else len(X)
        return self

    def predict_proba(self, X):
        base = (np.floor(np.asarray(X)[:, 0] * 10).astype(int) + self.shift_) % 3
        return np.eye(3)[base]


class SettlingMixture(MeanProbMixture):
    """The mean-probability labels, rotated by the fit size until it reaches ``settle``."""

    def __init__(self, settle=45):
        self.settle = settle

    def fit(self, S, y):
        super().fit(S, y)
        self.shift_ = 0 if len(S) >= self.settle else len(S)
        return self

    def predict_proba(self, S):
        return np.roll(super().predict_proba(S), self.shift_ % 3, axis=1)


def test_loop_stops_when_the_classifier_settles(pool):
    X, texts, y = pool
    ys = seed_y(y)  # 15 seed rows, 10 per round: the classifier settles in round 3
    loop = MoLLIALoop(SettlingClassifier(settle=45), [CountingAnnotator("a")], X, ys,
                      texts=texts, mixture=MeanProbMixture(), batch_size=10, random_state=0,
                      stopping=KappaAverage(kappa=0.99, window=2))
    history = loop.run(10)
    assert history[-1]["round"] == 5  # kappas of rounds 4 and 5 are 1
    assert history[-1]["stopped_by"]["rule"] == "kappa" and loop.stopped_by_["round"] == 5
    assert len(history[0]["stop_predictions"]) == len(y) - 15  # the pool is under 500 rows


def test_loop_stops_when_the_mixture_labels_settle(pool, tmp_path):
    X, texts, y = pool
    ys = seed_y(y)  # the mixture fits on seed + pool: 45 rows in round 3
    rule = StableLabels(max_changed=0.0, window=2)
    params = dict(texts=texts, mixture=SettlingMixture(settle=45), batch_size=10,
                  random_state=0, nl_threshold=None)
    loop = MoLLIALoop(ConstantClassifier(), [CountingAnnotator("a")], X, ys,
                      stopping=[rule], output_dir=tmp_path, **params)
    history = loop.run(10)
    assert history[-1]["round"] == 5 and history[-1]["stopped_by"]["rule"] == "labels"
    assert [len(h["pool_labels"]) for h in history] == [0, 10, 20, 30, 40, 50]
    # resumed, the rule still holds: nothing more is annotated
    annotator = CountingAnnotator("a")
    again = MoLLIALoop.resume(tmp_path, ConstantClassifier(), [annotator], X, ys,
                              stopping=[rule], **params)
    assert len(again.run(10)) == 6 and annotator.calls == 0
    # without the rule, the same history says where it would have stopped
    free = MoLLIALoop(ConstantClassifier(), [CountingAnnotator("a")], X, ys, **params)
    assert replay_stopping(rule, free.run(8), n_llms=1)["round"] == 5


def test_rules_are_checked_in_order_and_validated(pool):
    history = synthetic_history(6, 0, "stop_predictions")
    for rec in history:
        rec["cost_total"] = {"a": {"calls": 100}}
    stop = check_stopping([Budget(calls=50), KappaAverage()], history, Upcoming(10, 1))
    assert stop["rule"] == "budget" and stop["round"] == 6
    assert check_stopping([KappaAverage(window=9)], history, Upcoming(10, 1)) is None
    X, texts, y = pool
    with pytest.raises(TypeError, match="no check"):
        MoLLIALoop(ConstantClassifier(), [CountingAnnotator("a")], X, seed_y(y),
                   texts=texts, stopping=["kappa"]).run(1)
    assert make_stopping_rule("kappa:kappa=0.95,window=2") == KappaAverage(0.95, 2)
    assert make_stopping_rule("labels") == StableLabels()
    with pytest.raises(ValueError, match="unknown stopping rule"):
        make_stopping_rule("patience")
    with pytest.raises(ValueError, match="KEY one of kappa, window"):
        make_stopping_rule("kappa:threshold=1")


def test_stopping_sample_is_fixed_and_bounded():
    rows = np.arange(1000)
    a = stopping_sample(rows, 100, random_state=3)
    assert len(a) == 100 and np.array_equal(a, stopping_sample(rows, 100, random_state=3))
    assert np.array_equal(stopping_sample(rows[:50], 100), rows[:50])


@pytest.fixture
def pool():
    return make_pool()
