"""Label-noise helpers: negative labels, annotation-discrepancy weights, the NL weight schedule.

Small pure functions used to train a classifier on noisy LLM labels:

* :func:`negative_labels` marks, per text, the classes the LLM panel all but rules out (mean
  probability at most ``threshold``); a negative-learning loss then pushes the classifier's
  probability of those classes down (see :mod:`skmollal.negative_learning`).
* :func:`discrepancy_weights` down-weights texts whose LLM (mixture) label disagrees with the
  current classifier's prediction.
* :func:`nl_weight_schedule` is the reference schedule of the negative-learning weight over
  active-learning rounds, ``0.4 + 0.06 * round``.
"""
from __future__ import annotations

import logging
import numbers

import numpy as np

__all__ = ["negative_labels", "discrepancy_weights", "nl_weight_schedule"]

logger = logging.getLogger(__name__)


def _as_2d_finite(a, name: str) -> np.ndarray:
    arr = np.asarray(a, dtype=float)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-d array (n_samples, n_classes), got shape {arr.shape}"
        )
    if arr.shape[1] < 2:
        raise ValueError(f"{name} must have at least 2 classes (columns), got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        row = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise ValueError(f"{name} contains NaN or infinite values (first in row {row})")
    return arr


def negative_labels(probs, threshold: float = 0.001) -> np.ndarray:
    """Negative-label mask: classes whose (mean LLM) probability is at most ``threshold``.

    Parameters
    ----------
    probs : array-like of shape (n_samples, n_classes)
        Per-class probability for each text, usually the mean over the LLM panel of each
        LLM's class probability (``signals[:, :, 0].mean(axis=1)``). Rows need not sum to 1.
    threshold : float, default=0.001
        A class is a negative label of a text when its probability is ``<= threshold``.

    Returns
    -------
    ndarray of bool, shape (n_samples, n_classes)
        ``True`` where the class is a negative label. A row in which *every* class is at or
        below the threshold carries no information (the LLMs gave no usable probability) and
        gets no negative labels at all, so that no text has all its classes ruled out.

    Raises
    ------
    ValueError
        On a non 2-d ``probs``, NaN / infinite / negative values, or a threshold outside
        ``[0, 1)``.
    """
    if not isinstance(threshold, numbers.Real) or not 0 <= threshold < 1:
        raise ValueError(f"threshold must be a number in [0, 1), got {threshold!r}")
    p = _as_2d_finite(probs, "probs")
    if (p < 0).any():
        raise ValueError("probs contains negative values")
    mask = p <= threshold
    full = mask.all(axis=1)
    if full.any():
        logger.info(
            "%d row(s) have every class at or below threshold=%g; they get no negative labels",
            int(full.sum()), threshold,
        )
        mask[full] = False
    return mask


def discrepancy_weights(classifier_proba, mixture_labels, weight: float = 0.5) -> np.ndarray:
    """Per-sample weights that down-weight texts where the classifier and the LLMs disagree.

    Parameters
    ----------
    classifier_proba : array-like of shape (n_samples, n_classes) or (n_samples,)
        The current classifier's class probabilities (or its predicted class indices).
    mixture_labels : array-like of shape (n_samples,) or (n_samples, n_classes)
        The LLM (mixture) labels as class indices, or soft labels whose argmax is used.
    weight : float, default=0.5
        Weight given to a text whose classifier prediction differs from its mixture label;
        agreeing texts get weight 1.

    Returns
    -------
    ndarray of float, shape (n_samples,)

    Raises
    ------
    ValueError
        On length or class-count mismatches, NaN values, or a weight outside ``[0, 1]``.
    """
    if not isinstance(weight, numbers.Real) or not 0 <= weight <= 1:
        raise ValueError(f"weight must be a number in [0, 1], got {weight!r}")
    clf = np.asarray(classifier_proba)
    mix = np.asarray(mixture_labels)
    n_classes = None
    if clf.ndim == 2:
        clf = _as_2d_finite(clf, "classifier_proba")
        n_classes = clf.shape[1]
        clf_pred = clf.argmax(axis=1)
    elif clf.ndim == 1:
        clf_pred = _as_int_labels(clf, "classifier_proba")
    else:
        raise ValueError(
            f"classifier_proba must be (n_samples, n_classes) probabilities or (n_samples,) "
            f"labels, got shape {clf.shape}"
        )
    if mix.ndim == 2:
        mix = _as_2d_finite(mix, "mixture_labels")
        if n_classes is not None and mix.shape[1] != n_classes:
            raise ValueError(
                f"mixture_labels has {mix.shape[1]} classes but classifier_proba has {n_classes}"
            )
        mix_labels = mix.argmax(axis=1)
    elif mix.ndim == 1:
        mix_labels = _as_int_labels(mix, "mixture_labels")
    else:
        raise ValueError(f"mixture_labels must be 1-d labels or 2-d soft labels, got {mix.shape}")
    if clf_pred.shape[0] != mix_labels.shape[0]:
        raise ValueError(
            f"classifier_proba has {clf_pred.shape[0]} rows but mixture_labels has "
            f"{mix_labels.shape[0]}"
        )
    return np.where(clf_pred == mix_labels, 1.0, float(weight))


def _as_int_labels(a: np.ndarray, name: str) -> np.ndarray:
    if a.dtype.kind in "iu":
        return a.astype(int)
    if a.dtype.kind == "f":
        if not np.all(np.isfinite(a)) or not np.all(a == np.round(a)):
            raise ValueError(f"{name} as 1-d labels must hold integer class indices")
        return a.astype(int)
    raise ValueError(f"{name} as 1-d labels must hold integer class indices, got dtype {a.dtype}")


def nl_weight_schedule(round_: int, start: float = 0.4, step: float = 0.06) -> float:
    """Negative-learning weight for an active-learning round: ``start + step * round_``.

    Parameters
    ----------
    round_ : int
        Round index, 0 for the first annotated round.
    start, step : float, default=0.4, 0.06
        The reference schedule (MoLLIA) is ``0.4 + 0.06 * round``.

    Returns
    -------
    float
    """
    if isinstance(round_, bool) or not isinstance(round_, numbers.Integral) or round_ < 0:
        raise ValueError(f"round_ must be a non-negative integer, got {round_!r}")
    return float(start + step * int(round_))
