"""Tests for skmollal.label_noise: negative labels, discrepancy weights, NL schedule."""
from __future__ import annotations

import numpy as np
import pytest

from skmollal.active_learning.targets import pool_negative_mask
from skmollal.label_noise import (confident_discrepancy_weights, discrepancy_weights,
                                  mixture_confidence_weights, negative_label_hits,
                                  negative_labels, nl_weight_schedule, noise_weights)


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


def _noisy_setting(n=300, n_classes=4, seed=0):
    """Mixture posteriors (confident, mostly right) and a classifier that is always wrong."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, n_classes, n)
    mixture = rng.dirichlet(np.full(n_classes, 0.3), size=n) * 0.1
    mixture[np.arange(n), truth] += 0.9  # the mixture's label is the truth, posterior >= 0.9
    wrong = (truth + 1) % n_classes
    unsure = np.full((n, n_classes), 0.2 / (n_classes - 1))
    unsure[np.arange(n), wrong] = 0.8  # predicts a wrong class with probability 0.8
    return truth, mixture, unsure


def test_confident_weights_ignore_a_wrong_classifier_less_sure_than_the_mixture():
    truth, mixture, clf = _noisy_setting()
    # the reference down-weights every (correct) mixture label the classifier disagrees with
    np.testing.assert_array_equal(discrepancy_weights(clf, mixture), 0.5)
    # gated: the classifier (0.8) is less sure than the mixture (>= 0.9): nothing moves
    np.testing.assert_array_equal(confident_discrepancy_weights(clf, mixture), 1.0)


def test_confident_weights_follow_a_classifier_surer_than_the_mixture():
    mixture = np.array([[0.6, 0.4], [0.6, 0.4], [0.95, 0.05], [0.3, 0.7]])
    clf = np.array([[0.1, 0.9], [0.45, 0.55], [0.01, 0.99], [0.2, 0.8]])
    w = confident_discrepancy_weights(clf, mixture, weight=0.25)
    # row 0: disagrees, surer (0.9 > 0.6); row 1: disagrees, less sure; row 2: disagrees,
    # surer (0.99 > 0.95); row 3: agrees
    np.testing.assert_array_equal(w, [0.25, 1.0, 0.25, 1.0])
    # where it fires, it is a subset of the reference's down-weighting
    assert (w >= discrepancy_weights(clf, mixture, weight=0.25)).all()


def test_mixture_confidence_weights_are_the_posterior_of_the_label():
    truth, mixture, _ = _noisy_setting()
    np.testing.assert_allclose(mixture_confidence_weights(mixture), mixture.max(axis=1))
    unsure = np.array([[0.4, 0.35, 0.25], [0.9, 0.05, 0.05]])
    np.testing.assert_allclose(mixture_confidence_weights(unsure, floor=0.5), [0.5, 0.9])
    with pytest.raises(ValueError, match="weight"):
        mixture_confidence_weights(unsure, floor=2.0)


def test_noise_weights_dispatch_by_mode():
    _, mixture, clf = _noisy_setting(n=50)
    np.testing.assert_array_equal(noise_weights("reference", mixture, clf, weight=0.3),
                                  discrepancy_weights(clf, mixture, weight=0.3))
    np.testing.assert_array_equal(noise_weights("confident", mixture, clf),
                                  confident_discrepancy_weights(clf, mixture))
    np.testing.assert_allclose(noise_weights("mixture_confidence", mixture, weight=0.95),
                               np.clip(mixture.max(1), 0.95, 1))
    with pytest.raises(ValueError, match="mode"):
        noise_weights("sometimes", mixture, clf)
    with pytest.raises(ValueError, match="classifier"):
        noise_weights("confident", mixture)
    with pytest.raises(ValueError, match="shape"):
        noise_weights("confident", mixture, clf[:, :3])


def test_negative_label_hits_counts_negatives_on_the_true_class():
    mask = np.array([[False, True, True], [True, False, False], [False, False, False]])
    assert negative_label_hits(mask, [0, 0, 2]) == pytest.approx(1 / 3)
    assert negative_label_hits(mask, [0, 1, 2]) == 0.0
    assert np.isnan(negative_label_hits(np.zeros((2, 3), bool), [0, 1]))
    with pytest.raises(ValueError, match="match"):
        negative_label_hits(mask, [0, 1])


def test_pool_negative_mask_from_signals_or_posterior():
    # two LLMs; the second is unreliable and gives class 2 some probability
    signals = np.zeros((2, 2, 2, 3))
    signals[:, 0, 0] = [[0.9995, 0.0, 0.0005], [0.0, 0.9995, 0.0005]]
    signals[:, 1, 0] = [[0.5, 0.0, 0.5], [0.0, 0.5, 0.5]]
    posterior = np.array([[0.9999, 0.00005, 0.00005], [0.0005, 0.999, 0.0005]])
    from_signals = pool_negative_mask(signals, posterior, 0.001, "signals")
    np.testing.assert_array_equal(from_signals, [[False, True, False], [True, False, False]])
    from_posterior = pool_negative_mask(signals, posterior, 0.001, "posterior")
    np.testing.assert_array_equal(from_posterior, [[False, True, True], [True, False, True]])
    assert not pool_negative_mask(signals, posterior, None, "posterior").any()
    with pytest.raises(ValueError, match="nl_source"):
        pool_negative_mask(signals, posterior, 0.001, "llms")
