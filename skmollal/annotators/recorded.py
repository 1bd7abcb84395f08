"""Replay recorded LLM annotations as if the LLM were asked live."""
from __future__ import annotations

import hashlib
import os
from typing import Sequence

import numpy as np
from sklearn.utils import Bunch

from .._validation import check_texts
from .base import PROBS, VOTES, AnnotationResult

__all__ = ["RecordedAnnotator"]


class RecordedAnnotator:
    """An annotator that answers from a recording, looked up by text.

    Use it to run the whole active-learning loop on real LLM behaviour without the LLM:
    every text the loop asks about must have been recorded.

    Parameters
    ----------
    recordings : Bunch or str or path-like
        The result of :func:`skmollal.datasets.load_recordings`, or a folder to load with
        ``task``.
    annotator : str or int
        Which LLM of the recording to replay (its name in ``annotator_names``, or position).
    task : str, optional
        Task name, needed when ``recordings`` is a folder.
    name : str, optional
        Name in reports; defaults to the recorded LLM's name.

    Attributes
    ----------
    labels : list of str
        Class names.
    calls : int
        How many texts this annotator has been asked about (as a live one would bill).

    Examples
    --------
    >>> from sklearn.utils import Bunch
    >>> import numpy as np
    >>> rec = Bunch(texts=["a?", "b?"], target=np.array([0, 1]), target_names=["x", "y"],
    ...             annotator_names=["m"], raw_answers=None,
    ...             signals=np.array([[[[.9, .1], [1., 0.]]], [[[.2, .8], [0., 1.]]]]))
    >>> RecordedAnnotator(rec, "m").annotate(["b?"]).probs
    array([[0.2, 0.8]])
    """

    def __init__(self, recordings, annotator: str | int = 0, task: str | None = None,
                 name: str | None = None) -> None:
        if not isinstance(recordings, Bunch):
            if task is None:
                raise ValueError("RecordedAnnotator: task is required when loading from a path")
            from ..datasets import load_recordings

            recordings = load_recordings(os.fspath(recordings), task)
        if recordings.texts is None:
            raise ValueError(
                "RecordedAnnotator: these recordings hold no texts, so they cannot be looked "
                "up by text; use their signals array directly"
            )
        names = list(recordings.annotator_names)
        if isinstance(annotator, (int, np.integer)):
            if not 0 <= annotator < len(names):
                raise ValueError(
                    f"RecordedAnnotator: annotator index {annotator} out of range for {names}"
                )
            column = int(annotator)
        elif annotator in names:
            column = names.index(annotator)
        else:
            raise ValueError(f"RecordedAnnotator: unknown annotator {annotator!r}; have {names}")
        self.recorded_name = names[column]
        self.name = name or self.recorded_name
        self.labels = list(recordings.target_names)
        self._signals = np.asarray(recordings.signals[:, column])
        self._answers = (
            None if recordings.raw_answers is None
            else [row[column] for row in recordings.raw_answers]
        )
        self._row = {}
        for i, text in enumerate(recordings.texts):
            self._row.setdefault(text, i)
        digest = hashlib.sha256(self._signals.tobytes()).hexdigest()[:16]
        self._identity = f"recorded:{self.recorded_name}:{digest}"
        self.calls = 0

    def identity(self) -> str:
        """Stable description of what this annotator answers (for caches)."""
        return self._identity

    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Return the recorded annotations of ``texts``, in order.

        Raises
        ------
        KeyError
            If a text was not recorded; the message names it and its index.
        TypeError
            If an item is not a string.
        """
        rows = []
        for i, text in enumerate(check_texts(texts, self.name)):
            if text not in self._row:
                raise KeyError(f"{self.name}: text {i} was not recorded: {text[:80]!r}")
            rows.append(self._row[text])
        self.calls += len(rows)
        rows = np.asarray(rows)
        signals = self._signals[rows]
        return AnnotationResult(
            probs=signals[:, PROBS],
            votes=signals[:, VOTES],
            raw_answers=[] if self._answers is None else [self._answers[r] for r in rows],
        )

    def __repr__(self) -> str:
        return f"RecordedAnnotator({self.recorded_name!r}, n_texts={len(self._row)})"
