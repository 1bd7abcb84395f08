"""The labeled demo text set shipped with skmollal.

180 short English questions written for this project (not taken from any dataset), 30 for each
of the six coarse classes of TREC question classification: ``abbreviation`` (what an
abbreviation stands for), ``entity`` (a thing: animal, colour, food, film, ...),
``description`` (definitions, reasons, manners), ``human`` (a person or group), ``location``
and ``numeric`` (counts, dates, sizes, ...). The gold labels follow the TREC conventions
("Which company makes ...?" is ``human``, "When ...?" is ``numeric``).

The set is small on purpose: a 135M-parameter LLM annotates it on a laptop CPU in minutes, so
the live demo (``python -m skmollal demo``) runs end to end without a GPU or downloads.
"""
from __future__ import annotations

import csv
import io
from importlib import resources

import numpy as np
from sklearn.utils import Bunch

from .annotators.task import TREC_LABELS, TREC_QUESTION_TEMPLATE, AnnotationTask

__all__ = ["load_demo", "demo_task", "DEMO_FILE"]

#: File name of the demo set inside ``skmollal/data``.
DEMO_FILE = "demo_questions.csv"


def load_demo() -> Bunch:
    """Load the demo question set.

    Returns
    -------
    Bunch
        ``texts`` (list of 180 str), ``target`` (int ndarray, indices into
        ``target_names``), ``target_names`` (the six TREC class names, in the recordings'
        class order) and ``DESCR``.

    Examples
    --------
    >>> demo = load_demo()
    >>> len(demo.texts), demo.target_names[demo.target[0]]
    (180, 'abbreviation')
    """
    raw = resources.files("skmollal").joinpath("data", DEMO_FILE).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(raw)))
    names = list(TREC_LABELS)
    index = {name: i for i, name in enumerate(names)}
    texts, target = [], []
    for line, row in enumerate(rows, start=2):
        label = row["label"].strip()
        if label not in index:
            raise ValueError(f"{DEMO_FILE} line {line}: unknown label {label!r}")
        texts.append(row["text"].strip())
        target.append(index[label])
    return Bunch(
        texts=texts,
        target=np.asarray(target, dtype=int),
        target_names=names,
        DESCR=__doc__,
    )


def demo_task(**kwargs) -> AnnotationTask:
    """The zero-shot TREC question-classification task (the panel's ``zero-shot`` prompt).

    No system instruction; the user message is the question followed by
    :data:`~skmollal.annotators.task.TREC_QUESTION_TEMPLATE`'s request to choose a category.
    Keyword arguments go to :class:`~skmollal.annotators.task.AnnotationTask`
    (``instruction``, ``examples``, ``name``, ``text_template``, ``answer_lead``).
    """
    kwargs.setdefault("name", "trec")
    kwargs.setdefault("instruction", "")
    kwargs.setdefault("text_template", TREC_QUESTION_TEMPLATE)
    return AnnotationTask(TREC_LABELS, **kwargs)
