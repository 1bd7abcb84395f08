"""Query strategies: plain functions in modAL's shape.

Every strategy has the signature ``strategy(classifier, X, n_instances=1, **kwargs)`` and
returns ``(query_idx, scores)`` like modAL's own strategies (0.4.x): the indices of the
chosen rows of ``X`` and their utility scores. That shape lets them run inside modAL's
``ActiveLearner`` (which unpacks two values) as well as inside
:class:`skmollal.ActiveLearner`.

``classifier`` is anything with ``predict_proba``: an estimator, a pipeline, or an active
learner (ours or modAL's). Strategies that need embeddings (:func:`coreset_sampling`) use
the learner's pipeline transform when there is one.

This module holds the numpy strategies and the registry of all of them by name
(:data:`~skmollal.active_learning.strategies.STRATEGIES`,
:func:`~skmollal.active_learning.strategies.get_strategy`); the strategies that need a torch
network (:func:`~.torch_strategies.bemps_sampling`,
:func:`~.torch_strategies.noise_stability_sampling`) live in :mod:`.torch_strategies`,
which imports torch only when one of them runs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
from sklearn.utils import check_random_state

from ._pool import check_n_instances, embed, kmeans_pp_select, n_rows, proba_or_none, top
from .torch_strategies import bemps_kmeans_sampling, bemps_sampling, noise_stability_sampling

__all__ = [
    "random_sampling",
    "max_entropy",
    "margin_sampling",
    "least_confidence",
    "coreset_sampling",
    "badge_sampling",
    "kmeans_pp_select",
    "STRATEGIES",
    "get_strategy",
]


# --------------------------------------------------------------------------- simple
def random_sampling(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick ``n_instances`` rows uniformly at random (without replacement).

    Parameters
    ----------
    classifier : object
        Ignored (kept for the common strategy signature).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None
        Seed for reproducible picks.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx : ndarray of int
    scores : ndarray of float
        Uniform random scores of the picked rows.
    """
    n_instances = check_n_instances(X, n_instances)
    rng = check_random_state(random_state)
    scores = rng.random_sample(n_rows(X))
    return top(scores, n_instances)


def _uncertainty(name: str, proba: np.ndarray) -> np.ndarray:
    if name == "entropy":
        p = np.clip(proba, 1e-12, 1.0)
        return -(proba * np.log(p)).sum(axis=1)
    if name == "margin":
        if proba.shape[1] < 2:
            return np.zeros(len(proba))
        part = -np.partition(-proba, 1, axis=1)
        return part[:, 0] - part[:, 1]
    return 1.0 - proba.max(axis=1)


def _uncertainty_strategy(name, classifier, X, n_instances, random_state, largest):
    n_instances = check_n_instances(X, n_instances)
    proba = proba_or_none(classifier, X)
    if proba is None:  # not fitted: no information, pick at random
        return random_sampling(classifier, X, n_instances, random_state=random_state)
    return top(_uncertainty(name, proba), n_instances, largest=largest)


