"""A deterministic fake annotator: no model, picklable, for tests and examples."""
from __future__ import annotations

import hashlib
import json
import time
from typing import Sequence

import numpy as np

from ..annotators.base import AnnotationResult

__all__ = ["FakeAnnotator"]


class FakeAnnotator:
    """An annotator whose answers are a pure function of (name, seed, text).

    Parameters
    ----------
    labels : sequence of str
        Class names.
    name : str, default="fake"
        Annotator name (also part of the answers' seed).
    seed : int, default=0
        Changes every answer (and the identity).
    n_votes : int, default=10
        Sampled answers per text.
    fail_on_call : int, optional
        Raise ``RuntimeError`` on this (0-based) call of :meth:`annotate`, for failure
        tests. Counted per object (per process).
    delay : float, default=0.0
        Seconds to sleep per call (to look like a slow LLM).

    Attributes
    ----------
    n_calls : int
        Calls of :meth:`annotate` so far (in this process).
    n_texts : int
        Texts annotated so far (in this process).
    """

    def __init__(self, labels: Sequence[str], name: str = "fake", seed: int = 0,
                 n_votes: int = 10, fail_on_call: int | None = None, delay: float = 0.0) -> None:
        self.labels = list(labels)
        self.name = name
        self.seed = seed
        self.n_votes = n_votes
        self.fail_on_call = fail_on_call
        self.delay = delay
        self.n_calls = 0
        self.n_texts = 0

    def identity(self) -> str:
        """Stable description of what this annotator answers."""
        return json.dumps({"backend": "fake", "name": self.name, "seed": self.seed,
                           "labels": self.labels, "n_votes": self.n_votes}, sort_keys=True)

    def _row(self, text: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
        digest = hashlib.sha256(f"{self.name}\0{self.seed}\0{text}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        probs = rng.dirichlet(np.full(len(self.labels), 0.5))
        counts = rng.multinomial(self.n_votes, probs)
        answers = [self.labels[c] for c in np.repeat(np.arange(len(self.labels)), counts)]
        return probs, counts / self.n_votes, answers

    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Annotate ``texts`` (one row per text, in order)."""
        texts = list(texts)
        if not texts:
            raise ValueError(f"{self.name}: texts is empty; nothing to annotate")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"{self.name}: text {i} is a {type(text).__name__}, not a str")
        call = self.n_calls
        self.n_calls += 1
        if self.fail_on_call is not None and call == self.fail_on_call:
            raise RuntimeError(f"{self.name}: simulated failure on call {call}")
        if self.delay:
            time.sleep(self.delay)
        rows = [self._row(t) for t in texts]
        self.n_texts += len(texts)
        return AnnotationResult(
            probs=np.stack([r[0] for r in rows]),
            votes=np.stack([r[1] for r in rows]),
            raw_answers=[r[2] for r in rows],
        )

    def __repr__(self) -> str:
        return f"FakeAnnotator(name={self.name!r}, labels={self.labels!r}, seed={self.seed})"
