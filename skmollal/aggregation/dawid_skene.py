"""Dawid-Skene: EM over per-LLM confusion matrices, as a function and as an aggregator.

Implemented here (about 40 lines of numpy) rather than wrapped: the PyPI packages that
implement it (``crowd-kit`` and similar) pull in pandas-centric long-format APIs and heavy
dependencies for what is a small, pure computation on arrays we already have.
"""
from __future__ import annotations

import logging

import numpy as np

from ..annotators.base import PROBS, VOTES
from ..signals import normalise_rows
from .base import SignalAggregator

__all__ = ["DawidSkene", "dawid_skene"]

logger = logging.getLogger(__name__)


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
    flat = votes.reshape(n, L * C)
    post = normalise_rows(votes.sum(axis=1))  # majority-vote initialisation
    if clamp is not None:
        post[clamp[0]] = clamp[1]
    for it in range(max_iter):
        prior = post.sum(axis=0) + smoothing
        prior /= prior.sum()
        # the sums over items and over (annotator, class) as matrix products
        confusion = (post.T @ flat).reshape(C, L, C).transpose(1, 0, 2) + smoothing
        confusion /= confusion.sum(axis=2, keepdims=True)
        log_post = np.log(prior) + flat @ np.log(confusion).transpose(0, 2, 1).reshape(L * C, C)
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


class DawidSkene(SignalAggregator):
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
            return S[:, :, VOTES]
        if self.signal == "probs":
            return normalise_rows(S[:, :, PROBS], zero_rows="zero")
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