def max_entropy(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick the rows whose predicted class distribution has the largest entropy.

    Falls back to random picks while the classifier is not fitted.

    Parameters
    ----------
    classifier : estimator or active learner
        Anything with ``predict_proba`` (a Pipeline, our or modAL's learner included).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None, default=None
        Seeds the random picks made while the classifier is not fitted.
    **kwargs
        Ignored (accepted so that callers can pass common options to every strategy).

    Returns
    -------
    query_idx : ndarray of int
        Picked rows, most informative first.
    scores : ndarray of float
        Entropy of the predicted distribution of the picked rows.
    """
    return _uncertainty_strategy("entropy", classifier, X, n_instances, random_state, True)


def margin_sampling(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick the rows with the smallest gap between the two most probable classes.

    Parameters
    ----------
    classifier : estimator or active learner
        Anything with ``predict_proba`` (a Pipeline, our or modAL's learner included).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None, default=None
        Seeds the random picks made while the classifier is not fitted.
    **kwargs
        Ignored (accepted so that callers can pass common options to every strategy).

    Returns
    -------
    query_idx : ndarray of int
        Picked rows, most informative first.
    scores : ndarray of float
        Margin (top-1 minus top-2 probability) of the picked rows.
    """
    return _uncertainty_strategy("margin", classifier, X, n_instances, random_state, False)


def least_confidence(classifier, X, n_instances: int = 1, random_state=None, **kwargs):
    """Pick the rows whose most probable class has the lowest probability.

    Parameters
    ----------
    classifier : estimator or active learner
        Anything with ``predict_proba`` (a Pipeline, our or modAL's learner included).
    X : array-like or list
        The pool.
    n_instances : int, default=1
        How many rows to pick.
    random_state : int, RandomState or None, default=None
        Seeds the random picks made while the classifier is not fitted.
    **kwargs
        Ignored (accepted so that callers can pass common options to every strategy).

    Returns
    -------
    query_idx : ndarray of int
        Picked rows, most informative first.
    scores : ndarray of float
        One minus the top probability of the picked rows.
    """
    return _uncertainty_strategy("confidence", classifier, X, n_instances, random_state, True)


# --------------------------------------------------------------------------- CoreSet
def coreset_sampling(classifier, X, n_instances: int = 1, X_labeled=None, embeddings=None,
                     labeled_embeddings=None, random_state=None, **kwargs):
    """k-center greedy CoreSet selection (Sener & Savarese, 2018) on embeddings.

    Repeatedly picks the pool row farthest (Euclidean) from everything already labeled or
    picked.

    Parameters
    ----------
    classifier : estimator or active learner
        Supplies the embedding (pipeline transform, or ``X`` itself) and, for learners,
        the labeled set ``X_training``.
    X : array-like
        The pool.
    n_instances : int, default=1
    X_labeled : array-like, optional
        Labeled rows in the same space as ``X``; defaults to ``classifier.X_training``.
    embeddings, labeled_embeddings : ndarray, optional
        Precomputed embeddings of ``X`` / of the labeled rows (skip the transform).
    random_state : int or None
        Picks the first center when nothing is labeled.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx : ndarray of int
    scores : ndarray of float
        Distance of each picked row to its nearest center at the time it was picked.
    """
    n_instances = check_n_instances(X, n_instances)
    E = np.asarray(embeddings, float) if embeddings is not None else embed(classifier, X)
    if labeled_embeddings is not None:
        L = np.asarray(labeled_embeddings, float).reshape(-1, E.shape[1])
    else:
        if X_labeled is None:
            X_labeled = getattr(classifier, "X_training", None)
        L = (np.empty((0, E.shape[1])) if X_labeled is None or n_rows(X_labeled) == 0
             else embed(classifier, X_labeled))
    min_d = None
    if len(L):
        min_d = np.full(len(E), np.inf)
        for start in range(0, len(L), 256):
            block = L[start:start + 256]
            d = ((E[:, None, :] - block[None, :, :]) ** 2).sum(-1)
            min_d = np.minimum(min_d, d.min(axis=1))
    rng = check_random_state(random_state)
    picked: list[int] = []
    scores: list[float] = []
    for _ in range(n_instances):
        if min_d is None:  # nothing labeled: the first center is random
            i = int(rng.randint(len(E)))
            score = np.inf
            min_d = np.full(len(E), np.inf)
        else:
            masked = min_d.copy()
            masked[picked] = -1.0
            i = int(np.argmax(masked))
            score = float(np.sqrt(max(min_d[i], 0.0)))
        picked.append(i)
        scores.append(score)
        min_d = np.minimum(min_d, ((E - E[i]) ** 2).sum(axis=1))
    return np.asarray(picked, dtype=int), np.asarray(scores, dtype=float)


# --------------------------------------------------------------------------- diverse batches
def badge_sampling(classifier, X, n_instances: int = 1, embeddings=None, random_state=None,
                   **kwargs):
    """BADGE-style batches (Ash et al., 2020): uncertain *and* diverse rows.

    Each pool row gets the gradient embedding of the cross-entropy loss at its predicted
    label with respect to a last linear layer on its features:
    ``g(x) = (p(x) - onehot(argmax p(x))) ⊗ e(x)``. Its norm grows with the classifier's
    uncertainty, its direction with what the row would teach; k-means++ seeding over these
    vectors (:func:`kmeans_pp_select`) then picks a batch without near-duplicates, each of
    which would otherwise cost a full panel of LLM calls.

    ``e(x)`` are the features the classifier sees (the pipeline's transform, ``X`` itself,
    or ``embeddings``), not a network's penultimate layer: for a classifier on frozen
    sentence embeddings that is the natural space. With no fitted classifier yet the batch
    is k-means++ over the features alone.

    Parameters
    ----------
    classifier : estimator or active learner
    X : array-like
        The pool.
    n_instances : int, default=1
    embeddings : ndarray, optional
        Precomputed features of ``X``.
    random_state : int or None
        Seeds the k-means++ draws.
    **kwargs
        Ignored.

    Returns
    -------
    query_idx : ndarray of int
    scores : ndarray of float
        Norm of each picked row's gradient embedding.
    """
    n_instances = check_n_instances(X, n_instances)
    E = np.asarray(embeddings, float) if embeddings is not None else embed(classifier, X)
    proba = proba_or_none(classifier, X)
    if proba is None:
        G = E
    else:
        residual = proba.copy()
        residual[np.arange(len(proba)), proba.argmax(axis=1)] -= 1.0
        G = (residual[:, :, None] * E[:, None, :]).reshape(len(E), -1)
    picked = kmeans_pp_select(G, n_instances, random_state=random_state)
    return picked, np.sqrt((G[picked] ** 2).sum(axis=1))


#: Strategies by name (used by the command line and :class:`MoLLIAClassifier`).
STRATEGIES: dict[str, Callable] = {
    "random": random_sampling,
    "entropy": max_entropy,
    "max_entropy": max_entropy,
    "margin": margin_sampling,
    "least_confidence": least_confidence,
    "coreset": coreset_sampling,
    "badge": badge_sampling,
    "bemps": bemps_sampling,
    "bemps_kmeans": bemps_kmeans_sampling,
    "noise_stability": noise_stability_sampling,
}


def get_strategy(strategy) -> Callable:
    """Return the strategy function for a name in ``STRATEGIES``, or a callable as is.

    Parameters
    ----------
    strategy : str or callable
        A name (``"random"``, ``"entropy"``, ``"margin"``, ``"least_confidence"``,
        ``"coreset"``, ``"badge"``, ``"bemps"``, ``"bemps_kmeans"``, ``"noise_stability"``;
        dashes allowed) or a function.

    Returns
    -------
    callable
        The strategy function.
    """
    if callable(strategy):
        return strategy
    try:
        return STRATEGIES[str(strategy).lower().replace("-", "_")]
    except KeyError:
        raise ValueError(
            f"unknown query strategy {strategy!r}; choose one of {sorted(STRATEGIES)} or "
            "pass a function"
        ) from None
