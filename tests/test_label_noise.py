"""Tests for skmollal.label_noise: negative labels, discrepancy weights, NL schedule."""
from __future__ import annotations

import numpy as np
import pytest

from skmollal.label_noise import discrepancy_weights, negative_labels, nl_weight_schedule


def test_negative_labels_threshold_is_inclusive():
    probs = np.array([[0.9, 0.001, 0.0011, 0.0], [0.2, 0.3, 0.5, 0.0005]])
    mask = negative_labels(probs, threshold=0.001)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, [[False, True, False, True], [False, False, False, True]])


def test_negative_labels_from_signals(synthetic_signals):
    S, _ = synthetic_signals
    mean_probs = S[:, :, 0].mean(axis=1)
    for threshold in (0.001, 0.05):
        mask = negative_labels(mean_probs, threshold=threshold)
        assert mask.shape == mean_probs.shape
        np.testing.assert_array_equal(mask[~mask.all(1)], (mean_probs <= threshold)[~mask.all(1)])
    # a larger threshold can only add negatives
    assert (negative_labels(mean_probs, 0.05) >= negative_labels(mean_probs, 0.001)).all()


def test_negative_labels_never_rules_out_every_class():
    probs = np.array([[0.0, 0.0, 0.0], [0.0005, 0.0, 0.5]])
    mask = negative_labels(probs)
    np.testing.assert_array_equal(mask, [[False, False, False], [True, True, False]])


@pytest.mark.parametrize(
    "probs, threshold, match",
    [
        (np.ones(3), 0.001, "2-d"),
        (np.array([[0.5, np.nan]]), 0.001, "NaN"),
        (np.array([[0.5, -0.1]]), 0.001, "negative"),
        (np.array([[0.5, 0.5]]), 1.5, "threshold"),
        (np.array([[1.0]]), 0.001, "at least 2"),
    ],
)
def test_negative_labels_bad_input(probs, threshold, match):
    with pytest.raises(ValueError, match=match):
        negative_labels(probs, threshold=threshold)


def test_discrepancy_weights_from_probabilities_and_labels():
    proba = np.array([[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]])
    w = discrepancy_weights(proba, np.array([0, 0, 2]), weight=0.5)
    np.testing.assert_allclose(w, [1.0, 0.5, 1.0])
    # soft mixture labels use their argmax, predicted labels work as well
    soft = np.array([[0.6, 0.4, 0.0], [0.5, 0.4, 0.1], [0.1, 0.1, 0.8]])
    np.testing.assert_allclose(discrepancy_weights(proba, soft, weight=0.25), [1, 0.25, 1])
    np.testing.assert_allclose(discrepancy_weights(np.array([0, 1, 2]), [0, 0, 2]), [1, 0.5, 1])


def test_discrepancy_weights_match_elementwise_rule():
    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(4), size=200)
    labels = rng.integers(0, 4, 200)
    w = discrepancy_weights(proba, labels, weight=0.3)
    expected = np.where(proba.argmax(1) == labels, 1.0, 0.3)
    np.testing.assert_array_equal(w, expected)
    assert 0 < (w < 1).mean() < 1


@pytest.mark.parametrize(
    "proba, labels, weight, match",
    [
        (np.full((3, 2), 0.5), [0, 1], 0.5, "rows"),
        (np.full((3, 2), 0.5), np.full((3, 3), 1 / 3), 0.5, "classes"),
        (np.full((2, 2), 0.5), [0.5, 1], 0.5, "integer"),
        (np.full((2, 2), 0.5), [0, 1], 1.5, "weight"),
        (np.array([[np.nan, 1.0], [0.5, 0.5]]), [0, 1], 0.5, "NaN"),
    ],
)
def test_discrepancy_weights_bad_input(proba, labels, weight, match):
    with pytest.raises(ValueError, match=match):
        discrepancy_weights(proba, labels, weight=weight)


def test_nl_weight_schedule():
    assert nl_weight_schedule(0) == pytest.approx(0.4)
    assert nl_weight_schedule(5) == pytest.approx(0.7)
    assert nl_weight_schedule(3, start=0.1, step=0.1) == pytest.approx(0.4)
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match="round_"):
            nl_weight_schedule(bad)
