"""What every query strategy needs from the pool and the classifier.

Shared by the numpy strategies (:mod:`.strategies`) and the torch ones
(:mod:`.torch_strategies`): the pool's size and the batch-size check, the top-k pick, the
classifier's probabilities (or none while unfitted), and the estimator and features under
active-learner and pipeline wrappers, and the k-means++ pick of a diverse batch.
"""
from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state

__all__ = ["n_rows", "check_n_instances", "top", "proba_or_none", "unwrap", "split_pipeline",
           "embed", "kmeans_pp_select"]


def n_rows(X) -> int:
    """Number of rows of an array, sparse matrix, DataFrame or list."""
    if hasattr(X, "shape"):
        return int(X.shape[0])
    return len(X)


def check_n_instances(X, n_instances: int) -> int:
    """``n_instances`` as an int, or a ValueError when it is not in ``1 .. n_rows(X)``."""
    n = n_rows(X)
    if not isinstance(n_instances, (int, np.integer)) or n_instances < 1:
        raise ValueError(f"n_instances must be a positive integer; got {n_instances!r}")
    if n_instances > n:
        raise ValueError(
            f"cannot query {n_instances} instances from a pool of {n} rows; "
            "lower n_instances (the batch size) or enlarge the pool"
        )
    return int(n_instances)


def top(scores: np.ndarray, n_instances: int, largest: bool = True):
    """Indices of the ``n_instances`` best scores, best first (stable on ties)."""
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores if largest else scores, kind="stable")[:n_instances]
    return order, scores[order]


def proba_or_none(classifier, X) -> np.ndarray | None:
    """``classifier.predict_proba(X)``, or None when the classifier is not fitted yet."""
    try:
        return np.asarray(classifier.predict_proba(X), dtype=float)
    except NotFittedError:
        return None


def unwrap(classifier):
    """Strip active-learner wrappers (ours, modAL's) down to the estimator."""
    seen = 0
    while hasattr(classifier, "estimator") and hasattr(classifier, "query_strategy"):
        classifier = classifier.estimator
        seen += 1
        if seen > 10:  # pragma: no cover - defensive
            break
    return classifier


def split_pipeline(classifier, X):
    """Return ``(final_estimator, X transformed by the steps before it)``."""
    est = unwrap(classifier)
    if isinstance(est, Pipeline):
        return est.steps[-1][1], est[:-1].transform(X)
    return est, X


def embed(classifier, X) -> np.ndarray:
    """Features on which distances are measured: the pipeline transform when there is one."""
    if hasattr(classifier, "transform_without_estimating"):
        Xt = classifier.transform_without_estimating(X)
    else:
        _, Xt = split_pipeline(classifier, X)
    if hasattr(Xt, "toarray"):
        Xt = Xt.toarray()
    try:
        Xt = np.asarray(Xt, dtype=float)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "coreset_sampling needs numeric features: give numeric X, a Pipeline whose "
            "first steps embed the texts, or embeddings=..."
        ) from exc
    return Xt.reshape(len(Xt), -1)


def kmeans_pp_select(vectors: np.ndarray, n_instances: int, random_state=None,
                     first: int | None = None) -> np.ndarray:
    """Pick ``n_instances`` rows of ``vectors`` by k-means++ seeding (diverse and large).

    The first row is ``first`` (default: the largest norm); each next row is drawn with
    probability proportional to its squared distance to the nearest row picked so far, so a
    batch spreads over the space instead of piling up where the scores are highest. Rows
    identical to a picked one have probability 0 (drawn uniformly among the rest only when
    every remaining row is a duplicate).

    Parameters
    ----------
    vectors : ndarray of shape (n_rows, n_dims)
    n_instances : int
    random_state : int, RandomState or None
    first : int, optional

    Returns
    -------
    ndarray of int, shape (n_instances,)
    """
    V = np.asarray(vectors, dtype=float).reshape(len(vectors), -1)
    rng = check_random_state(random_state)
    i = int(np.argmax((V ** 2).sum(axis=1))) if first is None else int(first)
    picked = [i]
    min_d = ((V - V[i]) ** 2).sum(axis=1)
    for _ in range(n_instances - 1):
        d = min_d.copy()
        d[picked] = 0.0
        total = d.sum()
        if total > 0:
            i = int(rng.choice(len(V), p=d / total))
        else:  # only duplicates of picked rows remain
            rest = np.setdiff1d(np.arange(len(V)), picked)
            i = int(rng.choice(rest))
        picked.append(i)
        min_d = np.minimum(min_d, ((V - V[i]) ** 2).sum(axis=1))
    return np.asarray(picked, dtype=int)
