"""Tests of the one-standard-error rule that picks a candidate from gold-row CV."""
import numpy as np
import pytest

from skmollal.aggregation.gold_cv import choose_by_gold_cv


def test_rule_keeps_the_richer_model_on_ties_and_noise():
    rng = np.random.default_rng(0)
    a = rng.random(50) < 0.8
    assert choose_by_gold_cv([a, a, a]) == 0
    b = a.copy()
    b[np.flatnonzero(~a)[:1]] = True  # one row better: within one standard error
    assert choose_by_gold_cv([a, b]) == 0  # default: one standard error
    assert choose_by_gold_cv([a, b], n_se=0.0) == 1


def test_rule_switches_on_evidence():
    a = np.r_[np.ones(35, bool), np.zeros(15, bool)]
    b = np.ones(50, bool)  # right on every row the richer model gets wrong
    assert choose_by_gold_cv([a, b]) == 1
    assert choose_by_gold_cv([a, a, b]) == 2
    with pytest.raises(ValueError, match="n_candidates"):
        choose_by_gold_cv(np.zeros(3))
