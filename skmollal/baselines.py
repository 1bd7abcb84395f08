"""Baseline label aggregators over LLM panel signals, with the estimator API of the mixture.

All take the signals array ``S`` of shape ``(n_texts, n_llms, 2, n_classes)`` (``S[:, j, 0]``
probabilities, ``S[:, j, 1]`` vote shares) and ``y`` with ``-1`` for unlabeled rows. Classes
are the positions ``0 .. n_classes - 1`` of the signals' last axis.

:class:`DawidSkene` is implemented here (EM over per-LLM confusion matrices, about 40 lines of
numpy) rather than wrapped: the PyPI packages that implement it (``crowd-kit`` and similar)
pull in pandas-centric long-format APIs and heavy dependencies for what is a small, pure
computation on arrays we already have.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ._signals import check_signals

__all__ = [
    "MajorityVote",
    "MeanProbability",
    "BestSingleLLM",
    "DawidSkene",
    "dawid_skene",
]

logger = logging.getLogger(__name__)


def _check_y(y, n: int, n_classes: int, *, require_labels: bool) -> np.ndarray:
    """Validate ``y`` (int, ``-1`` = unlabeled) against ``n`` rows and ``n_classes``."""
    if y is None:
        if require_labels:
            raise ValueError("y is required: give gold labels, with -1 for unlabeled rows")
        return np.full(n, -1, dtype=int)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-d, got shape {y.shape}")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} entries but the signals have {n} rows")
    if not np.issubdtype(y.dtype, np.integer):
        if np.issubdtype(y.dtype, np.floating) and np.all(np.mod(y, 1) == 0):
            y = y.astype(int)
        else:
            raise ValueError(f"y must hold integer class indices (-1 = unlabeled), got {y.dtype}")
    bad = (y < -1) | (y >= n_classes)
    if bad.any():
        raise ValueError(
            f"y holds {int(bad.sum())} value(s) outside -1..{n_classes - 1}, "
            f"e.g. {int(y[bad][0])}"
        )
    if require_labels and not (y >= 0).any():
        raise ValueError("y has no labeled rows (all -1); this method needs gold labels")
    return y.astype(int)


def _normalise(scores: np.ndarray) -> np.ndarray:
    """Rows scaled to sum to one; all-zero rows become uniform."""
    total = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, scores / np.where(total > 0, total, 1.0), uniform)


class _SignalsAggregator(ClassifierMixin, BaseEstimator):
    """Common fit/predict plumbing: subclasses implement ``_scores(S)``."""

    _requires_labels = False

    def fit(self, S, y=None):
        """Fit on signals ``S`` and gold labels ``y`` (``-1`` = unlabeled).

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Panel signals.
        y : array-like of shape (n_texts,), optional
            Gold class indices, ``-1`` for unlabeled rows.

        Returns
        -------
        self
        """
        S = check_signals(S, name="S")
        y = _check_y(y, S.shape[0], S.shape[3], require_labels=self._requires_labels)
        self.n_llms_, self.n_classes_ = S.shape[1], S.shape[3]
        self.classes_ = np.arange(self.n_classes_)
        self._fit(S, y)
        return self

    def _fit(self, S: np.ndarray, y: np.ndarray) -> None:
        pass

    def _check_predict(self, S) -> np.ndarray:
        check_is_fitted(self, "classes_")
        S = check_signals(S, name="S")
        if S.shape[1] != self.n_llms_ or S.shape[3] != self.n_classes_:
            raise ValueError(
                f"S has {S.shape[1]} LLMs and {S.shape[3]} classes; fitted on "
                f"{self.n_llms_} and {self.n_classes_}"
            )
        return S

    def predict_proba(self, S) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes)."""
        return _normalise(self._scores(self._check_predict(S)))

    def predict(self, S) -> np.ndarray:
        """Predicted class index per text (ties go to the lowest class index)."""
        proba = self.predict_proba(S)
        return self.classes_[proba.argmax(axis=1)]


class MajorityVote(_SignalsAggregator):
    """Plurality of all sampled answers of all LLMs (sum of vote shares).

    Needs no gold labels; ``y`` is accepted and ignored.
    """

    def _scores(self, S: np.ndarray) -> np.ndarray:
        return S[:, :, 1].sum(axis=1)


class MeanProbability(_SignalsAggregator):
    """Mean over LLMs of each LLM's (normalised) class probabilities.

    Needs no gold labels; ``y`` is accepted and ignored.
    """

    def _scores(self, S: np.ndarray) -> np.ndarray:
        probs = S[:, :, 0]
        total = probs.sum(axis=2, keepdims=True)
        probs = np.where(total > 0, probs / np.where(total > 0, total, 1.0), 0.0)
        return probs.mean(axis=1)


