"""The classifier's training inputs: targets, sample weights and negative labels, checked.

Per-sample data (weights, masks, soft targets) travel *inside* ``X`` as a dict under the keys
below, the way skorch documents for sample weights, so skorch's internal validation split and
batching slice them with the features, row by row.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
from sklearn.utils.multiclass import check_classification_targets

__all__ = ["EXTRA_KEYS", "MASK_KEY", "SOFT_TARGET_ATOL", "TARGET_KEY", "WEIGHT_KEY",
           "check_feature_dict", "check_hard_labels", "check_negative_mask",
           "check_sample_weight", "check_soft_targets", "label_indices"]

logger = logging.getLogger(__name__)

#: Keys under which per-sample targets / weights / masks ride inside ``X`` through skorch.
TARGET_KEY = "nl_target"
WEIGHT_KEY = "nl_sample_weight"
MASK_KEY = "nl_negative_mask"
EXTRA_KEYS = (TARGET_KEY, WEIGHT_KEY, MASK_KEY)

#: Tolerance for soft-target rows summing to 1.
SOFT_TARGET_ATOL = 1e-3


def check_feature_dict(X: Mapping) -> tuple[dict, int]:
    """A dict of feature arrays (the module's ``forward`` keywords) and its number of rows.

    Parameters
    ----------
    X : mapping of str to array-like
        Entries of equal length, none under a reserved key (:data:`EXTRA_KEYS`).

    Returns
    -------
    features : dict
    n_rows : int
    """
    if any(k in X for k in EXTRA_KEYS):
        raise ValueError(f"X must not use the reserved keys {EXTRA_KEYS}")
    lengths = {k: len(v) for k, v in X.items()}
    if not lengths or len(set(lengths.values())) != 1:
        raise ValueError(f"all entries of a dict X need the same length, got {lengths}")
    return dict(X), next(iter(lengths.values()))


def check_soft_targets(y: np.ndarray) -> np.ndarray:
    """Soft targets ``(n, C)`` as float32 rows summing to 1, or a ValueError naming the row.

    Parameters
    ----------
    y : ndarray of shape (n_samples, n_classes)
        Non-negative rows that sum to 1 (within :data:`SOFT_TARGET_ATOL`).

    Returns
    -------
    ndarray of float32, shape (n_samples, n_classes)
    """
    if y.dtype.kind not in "fiub":
        raise ValueError(f"soft targets must be numeric, got dtype {y.dtype}")
    y = y.astype(float)
    if not np.all(np.isfinite(y)) or (y < 0).any():
        raise ValueError("soft targets must be finite and non-negative")
    sums = y.sum(axis=1)
    bad = np.flatnonzero(np.abs(sums - 1) > SOFT_TARGET_ATOL)
    if bad.size:
        raise ValueError(
            f"soft target rows must sum to 1; {bad.size} row(s) do not (row {bad[0]} "
            f"sums to {sums[bad[0]]:.4g})"
        )
    return (y / y.sum(axis=1, keepdims=True)).astype(np.float32)


def check_hard_labels(y: np.ndarray) -> None:
    """Raise a ValueError unless ``y`` holds class labels (no NaN, not continuous).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class labels.
    """
    if y.dtype.kind == "f" and not np.all(np.isfinite(y)):
        raise ValueError("y contains NaN or infinite labels")
    check_classification_targets(y)


def label_indices(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Index of each hard label ``y`` in ``classes``; a ValueError names an unknown label.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Class labels.
    classes : ndarray of shape (n_classes,)
        All class labels.

    Returns
    -------
    ndarray of int64, shape (n_samples,)
    """
    index = {c: i for i, c in enumerate(classes.tolist())}
    try:
        return np.fromiter((index[v] for v in y.tolist()), dtype=np.int64, count=y.shape[0])
    except KeyError as exc:
        raise ValueError(
            f"y contains label {exc.args[0]!r} not among the classes {classes.tolist()}"
        ) from None


def check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """Per-sample weights as float32 ``(n,)`` (ones for None; a scalar is broadcast).

    Parameters
    ----------
    sample_weight : array-like of shape (n,), float or None
        Finite, non-negative, not all zero.
    n : int
        Number of samples.

    Returns
    -------
    ndarray of float32, shape (n,)
    """
    if sample_weight is None:
        return np.ones(n, dtype=np.float32)
    w = np.asarray(sample_weight, dtype=float)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.ndim != 1 or w.shape[0] != n:
        raise ValueError(f"sample_weight must have shape ({n},), got {w.shape}")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise ValueError("sample_weight must be finite and non-negative")
    if not w.any():
        raise ValueError("sample_weight is zero for every sample")
    return w.astype(np.float32)


def check_negative_mask(negative_mask, n: int, n_classes: int, idx: np.ndarray,
                        soft: bool) -> np.ndarray:
    """Negative labels as a bool ``(n, n_classes)`` mask (all False for None).

    Parameters
    ----------
    negative_mask : array-like of bool or 0/1, shape (n, n_classes), or None
        No row may mark every class.
    n, n_classes : int
        Expected shape.
    idx : ndarray of int, shape (n,)
        Each sample's target class (the argmax of a soft target): a warning counts the
        samples whose target is among their negative labels.
    soft : bool
        Whether the targets are soft (only changes the warning's wording).

    Returns
    -------
    ndarray of bool, shape (n, n_classes)
    """
    if negative_mask is None:
        return np.zeros((n, n_classes), dtype=bool)
    m = np.asarray(negative_mask)
    if m.shape != (n, n_classes):
        raise ValueError(
            f"negative_mask must have shape (n_samples, n_classes) = ({n}, {n_classes}), "
            f"got {m.shape}"
        )
    if m.dtype != bool:
        if m.dtype.kind not in "iuf" or not np.isin(m, (0, 1)).all():
            raise ValueError("negative_mask must be boolean (or 0/1)")
        m = m.astype(bool)
    full = np.flatnonzero(m.all(axis=1))
    if full.size:
        raise ValueError(
            f"negative_mask marks every class as negative in {full.size} row(s) (first: row "
            f"{full[0]}); at least one class per row must remain possible"
        )
    clash = m[np.arange(n), idx]
    if clash.any():
        logger.warning(
            "%d sample(s) have their %s label among their negative labels",
            int(clash.sum()), "(argmax of the) soft" if soft else "target",
        )
    return m
