"""Validation of inputs shared across layers: texts, partial labels (``-1`` = unlabeled) and
torch device names (``"auto"`` resolved to the best device torch sees)."""
from __future__ import annotations

import logging
import numbers
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

__all__ = ["blank_texts_reported", "check_partial_labels", "check_texts", "resolve_device",
           "warn_blank_texts"]

logger = logging.getLogger(__name__)


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
        If ``texts`` is empty (unless allowed) or an array of more than one column, or a
        text is not valid Unicode (a lone surrogate such as ``"\\ud800"``, which no
        tokenizer, cache or file can encode; the message gives its index and position).
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
        if not text.isascii():
            _check_unicode(text, i, where)
    return texts


def resolve_device(device: Any = "auto", where: str = "device") -> Any:
    """The torch device to compute on: ``"auto"`` means CUDA, else MPS, else CPU.

    Parameters
    ----------
    device : str, torch.device or None, default="auto"
        ``"auto"``, a torch device name (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or
        a ``torch.device``. None is returned as is (the caller's "leave it where it is").
    where : str, default="device"
        Who is asking (an estimator, an annotator); starts every message.

    Returns
    -------
    str, torch.device or None
        ``"cuda"``, ``"mps"`` or ``"cpu"`` for ``"auto"``; any other value unchanged.

    Raises
    ------
    ValueError
        If ``device`` is not a torch device name, or names a CUDA / MPS device that torch
        does not see on this machine.
    """
    if device is None:
        return None
    import torch

    if isinstance(device, str) and device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    try:
        kind = torch.device(device).type
    except (RuntimeError, TypeError):
        raise ValueError(
            f"{where}: {device!r} is not a torch device; use \"auto\" (CUDA, else MPS, else "
            "CPU), \"cpu\", \"cuda\", \"cuda:<index>\" or \"mps\""
        ) from None
    available = {"cuda": torch.cuda.is_available,
                 "mps": lambda: torch.backends.mps.is_available()}
    if kind in available and not available[kind]():
        raise ValueError(
            f"{where}: device {device!r} asked for, but torch sees no {kind.upper()} device "
            "on this machine; use device=\"auto\" to take the best one available"
        )
    return device


