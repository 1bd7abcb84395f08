"""A CSV of texts that recordings hold, answered by ``recorded:NAME`` annotators.

``skmollal run --data my.csv --annotator recorded:yi`` runs the loop on the rows of a CSV
(its labelled rows the gold seed, the others the pool) with the LLMs recorded for
``--task`` answering by replay, so no LLM is called. :func:`load_recorded_csv` reads the CSV
with the recordings' classes, in their order (the order of the recorded probabilities), and
refuses a text the recordings do not hold before anything runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from sklearn.utils import Bunch

from .own_data import class_names, load_csv

__all__ = ["load_recorded_csv"]


def load_recorded_csv(data: str | Path, labels: str | Sequence[str] | None,
                      recordings: str | Path, task: str) -> Bunch:
    """The rows of a CSV whose texts are recorded, with those recordings.

    Parameters
    ----------
    data : str or path
        The CSV (see :func:`~skmollal.own_data.load_csv`).
    labels : str or sequence of str, optional
        Class names given with the CSV; they must be the recordings' classes (in any order).
    recordings : str or path
        Folder of recorded LLM annotations.
    task : str
        The recorded task (e.g. ``"trec"``).

    Returns
    -------
    Bunch
        What :func:`~skmollal.own_data.load_csv` returns, the classes those of the
        recordings, and ``recordings`` (:func:`~skmollal.datasets.load_recordings`).

    Raises
    ------
    ValueError
        If the recordings hold no texts, ``labels`` are not their classes, a label of the
        CSV is none of them, or a text of the CSV was not recorded (the message names its
        line and how many were not).
    """
    from .datasets import load_recordings

    rec = load_recordings(recordings, task)
    if rec.texts is None:
        raise ValueError(f"the {task!r} recordings hold no texts, so recorded annotators "
                         f"cannot answer the texts of {data}; use live annotators")
    names = list(rec.target_names)
    given = class_names(labels)
    if given and set(given) != set(names):
        raise ValueError(f"--labels {given} are not the classes of the {task!r} recordings "
                         f"{names}, which the recorded answers are over; drop --labels")
    table = load_csv(data, names)
    recorded = set(rec.texts)
    missing = [row for row, text in enumerate(table.texts) if text not in recorded]
    if missing:
        row = missing[0]
        raise ValueError(
            f"{data} line {table.lines[row]} (data row {row}): text {table.texts[row][:60]!r} "
            f"is not one of the {len(recorded)} texts the {task!r} recordings hold "
            f"({len(missing)} of the CSV's {len(table.texts)} texts are not); recorded:NAME "
            "annotators answer only recorded texts: drop those rows or use live annotators")
    return Bunch(**table, recordings=rec)
