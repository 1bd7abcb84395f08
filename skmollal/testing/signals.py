"""Synthetic panel signals with known annotator quality, for tests and examples."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["hide_labels", "make_signals"]


def make_signals(
    n: int = 300,
    n_llms: int = 4,
    n_classes: int = 3,
    noise: Sequence[float] = (0.2, 0.35, 0.5, 0.6),
    n_votes: int = 10,
    seed: int = 0,
    shared: Sequence[float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Make signals of a panel whose LLM ``j`` answers at random with probability ``noise[j]``.

    With ``shared``, the LLMs' errors are also correlated: every text has one wrong class
    (drawn at random), and LLM ``j`` gives that answer with probability ``shared[j]``
    instead of its own, the way several LLMs trained on similar data fall for the same
    misreading.

    Parameters
    ----------
    n : int, default=300
        Number of texts.
    n_llms : int, default=4
        Number of annotators.
    n_classes : int, default=3
        Number of classes.
    noise : sequence of float, default=(0.2, 0.35, 0.5, 0.6)
        Per-annotator chance of answering a random class (cycled if shorter than ``n_llms``).
    n_votes : int, default=10
        Sampled answers per text and annotator (vote shares are multiples of ``1/n_votes``).
    seed : int, default=0
        Random seed.
    shared : sequence of float, optional
        Per-annotator chance of giving the text's shared wrong class (cycled if shorter
        than ``n_llms``); None: independent errors only.

    Returns
    -------
    signals : ndarray of shape (n, n_llms, 2, n_classes)
        Probabilities, then vote shares, per annotator.
    y : ndarray of shape (n,)
        The true classes.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    signals = np.zeros((n, n_llms, 2, n_classes))
    shared_rng = np.random.default_rng([seed, 1])  # leaves the independent draws as they were
    decoy = (y + shared_rng.integers(1, n_classes, n)) % n_classes
    for j in range(n_llms):
        wrong = rng.random(n) < noise[j % len(noise)]
        said = np.where(wrong, rng.integers(0, n_classes, n), y)
        if shared is not None:
            said = np.where(shared_rng.random(n) < shared[j % len(shared)], decoy, said)
        logits = rng.normal(0, 1, (n, n_classes))
        logits[np.arange(n), said] += 3.0
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        signals[:, j, 0] = p
        signals[:, j, 1] = rng.multinomial(n_votes, p) / n_votes
    return signals, y


def hide_labels(y, n_gold: int = 50, seed: int = 0) -> np.ndarray:
    """Keep ``n_gold`` labels of ``y`` drawn at random, set every other to ``-1``.

    Parameters
    ----------
    y : array-like of int, shape (n,)
        True classes.
    n_gold : int, default=50
        Labels kept (the gold seed).
    seed : int, default=0
        Random seed.

    Returns
    -------
    ndarray of shape (n,)
        ``y`` with ``-1`` for unlabeled rows.
    """
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    out = np.full_like(y, -1)
    idx = rng.choice(len(y), n_gold, replace=False)
    out[idx] = y[idx]
    return out
