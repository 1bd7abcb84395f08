"""The mixture's own solver and its gold-row guard (skmollal.aggregation.soft_logistic, .guard)."""
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import check_estimator

from skmollal.aggregation import MixtureAggregator
from skmollal.aggregation.base import fit_soft_targets
from skmollal.aggregation.guard import prefer_simpler, single_llm_estimator
from skmollal.aggregation.soft_logistic import SoftLogisticRegression, soft_targets
from skmollal.signals import signal_features
from skmollal.testing import hide_labels, make_signals

#: one LLM that is right 95 % of the time, four weaker ones that share half their answers
STRONG_PANEL = dict(n_llms=5, n_classes=4, noise=(0.05, 0.4, 0.4, 0.4, 0.4),
                    shared=(0.0, 0.5, 0.5, 0.5, 0.5))
#: five equally noisy LLMs, four of which mostly give the same wrong answer
DRIFT_PANEL = dict(n_llms=5, n_classes=3, noise=(0.3,) * 5, shared=(0.0, 0.7, 0.7, 0.7, 0.7))


def _split(panel, seed, n=2000, n_pool=1500):
    S, y = make_signals(n=n, seed=seed, **panel)
    pool, test = np.arange(n_pool), np.arange(n_pool, n)
    return S[pool], hide_labels(y[pool], 50, seed), S[test], y[test]


def _accuracy(model, S_pool, y_pool, S_test, y_test):
    return float(np.mean(model.fit(S_pool, y_pool).predict(S_test) == y_test))


# ----------------------------------------------------------------------------- the solver
@pytest.mark.parametrize("n_classes", [2, 4])
def test_solver_matches_logistic_regression_on_weighted_copies(n_classes):
    S, y = make_signals(n=400, n_classes=n_classes, seed=1)
    X = signal_features(S)
    rng = np.random.default_rng(0)
    post = rng.dirichlet(np.ones(n_classes), size=400)
    gold = np.zeros(400, dtype=bool)
    gold[:30] = True
    post[gold] = np.eye(n_classes)[y[gold]]
    ref = fit_soft_targets(LogisticRegression(C=0.1, tol=1e-10, max_iter=10000), X, post,
                           gold, 5.0)
    solver = SoftLogisticRegression(X, C=0.1)
    proba = solver.fit(soft_targets(post, gold, 5.0))
    np.testing.assert_allclose(proba, ref.predict_proba(X), atol=1e-5)
    est = solver.estimator()
    np.testing.assert_allclose(est.predict_proba(X), proba, atol=1e-12)
    assert est.coef_.shape == ref.coef_.shape


def test_solver_warm_start_reaches_the_same_optimum_and_leaves_out_empty_classes():
    S, y = make_signals(n=300, n_classes=3, seed=2)
    X = signal_features(S)
    T1 = np.eye(3)[y] * 1.0
    T2 = np.eye(3)[(y + (np.arange(300) % 7 == 0)) % 3]
    warm = SoftLogisticRegression(X, C=0.1)
    warm.fit(T1)
    np.testing.assert_allclose(warm.fit(T2), SoftLogisticRegression(X, C=0.1).fit(T2),
                               atol=1e-5)
    T3 = T1.copy()
    T3[:, 2] = 0.0
    proba = warm.fit(T3)
    assert np.all(proba[:, 2] == 0) and list(warm.estimator().classes_) == [0, 1]
    with pytest.raises(ValueError, match="fewer than two classes"):
        warm.fit(np.c_[np.ones(300), np.zeros((300, 2))])


def test_default_mixture_agrees_with_the_scikit_learn_path():
    S, y = make_signals(n=600, seed=3)
    yl = hide_labels(y, 50, 3)
    new = MixtureAggregator(guard=False).fit(S, yl)
    old = MixtureAggregator(estimator=LogisticRegression(C=0.1, tol=1e-9, max_iter=10000))
    old.fit(S, yl)
    np.testing.assert_allclose(new.predict_proba(S), old.predict_proba(S), atol=1e-4)
    np.testing.assert_array_equal(new.transduction_, old.transduction_)
    assert isinstance(new.estimator_, LogisticRegression)


