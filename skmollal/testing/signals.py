"""Synthetic panel signals with known annotator quality, for tests and examples."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["make_signals"]


def make_signals(
    n: int = 300,
    n_llms: int = 4,
    n_classes: int = 3,
    noise: Sequence[float] = (0.2, 0.35, 0.5, 0.6),
    n_votes: int = 10,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Make signals of a panel whose LLM ``j`` answers at random with probability ``noise[j]``.

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
    for j in range(n_llms):
        wrong = rng.random(n) < noise[j % len(noise)]
        said = np.where(wrong, rng.integers(0, n_classes, n), y)
        logits = rng.normal(0, 1, (n, n_classes))
        logits[np.arange(n), said] += 3.0
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        signals[:, j, 0] = p
        signals[:, j, 1] = rng.multinomial(n_votes, p) / n_votes
    return signals, y
