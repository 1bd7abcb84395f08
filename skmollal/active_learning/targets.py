"""From loop state to training targets: labels, sample weights and negative labels.

Pure functions: no estimator is fitted and nothing is saved here. The loop calls
:func:`training_targets` once per round, after the mixture has labelled the annotated rows.
"""
from __future__ import annotations

import numbers
from typing import Callable

import numpy as np
from sklearn.utils import Bunch

from ..aggregation.base import takes_proba_targets
from ..annotators.base import PROBS
from ..label_noise import negative_labels, nl_weight_schedule
from .routing import final_estimator

__all__ = ["NL_SOURCES", "negative_mask_from_signals", "pool_negative_mask", "resolve_soft_labels",
           "round_nl_weight", "training_targets"]

#: Where negative labels come from (see :func:`negative_mask`).
NL_SOURCES = ("signals", "posterior")


def negative_mask_from_signals(signals: np.ndarray, threshold: float | None) -> np.ndarray:
    """Negative labels of annotated rows: classes whose mean LLM probability is tiny.

    Parameters
    ----------
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes)
        The rows' panel signals.
    threshold : float or None
        A class is negative when the LLMs' mean probability is ``<= threshold``; None
        turns negative learning off (no negative labels).

    Returns
    -------
    ndarray of bool, shape (n_rows, n_classes)
    """
    n, C = signals.shape[0], signals.shape[-1]
    if threshold is None or n == 0:
        return np.zeros((n, C), dtype=bool)
    mean_probs = np.nanmean(signals[:, :, PROBS], axis=1)  # NaN: LLMs a cascade did not ask
    return np.asarray(negative_labels(mean_probs, threshold=threshold), dtype=bool)


def pool_negative_mask(signals: np.ndarray, posterior: np.ndarray, threshold: float | None,
                       source: str = "signals") -> np.ndarray:
    """Negative labels of annotated rows, from the panel's raw signals or the fused posterior.

    Parameters
    ----------
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes)
        The rows' panel signals.
    posterior : ndarray of shape (n_rows, n_classes)
        The mixture's posterior of the rows.
    threshold : float or None
        A class is negative when its probability is ``<= threshold``; None: no negative
        labels.
    source : {"signals", "posterior"}, default="signals"
        ``"signals"`` (the reference): the LLMs' mean probability
        (:func:`negative_mask_from_signals`); ``"posterior"``: the mixture's fused posterior,
        which weighs each LLM by how reliable the mixture found it (selective negative
        labels: only classes the fused evidence rules out).

    Returns
    -------
    ndarray of bool, shape (n_rows, n_classes)
    """
    if source not in NL_SOURCES:
        raise ValueError(f"nl_source must be one of {NL_SOURCES}, got {source!r}")
    if source == "signals" or threshold is None or len(posterior) == 0:
        return negative_mask_from_signals(signals, threshold)
    return np.asarray(negative_labels(posterior, threshold=threshold), dtype=bool)


def resolve_soft_labels(soft_labels: bool | str, estimator) -> bool:
    """Whether a round trains on the mixture's probabilities (``soft_labels``, ``"auto"``
    resolved for ``estimator``).

    ``"auto"`` is True when the classifier (the last step of a pipeline) takes probability
    targets (:func:`~skmollal.aggregation.base.takes_proba_targets`: a
    :class:`~skmollal.negative_learning.NegativeLearningClassifier`, also the fine-tuned
    :class:`~skmollal.finetune.TransformerTextClassifier`, or a classifier of one's own that
    declares ``takes_proba_targets = True``), and False for any other classifier, which
    takes class labels only.

    Parameters
    ----------
    soft_labels : bool or "auto"
        The loop's setting.
    estimator : estimator
        The classifier the round trains (the last step of a Pipeline is what is checked,
        see :func:`~skmollal.active_learning.routing.final_estimator`).

    Returns
    -------
    bool

    Raises
    ------
    ValueError
        If ``soft_labels`` is neither a bool nor ``"auto"``.
    """
    if isinstance(soft_labels, (bool, np.bool_)):
        return bool(soft_labels)
    if soft_labels != "auto":
        raise ValueError(f"soft_labels must be True, False or 'auto'; got {soft_labels!r}")
    return takes_proba_targets(final_estimator(estimator))


def training_targets(seed_y: np.ndarray, pool_proba: np.ndarray, *,
                     pool_weights: np.ndarray | None = None,
                     pool_negative: np.ndarray | None = None,
                     soft_labels: bool = False) -> Bunch:
    """Targets of one round's fit: the gold seed first, then the annotated pool rows.

    Parameters
    ----------
    seed_y : ndarray of int, shape (n_seed,)
        Gold class indices of the seed rows.
    pool_proba : ndarray of shape (n_pool, n_classes)
        The mixture's posterior for each annotated pool row.
    pool_weights : ndarray of shape (n_pool,), optional
        Discrepancy weights of the pool rows (NaN = not weighed = 1); None: all 1.
    pool_negative : ndarray of bool, shape (n_pool, n_classes), optional
        Negative labels of the pool rows; None: none.
    soft_labels : bool, default=False
        Targets as distributions ``(n, n_classes)`` (seed rows one-hot) instead of indices.

    Returns
    -------
    Bunch
        ``y`` (class indices ``(n,)`` or distributions ``(n, C)``), ``sample_weight``
        ``(n,)`` (seed rows 1) and ``negative_mask`` ``(n, C)`` (seed rows none; a row's own
        training label is never negative).
    """
    seed_y = np.asarray(seed_y, dtype=int)
    pool_proba = np.asarray(pool_proba, dtype=float)
    n_seed, n_pool, C = len(seed_y), len(pool_proba), pool_proba.shape[1]
    n = n_seed + n_pool
    if soft_labels:
        y = np.zeros((n, C))
        y[np.arange(n_seed), seed_y] = 1.0
        y[n_seed:] = pool_proba
        hard = y.argmax(axis=1)
    else:
        y = np.concatenate([seed_y, pool_proba.argmax(axis=1)]).astype(int)
        hard = y
    weight = np.ones(n)
    if pool_weights is not None:
        w = np.asarray(pool_weights, dtype=float)
        weight[n_seed:] = np.where(np.isfinite(w), w, 1.0)
    negative = np.zeros((n, C), dtype=bool)
    if pool_negative is not None and n_pool:
        negative[n_seed:] = pool_negative
        negative[np.arange(n), hard] = False
    return Bunch(y=y, sample_weight=weight, negative_mask=negative)


def round_nl_weight(nl_weight: float | Callable[[int], float] | None, round_index: int) -> float:
    """The negative-learning weight of the ``round_index``-th annotated round (0 = first).

    Parameters
    ----------
    nl_weight : float, callable or None
        A constant, a schedule ``nl_weight(round_index)``, or None for the reference
        schedule :func:`~skmollal.label_noise.nl_weight_schedule` (``0.4 + 0.06 r``).
    round_index : int
        0 for the first annotated round.

    Returns
    -------
    float
    """
    if nl_weight is None:
        return nl_weight_schedule(round_index)
    value = nl_weight(round_index) if callable(nl_weight) else nl_weight
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not np.isfinite(value) or value < 0):
        raise ValueError(
            f"the loop's nl_weight must give a non-negative number; got {value!r} for round "
            f"{round_index}"
        )
    return float(value)
