"""Tests of VoteAnchoredMixture: the mixture and majority vote weighed by the gold rows."""
import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as checks

from skmollal.aggregation import (
    MajorityVote, MixtureAggregator, VoteAnchoredMixture, vote_log_proba,
)
from skmollal.testing import hide_labels, make_signals


def _accuracy(model, S, y, rows):
    return float((model.predict(S[rows]) == y[rows]).mean())


def test_vote_view_is_smoothed_majority_vote():
    S, _ = make_signals(n=200, n_llms=3, seed=0)
    logp = vote_log_proba(S)
    np.testing.assert_allclose(np.exp(logp).sum(axis=1), 1.0)
    np.testing.assert_array_equal(logp.argmax(axis=1), MajorityVote().fit(S).predict(S))
    # a class no LLM voted for keeps a probability: 0.5 / (3 + 3 * 0.5)
    none = S[:, :, 1].sum(axis=1) == 0
    assert none.any()
    np.testing.assert_allclose(np.exp(logp[none]), 0.5 / 4.5)
    with pytest.raises(ValueError, match="smoothing"):
        vote_log_proba(S, smoothing=0)


def test_a_mixture_that_carries_nothing_falls_back_to_majority_vote():
    # four equally good LLMs: majority vote is strong; a mixture whose meta-learner only
    # knows the class prior carries nothing, and the vote view must take over
    S, y = make_signals(n=600, noise=(0.5, 0.5, 0.5, 0.5), seed=3)
    yl = hide_labels(y, 50, 3)
    held = np.flatnonzero(yl < 0)
    blind = MixtureAggregator(estimator=DummyClassifier(strategy="prior"))
    model = VoteAnchoredMixture(mixture=blind).fit(S, yl)
    majority = MajorityVote().fit(S, yl)
    assert _accuracy(blind.fit(S, yl), S, y, held) < 0.5
    assert _accuracy(model, S, y, held) >= _accuracy(majority, S, y, held) - 0.01
    assert model.view_weights_[1] > 0.5


def test_a_clearly_better_mixture_keeps_its_labels():
    # one good LLM, and three that shift every class to the next one the same way: majority
    # vote is nearly always wrong, the mixture learns to read them; the vote view must get
    # about no weight
    S, y = make_signals(n=600, noise=(0.05, 0.3, 0.3, 0.3), seed=4)
    S[:, 1:] = np.roll(S[:, 1:], 1, axis=3)
    yl = hide_labels(y, 50, 4)
    held = np.flatnonzero(yl < 0)
    model = VoteAnchoredMixture().fit(S, yl)
    mixture = MixtureAggregator(guard=False).fit(S, yl)  # the mixture it anchors
    majority = MajorityVote().fit(S, yl)
    acc = _accuracy(model, S, y, held)
    assert _accuracy(majority, S, y, held) < 0.3
    assert acc >= _accuracy(mixture, S, y, held) - 0.01
    assert acc > 0.8
    assert model.view_weights_[1] < 0.1 * model.view_weights_[0]


def test_fitted_attributes_and_probabilities():
    S, y = make_signals(n=300, seed=5)
    yl = hide_labels(y, 40, 5)
    model = VoteAnchoredMixture(cv=4).fit(S, yl)
    gold = np.flatnonzero(yl >= 0)
    assert sorted(model.cv_rows_) == sorted(gold)
    assert model.view_weights_.shape == (2,) and (model.view_weights_ >= 0).all()
    assert [lp.shape for lp in model.cv_view_log_proba_] == [(40, 3), (40, 3)]
    proba = model.predict_proba(S)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(model.predict(S), proba.argmax(axis=1))
    assert set(model.view_proba(S[:4])) == {"mixture", "votes"}
    np.testing.assert_array_equal(model.classes_, [0, 1, 2])


def test_too_few_gold_rows_keep_the_mixture():
    S, y = make_signals(n=200, seed=6)
    yl = np.full_like(y, -1)
    first = [np.flatnonzero(y == c)[0] for c in (0, 1)]
    yl[first] = y[first]  # one gold row per class: no fold keeps two classes
    model = VoteAnchoredMixture().fit(S, yl)
    np.testing.assert_array_equal(model.view_weights_, [1.0, 0.0])
    np.testing.assert_array_equal(model.predict(S), model.mixture_.predict(S))


def test_errors():
    S, y = make_signals(n=100, seed=7)
    yl = hide_labels(y, 20, 7)
    with pytest.raises(ValueError, match="cv"):
        VoteAnchoredMixture(cv=1).fit(S, yl)
    with pytest.raises(ValueError, match="smoothing"):
        VoteAnchoredMixture(smoothing=-1.0).fit(S, yl)
    with pytest.raises(ValueError):
        VoteAnchoredMixture().fit(S.reshape(100, -1), yl)  # the vote view needs 4-d signals
    with pytest.raises(NotFittedError):
        VoteAnchoredMixture().predict(S)


@pytest.mark.parametrize("check", [
    checks.check_no_attributes_set_in_init,
    checks.check_parameters_default_constructible,
    checks.check_get_params_invariance,
    checks.check_set_params,
    checks.check_estimator_cloneable,
    checks.check_estimator_repr,
    checks.check_estimators_unfitted,
    checks.check_do_not_raise_errors_in_init_or_set_params,
])
def test_sklearn_checks_that_apply(check):
    # the vote view needs 4-d signals, so the checks that fit on 2-d data do not apply
    check("VoteAnchoredMixture", VoteAnchoredMixture())
