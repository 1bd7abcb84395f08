"""Fusing partial panels: signals where some LLMs were not asked about some texts.

A cascade (:class:`~skmollal.cascade.CascadePanel`) asks only some LLMs of the panel about a
text; the LLMs it did not ask have NaN in the signals array
``(n_texts, n_llms, 2, n_classes)``. :class:`MaskedAggregator` fuses such signals without
imputing anything: for each *pattern* (a set of LLMs), it fits one copy of a full-panel
aggregator (default :class:`~skmollal.aggregation.MixtureAggregator`) on those LLMs' columns
of the rows where all of them were asked, so every model is trained only on answers that were
really given. A row is then labelled by the model of the largest fitted pattern that it
covers. For a cascade the patterns are the prefixes of its order, and the gold seed rows
(annotated by every LLM) give every pattern its gold labels.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from .._validation import check_partial_labels
from ..aggregation.base import expand_proba

__all__ = ["MaskedAggregator", "asked_mask", "check_masked_signals", "join_masked"]

logger = logging.getLogger(__name__)


def check_masked_signals(signals, *, name: str = "S") -> tuple[np.ndarray, np.ndarray]:
    """Validate signals in which unasked LLMs are NaN; return them and the asked mask.

    Parameters
    ----------
    signals : array-like of shape (n_texts, n_llms, 2, n_classes)
        Panel signals; an LLM that was not asked about a text has NaN in all of its
        ``2 * n_classes`` entries for that text.
    name : str, default="S"
        How to call the array in error messages.

    Returns
    -------
    signals : ndarray of float
    mask : ndarray of bool, shape (n_texts, n_llms)
        True where the LLM was asked (its entries are finite).

    Raises
    ------
    ValueError
        On the wrong shape, no rows, infinite values, an LLM block that is only partly NaN,
        or a row where no LLM was asked (the message says where).
    """
    arr = np.asarray(signals, dtype=float)
    if arr.ndim != 4 or arr.shape[2] != 2:
        raise ValueError(
            f"{name} must have shape (n_texts, n_llms, 2, n_classes); got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains infinite values")
    finite = np.isfinite(arr).reshape(arr.shape[0], arr.shape[1], -1)
    mask = finite.all(axis=2)
    partly = finite.any(axis=2) & ~mask
    if partly.any():
        i, j = np.argwhere(partly)[0]
        raise ValueError(
            f"{name}: LLM {j} of row {i} is partly NaN; an unasked LLM must be NaN in all of "
            "its entries, an asked one in none"
        )
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(
            f"{name}: {int(empty.sum())} row(s) have no LLM answer at all (first: row "
            f"{int(np.flatnonzero(empty)[0])})"
        )
    return arr, mask


def asked_mask(signals) -> np.ndarray:
    """Which LLMs answered which texts: ``(n_texts, n_llms)`` bool, False where NaN.

    Parameters
    ----------
    signals : array-like of shape (n_texts, n_llms, 2, n_classes)

    Returns
    -------
    ndarray of bool, shape (n_texts, n_llms)
    """
    arr = np.asarray(signals, dtype=float)
    return np.isfinite(arr).reshape(arr.shape[0], arr.shape[1], -1).all(axis=2)


def _check_pattern(pattern, n_llms: int) -> tuple[int, ...]:
    cols = tuple(int(j) for j in pattern)
    if not cols or len(set(cols)) != len(cols) or min(cols) < 0 or max(cols) >= n_llms:
        raise ValueError(
            f"a pattern must list distinct LLM indices in 0..{n_llms - 1}; got {list(pattern)}"
        )
    return cols


class MaskedAggregator(ClassifierMixin, BaseEstimator):
    """One full-panel aggregator per set of asked LLMs, for signals with unasked LLMs as NaN.

    Parameters
    ----------
    estimator : aggregator, optional
        What is fitted per pattern, on that pattern's LLM columns (any ``fit(S, y)`` /
        ``predict_proba(S)`` model with ``-1`` = unlabeled). Default:
        :class:`~skmollal.aggregation.MixtureAggregator`.
    patterns : sequence of sequence of int, optional
        The sets of LLMs (column indices) to fit a model for; a cascade gives the prefixes of
        its order. Default: every distinct set of asked LLMs among the rows of ``fit``.
        Column order within a pattern is the order of the columns the model sees.

    Attributes
    ----------
    patterns_ : list of tuple of int
        The fitted patterns.
    estimators_ : list of estimators
        The model of each pattern, fitted on the rows that have all its LLMs.
    n_rows_ : list of int
        Rows each pattern's model was fitted on.
    n_llms_, n_classes_ : int
        Shape of the signals.
    classes_ : ndarray
        ``arange(n_classes)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skmollal.aggregation import MajorityVote
    >>> S = np.random.default_rng(0).dirichlet([1, 1], size=(6, 2, 2))
    >>> S[3:, 1] = np.nan                       # LLM 1 not asked about rows 3..5
    >>> agg = MaskedAggregator(MajorityVote()).fit(S, [0, 1, -1, -1, -1, -1])
    >>> agg.patterns_
    [(0,), (0, 1)]
    >>> agg.predict_proba(S).shape
    (6, 2)
    """

    def __init__(self, estimator=None, patterns: Sequence[Sequence[int]] | None = None) -> None:
        self.estimator = estimator
        self.patterns = patterns

    def _base(self):
        if self.estimator is None:
            from ..aggregation.mixture import MixtureAggregator

            return MixtureAggregator()
        return clone(self.estimator)

    def fit(self, S, y) -> "MaskedAggregator":
        """Fit one model per pattern on the rows where all of its LLMs were asked.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Signals, NaN for unasked LLMs.
        y : array-like of shape (n_texts,)
            Gold class indices, ``-1`` for unlabeled rows.

        Returns
        -------
        self

        Raises
        ------
        ValueError
            If a pattern covers no row, or its rows show gold labels of fewer than two
            classes (the message names the pattern).
        """
        S, mask = check_masked_signals(S)
        n, L, _, C = S.shape
        y = check_partial_labels(y, n, C, require_labels=True)
        if self.patterns is None:
            patterns = sorted({tuple(np.flatnonzero(m)) for m in mask}, key=lambda p: (len(p), p))
        else:
            patterns = [_check_pattern(p, L) for p in self.patterns]
            if not patterns:
                raise ValueError("MaskedAggregator: patterns is empty")
        estimators, n_rows = [], []
        for pattern in patterns:
            rows = mask[:, list(pattern)].all(axis=1)
            gold = np.unique(y[rows & (y >= 0)])
            if gold.size < 2:
                raise ValueError(
                    f"MaskedAggregator: the rows answered by LLMs {list(pattern)} show gold "
                    f"labels of {gold.size} class(es); each pattern needs gold rows of at least "
                    "two classes (annotate the gold rows with every LLM)"
                )
            estimators.append(self._base().fit(S[rows][:, list(pattern)], y[rows]))
            n_rows.append(int(rows.sum()))
            logger.debug("pattern %s: fitted on %d rows", pattern, n_rows[-1])
        self.patterns_, self.estimators_, self.n_rows_ = patterns, estimators, n_rows
        self.n_llms_, self.n_classes_ = L, C
        self.classes_ = np.arange(C)
        return self

    def pattern_index(self, S) -> np.ndarray:
        """Index into ``patterns_`` of the model that labels each row.

        The largest fitted pattern whose LLMs the row has all answered (ties: the earlier
        pattern).

        Raises
        ------
        ValueError
            If a row covers no fitted pattern.
        """
        check_is_fitted(self, "estimators_")
        S, mask = check_masked_signals(S)
        if S.shape[1] != self.n_llms_ or S.shape[3] != self.n_classes_:
            raise ValueError(
                f"S has {S.shape[1]} LLMs and {S.shape[3]} classes; fitted on "
                f"{self.n_llms_} and {self.n_classes_}"
            )
        covers = np.stack([mask[:, list(p)].all(axis=1) for p in self.patterns_], axis=1)
        sizes = np.array([len(p) for p in self.patterns_])
        score = np.where(covers, sizes[None, :], -1)
        best = score.argmax(axis=1)
        if (score.max(axis=1) < 0).any():
            row = int(np.flatnonzero(score.max(axis=1) < 0)[0])
            raise ValueError(
                f"row {row} answered by LLMs {np.flatnonzero(mask[row]).tolist()} covers none "
                f"of the fitted patterns {self.patterns_}"
            )
        return best

    def predict_proba(self, S) -> np.ndarray:
        """Class probabilities ``(n_texts, n_classes)``, each row from its pattern's model."""
        which = self.pattern_index(S)
        S = np.asarray(S, dtype=float)
        out = np.zeros((S.shape[0], self.n_classes_))
        for k in np.unique(which):
            rows = which == k
            est = self.estimators_[k]
            proba = est.predict_proba(S[rows][:, list(self.patterns_[k])])
            out[rows] = expand_proba(proba, getattr(est, "classes_", self.classes_),
                                     self.n_classes_)
        return out

    def predict(self, S) -> np.ndarray:
        """Most probable class index per text."""
        return self.classes_[self.predict_proba(S).argmax(axis=1)]


