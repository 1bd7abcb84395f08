"""A run's rows: a user's CSV, and the split of rows into gold seed, pool and test.

The CSV (UTF-8, with or without the byte-order mark spreadsheet programs write) has a header
row naming its columns:

* ``text`` (required): the text to label;
* ``label`` (optional): the class name for the rows you labelled; blank or ``-1`` marks an
  unlabelled row;
* ``id`` (optional): your own row identifier, copied to every output.

Other columns are ignored; header names are matched without regard to case or surrounding
spaces. :func:`load_csv` reads it and refuses a label that is not a known class, naming the
line, the label and the known classes (with a close match when there is one).

:func:`split_labelled` turns the labels into a run's rows: the **seed** (the gold labels the
mixture model and the first classifier learn from) is every labelled row, or ``seed_size`` of
them drawn at random; an optional **test** split is drawn from the labelled rows only when
asked; the **pool** (what the LLMs annotate) is every unlabelled row, plus the labelled rows
left out of the seed and the test split, whose labels are then hidden from every decision.
:func:`split_rows` splits all-gold data (the demo and recorded sets) at random, and
:func:`training_labels` hides every label but the seed's.
"""
from __future__ import annotations

import csv
import difflib
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.utils import Bunch

from .label_checks import check_conflicting_labels, warn_label_spellings

__all__ = ["CSV_COLUMNS", "UNLABELLED", "load_csv", "split_labelled", "split_rows",
           "training_labels"]

logger = logging.getLogger(__name__)

#: column -> what it holds
CSV_COLUMNS = {
    "text": "the text to label (required)",
    "label": "the class name of a labelled row; blank or -1 for an unlabelled row (optional)",
    "id": "your identifier of the row, copied to the outputs (optional)",
}
#: label cells that mark an unlabelled row
UNLABELLED = ("", "-1")


def _columns(header: list[str]) -> dict[str, int]:
    """Position of each known column in ``header`` (matched case- and space-insensitively)."""
    found: dict[str, int] = {}
    for pos, name in enumerate(header):
        key = name.strip().lower()
        if key in CSV_COLUMNS and key not in found:
            found[key] = pos
    return found


