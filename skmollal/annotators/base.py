"""The annotator interface shared by every LLM backend.

An *annotator* labels texts. For every text and class it reports

* ``probs``: the probability the model puts on that class as its answer, and
* ``votes``: the share of ``k`` sampled answers that named the class (an answer that names
  several classes splits its vote; an answer naming none abstains and leaves its share out),

plus the raw answers it produced. Stacking these for a panel of annotators gives the
*signals* array of shape ``(n_texts, n_annotators, 2, n_classes)`` that the mixture model
consumes: ``signals[:, j, 0]`` are annotator ``j``'s probabilities, ``signals[:, j, 1]`` its
votes.

What a valid annotation is (:func:`check_annotation_values`, applied to every
:class:`AnnotationResult` when it is created, to cached and recorded annotations and to
signals given to the aggregators): every value is finite and in ``[0, 1]``, and every vote row
sums to at most 1 (vote shares; abstaining answers leave their share out), each up to
:data:`VALUE_TOL`. A probability row may sum to less than 1 (mass on answers outside the
label set), and to more than 1 where an LLM scores every class on its own (as some recorded
LLMs do); the aggregators renormalise it. Invalid values are refused with a ``ValueError``
naming the row, never repaired: a backend that returns NaN, a negative number or a
"probability" of 5 is broken, and guessing what it meant would hide that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

__all__ = ["AnnotationResult", "Annotator", "PROBS", "VOTES", "VALUE_TOL",
           "check_annotation_values", "relocate_text_error"]

#: Index of the probability row in a signals array's third axis.
PROBS = 0
#: Index of the vote row in a signals array's third axis.
VOTES = 1


#: Tolerance of :func:`check_annotation_values` (rounding in float32 softmaxes and shares).
VALUE_TOL = 1e-4


def check_annotation_values(probs: np.ndarray, votes: np.ndarray,
                            where: str = "AnnotationResult") -> None:
    """Raise ``ValueError`` unless ``probs`` and ``votes`` are valid annotations.

    Parameters
    ----------
    probs, votes : ndarray of shape (..., n_classes)
        Class probabilities and vote shares; leading axes index rows (and annotators).
    where : str, default="AnnotationResult"
        Starts the message (who holds the values: an annotator, a cache file, ...).

    Raises
    ------
    ValueError
        If a value is NaN, infinite, below 0 or above 1, or a vote row sums to more than 1
        (each up to :data:`VALUE_TOL`); the message names the first bad row (its index
        along the leading axes) and its values.
    """
    for kind, values in (("probs", probs), ("votes", votes)):
        values = np.asarray(values, dtype=float)
        bad_values = ~np.isfinite(values) | (values < -VALUE_TOL) | (values > 1 + VALUE_TOL)
        bad_rows = bad_values.any(axis=-1)
        problem = "NaN, infinite, negative or > 1 values"
        if kind == "votes" and not bad_rows.any():
            bad_rows = values.sum(axis=-1) > 1 + VALUE_TOL
            problem = "vote shares summing to more than 1"
        if bad_rows.any():
            first = tuple(int(i) for i in np.argwhere(bad_rows)[0])
            row = first[0] if len(first) == 1 else first
            raise ValueError(
                f"{where}: {kind} hold {problem} in {int(bad_rows.sum())} row(s); first: row "
                f"{row}: {np.round(values[first], 6).tolist()} (probabilities and vote shares "
                "must be finite and in [0, 1], vote rows sum to at most 1)"
            )


def relocate_text_error(exc: BaseException, outer: Sequence[int], where: str,
                        unit: str = "text") -> None:
    """Re-number the failing text of ``exc`` in the caller's terms, with a note.

    An annotator that fails on one text sets ``exc.text_index`` (its index in the
    ``annotate`` call). Whoever called it on a slice of its own texts maps that index back
    (``outer[text_index]``) so that, layer by layer (cache batch, panel job, loop chunk), the
    error ends up naming the text's true row.

    Parameters
    ----------
    exc : exception
        The error; left alone when it has no integer ``text_index``.
    outer : sequence of int
        ``outer[i]`` is the caller's number for text ``i`` of the failed call.
    where : str
        Who maps (starts the note).
    unit : str, default="text"
        What the caller's numbers count (``"text"``, ``"row"``).
    """
    index = getattr(exc, "text_index", None)
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
        return
    if not 0 <= index < len(outer):
        return
    exc.text_index = int(outer[index])
    exc.add_note(f"{where}: the failing text is {unit} {exc.text_index}")


@dataclass
class AnnotationResult:
    """What one annotator said about a batch of texts.

    Parameters
    ----------
    probs : ndarray of shape (n_texts, n_classes)
        Per-class probability of the model's answer.
    votes : ndarray of shape (n_texts, n_classes)
        Distribution of the sampled answers over the classes, as shares of all answers
        (rows sum to at most 1; abstaining answers leave their share out).
    raw_answers : list of list of str
        The free-text answers behind ``votes`` (empty lists where the backend samples votes
        from ``probs`` without generating text).
    abstained : ndarray of shape (n_texts,), dtype bool
        True where no answer could be mapped to any class.

    Raises
    ------
    ValueError
        On creation, if the shapes disagree or a value is invalid (see
        :func:`check_annotation_values`): nothing invalid gets cached or aggregated.
    """

    probs: np.ndarray
    votes: np.ndarray
    raw_answers: list = field(default_factory=list)
    abstained: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.probs = np.asarray(self.probs, dtype=float)
        self.votes = np.asarray(self.votes, dtype=float)
        if self.probs.ndim != 2 or self.probs.shape != self.votes.shape:
            raise ValueError(
                f"AnnotationResult: probs {self.probs.shape} and votes {self.votes.shape} "
                "must both be 2-d arrays of shape (n_texts, n_classes)"
            )
        check_annotation_values(self.probs, self.votes)
        if self.abstained is None:
            self.abstained = self.votes.sum(axis=1) <= 0
        self.abstained = np.asarray(self.abstained, dtype=bool)
        if self.raw_answers and len(self.raw_answers) != len(self.probs):
            raise ValueError(
                f"AnnotationResult: {len(self.raw_answers)} raw answer lists "
                f"for {len(self.probs)} texts"
            )

    def __len__(self) -> int:
        return len(self.probs)

    def to_signals(self) -> np.ndarray:
        """Return this annotator's signals, shape ``(n_texts, 2, n_classes)``."""
        return np.stack([self.probs, self.votes], axis=1)

    @classmethod
    def concatenate(cls, results: Sequence["AnnotationResult"]) -> "AnnotationResult":
        """Join results for consecutive batches of texts into one."""
        results = list(results)
        if not results:
            raise ValueError("AnnotationResult.concatenate needs at least one result")
        raw: list = []
        for r in results:
            raw.extend(r.raw_answers if r.raw_answers else [[] for _ in range(len(r))])
        return cls(
            probs=np.concatenate([r.probs for r in results]),
            votes=np.concatenate([r.votes for r in results]),
            raw_answers=raw,
            abstained=np.concatenate([r.abstained for r in results]),
        )


@runtime_checkable
class Annotator(Protocol):
    """Anything that labels texts for a fixed list of classes.

    Attributes
    ----------
    name : str
        Short, unique name within a panel (used in reports and cache keys).
    labels : sequence of str
        The class names, in the class order of ``probs`` and ``votes``.
    """

    name: str
    labels: Sequence[str]

    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Annotate ``texts`` and return one row per text, in order."""
        ...
