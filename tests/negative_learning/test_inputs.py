"""Tests of the classifier's input checks: soft targets, labels, weights, negative labels."""
from __future__ import annotations

import logging

import numpy as np
import pytest

from skmollal.negative_learning.inputs import (check_feature_dict, check_hard_labels,
                                               check_negative_mask, check_sample_weight,
                                               check_soft_targets, label_indices)


def test_soft_targets_are_renormalised_float32_and_a_bad_row_is_named():
    out = check_soft_targets(np.array([[0.2, 0.8], [0.5, 0.5001]]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ValueError, match=r"row 1 sums to 0\.9"):
        check_soft_targets(np.array([[0.2, 0.8], [0.5, 0.4]]))
    with pytest.raises(ValueError, match="finite and non-negative"):
        check_soft_targets(np.array([[1.2, -0.2]]))
    with pytest.raises(ValueError, match="numeric"):
        check_soft_targets(np.array([["a", "b"]]))


def test_labels_map_to_class_indices_and_an_unknown_label_is_named():
    classes = np.array(["cat", "dog"])
    np.testing.assert_array_equal(label_indices(np.array(["dog", "cat", "dog"]), classes),
                                  [1, 0, 1])
    with pytest.raises(ValueError, match="label 'eel' not among the classes"):
        label_indices(np.array(["eel"]), classes)
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_hard_labels(np.array([0.0, np.nan]))
    with pytest.raises(ValueError):
        check_hard_labels(np.array([0.1, 0.7]))  # continuous: not class labels


def test_sample_weight_defaults_broadcasts_and_rejects_bad_values():
    np.testing.assert_array_equal(check_sample_weight(None, 3), np.ones(3))
    np.testing.assert_array_equal(check_sample_weight(2.0, 2), [2.0, 2.0])
    for bad, match in [([1.0, 2.0], r"shape \(3,\)"), ([1.0, -1.0, 1.0], "non-negative"),
                       ([0.0, 0.0, 0.0], "zero for every sample")]:
        with pytest.raises(ValueError, match=match):
            check_sample_weight(bad, 3)


def test_negative_mask_checks_and_warns_when_a_target_is_negative(caplog):
    idx = np.array([0, 1])
    assert not check_negative_mask(None, 2, 3, idx, soft=False).any()
    mask = check_negative_mask([[0, 1, 0], [0, 0, 1]], 2, 3, idx, soft=False)
    assert mask.dtype == bool and mask.sum() == 2
    with pytest.raises(ValueError, match="every class as negative in 1 row"):
        check_negative_mask([[1, 1, 1], [0, 0, 1]], 2, 3, idx, soft=False)
    with pytest.raises(ValueError, match=r"shape \(n_samples, n_classes\) = \(2, 3\)"):
        check_negative_mask(np.zeros((2, 2), bool), 2, 3, idx, soft=False)
    with pytest.raises(ValueError, match="boolean"):
        check_negative_mask([[0, 2, 0], [0, 0, 1]], 2, 3, idx, soft=False)
    with caplog.at_level(logging.WARNING, logger="skmollal"):
        check_negative_mask([[1, 0, 0], [0, 0, 1]], 2, 3, idx, soft=False)
    assert "1 sample(s) have their target label among their negative labels" in caplog.text


def test_feature_dict_needs_equal_lengths_and_no_reserved_key():
    features, n = check_feature_dict({"a": np.zeros(4), "b": np.ones(4)})
    assert n == 4 and set(features) == {"a", "b"}
    with pytest.raises(ValueError, match="same length"):
        check_feature_dict({"a": np.zeros(4), "b": np.ones(3)})
    with pytest.raises(ValueError, match="reserved keys"):
        check_feature_dict({"nl_target": np.zeros(4)})
