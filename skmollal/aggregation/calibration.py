"""Calibration from a few gold rows: view weights (temperature scaling), and its measure.

A fused label distribution is ``softmax(sum_v w_v * log p_v)`` over one or more *views*
(e.g. the mixture's posterior from the LLM signals, a text classifier's posterior). With one
view, ``1 / w`` is the classic temperature of temperature scaling; with several, the weights
also say how much each view is trusted. :func:`fit_view_weights` fits the weights by
minimising the log loss on gold rows whose view probabilities were predicted out of fold
(the negative log-likelihood is convex in ``w``, so the optimum is global). Weights are kept
in ``[0, max_weight]``: a view that carries nothing gets weight 0 and costs nothing.

:func:`expected_calibration_error` measures how far confidence is from accuracy.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

__all__ = [
    "LOG_FLOOR",
    "combine_views",
    "expected_calibration_error",
    "fit_view_weights",
    "safe_log",
]

#: Probabilities are floored here before the log, so a view's zero cannot veto a class.
LOG_FLOOR = 1e-6


def safe_log(proba: np.ndarray) -> np.ndarray:
    """``log(max(proba, LOG_FLOOR))``."""
    return np.log(np.maximum(np.asarray(proba, dtype=float), LOG_FLOOR))


def combine_views(log_probas: Sequence[np.ndarray], weights) -> np.ndarray:
    """Fused probabilities ``softmax(sum_v weights[v] * log_probas[v])``.

    Parameters
    ----------
    log_probas : sequence of ndarray of shape (n_rows, n_classes)
        Log-probabilities of each view.
    weights : array-like of shape (n_views,)
        Weight of each view.

    Returns
    -------
    ndarray of shape (n_rows, n_classes)
    """
    logits = sum(w * lp for w, lp in zip(np.asarray(weights, dtype=float), log_probas))
    return np.exp(log_softmax(logits, axis=1))


def fit_view_weights(log_probas: Sequence[np.ndarray], y, *, max_weight: float = 10.0
                     ) -> np.ndarray:
    """Weights of views that minimise the log loss of their fused probabilities on gold rows.

    Parameters
    ----------
    log_probas : sequence of ndarray of shape (n_gold, n_classes)
        Each view's log-probabilities of the gold rows, predicted out of fold (a view
        fitted on a row's own label would look better than it is).
    y : array-like of int, shape (n_gold,)
        Gold class indices.
    max_weight : float, default=10.0
        Upper bound of each weight (``1 / max_weight`` is the smallest temperature).

    Returns
    -------
    ndarray of shape (n_views,)
        Non-negative weights; with a single view, ``1 / weight`` is its temperature.
    """
    y = np.asarray(y, dtype=int)
    L = np.stack([np.asarray(lp, dtype=float) for lp in log_probas])  # (V, n, C)
    if L.ndim != 3 or L.shape[1] != y.shape[0]:
        raise ValueError(
            f"log_probas must be views of shape (n_gold, n_classes) with n_gold = {y.shape[0]}"
        )
    n_views = L.shape[0]
    if y.size == 0:
        return np.r_[1.0, np.zeros(n_views - 1)]
    picked = L[:, np.arange(y.size), y]  # (V, n)

    def loss(w):
        logits = np.einsum("v,vnc->nc", w, L)
        lsm = log_softmax(logits, axis=1)
        p = np.exp(lsm)
        nll = -lsm[np.arange(y.size), y].mean()
        grad = -(picked - np.einsum("nc,vnc->vn", p, L)).mean(axis=1)
        return nll, grad

    start = np.full(n_views, 1.0 / n_views)
    res = minimize(loss, start, jac=True, method="L-BFGS-B",
                   bounds=[(0.0, max_weight)] * n_views)
    return np.asarray(res.x, dtype=float)


def expected_calibration_error(y_true, proba, n_bins: int = 15) -> float:
    """Expected calibration error of the top-class confidence.

    Rows are binned by their highest probability into ``n_bins`` equal-width bins; the
    error is the row-weighted mean of ``|accuracy - mean confidence|`` over the bins.

    Parameters
    ----------
    y_true : array-like of int, shape (n_rows,)
        True class indices (columns of ``proba``).
    proba : array-like of shape (n_rows, n_classes)
        Predicted probabilities.
    n_bins : int, default=15
        Number of confidence bins.

    Returns
    -------
    float
        Between 0 (confidence equals accuracy in every bin) and 1.
    """
    proba = np.asarray(proba, dtype=float)
    y_true = np.asarray(y_true)
    if proba.ndim != 2 or proba.shape[0] != y_true.shape[0]:
        raise ValueError(
            f"proba must have shape (n_rows, n_classes) with n_rows = {y_true.shape[0]}, "
            f"got {proba.shape}"
        )
    if not (isinstance(n_bins, (int, np.integer)) and n_bins >= 1):
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == y_true
    bins = np.minimum((conf * n_bins).astype(int), n_bins - 1)
    err = 0.0
    for b in np.unique(bins):
        inb = bins == b
        err += inb.sum() * abs(correct[inb].mean() - conf[inb].mean())
    return float(err / max(len(conf), 1))