def test_check_estimator_default_meta_learner():
    from .test_mixture import EXPECTED_FAILED

    check_estimator(MixtureAggregator(), expected_failed_checks=EXPECTED_FAILED)


# ------------------------------------------------------------------------------ the guard
@pytest.mark.parametrize("seed", [0, 1])
def test_strong_llm_among_correlated_weak_ones(seed):
    S_pool, y_pool, S_test, y_test = _split(STRONG_PANEL, seed)
    strong = float(np.mean(S_test[:, 0, 1].argmax(axis=1) == y_test))
    unguarded = _accuracy(MixtureAggregator(guard=False), S_pool, y_pool, S_test, y_test)
    assert unguarded < strong - 0.05  # the panel does mislead self-training
    ours = MixtureAggregator()
    assert _accuracy(ours, S_pool, y_pool, S_test, y_test) >= strong - 0.005
    assert ours.guard_.choice == "single_llm" and ours.guard_.llm == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_drifting_self_training_does_not_fall_below_the_gold_only_fit(seed):
    S_pool, y_pool, S_test, y_test = _split(DRIFT_PANEL, seed)
    gold_only = _accuracy(  # the meta-learner on the gold rows alone
        MixtureAggregator(init=None, max_iter=0, pseudo_labels="hard"),
        S_pool, y_pool, S_test, y_test)
    unguarded = _accuracy(MixtureAggregator(guard=False), S_pool, y_pool, S_test, y_test)
    assert unguarded < gold_only - 0.05  # self-training drifts on this panel
    ours = MixtureAggregator()
    assert _accuracy(ours, S_pool, y_pool, S_test, y_test) >= gold_only
    assert ours.guard_.choice != "mixture"


def test_guard_keeps_a_good_mixture_and_can_be_switched_off():
    S, y = make_signals(n=800, seed=4)
    yl = hide_labels(y, 50, 4)
    guarded = MixtureAggregator().fit(S, yl)
    assert guarded.guard_.choice == "mixture"
    assert set(guarded.guard_.z) == {"gold_only", "single_llm"}
    plain = MixtureAggregator(guard=False).fit(S, yl)
    assert plain.guard_ is None
    np.testing.assert_allclose(guarded.predict_proba(S), plain.predict_proba(S))
    few = hide_labels(y, 10, 4)  # too few gold rows to judge from: the mixture stays
    assert MixtureAggregator().fit(S, few).guard_.choice == "mixture"
    with pytest.raises(ValueError, match="guard must be True or False"):
        MixtureAggregator(guard="yes").fit(S, yl)


def test_prefer_simpler_needs_a_clear_win():
    rng = np.random.default_rng(0)
    mix = rng.uniform(0.2, 0.4, 50)
    clear = mix - 0.1 + rng.normal(0, 0.02, 50)
    noisy = mix - 0.01 + rng.normal(0, 0.3, 50)
    assert prefer_simpler({"mixture": mix, "a": clear, "b": noisy})[0] == "a"
    choice, z = prefer_simpler({"mixture": mix, "b": noisy})
    assert choice == "mixture" and z["b"] < 2


@pytest.mark.parametrize("n_classes", [2, 3])
def test_single_llm_estimator_follows_that_llm(n_classes):
    S, _ = make_signals(n=200, n_classes=n_classes, seed=5)
    X = signal_features(S)
    est = single_llm_estimator(2, np.array([0.0, 1.0, 0.0]), S.shape[1], n_classes,
                               X.shape[1])
    p = S[:, 2, 0] / S[:, 2, 0].sum(axis=1, keepdims=True)
    np.testing.assert_allclose(est.predict_proba(X), np.maximum(p, 1e-3) / np.maximum(
        p, 1e-3).sum(axis=1, keepdims=True), atol=1e-12)