class BestSingleLLM(_SignalsAggregator):
    """The one LLM whose signal is most accurate on the gold rows.

    Parameters
    ----------
    signal : {"votes", "probs", "auto"}, default="auto"
        Which of the LLM's signals to use; ``"auto"`` picks, per LLM, whichever is more
        accurate on the gold rows (votes win ties).

    Attributes
    ----------
    best_llm_ : int
        Index of the chosen LLM.
    best_signal_ : int
        0 (probabilities) or 1 (votes).
    gold_accuracy_ : ndarray of shape (n_llms, 2)
        Accuracy of each LLM's probability and vote argmax on the gold rows.
    """

    _requires_labels = True

    def __init__(self, signal: str = "auto"):
        self.signal = signal

    def _fit(self, S: np.ndarray, y: np.ndarray) -> None:
        if self.signal not in ("votes", "probs", "auto"):
            raise ValueError(f"signal must be 'votes', 'probs' or 'auto', got {self.signal!r}")
        gold = y >= 0
        acc = (S[gold].argmax(axis=3) == y[gold, None, None]).mean(axis=0)  # (L, 2)
        self.gold_accuracy_ = acc
        if self.signal == "votes":
            kinds = [1]
        elif self.signal == "probs":
            kinds = [0]
        else:
            kinds = [1, 0]
        best = max(((acc[j, k], -j, k == 1) for j in range(acc.shape[0]) for k in kinds))
        self.best_llm_ = -best[1]
        self.best_signal_ = 1 if best[2] else 0

    def _scores(self, S: np.ndarray) -> np.ndarray:
        return S[:, self.best_llm_, self.best_signal_]


def dawid_skene(
    votes: np.ndarray,
    y=None,
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dawid-Skene EM over soft annotations.

    Parameters
    ----------
    votes : ndarray of shape (n_items, n_annotators, n_classes)
        Each annotator's (soft) answer per item, e.g. vote shares; an all-zero row means the
        annotator abstained on that item.
    y : ndarray of shape (n_items,), optional
        Gold labels, ``-1`` for unknown; known rows are clamped to their label in every
        E-step (semi-supervised Dawid-Skene).
    max_iter : int, default=100
        Most EM iterations.
    tol : float, default=1e-6
        Stop when posteriors move less than this (max abs change).
    smoothing : float, default=0.01
        Additive (Dirichlet) smoothing of the confusion-matrix counts and class prior.

    Returns
    -------
    posterior : ndarray of shape (n_items, n_classes)
    confusion : ndarray of shape (n_annotators, n_classes, n_classes)
        ``confusion[j, true, said]``.
    prior : ndarray of shape (n_classes,)
    """
    votes = np.asarray(votes, dtype=float)
    n, L, C = votes.shape
    clamp = None
    if y is not None:
        y = np.asarray(y)
        known = y >= 0
        if known.any():
            clamp = (known, np.eye(C)[y[known]])
    post = _normalise(votes.sum(axis=1))  # majority-vote initialisation
    if clamp is not None:
        post[clamp[0]] = clamp[1]
    for it in range(max_iter):
        prior = post.sum(axis=0) + smoothing
        prior /= prior.sum()
        confusion = np.einsum("ic,ijk->jck", post, votes) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_post = np.log(prior) + np.einsum("ijk,jck->ic", votes, np.log(confusion))
        log_post -= log_post.max(axis=1, keepdims=True)
        new = np.exp(log_post)
        new /= new.sum(axis=1, keepdims=True)
        if clamp is not None:
            new[clamp[0]] = clamp[1]
        delta = np.abs(new - post).max()
        post = new
        if delta < tol:
            logger.debug("dawid_skene converged after %d iterations", it + 1)
            break
    return post, confusion, prior


class DawidSkene(_SignalsAggregator):
    """Dawid-Skene aggregation of the LLMs' vote shares (EM over confusion matrices).

    Fitted transductively: EM runs on the rows given to :meth:`fit` (gold rows clamped to
    their labels, so gold labels may be absent, giving the classic unsupervised model);
    :meth:`predict_proba` then applies the learned confusion matrices and prior to any rows.

    Parameters
    ----------
    signal : {"votes", "probs"}, default="votes"
        Which signal is each LLM's soft answer.
    max_iter : int, default=100
        Most EM iterations.
    smoothing : float, default=0.01
        Dirichlet smoothing of confusion counts.

    Attributes
    ----------
    confusion_ : ndarray of shape (n_llms, n_classes, n_classes)
    prior_ : ndarray of shape (n_classes,)
    """

    def __init__(self, signal: str = "votes", max_iter: int = 100, smoothing: float = 0.01):
        self.signal = signal
        self.max_iter = max_iter
        self.smoothing = smoothing

    def _answers(self, S: np.ndarray) -> np.ndarray:
        if self.signal == "votes":
            return S[:, :, 1]
        if self.signal == "probs":
            probs = S[:, :, 0]
            total = probs.sum(axis=2, keepdims=True)
            return np.where(total > 0, probs / np.where(total > 0, total, 1.0), 0.0)
        raise ValueError(f"signal must be 'votes' or 'probs', got {self.signal!r}")

    def _fit(self, S: np.ndarray, y: np.ndarray) -> None:
        _, self.confusion_, self.prior_ = dawid_skene(
            self._answers(S), y, max_iter=self.max_iter, smoothing=self.smoothing
        )

    def _scores(self, S: np.ndarray) -> np.ndarray:
        log_post = np.log(self.prior_) + np.einsum(
            "ijk,jck->ic", self._answers(S), np.log(self.confusion_)
        )
        log_post -= log_post.max(axis=1, keepdims=True)
        return np.exp(log_post)
