"""Label-noise helpers: negative labels, annotation-discrepancy weights, the NL weight schedule.

Small pure functions used to train a classifier on noisy LLM labels:

* :func:`negative_labels` marks, per text, the classes the LLM panel all but rules out (mean
  probability at most ``threshold``); a negative-learning loss then pushes the classifier's
  probability of those classes down (see :mod:`skmollal.negative_learning`).
* :func:`discrepancy_weights` down-weights texts whose LLM (mixture) label disagrees with the
  current classifier's prediction (the reference);
  :func:`confident_discrepancy_weights` only where the classifier is also more sure of its
  own prediction than the mixture is of its label; :func:`mixture_confidence_weights` weighs
  each text by the mixture's posterior of its label, no classifier involved;
  :func:`noise_weights` picks one of them by name (:data:`DISCREPANCY_MODES`).
* :func:`negative_label_hits` reports the share of negative labels that rule out the true
  class (for a report with hidden gold, never for a decision).
* :func:`nl_weight_schedule` is the reference schedule of the negative-learning weight over
  active-learning rounds, ``0.4 + 0.06 * round``.
"""
from __future__ import annotations

import logging
import numbers

import numpy as np

__all__ = ["DISCREPANCY_MODES", "confident_discrepancy_weights", "discrepancy_weights",
           "mixture_confidence_weights", "negative_label_hits", "negative_labels",
           "nl_weight_schedule", "noise_weights"]

#: How sample weights of noisy labels are set (see :func:`noise_weights`).
DISCREPANCY_MODES = ("reference", "confident", "mixture_confidence")

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
    weight = _check_weight(weight)
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


def _check_weight(weight) -> float:
    if isinstance(weight, bool) or not isinstance(weight, numbers.Real) or not 0 <= weight <= 1:
        raise ValueError(f"weight must be a number in [0, 1], got {weight!r}")
    return float(weight)


def _paired_proba(classifier_proba, mixture_proba) -> tuple[np.ndarray, np.ndarray]:
    clf = _as_2d_finite(classifier_proba, "classifier_proba")
    mix = _as_2d_finite(mixture_proba, "mixture_proba")
    if clf.shape != mix.shape:
        raise ValueError(f"classifier_proba has shape {clf.shape} but mixture_proba has "
                         f"{mix.shape}")
    return clf, mix


def confident_discrepancy_weights(classifier_proba, mixture_proba,
                                  weight: float = 0.5) -> np.ndarray:
    """Down-weight a text only where a *confident* classifier disagrees with the mixture.

    The reference weights (:func:`discrepancy_weights`) down-weight every disagreement, so a
    classifier that is wrong on many texts (a transformer fine-tuned a few epochs on few
    labels) down-weights correct labels by its own errors. Here a text is down-weighted only
    when the classifier predicts another class *and* gives that prediction a higher
    probability than the mixture gives its own label: the classifier must be surer of being
    right than the mixture is.

    Parameters
    ----------
    classifier_proba : array-like of shape (n_samples, n_classes)
        The current classifier's class probabilities.
    mixture_proba : array-like of shape (n_samples, n_classes)
        The mixture's posterior of each text; its argmax is the text's label.
    weight : float, default=0.5
        Weight of a down-weighted text; the others get 1.

    Returns
    -------
    ndarray of float, shape (n_samples,)

    Raises
    ------
    ValueError
        On shape mismatches, NaN values, or a weight outside ``[0, 1]``.
    """
    weight = _check_weight(weight)
    clf, mix = _paired_proba(classifier_proba, mixture_proba)
    clf_pred, mix_label = clf.argmax(axis=1), mix.argmax(axis=1)
    down = (clf_pred != mix_label) & (clf.max(axis=1) > mix.max(axis=1))
    return np.where(down, weight, 1.0)


def mixture_confidence_weights(mixture_proba, floor: float = 0.0) -> np.ndarray:
    """Weigh each text by the mixture's posterior probability of its own label.

    No classifier is involved, so the weights cannot encode the classifier's errors: a text
    the panel agrees on counts fully, one the mixture is unsure of counts less.

    Parameters
    ----------
    mixture_proba : array-like of shape (n_samples, n_classes)
        The mixture's posterior of each text.
    floor : float, default=0.0
        The lowest weight a text gets (weights are ``max(posterior of the label, floor)``).

    Returns
    -------
    ndarray of float, shape (n_samples,)

    Raises
    ------
    ValueError
        On a non 2-d or non-finite ``mixture_proba``, or a floor outside ``[0, 1]``.
    """
    floor = _check_weight(floor)
    mix = _as_2d_finite(mixture_proba, "mixture_proba")
    return np.clip(mix.max(axis=1), floor, 1.0)


def noise_weights(mode: str, mixture_proba, classifier_proba=None,
                  weight: float = 0.5) -> np.ndarray:
    """Sample weights of noisy (mixture) labels, computed the way ``mode`` names.

    Parameters
    ----------
    mode : {"reference", "confident", "mixture_confidence"}
        ``"reference"``: :func:`discrepancy_weights` (every disagreement with the classifier
        gets ``weight``); ``"confident"``: :func:`confident_discrepancy_weights`;
        ``"mixture_confidence"``: :func:`mixture_confidence_weights` with ``weight`` as the
        floor.
    mixture_proba : array-like of shape (n_samples, n_classes)
        The mixture's posterior of each text.
    classifier_proba : array-like of shape (n_samples, n_classes), optional
        The current classifier's probabilities (needed by the first two modes).
    weight : float, default=0.5
        The lowest weight a text gets.

    Returns
    -------
    ndarray of float, shape (n_samples,)

    Raises
    ------
    ValueError
        On an unknown mode, or a classifier-based mode without ``classifier_proba``.
    """
    if mode not in DISCREPANCY_MODES:
        raise ValueError(f"discrepancy mode must be one of {DISCREPANCY_MODES}, got {mode!r}")
    if mode == "mixture_confidence":
        return mixture_confidence_weights(mixture_proba, floor=weight)
    if classifier_proba is None:
        raise ValueError(f"discrepancy mode {mode!r} needs the classifier's probabilities")
    if mode == "confident":
        return confident_discrepancy_weights(classifier_proba, mixture_proba, weight=weight)
    return discrepancy_weights(classifier_proba, mixture_proba, weight=weight)


def negative_label_hits(negative_mask, y_true) -> float:
    """Share of negative labels that rule out the text's true class (lower is better).

    Parameters
    ----------
    negative_mask : array-like of bool, shape (n_samples, n_classes)
        Negative labels, as given to the classifier.
    y_true : array-like of int, shape (n_samples,)
        True class indices (hidden gold: for a report, never for a decision).

    Returns
    -------
    float
        Negative labels on the true class / all negative labels; NaN when there are none.
    """
    mask = np.asarray(negative_mask, dtype=bool)
    y_true = np.asarray(y_true, dtype=int)
    if mask.ndim != 2 or len(y_true) != mask.shape[0]:
        raise ValueError(f"negative_mask {mask.shape} and y_true {y_true.shape} do not match")
    total = int(mask.sum())
    if total == 0:
        return float("nan")
    return float(mask[np.arange(len(y_true)), y_true].sum() / total)


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
