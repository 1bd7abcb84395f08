"""Tests of skmollal.signals: validation, meta-features and the row normalisation."""
import numpy as np
import pytest

from skmollal.annotators import base
from skmollal.signals import PROBS, VOTES, check_signals, normalise_rows, signal_features
from skmollal.testing import make_signals


def test_layout_constants_are_the_annotators():
    assert (PROBS, VOTES) == (base.PROBS, base.VOTES) == (0, 1)


def test_check_signals():
    S, _ = make_signals(n=20)
    assert check_signals(S.astype(np.float32)).dtype == np.float64
    with pytest.raises(ValueError, match=r"shape \(n_texts, n_annotators, 2, n_classes\)"):
        check_signals(S[:, :, 0])
    np.testing.assert_array_equal(check_signals(S[:, 0, 0], allow_flat=True), S[:, 0, 0])
    with pytest.raises(ValueError, match="no rows"):
        check_signals(S[:0])
    bad = S.copy()
    bad[7, 1, 0, 2] = np.nan
    with pytest.raises(ValueError, match="1 NaN or infinite value.*first in row 7"):
        check_signals(bad, name="S")


@pytest.mark.parametrize("zero_rows, fill", [("uniform", 0.25), ("zero", 0.0)])
def test_normalise_rows(zero_rows, fill):
    scores = np.array([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 2.0, 2.0, 2.0]])
    out = normalise_rows(scores, zero_rows=zero_rows)
    np.testing.assert_allclose(out[0], [0.25, 0.75, 0, 0])
    np.testing.assert_array_equal(out[1], np.full(4, fill))
    np.testing.assert_allclose(out[2], 0.25)


def test_normalise_rows_works_on_the_last_axis_of_any_shape():
    S, _ = make_signals(n=30)
    probs = S[:, :, PROBS] * 3.0
    probs[4, 1] = 0.0
    out = normalise_rows(probs, zero_rows="zero")
    assert out.shape == probs.shape
    np.testing.assert_allclose(out[np.arange(30) != 4].sum(axis=-1), 1.0)
    np.testing.assert_array_equal(out[4, 1], 0.0)


def test_normalise_rows_rejects_an_unknown_mode():
    with pytest.raises(ValueError, match="zero_rows"):
        normalise_rows(np.ones((2, 2)), zero_rows="nan")


def test_signal_features():
    S, _ = make_signals(n=50, n_llms=3, n_classes=4)
    S[0, 1] = 0.0  # LLM 1 abstained on text 0: uniform log-probabilities, no vote one-hot
    F = signal_features(S)
    assert F.shape == (50, 4 * 3 * 4)
    probs, votes, log_norm, onehot = np.split(F, 4, axis=1)
    np.testing.assert_array_equal(probs, S[:, :, PROBS].reshape(50, -1))
    np.testing.assert_array_equal(votes, S[:, :, VOTES].reshape(50, -1))
    log_norm, onehot = log_norm.reshape(50, 3, 4), onehot.reshape(50, 3, 4)
    np.testing.assert_allclose(log_norm[0, 1], np.log(0.25))
    np.testing.assert_array_equal(onehot[0, 1], 0.0)
    norm = S[2, 0, PROBS] / S[2, 0, PROBS].sum()
    np.testing.assert_allclose(log_norm[2, 0], np.log(np.maximum(norm, 1e-3)))
    assert onehot[2, 0, S[2, 0, VOTES].argmax()] == 1.0 and onehot[2, 0].sum() == 1.0