def join_masked(models: Sequence[MaskedAggregator]) -> MaskedAggregator:
    """One fitted :class:`MaskedAggregator` with the patterns and models of several (no refit).

    A cascade fits one model per prefix of its order, each as it goes; joined, they fuse any
    signals whose asked LLMs are a prefix, as a :class:`MaskedAggregator` fitted on the same
    signals would, without fitting them again.

    Parameters
    ----------
    models : sequence of MaskedAggregator
        Fitted on signals of the same number of LLMs and classes.

    Returns
    -------
    MaskedAggregator
        Fitted; its ``patterns`` parameter lists the joined patterns.
    """
    models = list(models)
    if not models:
        raise ValueError("join_masked needs at least one fitted MaskedAggregator")
    for m in models:
        check_is_fitted(m, "estimators_")
    first = models[0]
    if any((m.n_llms_, m.n_classes_) != (first.n_llms_, first.n_classes_) for m in models):
        raise ValueError("join_masked: the models were fitted on different numbers of LLMs or "
                         "classes")
    patterns = [p for m in models for p in m.patterns_]
    out = MaskedAggregator(first.estimator, patterns=patterns)
    out.patterns_ = patterns
    out.estimators_ = [e for m in models for e in m.estimators_]
    out.n_rows_ = [n for m in models for n in m.n_rows_]
    out.n_llms_, out.n_classes_, out.classes_ = first.n_llms_, first.n_classes_, first.classes_
    return out
