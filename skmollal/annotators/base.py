"""The annotator interface shared by every LLM backend.

An *annotator* labels texts. For every text and class it reports

* ``probs``: the probability the model puts on that class as its answer, and
* ``votes``: the share of ``k`` sampled answers that named the class (an answer that names
  several classes splits its vote; an answer naming none abstains and leaves its share out),

plus the raw answers it produced. Stacking these for a panel of annotators gives the
*signals* array of shape ``(n_texts, n_annotators, 2, n_classes)`` that the mixture model
consumes: ``signals[:, j, 0]`` are annotator ``j``'s probabilities, ``signals[:, j, 1]`` its
votes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from .costs import AnnotatorCost, CallCost

__all__ = ["AnnotationResult", "Annotator", "PROBS", "VOTES"]

#: Index of the probability row in a signals array's third axis.
PROBS = 0
#: Index of the vote row in a signals array's third axis.
VOTES = 1


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
    costs : list of CallCost, optional
        What each text cost to annotate (see :mod:`skmollal.annotators.costs`); None when
        the annotator does not say (the panel then bills one call per text).
    from_cache : ndarray of shape (n_texts,), dtype bool, optional
        True where the annotation was served from a cache (its ``costs`` entry is then the
        original cost: what the cache saved).
    """

    probs: np.ndarray
    votes: np.ndarray
    raw_answers: list = field(default_factory=list)
    abstained: np.ndarray | None = None
    costs: list | None = None
    from_cache: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.probs = np.asarray(self.probs, dtype=float)
        self.votes = np.asarray(self.votes, dtype=float)
        if self.probs.ndim != 2 or self.probs.shape != self.votes.shape:
            raise ValueError(
                f"AnnotationResult: probs {self.probs.shape} and votes {self.votes.shape} "
                "must both be 2-d arrays of shape (n_texts, n_classes)"
            )
        if self.abstained is None:
            self.abstained = self.votes.sum(axis=1) <= 0
        self.abstained = np.asarray(self.abstained, dtype=bool)
        if self.raw_answers and len(self.raw_answers) != len(self.probs):
            raise ValueError(
                f"AnnotationResult: {len(self.raw_answers)} raw answer lists "
                f"for {len(self.probs)} texts"
            )
        self._check_costs()

    def _check_costs(self) -> None:
        if self.costs is not None:
            self.costs = list(self.costs)
            if len(self.costs) != len(self.probs) or not all(
                    isinstance(c, CallCost) for c in self.costs):
                raise ValueError(f"AnnotationResult: costs must hold one CallCost per text "
                                 f"({len(self.probs)})")
        if self.from_cache is not None:
            self.from_cache = np.asarray(self.from_cache, dtype=bool)
            if self.from_cache.shape != (len(self.probs),):
                raise ValueError(f"AnnotationResult: from_cache must have one flag per text "
                                 f"({len(self.probs)})")

    @property
    def cost(self) -> AnnotatorCost | None:
        """The batch's cost: paid calls and those served from the cache (None: unknown)."""
        if self.costs is None:
            return None
        return AnnotatorCost.from_rows(self.costs, self.from_cache)

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
        known = all(r.costs is not None for r in results)
        return cls(
            probs=np.concatenate([r.probs for r in results]),
            votes=np.concatenate([r.votes for r in results]),
            raw_answers=raw,
            abstained=np.concatenate([r.abstained for r in results]),
            costs=[c for r in results for c in r.costs] if known else None,
            from_cache=np.concatenate([np.zeros(len(r), bool) if r.from_cache is None
                                       else r.from_cache for r in results]) if known else None,
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
