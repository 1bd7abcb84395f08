"""The command line's person: a review CSV to fill in, a pause, the labels read back.

:class:`CsvReviewOracle` follows the oracle protocol of :mod:`.review`: asked about some
rows, it returns the labels a person wrote into the file, or writes the rows to it and
raises :class:`~skmollal.active_learning.ReviewPending` so that the run pauses until they
are filled in.
"""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.utils import Bunch

from .review import ReviewPending

__all__ = ["CsvReviewOracle"]

logger = logging.getLogger(__name__)

#: What a person writes in a review file's ``label`` column to skip a row.
SKIP_WORDS = ("skip", "-1", "-")


class CsvReviewOracle:
    """A person answering through a CSV file: write the rows, pause, read the labels back.

    When asked about some rows, the oracle reads ``path``. If it lists exactly those rows
    and every ``label`` is filled in (a class name, or ``skip``), it returns the answers and
    keeps the file as ``<stem>-round<k>.csv`` (``k`` the asking round). Otherwise it writes
    the rows to ``path`` with an empty ``label`` column and raises :class:`ReviewPending`:
    the loop has saved its state, and the same run started again asks again. A pending
    review costs no LLM call when resumed.

    Parameters
    ----------
    path : str or path
        The review file (``review.csv`` in the command line's output folder).
    row_ids : sequence of int, optional
        The id shown for each of the loop's rows (the command line: the row of the data
        file); default the loop's own row index.

    Notes
    -----
    Columns written: ``row``, ``text``, ``fused`` (the mixture's label), ``confidence``,
    one ``llm:NAME`` per annotator (its answer) and ``label`` (empty; the person's answer).
    A filled file with a label that is not a class name, or a row that was not asked, is
    an error naming the row; a file holding a person's labels is never overwritten.
    """

    def __init__(self, path, row_ids: Sequence[int] | None = None) -> None:
        self.path = Path(path)
        self.row_ids = row_ids

    def __call__(self, texts: Sequence[str], rows: np.ndarray, info: Bunch) -> np.ndarray:
        ids = [int(i) for i in (rows if self.row_ids is None
                                else np.asarray(self.row_ids)[np.asarray(rows, dtype=int)])]
        done = self._archive(info.round)
        for path in (self.path, done):
            if path.exists():
                answers = self._read(path, ids, info.labels)
                if answers is not None:
                    if path == self.path:
                        self.path.replace(done)
                    return answers
        self._write(texts, ids, info)
        raise ReviewPending(
            f"{len(ids)} texts wait for review in {self.path}: fill its 'label' column (a "
            f"class name: {', '.join(info.labels)}; or 'skip') and run the same command again "
            "to continue",
            path=self.path, n_rows=len(ids))

    def _archive(self, round_: int) -> Path:
        return self.path.with_name(f"{self.path.stem}-round{round_}{self.path.suffix}")

    def _write(self, texts, ids, info) -> None:
        names = [f"llm:{n}" for n in info.annotator_names]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "text", "fused", "confidence", *names, "label"])
            for k, (row, text) in enumerate(zip(ids, texts)):
                llm = [info.labels[a] if a >= 0 else "" for a in info.answers[k]]
                writer.writerow([row, text, info.labels[info.fused[k]],
                                 round(float(info.confidence[k]), 4), *llm, ""])
        logger.info("wrote %d rows for review to %s", len(ids), self.path)

    def _read(self, path: Path, ids: list[int], labels: Sequence[str]) -> np.ndarray | None:
        """The answers of a filled file; None when it lists other rows (an older request,
        which a fresh one overwrites); ReviewPending while labels are missing."""
        with open(path, newline="", encoding="utf-8-sig") as fh:
            records = list(csv.DictReader(fh))
        if not records or "row" not in records[0] or "label" not in records[0]:
            raise ValueError(f"{path}: a review file needs the columns 'row' and 'label'")
        asked = {row: k for k, row in enumerate(ids)}
        answers = np.full(len(ids), -2)
        lookup = {name.strip().lower(): c for c, name in enumerate(labels)}
        for line, rec in enumerate(records, start=2):
            try:
                row = int(str(rec["row"]).strip())
            except ValueError:
                raise ValueError(f"{path} line {line}: row {rec['row']!r} is not a row "
                                 "number") from None
            if row not in asked:
                if not any(r in asked for r in self._rows_of(records)):
                    if not any(str(rec["label"] or "").strip() for rec in records):
                        return None  # an older request (other rows), unanswered: ask afresh
                    raise ValueError(_foreign_rows(path, self._rows_of(records), ids))
                raise ValueError(f"{path} line {line}: row {row} was not asked for review "
                                 f"(asked: {sorted(asked)}); remove that line")
            text = str(rec["label"] or "").strip()
            if not text:
                continue
            if text.lower() in SKIP_WORDS:
                answers[asked[row]] = -1
            elif text.lower() in lookup:
                answers[asked[row]] = lookup[text.lower()]
            else:
                raise ValueError(f"{path} line {line}: row {row} has the label {text!r}, "
                                 f"not a class name ({', '.join(labels)}) or 'skip'")
        missing = [ids[k] for k in np.flatnonzero(answers == -2)]
        listed = set(self._rows_of(records))
        gone = [r for r in missing if r not in listed]
        if gone:
            raise ValueError(f"{path}: rows {gone} were asked for review but are not in the "
                             "file; put them back (or delete the file to get it afresh)")
        if missing:
            raise ReviewPending(f"{len(missing)} of {len(ids)} texts in {path} have no label "
                                f"yet (rows {missing}); fill them in (a class name or "
                                "'skip') and run again", path=path, n_rows=len(missing))
        return answers

    @staticmethod
    def _rows_of(records: list[dict]) -> list[int]:
        rows = []
        for rec in records:
            try:
                rows.append(int(str(rec["row"]).strip()))
            except ValueError:
                pass
        return rows


def _foreign_rows(path: Path, listed: list[int], ids: list[int]) -> str:
    """Why a filled-in review file that lists none of the asked rows is refused."""
    listed = sorted(listed)
    shifts = {r - a for r, a in zip(listed, sorted(ids))}
    hint = ""
    if len(listed) == len(ids) and len(shifts) == 1:
        hint = (f"; they look shifted by {shifts.pop():+d} (a spreadsheet counting from 1?): "
                "the 'row' column must keep the numbers the run wrote")
    shown = ", ".join(map(str, listed[:10])) + (", ..." if len(listed) > 10 else "")
    return (f"{path}: rows {shown} were not asked for review (asked: {sorted(ids)}){hint}. "
            "The file holds labels a person wrote, so it is not overwritten: put the asked "
            "row numbers back, or move the file away to be asked afresh")
