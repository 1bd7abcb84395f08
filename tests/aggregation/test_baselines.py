"""Tests of the baseline aggregators."""
import numpy as np
import pytest

from skmollal.aggregation import (
    BestSingleLLM, DawidSkene, MajorityVote, MeanProbability, SignalAggregator, dawid_skene,
    expand_proba,
)
from skmollal.signals import VOTES, normalise_rows
from skmollal.testing import make_signals

ALL = [MajorityVote, MeanProbability, BestSingleLLM, DawidSkene]


def _semi(y, n_gold=40, seed=0):
    rng = np.random.default_rng(seed)
    out = np.full_like(y, -1)
    idx = rng.choice(len(y), n_gold, replace=False)
    out[idx] = y[idx]
    return out


@pytest.mark.parametrize("cls", ALL)
def test_api_and_better_than_chance(cls):
    S, y = make_signals(n=400, seed=1)
    m = cls().fit(S, _semi(y))
    proba = m.predict_proba(S)
    assert proba.shape == (400, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(m.classes_) == [0, 1, 2]
    assert m.score(S, y) > 0.6


def test_majority_vote_counts_votes():
    S = np.zeros((2, 3, 2, 2))
    S[0, :2, 1, 1] = 1.0
    S[0, 2, 1, 0] = 1.0
    S[1, :, 1, 0] = 1.0
    S[1, 0, 0, 1] = 1.0  # probabilities are ignored
    np.testing.assert_array_equal(MajorityVote().fit(S).predict(S), [1, 0])


def test_best_single_llm_picks_most_accurate():
    S, y = make_signals(n=500, noise=(0.6, 0.1, 0.5, 0.6), seed=2)
    m = BestSingleLLM().fit(S, _semi(y, 100))
    assert m.best_llm_ == 1


def test_best_single_llm_needs_gold():
    S, y = make_signals(n=50)
    with pytest.raises(ValueError, match="no labeled rows"):
        BestSingleLLM().fit(S, np.full(50, -1))


def test_dawid_skene_learns_a_flipping_annotator():
    # annotator 2 always answers the other class: DS must learn to invert it.
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 600)
    S = np.zeros((600, 3, 2, 2))
    for j, noise in enumerate([0.3, 0.35]):
        said = np.where(rng.random(600) < noise, 1 - y, y)
        S[np.arange(600), j, 1, said] = 1
    S[np.arange(600), 2, 1, 1 - y] = 1
    post, conf, prior = dawid_skene(S[:, :, 1], _semi(y, 20))
    assert conf[2, 0, 1] > 0.9 and conf[2, 1, 0] > 0.9
    assert (post.argmax(1) == y).mean() > 0.95
    assert DawidSkene().fit(S, _semi(y, 20)).score(S, y) > 0.95
    assert MajorityVote().fit(S).score(S, y) < 0.8


@pytest.mark.parametrize("cls", ALL)
def test_bad_input(cls):
    S, y = make_signals(n=30)
    with pytest.raises(ValueError, match="shape"):
        cls().fit(S[:, :, 0], y)
    bad = S.copy()
    bad[3, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cls().fit(bad, y)
    with pytest.raises(ValueError, match="entries"):
        cls().fit(S, y[:-1])
    with pytest.raises(ValueError, match="outside"):
        cls().fit(S, np.full(30, 7))
    m = cls().fit(S, y)
    with pytest.raises(ValueError, match="LLMs"):
        m.predict(S[:, :2])


def test_expand_proba_places_columns_at_their_class():
    proba = np.array([[0.3, 0.7], [1.0, 0.0]])
    np.testing.assert_array_equal(
        expand_proba(proba, np.array([0, 2]), 4), [[0.3, 0, 0.7, 0], [1.0, 0, 0, 0]]
    )


def test_a_custom_aggregator_on_the_base_class():
    class FirstLLM(SignalAggregator):
        def _scores(self, S):
            return S[:, 0, VOTES]

    S, y = make_signals(n=50)
    S[3, 0, VOTES] = 0.0  # abstained: uniform
    m = FirstLLM().fit(S, _semi(y, 10))
    np.testing.assert_allclose(m.predict_proba(S), normalise_rows(S[:, 0, VOTES]))
    np.testing.assert_allclose(m.predict_proba(S)[3], 1 / 3)
    with pytest.raises(ValueError, match=r"y\[0\] = 0.5 is not a whole number"):
        FirstLLM().fit(S, np.full(50, 0.5))
