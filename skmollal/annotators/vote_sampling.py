"""Votes drawn from label probabilities: tempered, nucleus-truncated, seeded per text.

:class:`~skmollal.annotators.local.TransformersAnnotator` in ``vote_mode="sample"`` draws its
``n_votes`` answers per text from the class probabilities of label scoring, with the
temperature and top-p applied at the level of whole answers (:func:`sharpen`), from one
generator per text seeded by the annotator's seed and the text (:func:`text_rngs`), so a
text's votes do not depend on the batching or on the other texts.
"""
from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np

__all__ = ["sharpen", "sample_votes", "text_seed", "base_seed", "answer_probs", "text_rngs"]


def sharpen(probs: np.ndarray, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """Apply temperature and nucleus (top-p) truncation to class distributions.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (C,)
        Class distributions (rows sum to 1).
    temperature : float, default=1.0
        ``p ** (1 / temperature)``, renormalised; ``<= 0`` puts all mass on the argmax.
    top_p : float, default=1.0
        Keep the smallest set of most probable classes whose mass reaches ``top_p`` (at least
        one class), renormalise.

    Returns
    -------
    ndarray of the shape of ``probs``
    """
    p = np.atleast_2d(np.asarray(probs, dtype=float))
    if temperature <= 0:
        out = np.zeros_like(p)
        out[np.arange(len(p)), p.argmax(axis=1)] = 1.0
    else:
        logp = np.log(np.clip(p, 1e-300, None)) / temperature
        logp -= logp.max(axis=1, keepdims=True)
        out = np.exp(logp) * (p > 0)
        out /= out.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-out, axis=1, kind="stable")
        sorted_p = np.take_along_axis(out, order, axis=1)
        before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass of strictly better classes
        keep_sorted = before < top_p
        keep_sorted[:, 0] = True
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        out = out * keep
        out /= out.sum(axis=1, keepdims=True)
    return out.reshape(np.shape(probs))


def sample_votes(
    probs: np.ndarray, n_votes: int, rngs: Sequence[np.random.Generator]
) -> np.ndarray:
    """Vote shares of ``n_votes`` answers drawn per row of ``probs`` (one generator per row)."""
    probs = np.asarray(probs, dtype=float)
    counts = np.stack([rng.multinomial(n_votes, row / row.sum()) for rng, row in zip(rngs, probs)])
    return counts / float(n_votes)


def text_seed(text: str) -> int:
    """A 64-bit seed from the text's content (its SHA-256)."""
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def base_seed(random_state: Any) -> int:
    """An int seed from ``random_state`` (int, None, Generator or RandomState)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    raise TypeError(f"random_state must be None, an int or a numpy generator, got {random_state!r}")


def answer_probs(logmass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities, answered rows) from unnormalised log answer masses.

    A row that is ``-inf`` everywhere (a skipped text) is not answered: zero probabilities.
    """
    answered = np.isfinite(logmass).any(axis=1)
    probs = np.zeros_like(logmass)
    top = logmass[answered].max(axis=1, keepdims=True)
    probs[answered] = np.exp(logmass[answered] - top)
    probs[answered] /= probs[answered].sum(axis=1, keepdims=True)
    return probs, answered


def text_rngs(base: int, texts: Sequence[str]) -> list[np.random.Generator]:
    """One generator per text, seeded by ``base`` and the text's content."""
    return [np.random.default_rng([base, text_seed(t)]) for t in texts]
