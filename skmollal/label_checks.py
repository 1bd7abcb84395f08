"""What the gold labels of a user's CSV can get wrong, found before any LLM is called.

* :func:`check_conflicting_labels`: one text labelled with two different classes (on two
  lines) is refused: a gold label is the truth the mixture and the classifier learn from,
  and two truths for one text would teach both the contradiction;
* :func:`warn_label_spellings`: when the classes are read from the file (no class names
  given), labels that differ only in case (``Billing`` and ``billing``) become two classes,
  and a label given on a single row is as likely a typo as a class; both are logged as
  warnings naming the labels and their lines.

Texts are compared with their whitespace collapsed; labels as written (stripped).
"""
from __future__ import annotations

import difflib
import logging
from collections import defaultdict
from typing import Sequence

__all__ = ["check_conflicting_labels", "warn_label_spellings"]

logger = logging.getLogger(__name__)


def _lines(numbers: Sequence[int], shown: int = 5) -> str:
    """``line 4`` or ``lines 2, 7, 9, ...``."""
    numbers = list(numbers)
    more = ", ..." if len(numbers) > shown else ""
    word = "line" if len(numbers) == 1 else "lines"
    return f"{word} {', '.join(map(str, numbers[:shown]))}{more}"


def check_conflicting_labels(texts: Sequence[str], given: Sequence[str],
                             lines: Sequence[int], where: str) -> None:
    """Refuse a text that two labelled rows give different labels (blank texts, which say
    nothing and are reported on their own, are not compared).

    Parameters
    ----------
    texts : sequence of str
        The texts, one per row.
    given : sequence of str
        Each row's label ("" for an unlabelled row).
    lines : sequence of int
        The line of the file each row starts on.
    where : str
        The file, to start the message with.

    Raises
    ------
    ValueError
        Naming the lines, their labels and the text, and how many texts conflict.
    """
    by_text: dict[str, list[int]] = defaultdict(list)
    for row, (text, label) in enumerate(zip(texts, given)):
        if label and text.strip():
            by_text[" ".join(text.split())].append(row)
    conflicts = [rows for rows in by_text.values() if len({given[r] for r in rows}) > 1]
    if not conflicts:
        return
    rows = conflicts[0]
    said = ", ".join(f"line {lines[r]} {given[r]!r}" for r in rows[:5])
    more = f"; {len(conflicts) - 1} more text(s) like it" if len(conflicts) > 1 else ""
    raise ValueError(f"{where}: one text has different labels ({said}; text "
                     f"{texts[rows[0]][:60]!r}){more}. A text has one gold label: keep "
                     "the right one and blank the label of the others")


def warn_label_spellings(given: Sequence[str], lines: Sequence[int], where: str) -> list[str]:
    """Warn about classes read from a file that are likely one class, or a typo.

    Parameters
    ----------
    given : sequence of str
        Each row's label ("" for an unlabelled row); the distinct ones are the classes.
    lines : sequence of int
        The line of the file each row starts on.
    where : str
        The file, to start the messages with.

    Returns
    -------
    list of str
        The warnings logged (none when the labels look deliberate).
    """
    rows_of: dict[str, list[int]] = defaultdict(list)
    for row, label in enumerate(given):
        if label:
            rows_of[label].append(row)
    spellings: dict[str, list[str]] = defaultdict(list)
    for label in sorted(rows_of):
        spellings[label.casefold()].append(label)
    messages = []
    for variants in spellings.values():
        if len(variants) > 1:
            listed = " and ".join(f"{v!r} ({_lines([lines[r] for r in rows_of[v]])})"
                                  for v in variants)
            messages.append(f"{where}: labels {listed} differ only in case, so they are "
                            f"{len(variants)} classes; write them alike, or name the "
                            "classes with --labels")
    common = [label for label, rows in rows_of.items() if len(rows) > 1]
    for label, rows in rows_of.items():
        if len(rows) == 1:
            close = difflib.get_close_matches(label, common, n=1, cutoff=0.6)
            hint = f" (a typo of {close[0]!r}?)" if close else ""
            messages.append(f"{where}: class {label!r} has a single labelled row "
                            f"({_lines([lines[rows[0]]])}){hint}; fix its label, or label "
                            "more rows of it")
    for message in messages:
        logger.warning("%s", message)
    return messages
