"""Tests of CoTrainingMixture, and of TwoViewMixture's deprecated n_iter that leads to it."""
import numpy as np
import pytest

from skmollal.aggregation import DawidSkene, MixtureAggregator, TwoViewMixture
from skmollal.experimental import CoTrainingMixture
from skmollal.testing import hide_labels, make_signals
from skmollal.testing.checks import CONSTRUCTION_CHECKS
from skmollal.testing.signals import text_features as _text


def _task(n=500, seed=1):
    """A weak panel (LLMs answer at random half the time or more) and its gold seed."""
    S, y = make_signals(n=n, noise=(0.5, 0.6, 0.6, 0.7), seed=seed)
    return S, y, hide_labels(y, 50, seed)


def test_cotraining_rounds_refit_both_views():
    S, y, yl = _task()
    E = _text(y, signal=2.5)
    held = yl < 0
    one = TwoViewMixture().fit(S, yl, X_text=E)
    co = CoTrainingMixture(n_iter=2).fit(S, yl, X_text=E)
    # the signal view learnt from the fused posterior: it moved towards the text's labels
    mix = MixtureAggregator().fit(S, yl)
    assert co.mixture_.score(S[held], y[held]) > mix.score(S[held], y[held]) + 0.02
    assert co.view_weights_.shape == (2,)
    assert co.score(S[held], y[held], X_text=E[held]) >= one.score(
        S[held], y[held], X_text=E[held]) - 0.02
    assert co.score(S[held], y[held], X_text=E[held]) > mix.score(S[held], y[held]) + 0.05


def test_cotraining_gives_noise_text_no_weight_and_without_text_does_nothing():
    S, y, yl = _task(seed=2)
    E = np.random.default_rng(2).normal(size=(len(y), 30))
    co = CoTrainingMixture(n_iter=2).fit(S, yl, X_text=E)
    # cross-fitted, the noise view's opinion of a row is no echo of its target: no weight.
    # (The extra EM rounds of the signal view still move it: on this weak panel about one
    # point down, one reason co-training is experimental.)
    assert co.view_weights_[1] < 0.25 * co.view_weights_[0]
    no_text = CoTrainingMixture(n_iter=2).fit(S, yl)
    np.testing.assert_allclose(no_text.predict_proba(S), TwoViewMixture().fit(S, yl)
                               .predict_proba(S))


def test_cotraining_errors():
    S, y, yl = _task(n=200)
    E = _text(y, 1.0)
    with pytest.raises(ValueError, match="n_iter must be a non-negative integer"):
        CoTrainingMixture(n_iter=-1).fit(S, yl)
    with pytest.raises(ValueError, match="needs a mixture whose fit takes init_proba"):
        CoTrainingMixture(mixture=DawidSkene(), n_iter=1).fit(S, yl, X_text=E)


def test_zero_rounds_is_the_two_view_mixture():
    S, y, yl = _task(n=200)
    E = _text(y, 1.0)
    np.testing.assert_allclose(CoTrainingMixture(n_iter=0).fit(S, yl, X_text=E).predict_proba(
        S, X_text=E), TwoViewMixture().fit(S, yl, X_text=E).predict_proba(S, X_text=E))


def test_two_view_n_iter_warns_and_co_trains():
    S, y, yl = _task(n=200)
    E = _text(y, 1.0)
    with pytest.warns(FutureWarning, match="CoTrainingMixture"):
        old = TwoViewMixture(n_iter=1).fit(S, yl, X_text=E)
    new = CoTrainingMixture(n_iter=1).fit(S, yl, X_text=E)
    np.testing.assert_allclose(old.predict_proba(S, X_text=E), new.predict_proba(S, X_text=E))
    with pytest.warns(FutureWarning, match="CoTrainingMixture"):
        zero = TwoViewMixture(n_iter=0).fit(S, yl, X_text=E)
    np.testing.assert_allclose(zero.predict_proba(S, X_text=E), TwoViewMixture().fit(
        S, yl, X_text=E).predict_proba(S, X_text=E))
    with pytest.warns(FutureWarning), pytest.raises(ValueError, match="co-training"):
        TwoViewMixture(text_fit="once", n_iter=1).fit(S, yl, X_text=E)


@pytest.mark.parametrize("check", CONSTRUCTION_CHECKS)
def test_sklearn_checks_that_apply(check):
    check("CoTrainingMixture", CoTrainingMixture(mixture=MixtureAggregator(max_iter=1)))