def _check_unicode(text: str, index: int, where: str) -> None:
    """Raise if ``text`` holds a lone surrogate (not encodable as UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"{where}: text {index} is not valid Unicode: a lone surrogate "
            f"{text[exc.start]!r} at character {exc.start} ({text[max(0, exc.start - 20):exc.start]!r}"
            "...); fix the text (decode its source with the right encoding, or drop or replace "
            "the character, e.g. text.encode('utf-8', 'replace').decode())"
        ) from None


#: How many callers have named the blank texts in their own terms (see
#: :func:`blank_texts_reported`); a list so that every thread sees it.
_REPORTED = [0]


@contextmanager
def blank_texts_reported() -> Iterator[None]:
    """While inside, :func:`warn_blank_texts` only logs at DEBUG level.

    For a caller that has named the blank texts once in its user's terms (the rows of their
    file), so that every annotator's call does not name them again by their positions in it.
    """
    _REPORTED[0] += 1
    try:
        yield
    finally:
        _REPORTED[0] -= 1


def warn_blank_texts(texts: Sequence[str], where: str, rows: Sequence[int] | None = None) -> list[int]:
    """Log a warning naming the texts that are empty or whitespace only.

    Such texts are annotated (the LLM sees the instruction alone and answers something), so
    they are not refused; but the answer says nothing about a text, and the user should know.

    Parameters
    ----------
    texts : sequence of str
        The texts.
    where : str
        Who is annotating; starts the message.
    rows : sequence of int, optional
        Row numbers of ``texts`` to report (default: their indices).

    Returns
    -------
    list of int
        The blank texts' row numbers.
    """
    blank = [i for i, t in enumerate(texts) if not t.strip()]
    if blank:
        named = [int(rows[i]) if rows is not None else i for i in blank]
        shown = ", ".join(map(str, named[:10])) + (", ..." if len(named) > 10 else "")
        level = logging.DEBUG if _REPORTED[0] else logging.WARNING
        logger.log(level, "%s: %d text(s) are empty or whitespace only (rows %s); the LLMs "
                       "annotate them from the instruction alone", where, len(named), shown)
        return named
    return []


_EXPECTED = "give class indices, -1 for unlabeled"


def check_partial_labels(
    y: Any,
    n_rows: int,
    n_classes: int | None = None,
    *,
    where: str = "y",
    require_labels: bool = True,
    min_classes: int = 1,
) -> np.ndarray:
    """Return partial labels as an int array (``-1`` = unlabeled), or raise an error naming
    the problem and the first offending row.

    Parameters
    ----------
    y : array-like of shape (n_rows,) or None
        Class indices ``0 .. n_classes - 1``, ``-1`` for unlabeled rows. Whole-number floats
        (``1.0``) are accepted; None means no row is labeled.
    n_rows : int
        Number of rows ``y`` must have (one per row of the data it labels).
    n_classes : int, optional
        Number of classes; labels must be below it. None: no upper bound.
    where : str, default="y"
        How to call the labels in error messages (e.g. ``"y"`` or ``"MoLLIALoop: y"``).
    require_labels : bool, default=True
        Raise if no row is labeled (``y`` is None or all ``-1``).
    min_classes : int, default=1
        Least number of different classes the labeled rows must show (checked when any row
        is labeled).

    Returns
    -------
    ndarray of shape (n_rows,), dtype int
        The labels.

    Raises
    ------
    ValueError
        If ``y`` is not 1-d or has the wrong length; holds booleans, strings or other
        objects; holds a non-finite or fractional number, or a value below ``-1`` or not
        below ``n_classes`` (the message names the row and the value); has no labeled row
        although ``require_labels``; or shows fewer than ``min_classes`` classes.
    """
    if y is None:
        if require_labels:
            raise ValueError(f"{where} is required: {_EXPECTED} (no labels given)")
        return np.full(n_rows, -1, dtype=int)
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where} must be 1-d (one entry per row), got shape {y.shape}")
    if y.shape[0] != n_rows:
        raise ValueError(
            f"{where} has {y.shape[0]} entries but there are {n_rows} rows; {_EXPECTED}"
        )
    y = _as_numeric(y, where)
    if y.dtype.kind == "f":
        _check_whole(y, where)
    upper = np.iinfo(int).max if n_classes is None else n_classes
    bad = (y < -1) | (y >= upper)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        valid = f"-1..{upper - 1}"
        raise ValueError(
            f"{where}[{row}] = {y[row]:.0f} is outside the valid range {valid} "
            f"(class indices, -1 for unlabeled); {int(bad.sum())} such value(s)"
        )
    y = y.astype(int)
    labeled = y[y >= 0]
    if require_labels and labeled.size == 0:
        raise ValueError(f"{where} has no labeled rows (all -1); gold labels are needed")
    shown = np.unique(labeled)
    if labeled.size and shown.size < min_classes:
        raise ValueError(
            f"{where} must show at least {min_classes} different classes among its labeled "
            f"rows; got {shown.size}: {shown.tolist()}"
        )
    return y


def _as_numeric(y: np.ndarray, where: str) -> np.ndarray:
    """``y`` as an int or float array; booleans, strings and other objects raise."""
    kind = y.dtype.kind
    if kind == "b":
        raise ValueError(f"{where} holds booleans; {_EXPECTED}")
    if kind in "iuf":
        return y
    if kind == "O":
        for row, value in enumerate(y):
            if isinstance(value, (bool, np.bool_)):
                raise ValueError(f"{where}[{row}] is a boolean ({value!r}); {_EXPECTED}")
            if not isinstance(value, numbers.Real):
                raise ValueError(
                    f"{where}[{row}] is {value!r:.60} ({type(value).__name__}); class "
                    f"indices are expected, -1 for unlabeled"
                )
        return y.astype(float)
    raise ValueError(
        f"{where} holds {y.dtype} values (e.g. {where}[0] = {y[0].item()!r:.60}) where class "
        f"indices are expected, -1 for unlabeled"
    )


def _check_whole(y: np.ndarray, where: str) -> None:
    """Raise at the first non-finite or fractional value of the float array ``y``."""
    finite = np.isfinite(y)
    if not finite.all():
        row = int(np.flatnonzero(~finite)[0])
        raise ValueError(f"{where}[{row}] is {y[row]} (not a finite number); {_EXPECTED}")
    fractional = np.mod(y, 1) != 0
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        raise ValueError(
            f"{where}[{row}] = {y[row]} is not a whole number; {_EXPECTED} "
            "(fractions are not rounded)"
        )
