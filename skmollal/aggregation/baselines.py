"""Baseline aggregators over LLM panel signals, with the estimator API of the mixture.

All take the signals array ``S`` of shape ``(n_texts, n_llms, 2, n_classes)`` (``S[:, j, 0]``
probabilities, ``S[:, j, 1]`` vote shares) and ``y`` with ``-1`` for unlabeled rows. Classes
are the positions ``0 .. n_classes - 1`` of the signals' last axis. Dawid-Skene, the
classic unsupervised fusion, lives in :mod:`skmollal.aggregation.dawid_skene`.
"""
from __future__ import annotations

import numpy as np

from ..annotators.base import PROBS, VOTES
from ..signals import normalise_rows
from .base import SignalAggregator

__all__ = ["MajorityVote", "MeanProbability", "BestSingleLLM"]


class MajorityVote(SignalAggregator):
    """Plurality of all sampled answers of all LLMs (sum of vote shares).

    Needs no gold labels; ``y`` is accepted and ignored.
    """

    def _scores(self, S: np.ndarray) -> np.ndarray:
        return S[:, :, VOTES].sum(axis=1)


class MeanProbability(SignalAggregator):
    """Mean over LLMs of each LLM's (normalised) class probabilities.

    Needs no gold labels; ``y`` is accepted and ignored.
    """

    def _scores(self, S: np.ndarray) -> np.ndarray:
        return normalise_rows(S[:, :, PROBS], zero_rows="zero").mean(axis=1)


class BestSingleLLM(SignalAggregator):
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
        ``PROBS`` (0, probabilities) or ``VOTES`` (1, vote shares).
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
            kinds = [VOTES]
        elif self.signal == "probs":
            kinds = [PROBS]
        else:
            kinds = [VOTES, PROBS]
        best = max(((acc[j, k], -j, k == VOTES) for j in range(acc.shape[0]) for k in kinds))
        self.best_llm_ = -best[1]
        self.best_signal_ = VOTES if best[2] else PROBS

    def _scores(self, S: np.ndarray) -> np.ndarray:
        return S[:, self.best_llm_, self.best_signal_]
