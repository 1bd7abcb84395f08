"""Signals: the array ``(n_texts, n_annotators, 2, n_classes)`` a panel of annotators gives.

``signals[:, j, PROBS]`` are annotator ``j``'s class probabilities and ``signals[:, j, VOTES]``
its vote shares. This module validates such arrays, turns them into meta-features for a
learned aggregator, and holds the one row normalisation of class scores that the
aggregators share.
"""
from __future__ import annotations

import numpy as np

from .annotators.base import PROBS, VOTES, check_annotation_values

__all__ = ["check_signals", "normalise_rows", "signal_features"]

#: Floor of the normalised probabilities before their log in :func:`signal_features`.
_LOG_FLOOR = 1e-3


def check_signals(signals, *, name: str = "signals", allow_flat: bool = False) -> np.ndarray:
    """Validate a signals array and return it as float64.

    Parameters
    ----------
    signals : array-like of shape (n_texts, n_annotators, 2, n_classes)
        ``signals[:, j, 0]`` are annotator ``j``'s class probabilities and
        ``signals[:, j, 1]`` its vote shares.
    name : str, default="signals"
        How to call the array in error messages.
    allow_flat : bool, default=False
        Also accept a 2-d ``(n_texts, n_features)`` array (already flattened signals),
        returned unchanged in shape.

    Returns
    -------
    ndarray
        The validated array.

    Raises
    ------
    ValueError
        On the wrong number of dimensions, a second axis of size other than 2, no rows,
        or NaN / infinite values (the message says where); for a 4-d array also on values
        outside ``[0, 1]`` or vote rows summing to more than 1 (see
        :func:`~skmollal.annotators.base.check_annotation_values`: probability rows may
        sum to anything up to ``n_classes``, vote rows to less than 1 where answers
        abstained).
    """
    arr = np.asarray(signals, dtype=float)
    if allow_flat and arr.ndim == 2:
        pass
    elif arr.ndim != 4 or arr.shape[2] != 2:
        raise ValueError(
            f"{name} must have shape (n_texts, n_annotators, 2, n_classes)"
            + (" or (n_texts, n_features)" if allow_flat else "")
            + f"; got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s); first in row {row}"
        )
    if arr.ndim == 4:
        check_annotation_values(arr[:, :, PROBS], arr[:, :, VOTES],
                                where=f"{name} (rows, LLMs)")
    return arr


def normalise_rows(scores, *, zero_rows: str = "uniform") -> np.ndarray:
    """Scale class scores to sum to one along the last axis.

    Parameters
    ----------
    scores : array-like of shape (..., n_classes)
        Non-negative class scores (probabilities, vote counts, likelihoods).
    zero_rows : {"uniform", "zero"}, default="uniform"
        What a row whose scores do not sum to a positive number becomes (e.g. an annotator
        that abstained): ``1 / n_classes`` everywhere, or all zeros (so that it adds
        nothing to a sum or mean over annotators).

    Returns
    -------
    ndarray of shape (..., n_classes)
        The normalised scores, float.

    Raises
    ------
    ValueError
        If ``zero_rows`` is neither ``"uniform"`` nor ``"zero"``.
    """
    if zero_rows not in ("uniform", "zero"):
        raise ValueError(f"zero_rows must be 'uniform' or 'zero', got {zero_rows!r}")
    scores = np.asarray(scores, dtype=float)
    total = scores.sum(axis=-1, keepdims=True)
    fill = 1.0 / scores.shape[-1] if zero_rows == "uniform" else 0.0
    positive = total > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(positive, scores / np.where(positive, total, 1.0), fill)


def signal_features(S: np.ndarray) -> np.ndarray:
    """Turn signals ``(n, L, 2, C)`` into meta-features ``(n, 4 * L * C)``.

    Per LLM: probabilities, vote shares, ``log(max(p / sum p, 1e-3))`` (an LLM whose
    probabilities are all zero counts as uniform) and a one-hot of the vote argmax (all zeros
    when the LLM abstained on every sample).

    Parameters
    ----------
    S : ndarray of shape (n_texts, n_llms, 2, n_classes)

    Returns
    -------
    ndarray of shape (n_texts, 4 * n_llms * n_classes)
    """
    S = check_signals(S, name="S")
    n = S.shape[0]
    probs, votes = S[:, :, PROBS], S[:, :, VOTES]
    log_norm = np.log(np.maximum(normalise_rows(probs), _LOG_FLOOR))
    onehot = np.zeros_like(votes)
    voted = votes.sum(axis=2) > 0
    ii, jj = np.nonzero(voted)
    onehot[ii, jj, votes[ii, jj].argmax(axis=1)] = 1.0
    return np.concatenate(
        [probs.reshape(n, -1), votes.reshape(n, -1), log_norm.reshape(n, -1),
         onehot.reshape(n, -1)],
        axis=1,
    )
