"""A persistent annotation cache: never pay twice for the same LLM annotation.

:class:`CachedAnnotator` wraps any annotator that has an ``identity()``. It annotates only the
texts its :class:`~skmollal.annotators.cache_store.AnnotationCache` misses, in batches, and
commits every batch as soon as it returns (every text as it arrives, for an annotator that
streams), before anything uses it: an interrupted run keeps every finished batch, and a
re-run annotates only what is left.

The store itself (the SQLite database, its key scheme, the default path and what a damaged
file does) lives in :mod:`skmollal.annotators.cache_store`; its public names are importable
from here too.
"""
from __future__ import annotations

import logging
import os
import time
from typing import Any, Iterator, Sequence

import numpy as np

from .._validation import check_texts
from .base import AnnotationResult, relocate_text_error
from .cache_store import (INVALID_MODES, AnnotationCache, CacheCorruptedError, cache_key,
                          default_cache_path)
from .costs import CallCost, row_costs, timed_annotate
from .seed_pool import prompt_key_texts

__all__ = ["AnnotationCache", "CachedAnnotator", "CacheCorruptedError", "INVALID_MODES",
           "default_cache_path", "cache_key"]

logger = logging.getLogger(__name__)


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


class CachedAnnotator:
    """An annotator that looks every text up in an :class:`AnnotationCache` first.

    Only the texts the cache misses go to the wrapped annotator (each distinct text once),
    in batches of ``batch_size``; each batch is committed to the cache as soon as it
    returns, and each text as soon as it arrives when the annotator has an
    ``iter_annotate(texts)`` that yields ``(index, one-row result)`` pairs (as the
    OpenAI-compatible annotator does). If the wrapped annotator fails (or Ctrl-C is pressed)
    on a later batch, the earlier batches stay cached and the error is re-raised with a note
    saying how much was saved; rows of the failed batch that the annotator attached to its
    exception (``exc.partial`` with ``exc.completed`` indices) are saved too. So a crash (even
    a SIGKILL) loses at most one batch per annotator, or, with ``iter_annotate``, the
    requests in flight.

    Parameters
    ----------
    annotator : annotator
        Anything with ``name``, ``labels``, ``identity()`` and ``annotate(texts)``.
    cache : AnnotationCache or str or path-like, optional
        The cache, or a database path for one. Defaults to ``AnnotationCache()``.
    batch_size : int, default=32
        Texts per call of the wrapped annotator.
    show_progress : bool, default=False
        Show a tqdm bar over the batches.

    Attributes
    ----------
    n_hits_ : int
        Texts answered from the cache by the last :meth:`annotate` call.
    n_annotated_ : int
        Texts the wrapped annotator annotated in the last call.
    n_annotated_total_ : int
        Texts the wrapped annotator annotated over this object's lifetime.

    Notes
    -----
    The result's ``costs`` give every text's cost: what the wrapped annotator reported for
    the texts it annotated now, and the stored original cost for texts served from the cache
    (flagged in ``from_cache``; a text given twice in one call is annotated once, its
    repeat counts as served). ``result.cost`` thus splits paid from saved.

    Examples
    --------
    >>> import tempfile, os
    >>> from skmollal.testing.fake import FakeAnnotator
    >>> cache = AnnotationCache(os.path.join(tempfile.mkdtemp(), "a.sqlite"))
    >>> cached = CachedAnnotator(FakeAnnotator(["pos", "neg"]), cache)
    >>> _ = cached.annotate(["good", "bad"]); cached.n_annotated_
    2
    >>> _ = cached.annotate(["good", "bad", "meh"]); cached.n_annotated_, cached.n_hits_
    (1, 2)
    """

    def __init__(self, annotator: Any, cache: AnnotationCache | str | os.PathLike | None = None,
                 batch_size: int = 32, show_progress: bool = False) -> None:
        identity = getattr(annotator, "identity", None)
        if not callable(identity):
            raise TypeError(
                f"CachedAnnotator: annotator {getattr(annotator, 'name', annotator)!r} has no "
                "identity() method, so its annotations cannot be keyed safely"
            )
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"CachedAnnotator: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(cache, AnnotationCache):
            cache = AnnotationCache(cache)
        self.annotator = annotator
        self.cache = cache
        self.batch_size = int(batch_size)
        self.show_progress = show_progress
        self.n_hits_ = 0
        self.n_annotated_ = 0
        self.n_annotated_total_ = 0
        self._identity: str | None = None

    @property
    def name(self) -> str:
        """The wrapped annotator's name."""
        return self.annotator.name

    @property
    def labels(self) -> Sequence[str]:
        """The wrapped annotator's labels."""
        return self.annotator.labels

    def identity(self) -> str:
        """The wrapped annotator's identity (cached results are identical to its own)."""
        if self._identity is None:
            ident = self.annotator.identity()
            if not isinstance(ident, str) or not ident:
                raise TypeError(
                    f"CachedAnnotator: {self.name}.identity() must return a non-empty str"
                )
            self._identity = ident
        return self._identity

    def _keys(self, texts: Sequence[str]) -> list[str]:
        """What each text is keyed on: the text and the demonstrations its prompt gets."""
        return prompt_key_texts(self.annotator, texts)

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"CachedAnnotator({self.annotator!r}, cache={self.cache!r})"

    def _save_partial(self, identity: str, batch: list[str], exc: BaseException) -> int:
        """Commit the rows an annotator finished before failing.

        An annotator may attach them to its exception as ``partial`` (an AnnotationResult)
        and ``completed`` (their indices into the batch), as
        :class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator` does.
        """
        partial = getattr(exc, "partial", None)
        completed = list(getattr(exc, "completed", None) or [])
        if partial is None or not completed or len(partial) != len(completed):
            return 0
        try:
            self.cache.put(identity, self._keys([batch[i] for i in completed]), partial)
        except Exception:  # noqa: BLE001 - never hide the original error
            logger.exception("%s: could not save the partial batch", self.name)
            return 0
        self.n_annotated_total_ += len(completed)
        return len(completed)

    def _annotate_batch(self, identity: str, batch: list[str], saved: list[int]) -> AnnotationResult:
        """Annotate ``batch`` with the wrapped annotator; every row is cached before return.

        An annotator with ``iter_annotate`` (rows as they arrive) has each row committed the
        moment it arrives, so a crash loses only the rows in flight; ``saved[0]`` counts
        them. Others are committed batch by batch.
        """
        stream = getattr(self.annotator, "iter_annotate", None)
        if not callable(stream):
            result = timed_annotate(self.annotator, batch)
            if len(result) != len(batch):
                raise RuntimeError(
                    f"{self.name}: returned {len(result)} rows for {len(batch)} texts"
                )
            self.cache.put(identity, self._keys(batch), result)
            return result
        rows: dict[int, AnnotationResult] = {}
        answers = stream(batch)
        interrupt: BaseException | None = None
        t0 = time.perf_counter()
        while True:
            try:  # after a Ctrl-C here, the annotator stops sending and hands over the rest
                j, row = next(answers) if interrupt is None else answers.throw(interrupt)
            except StopIteration:
                break
            interrupt = None
            if row.costs is None:  # billed one call, the wall time since the previous row
                row.costs, t0 = row_costs(len(row), time.perf_counter() - t0), time.perf_counter()
            try:
                self.cache.put(identity, self._keys([batch[j]]), row)
            except KeyboardInterrupt as exc:  # Ctrl-C while committing a row paid for
                self.cache.put(identity, self._keys([batch[j]]), row)
                interrupt = exc
            rows[j] = row
            saved[0] += 1
        if sorted(rows) != list(range(len(batch))):
            raise RuntimeError(f"{self.name}: returned rows {sorted(rows)} for {len(batch)} texts")
        return AnnotationResult.concatenate([rows[j] for j in range(len(batch))])

    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Annotate ``texts`` from the cache, asking the wrapped annotator only for misses.

        Raises
        ------
        TypeError, ValueError
            On bad ``texts`` (the index is named).
        Exception
            Whatever the wrapped annotator raised on a batch, with a note naming the texts of
            the failed batch; every earlier batch is already committed to the cache, and so
            is every finished text of the failed one (an annotator with ``iter_annotate``
            commits each text as it arrives; others may attach them to the error).
        KeyboardInterrupt
            Re-raised after the same saving.
        """
        where = f"{self.name} (cached)"
        texts = check_texts(texts, where)
        identity = self.identity()
        found = self.cache.get(identity, self._keys(texts))
        hits = set(found)
        first_index: dict[str, int] = {}
        for i, text in enumerate(texts):
            if i not in found:
                first_index.setdefault(text, i)
        misses = list(first_index)
        self.n_hits_ = len(found)
        self.n_annotated_ = 0
        if misses:
            logger.info("%s: %d cached, annotating %d texts", self.name, len(found), len(misses))
            starts = list(_batches(len(misses), self.batch_size))
            if self.show_progress and len(starts) > 1:
                from tqdm.auto import tqdm

                starts = tqdm(starts, desc=f"{self.name}: annotating", unit="batch", leave=False)
            for start, stop in starts:
                batch = misses[start:stop]
                saved = [0]
                try:
                    result = self._annotate_batch(identity, batch, saved)
                except BaseException as exc:  # also Ctrl-C: keep what was paid for
                    if saved[0]:  # committed one by one as they arrived
                        self.n_annotated_total_ += saved[0]
                    else:
                        saved[0] = self._save_partial(identity, batch, exc)
                    indices = [first_index[t] for t in batch]
                    relocate_text_error(exc, indices, where)
                    exc.add_note(
                        f"{where}: failed on the batch of texts {indices[0]}..{indices[-1]} "
                        f"(indices into this call); {self.n_annotated_} texts annotated before "
                        f"it and {saved[0]} finished texts of the batch are saved in the cache"
                    )
                    raise
                raw = result.raw_answers if result.raw_answers else [[] for _ in batch]
                for j, text in enumerate(batch):
                    found[first_index[text]] = {
                        "probs": result.probs[j], "votes": result.votes[j],
                        "raw_answers": list(raw[j]), "abstained": bool(result.abstained[j]),
                        "cost": result.costs[j],
                    }
                self.n_annotated_ += len(batch)
                self.n_annotated_total_ += len(batch)
        rows = []
        by_text = {}
        served = np.ones(len(texts), dtype=bool)  # from the cache or a repeat in this call
        for i, text in enumerate(texts):
            record = found.get(i)
            if record is None:  # a duplicate of a text annotated in this call
                record = by_text[text]
            elif i not in hits:
                served[i] = False
            by_text.setdefault(text, record)
            rows.append(record)
        n_classes = len(self.labels)
        probs = np.asarray([r["probs"] for r in rows], dtype=float).reshape(len(rows), n_classes)
        votes = np.asarray([r["votes"] for r in rows], dtype=float).reshape(len(rows), n_classes)
        return AnnotationResult(
            probs=probs,
            votes=votes,
            raw_answers=[list(r["raw_answers"]) for r in rows],
            abstained=np.asarray([r["abstained"] for r in rows], dtype=bool),
            costs=[_stored_cost(r.get("cost")) for r in rows],
            from_cache=served,
        )


def _stored_cost(cost: Any) -> CallCost:
    """A row's cost: as the annotator reported it, or as the cache stored it."""
    return cost if isinstance(cost, CallCost) else CallCost.from_dict(cost)