def _suggestion(label: str, labels: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the known label closest to ``label``, else ``"."``."""
    by_lower = {name.lower(): name for name in labels}
    match = by_lower.get(label.lower())
    if match is None:
        close = difflib.get_close_matches(label.lower(), list(by_lower), n=1, cutoff=0.6)
        match = by_lower[close[0]] if close else None
    return f"; did you mean {match!r}?" if match else "."


def class_names(labels: str | Sequence[str] | None) -> list[str] | None:
    """Class names from a comma-separated string (``--labels``) or a sequence; None stays.

    Parameters
    ----------
    labels : str, sequence of str or None

    Returns
    -------
    list of str or None
    """
    if isinstance(labels, str):
        return [name.strip() for name in labels.split(",") if name.strip()]
    return None if labels is None else list(labels)


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-blank records of a CSV, each with the line it starts on.

    A quote that is never closed would make the rest of the file one text: that is refused,
    naming the line it opens on. Other loose quoting (``"x" ,y``) is read as Excel does.
    """
    try:
        return _parse_rows(path, strict=True)
    except csv.Error:  # loose quoting, which only the strict reader refuses
        return _parse_rows(path, strict=False)


def _parse_rows(path: Path, strict: bool) -> tuple[list[str], list[tuple[int, list[str]]]]:
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValueError(f"{path}: no such file; give the path of a CSV with a 'text' "
                         "column") from None
    with fh:
        reader = csv.reader(fh, strict=strict)
        line = 1
        try:
            header = next(reader, None)
            records = []
            while True:
                line = reader.line_num + 1
                record = next(reader, None)
                if record is None:
                    break
                if any(cell.strip() for cell in record):
                    records.append((line, record))
        except UnicodeDecodeError as exc:
            raise ValueError(f"{path} is not UTF-8 text ({exc.reason} at byte {exc.start}); "
                             "save it as CSV UTF-8") from None
        except csv.Error as exc:
            if strict and "unexpected end of data" in str(exc):
                raise ValueError(f"{path} line {line}: a quoted text opens here and is never "
                                 "closed, so every line after it would be part of it; close "
                                 "the quote (\") or remove it") from None
            raise
    if header is None:
        raise ValueError(f"{path} is empty; it needs a header row with a 'text' column")
    return header, records


def load_csv(path: str | Path, labels: str | Sequence[str] | None = None, *,
             need_labels: bool = True) -> Bunch:
    """Texts, labels and ids of a CSV in the format of :data:`CSV_COLUMNS`.

    Parameters
    ----------
    path : str or path
        The CSV file (UTF-8, a byte-order mark is fine).
    labels : str or sequence of str, optional
        The class names (a comma-separated string or a list). A labelled row whose label is
        none of them is an error. Default: the sorted distinct labels of the file.
    need_labels : bool, default=True
        Read the ``label`` column (False: ignore it, as for texts to predict).

    Returns
    -------
    Bunch
        ``texts`` (list of str), ``y`` (class index, -1 for an unlabelled row), ``labels``
        (class names), ``given`` (the label cell of each row, stripped), ``ids`` (the ``id``
        column, or None), ``lines`` (the line of the file each row starts on; the header
        is line 1) and ``notes`` (the warnings about its labels).

    Raises
    ------
    ValueError
        If the file is missing, not UTF-8, opens a quote it never closes, has no ``text``
        column, a row has no text, a label is not one of ``labels`` (the message names the
        line, the 0-based data row, the label and the known labels), or one text is
        labelled with two classes
        (:func:`~skmollal.label_checks.check_conflicting_labels`). Without ``labels``,
        classes that differ only in case or have a single row are warned about
        (:func:`~skmollal.label_checks.warn_label_spellings`).
    """
    path = Path(path)
    header, records = _read_rows(path)
    cols = _columns(header)
    if "text" not in cols:
        raise ValueError(f"{path} has no 'text' column (its columns: "
                         f"{', '.join(repr(h) for h in header)}); the first line must name "
                         "the columns: text, and label for the rows you labelled")
    if not records:
        raise ValueError(f"{path} has a header but no rows")

    def cell(record: list[str], name: str) -> str | None:
        pos = cols.get(name)
        return record[pos] if pos is not None and pos < len(record) else None

    texts = []
    for row, (line, record) in enumerate(records):
        text = cell(record, "text")
        if text is None:
            raise ValueError(f"{path} line {line} (data row {row}, counting from 0) has no "
                             "text: it has fewer cells than the header")
        texts.append(text)
    given = [(cell(r, "label") or "").strip() if need_labels else "" for _, r in records]
    given = ["" if g in UNLABELLED else g for g in given]
    labels = class_names(labels)
    lines = [line for line, _ in records]
    check_conflicting_labels(texts, given, lines, str(path))
    # classes read from the file: warn where they look unintended
    notes = [] if labels else warn_label_spellings(given, lines, str(path))
    labels = list(labels) if labels else sorted({g for g in given if g})
    index = {name: k for k, name in enumerate(labels)}
    unknown = [row for row, g in enumerate(given) if g and g not in index]
    if unknown:
        row = unknown[0]
        more = unknown[1:]
        also = (f" ({len(more)} more row(s) with unknown labels, on lines "
                f"{', '.join(str(records[r][0]) for r in more[:5])}{'...' if len(more) > 5 else ''})"
                if more else "")
        raise ValueError(
            f"{path} line {records[row][0]} (data row {row}, counting from 0): label "
            f"{given[row]!r} is not one of the labels {labels}{_suggestion(given[row], labels)}"
            f" Fix the label, or leave it blank for an unlabelled row{also}")
    ids = [cell(r, "id") or "" for _, r in records] if "id" in cols else None
    y = np.asarray([index[g] if g else -1 for g in given], dtype=int)
    return Bunch(texts=texts, y=y, labels=labels, given=given, ids=ids, lines=lines,
                 notes=notes)


def _n_test(test_size: float | None, n_labelled: int) -> int:
    if not test_size:
        return 0
    if 0 < test_size < 1:
        return int(round(test_size * n_labelled))
    if test_size >= 1 and float(test_size).is_integer():
        return int(test_size)
    raise ValueError(f"test size must be a fraction in (0, 1) or a whole number of rows; "
                     f"got {test_size}")


def split_labelled(y: np.ndarray, labels: Sequence[str] | None = None,
                   seed_size: int | None = None, test_size: float | None = None,
                   pool_size: int | None = None, random_state: int = 0
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seed, pool and test rows of partially labelled data (``-1`` = unlabelled).

    Parameters
    ----------
    y : array-like of int
        Class index of the labelled rows, -1 for the unlabelled ones.
    labels : sequence of str, optional
        Class names, for the messages.
    seed_size : int, optional
        Draw this many seed rows from the labelled rows (after the test split); default:
        every labelled row not held out.
    test_size : float, optional
        Held-out labelled rows: a fraction in (0, 1) of the labelled rows, or a whole number
        of them. Default (None or 0): none, and accuracy is not measured.
    pool_size : int, optional
        Subsample the pool to this many rows (drawn at random).
    random_state : int, default=0
        Seeds the draws.

    Returns
    -------
    seed, pool, test : ndarray of int
        Sorted, disjoint row indices. The pool is every unlabelled row plus the labelled
        rows in neither the seed nor the test split (their labels hidden).

    Raises
    ------
    ValueError
        If no row is labelled, the split leaves no seed, the seed shows fewer than two
        classes, or nothing is left to annotate.
    """
    y = np.asarray(y, dtype=int)
    labelled, unlabelled = np.flatnonzero(y >= 0), np.flatnonzero(y < 0)
    if len(labelled) == 0:
        raise ValueError("no row is labelled: give a few rows of each class their class "
                         "name in the 'label' column (the seed); leave the others blank")
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(labelled)
    n_test = _n_test(test_size, len(labelled))
    test, rest = perm[:n_test], perm[n_test:]
    if seed_size is None:
        seed, spare = rest, perm[:0]
    elif seed_size > len(rest):
        raise ValueError(f"seed size {seed_size} is more than the {len(rest)} labelled rows "
                         f"left after holding out {n_test} for the test; label more rows or "
                         "ask for a smaller seed")
    else:
        seed, spare = rest[:seed_size], rest[seed_size:]
    classes = np.unique(y[seed])
    if len(classes) < 2:
        names = [labels[c] if labels is not None else int(c) for c in classes]
        raise ValueError(f"the seed holds {len(seed)} labelled row(s) of {len(classes)} "
                         f"class(es) {names}; label rows of at least two classes (or hold "
                         "fewer out for the test)")
    pool = np.concatenate([unlabelled, spare])
    if pool_size is not None and pool_size < len(pool):
        pool = rng.choice(pool, pool_size, replace=False)
    if len(pool) == 0:
        raise ValueError("nothing to annotate: every row is in the seed or the test split; "
                         "add unlabelled rows (label blank) or give a smaller seed size")
    logger.info("split: %d seed, %d pool (%d of them labelled, labels hidden), %d test rows",
                len(seed), len(pool), len(spare), len(test))
    return np.sort(seed), np.sort(pool), np.sort(test)


def split_rows(n: int, seed_size: int, test_size: float, pool_size: int | None = None,
               random_state: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random split of ``n`` rows into (seed, pool, test) index arrays.

    Parameters
    ----------
    n : int
        Number of rows.
    seed_size : int
        Gold rows drawn from the rows not held out.
    test_size : float
        Fraction of the rows held out, in (0, 1).
    pool_size : int, optional
        Subsample the pool (what remains) to this many rows.
    random_state : int, default=0
        Seed of the permutation.

    Returns
    -------
    seed, pool, test : ndarray of int
        Sorted, disjoint row indices.

    Raises
    ------
    ValueError
        If ``test_size`` is outside (0, 1) or ``seed_size`` leaves no pool.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size}")
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)
    n_test = int(round(test_size * n))
    test, rest = perm[:n_test], perm[n_test:]
    if seed_size >= len(rest):
        raise ValueError(f"seed_size {seed_size} leaves no pool ({len(rest)} training rows)")
    seed, pool = rest[:seed_size], rest[seed_size:]
    if pool_size is not None:
        pool = pool[:pool_size]
    return np.sort(seed), np.sort(pool), np.sort(test)


def training_labels(y_gold: np.ndarray, seed: np.ndarray,
                    pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training rows (seed, then pool) and their labels: gold on the seed, -1 on the pool.

    Parameters
    ----------
    y_gold : ndarray of int
        Gold class index of every row (-1 where unknown).
    seed, pool : ndarray of int
        Row indices of the seed and of the pool.

    Returns
    -------
    rows, y : ndarray of int
        The seed rows then the pool rows, and their labels (gold, then -1).

    Raises
    ------
    ValueError
        If a seed row has no gold label (-1).
    """
    rows = np.concatenate([seed, pool])
    y = np.full(len(rows), -1)
    y[: len(seed)] = np.asarray(y_gold)[seed]
    if (y[: len(seed)] < 0).any():
        raise ValueError("some seed rows have no gold label")
    return rows, y
