"""Validation of text inputs, shared by annotators, featurizers and the active learner."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["check_texts"]


def check_texts(texts: Any, where: str = "texts", *, allow_empty: bool = False) -> list[str]:
    """Return ``texts`` as a list of str, or raise an error naming the problem.

    Parameters
    ----------
    texts : sequence of str
        A list, tuple, 1-d array or single-column 2-d array of strings.
    where : str, default="texts"
        Who is checking (an annotator's name, an estimator); starts every message.
    allow_empty : bool, default=False
        Accept an empty sequence.

    Returns
    -------
    list of str
        The texts.

    Raises
    ------
    TypeError
        If ``texts`` is a single string, not a sequence, or holds a non-string (the message
        gives its index).
    ValueError
        If ``texts`` is empty (unless allowed) or an array of more than one column.
    """
    if isinstance(texts, str):
        raise TypeError(f"{where}: texts must be a sequence of str, not one str")
    ndim = getattr(texts, "ndim", 1)
    if ndim == 2 and texts.shape[1] == 1:
        texts = np.asarray(texts).ravel()
    elif ndim != 1:
        raise ValueError(f"{where}: texts must be 1-d, got shape {texts.shape}")
    try:
        texts = list(texts)
    except TypeError:
        raise TypeError(
            f"{where}: texts must be a sequence of str, got {type(texts).__name__}"
        ) from None
    if not texts and not allow_empty:
        raise ValueError(f"{where}: texts is empty; nothing to do")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{where}: text {i} is a {type(text).__name__}, not a str: {text!r:.60}"
            )
    return texts
