"""Class labels as a scikit-learn user gives them: names or indices in, the same kind out.

An LLM panel defines its classes (its ``labels``). :func:`encode_labels` takes ``y`` as
class names (strings, each one of the panel's labels) or as class indices into them, ``-1``
marking an unlabelled row either way, and returns the indices the loop works with and the
``classes_`` that decode predictions: the panel's labels when ``y`` holds names,
``arange(n_classes)`` when it holds indices. :func:`unlabelled` tells the ``-1`` rows.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["encode_labels", "unlabelled"]


def _is_unlabelled(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip() == "-1"
    try:
        return bool(value == -1)
    except (TypeError, ValueError):
        return False


def unlabelled(y: Any) -> np.ndarray:
    """Which entries of ``y`` mark an unlabelled row: ``-1`` (or the string ``"-1"``).

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        Class names or indices.

    Returns
    -------
    ndarray of bool
    """
    return np.array([_is_unlabelled(v) for v in np.asarray(y, dtype=object).ravel()],
                    dtype=bool)


def encode_labels(y: Any, names: Sequence[str], where: str = "y"
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Class indices of ``y`` and the ``classes_`` that turn indices back into its labels.

    Parameters
    ----------
    y : array-like of shape (n_rows,)
        Class names (each one of ``names``) or class indices into ``names``; ``-1`` marks an
        unlabelled row.
    names : sequence of str
        The panel's labels, in class order.
    where : str, default="y"
        How to call ``y`` in error messages.

    Returns
    -------
    y_index : ndarray
        ``y`` as class indices (-1 unlabelled); given indices are returned as they are, for
        the caller's own checks.
    classes : ndarray
        ``names`` when ``y`` holds names, else ``arange(len(names))``.

    Raises
    ------
    ValueError
        If ``y`` mixes names with other values, or holds a name that is none of ``names``
        (the message names the row, the value and the labels).
    """
    values = np.asarray(y, dtype=object)
    if values.ndim != 1:
        return np.asarray(y), np.arange(len(names))
    marked = unlabelled(values)
    is_name = np.array([isinstance(v, str) for v in values], dtype=bool) & ~marked
    if not is_name.any():
        return np.asarray(y), np.arange(len(names))
    other = np.flatnonzero(~is_name & ~marked)
    if other.size:
        row = int(other[0])
        raise ValueError(f"{where} mixes class names with other values (row {row}: "
                         f"{values[row]!r}); give class names, -1 for unlabelled rows")
    index = {name: k for k, name in enumerate(names)}
    unknown = [row for row in np.flatnonzero(is_name) if values[row] not in index]
    if unknown:
        row = int(unknown[0])
        raise ValueError(f"{where}: row {row} is labelled {values[row]!r}, which is not one "
                         f"of the panel's labels {list(names)} ({len(unknown)} such row(s))")
    encoded = np.array([index[v] if named else -1 for v, named in zip(values, is_name)],
                       dtype=int)
    return encoded, np.asarray(list(names))
