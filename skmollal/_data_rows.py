"""The rows of the user's data, named in a run's errors and warnings.

The loop numbers its texts by their place in its training set (the gold seed, then the
pool), and an annotator by their place in one call; a user knows the rows of their file.
:func:`naming_data_rows` wraps a run so that what it reports about one text names that row:
an error on a text (one that carries ``text_index``, see
:func:`~skmollal.annotators.base.relocate_text_error`) gets ``data_row`` (and ``data_where``:
the row, its line in the file and its id), and the blank texts are named once, by data row,
instead of by batch position in every annotator's call.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from ._validation import blank_texts_reported, warn_blank_texts
from .annotators.base import relocate_text_error

__all__ = ["describe_row", "naming_data_rows"]


def describe_row(row: int, data: Any) -> str:
    """``"data row 17 (line 19 of the file, id T-17)"``: what a user finds a row by.

    Parameters
    ----------
    row : int
        0-based row of the data (as ``labels.csv`` numbers them).
    data : Bunch
        The run's data; a CSV's has ``lines`` (the line each row starts on) and ``ids``.

    Returns
    -------
    str
    """
    where = []
    lines = getattr(data, "lines", None)
    if lines is not None and 0 <= row < len(lines):
        where.append(f"line {int(lines[row])} of the file")
    ids = getattr(data, "ids", None)
    if ids is not None and 0 <= row < len(ids):
        where.append(f"id {ids[row]}")
    return f"data row {row}" + (f" ({', '.join(where)})" if where else "")


@contextmanager
def naming_data_rows(data: Any, rows: Sequence[int], where: str) -> Iterator[None]:
    """Run a loop over ``rows`` of ``data`` with its reports naming data rows.

    Parameters
    ----------
    data : Bunch
        The run's data: ``texts`` (and, for a CSV, ``lines`` and ``ids``).
    rows : sequence of int
        ``rows[i]`` is the data row of the loop's row ``i``.
    where : str
        Who runs (starts the notes and the warning).

    Yields
    ------
    None
        While it runs, blank texts are not reported again by the loop or the annotators
        (they were named here, once).

    Raises
    ------
    Exception
        What the run raised; an error on one text has ``text_index`` and ``data_row`` set
        to its data row, and ``data_where`` describing it (:func:`describe_row`).
    """
    warn_blank_texts([data.texts[i] for i in rows], where, rows=rows)
    with blank_texts_reported():
        try:
            yield
        except Exception as exc:
            index = getattr(exc, "text_index", None)
            if isinstance(index, (int, np.integer)) and 0 <= index < len(rows):
                relocate_text_error(exc, rows, where, unit="data row")
                exc.data_row = int(exc.text_index)
                exc.data_where = describe_row(exc.data_row, data)
            raise
