"""Cross-validation over the gold rows only: the one honest way to judge a fusion from ``y``.

A fusion learns from the gold rows of ``y`` (``-1`` = unlabeled) *and* the unlabeled rows.
To estimate how good it is without any label beyond ``y``, the gold rows are split into
folds; for each fold the fusion is refitted with that fold's labels hidden (set to ``-1``,
the rows stay in as unlabeled rows) and predicts them. Every gold row gets one out-of-fold
prediction. Calibration, view weights, the choice between candidates and the label report
all read these predictions.

:func:`choose_by_gold_cv` turns such predictions into a choice: candidates ordered from the
richest to the simplest, the first one that no other beats by more than ``n_se`` standard
errors of the paired accuracy difference is kept (with a few dozen gold rows, accuracy
differences of a few points are noise).
"""
from __future__ import annotations

import inspect

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.base import clone

from .base import expand_proba

__all__ = ["accepts_text", "check_cv", "choose_by_gold_cv", "cross_val_gold_proba",
           "encode_partial", "gold_folds"]


def check_cv(cv) -> None:
    """Raise a ValueError naming ``cv`` unless it is an integer >= 2 (a number of folds).

    Parameters
    ----------
    cv : int
        Number of folds over the gold rows.
    """
    if not (isinstance(cv, (int, np.integer)) and cv >= 2):
        raise ValueError(f"cv must be an integer >= 2, got {cv!r}")


def gold_folds(y, cv: int = 5, random_state=0) -> list[np.ndarray]:
    """Split the gold rows (``y >= 0``) into ``cv`` shuffled folds of near-equal size.

    Parameters
    ----------
    y : array-like of int, shape (n_rows,)
        Class indices, ``-1`` for unlabeled rows.
    cv : int, default=5
        Number of folds (fewer when there are fewer gold rows).
    random_state : int, default=0
        Seed of the shuffle.

    Returns
    -------
    list of ndarray
        Row indices of each fold; together, every gold row once.
    """
    check_cv(cv)
    gold = np.flatnonzero(np.asarray(y) >= 0)
    if gold.size < 2:
        return []
    perm = np.random.default_rng(random_state).permutation(gold)
    return [f for f in np.array_split(perm, min(cv, gold.size)) if f.size]


def encode_partial(y, classes) -> np.ndarray:
    """Class indices of ``y`` in the order of ``classes``, ``-1`` for unlabeled rows.

    Numeric ``y`` marks unlabeled rows with ``-1``; other labels (strings) are all gold.
    """
    y = np.asarray(y).ravel()
    numeric = np.issubdtype(y.dtype, np.number)
    labeled = (y != -1) if numeric else np.ones(y.shape[0], dtype=bool)
    enc = np.full(y.shape[0], -1, dtype=int)
    enc[labeled] = np.searchsorted(classes, y[labeled])
    return enc


def accepts_text(estimator) -> bool:
    """Whether ``estimator.fit`` takes the texts' features as ``X_text``."""
    return "X_text" in inspect.signature(estimator.fit).parameters


def cross_val_gold_proba(estimator, S, y, *, cv: int = 5, random_state=0, X_text=None,
                         n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold class probabilities of the gold rows.

    Parameters
    ----------
    estimator : classifier
        Unfitted fusion; cloned for every fold. Its classes must be class indices.
    S : array-like of shape (n_rows, ...)
        Signals (any layout the estimator takes).
    y : array-like of int, shape (n_rows,)
        Class indices, ``-1`` for unlabeled rows.
    cv : int, default=5
        Number of folds over the gold rows.
    random_state : int, default=0
        Seed of the fold split.
    X_text : array-like of shape (n_rows, n_text_features), optional
        Texts' features, passed to ``fit`` and ``predict_proba`` when given.
    n_classes : int, optional
        Number of columns of the output; default ``max(y) + 1``.

    Returns
    -------
    rows : ndarray of int
        Gold rows that got a prediction (a fold whose remaining gold shows fewer than two
        classes is skipped).
    proba : ndarray of shape (len(rows), n_classes)
    """
    y = np.asarray(y, dtype=int)
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    rows, probas = [], []
    for fold in gold_folds(y, cv, random_state):
        y_fold = y.copy()
        y_fold[fold] = -1
        if np.unique(y_fold[y_fold >= 0]).size < 2:
            continue
        text = {} if X_text is None else {"X_text": X_text}
        model = clone(estimator).fit(S, y_fold, **text)
        sub = {} if X_text is None else {"X_text": X_text[fold]}
        proba = model.predict_proba(_safe_indexing(S, fold), **sub)
        probas.append(expand_proba(proba, model.classes_, n_classes))
        rows.append(fold)
    if not rows:
        return np.zeros(0, dtype=int), np.zeros((0, n_classes))
    return np.concatenate(rows), np.concatenate(probas)


def choose_by_gold_cv(correct, n_se: float = 1.0) -> int:
    """Index of the candidate kept by the ``n_se``-standard-error rule.

    Parameters
    ----------
    correct : array-like of bool, shape (n_candidates, n_rows)
        Whether each candidate's out-of-fold prediction of each gold row is right;
        candidates ordered from the richest to the simplest.
    n_se : float, default=1.0
        Gain, in standard errors, another candidate needs to displace a richer one; 0 keeps
        the most accurate candidate (ties to the richer one).

    Returns
    -------
    int
        The first candidate ``i`` such that no candidate ``j`` has a paired accuracy gain
        ``mean(correct[j] - correct[i])`` above ``n_se`` standard errors; if none
        qualifies, the most accurate one.
    """
    c = np.asarray(correct, dtype=float)
    if c.ndim != 2 or c.shape[0] == 0:
        raise ValueError(f"correct must have shape (n_candidates, n_rows), got {c.shape}")
    n = c.shape[1]
    if n < 2:
        return 0
    for i in range(c.shape[0]):
        diff = c - c[i]  # (K, n)
        gain = diff.mean(axis=1)
        se = diff.std(axis=1, ddof=1) / np.sqrt(n)
        if np.all(gain <= n_se * se + 1e-12):
            return i
    return int(c.mean(axis=1).argmax())
