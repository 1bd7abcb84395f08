"""Validation of *signals* arrays: ``(n_texts, n_annotators, 2, n_classes)``."""
from __future__ import annotations

import numpy as np

__all__ = ["check_signals"]


def check_signals(signals, *, name: str = "signals", allow_flat: bool = False) -> np.ndarray:
    """Validate a signals array and return it as float64.

    Parameters
    ----------
    signals : array-like of shape (n_texts, n_annotators, 2, n_classes)
        ``signals[:, j, 0]`` are annotator ``j``'s class probabilities and
        ``signals[:, j, 1]`` its vote shares.
    name : str, default="signals"
        How to call the array in error messages.
    allow_flat : bool, default=False
        Also accept a 2-d ``(n_texts, n_features)`` array (already flattened signals),
        returned unchanged in shape.

    Returns
    -------
    ndarray
        The validated array.

    Raises
    ------
    ValueError
        On the wrong number of dimensions, a second axis of size other than 2, no rows,
        or NaN / infinite values (the message says where).
    """
    arr = np.asarray(signals, dtype=float)
    if allow_flat and arr.ndim == 2:
        pass
    elif arr.ndim != 4 or arr.shape[2] != 2:
        raise ValueError(
            f"{name} must have shape (n_texts, n_annotators, 2, n_classes)"
            + (" or (n_texts, n_features)" if allow_flat else "")
            + f"; got shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN or infinite value(s); first in row {row}"
        )
    return arr
