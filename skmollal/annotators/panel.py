"""A panel of LLM annotators as one scikit-learn transformer.

:class:`LLMPanel` asks every annotator about every text and stacks the answers into the
signals array ``(n_texts, n_annotators, 2, n_classes)`` that
:class:`~skmollal.aggregation.MixtureAggregator` consumes. The work is split into one job per
(annotator, batch of texts) and run through :class:`joblib.Parallel`, so a joblib backend
context spreads it over a cluster without any change to the code::

    from dask.distributed import Client
    import joblib

    client = Client("tcp://scheduler:8786")
    with joblib.parallel_backend("dask"):
        signals = panel.transform(texts)

With a ``cache``, every annotator is wrapped in a
:class:`~skmollal.annotators.cache.CachedAnnotator`, so each job commits its annotations to
the shared SQLite cache as soon as they are made, wherever the job runs (the cache file must
then be on storage that every worker sees).
"""
from __future__ import annotations

import logging
import os
import time
import warnings
from typing import Any, Sequence

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin

from .base import AnnotationResult, relocate_text_error
from .._validation import check_texts
from .cache import AnnotationCache, CachedAnnotator
from .costs import AnnotatorCost, row_costs, timed_annotate
from .panel_members import panel_annotators, panel_labels

__all__ = ["LLMPanel", "annotate_signals", "annotate_with_costs", "costs_from_signals",
           "panel_annotators", "panel_labels"]

logger = logging.getLogger(__name__)


def _annotate_job(annotator: Any, texts: list[str], start: int) -> AnnotationResult:
    """One joblib job: ``annotator`` on ``texts`` (which start at ``start`` in the call)."""
    try:
        result = timed_annotate(annotator, texts)
    except Exception as exc:
        exc.add_note(
            f"LLMPanel: annotator {getattr(annotator, 'name', annotator)!r} failed on texts "
            f"{start}..{start + len(texts) - 1}"
        )
        relocate_text_error(exc, range(start, start + len(texts)), "LLMPanel")
        raise
    return result


def _cancel_jobs(outputs: Any, exc: BaseException) -> None:
    """Stop a panel's joblib jobs now: those not started never run.

    A Ctrl-C (or an error) that lands outside joblib's own wait, e.g. while the progress bar
    draws, would otherwise leave the workers taking job after job until the generator is
    collected. Jobs already running finish (a thread cannot be killed); what they answer
    reaches the annotation cache, as every finished job's answers do.
    """
    if isinstance(exc, KeyboardInterrupt):
        logger.warning("LLMPanel: interrupted; the jobs not started are cancelled")
    with warnings.catch_warnings():  # joblib's "tasks executed but not used": said above
        warnings.simplefilter("ignore", UserWarning)
        outputs.close()


def annotate_signals(panel: Any, texts: Sequence[str]) -> np.ndarray:
    """Annotate ``texts`` with every LLM of ``panel``; return signals ``(n, L, 2, C)``.

    An :class:`LLMPanel` (anything with ``transform(texts)``) annotates with its own
    parallelism and cache; a list of annotators is asked one annotator after the other.

    Parameters
    ----------
    panel : LLMPanel, list of annotators, or annotator
        Who annotates.
    texts : sequence of str
        The texts.

    Returns
    -------
    ndarray of shape (n_texts, n_llms, 2, n_classes)
        Probabilities and vote shares per LLM.
    """
    texts = check_texts(texts, "annotate_signals", allow_empty=True)
    if not isinstance(panel, (list, tuple)) and hasattr(panel, "transform"):
        return np.asarray(panel.transform(texts), dtype=float)
    return np.stack([np.asarray(timed_annotate(a, texts).to_signals(), float)
                     for a in panel_annotators(panel)], axis=1)


def annotate_with_costs(panel: Any, texts: Sequence[str], every_llm: bool = False
                        ) -> tuple[np.ndarray, list[AnnotatorCost]]:
    """:func:`annotate_signals`, and what each LLM of the panel cost for it.

    Parameters
    ----------
    panel : LLMPanel, list of annotators, or annotator
        Who annotates. A panel object with ``signals_with_costs(texts)`` (a
        :class:`~skmollal.cascade.CascadePanel`) reports its own costs; one that only has
        ``transform`` is billed one call per finite signal row of each LLM, its wall-clock
        seconds split over those calls, tokens not counted.
    texts : sequence of str
        The texts.
    every_llm : bool, default=False
        A cascade panel asks every LLM (its ``annotate_all``), not only those a text needs.

    Returns
    -------
    signals : ndarray of shape (n_texts, n_llms, 2, n_classes)
    costs : list of AnnotatorCost
        One per LLM, in column order (see :mod:`skmollal.annotators.costs`).
    """
    texts = check_texts(texts, "annotate_with_costs", allow_empty=True)
    if isinstance(panel, (list, tuple)) or getattr(type(panel), "transform",
                                                   LLMPanel.transform) is LLMPanel.transform:
        results = (panel.annotate(texts) if isinstance(panel, LLMPanel)
                   else [timed_annotate(a, texts) for a in panel_annotators(panel)])
        signals = np.stack([np.asarray(r.to_signals(), float) for r in results], axis=1)
        return signals, [r.cost for r in results]
    own = getattr(panel, "signals_with_costs", None)
    if callable(own):  # a panel that bills its own calls (a cascade)
        return own(texts, every_llm=every_llm)
    t0 = time.perf_counter()
    signals = np.asarray(panel.annotate_all(texts) if every_llm else panel.transform(texts),
                         dtype=float)
    return signals, costs_from_signals(signals, time.perf_counter() - t0)


def costs_from_signals(signals: np.ndarray, seconds: float) -> list[AnnotatorCost]:
    """What a panel that reports no costs spent on ``signals``: one call per answered row.

    Parameters
    ----------
    signals : ndarray of shape (n_texts, n_llms, 2, n_classes)
        NaN where an LLM was not asked (a cascade).
    seconds : float
        Wall-clock seconds of the whole call, split over the calls.

    Returns
    -------
    list of AnnotatorCost
        One per LLM: its calls (rows with finite signals), tokens not counted.
    """
    signals = np.asarray(signals, dtype=float)
    calls = np.isfinite(signals).all(axis=(2, 3)).sum(axis=0) if signals.ndim == 4 else []
    share = seconds / max(1, int(np.sum(calls)))
    return [AnnotatorCost.from_rows(row_costs(int(c), share * int(c))) for c in calls]


class LLMPanel(TransformerMixin, BaseEstimator):
    """Annotate texts with several LLMs at once; output the signals array.

    Parameters
    ----------
    annotators : list of annotators
        Each has ``name``, ``labels`` and ``annotate(texts)``; all must share the same labels
        in the same order. Names should be unique (they label the panel's columns).
    n_jobs : int, optional
        Parallel jobs for :class:`joblib.Parallel`. ``None`` means 1 unless inside a
        :func:`joblib.parallel_backend` context, which then decides (``"dask"`` uses the
        whole cluster).
    cache : AnnotationCache or str or path-like, optional
        Persistent annotation cache (or its database path). Annotators that are not
        already :class:`~skmollal.annotators.cache.CachedAnnotator` are wrapped with it;
        they then need an ``identity()``.
    batch_size : int, optional
        Texts per job. ``None`` gives one job per annotator over all texts. Smaller batches
        give finer progress, spread better over a cluster and commit to the cache more often.
    show_progress : bool, default=True
        Show a tqdm bar over finished jobs.
    prefer : {"threads", "processes"}, default="threads"
        joblib's soft hint for the local backend. Threads suit LLM annotators (torch and
        HTTP release the GIL, and models are not copied); a ``parallel_backend`` context
        overrides it.

    Attributes
    ----------
    annotator_names_ : list of str
        Set by :meth:`fit`: the annotators' names in column order.
    labels_ : list of str
        Set by :meth:`fit`: the shared class names.

    Examples
    --------
    >>> from skmollal.testing.fake import FakeAnnotator
    >>> panel = LLMPanel([FakeAnnotator(["a", "b"], name=f"m{i}") for i in range(3)],
    ...                  show_progress=False)
    >>> panel.fit_transform(["one text", "another"]).shape
    (2, 3, 2, 2)
    >>> panel.annotator_names
    ['m0', 'm1', 'm2']
    """

    def __init__(self, annotators: Sequence[Any], n_jobs: int | None = None, cache: Any = None,
                 batch_size: int | None = None, show_progress: bool = True,
                 prefer: str = "threads") -> None:
        self.annotators = annotators
        self.n_jobs = n_jobs
        self.cache = cache
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.prefer = prefer

    # ------------------------------------------------------------------ validation
    def _check_annotators(self) -> list[Any]:
        annotators = self.annotators
        if annotators is None or isinstance(annotators, (str, bytes)):
            raise TypeError("LLMPanel: annotators must be a list of annotators")
        if hasattr(annotators, "annotate") and not isinstance(annotators, (list, tuple)):
            annotators = [annotators]
        annotators = list(annotators)
        if not annotators:
            raise ValueError("LLMPanel: the panel has no annotators")
        for j, a in enumerate(annotators):
            missing = [attr for attr in ("name", "labels", "annotate") if not hasattr(a, attr)]
            if missing:
                raise TypeError(
                    f"LLMPanel: annotator {j} ({type(a).__name__}) lacks {', '.join(missing)}"
                )
        labels = [list(a.labels) for a in annotators]
        for j, lab in enumerate(labels[1:], start=1):
            if lab != labels[0]:
                raise ValueError(
                    f"LLMPanel: annotators disagree on the labels: {annotators[0].name!r} has "
                    f"{labels[0]} but {annotators[j].name!r} has {lab}; every annotator "
                    "must use the same labels in the same order"
                )
        names = [str(a.name) for a in annotators]
        if len(set(names)) != len(names):
            logger.warning("LLMPanel: annotator names are not unique: %s", names)
        if self.batch_size is not None and (
            not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1
        ):
            raise ValueError(
                f"LLMPanel: batch_size must be a positive int or None, got {self.batch_size!r}"
            )
        return annotators

    def _cached_annotators(self, annotators: list[Any]) -> list[Any]:
        if self.cache is None:
            return annotators
        cache = self.cache if isinstance(self.cache, AnnotationCache) else AnnotationCache(
            os.fspath(self.cache)
        )
        size = int(self.batch_size) if self.batch_size is not None else 32
        return [
            a if isinstance(a, CachedAnnotator) else CachedAnnotator(a, cache, batch_size=size)
            for a in annotators
        ]

    # ------------------------------------------------------------------ public API
    @property
    def annotator_names(self) -> list[str]:
        """The annotators' names, in the column order of the signals."""
        return [str(a.name) for a in self._check_annotators()]

    @property
    def labels(self) -> list[str]:
        """The class names shared by every annotator."""
        return list(self._check_annotators()[0].labels)

    def fit(self, X: Any = None, y: Any = None) -> "LLMPanel":
        """Check the panel (nothing is learned); return self."""
        annotators = self._check_annotators()
        self.annotator_names_ = [str(a.name) for a in annotators]
        self.labels_ = list(annotators[0].labels)
        return self

    def annotate(self, texts: Sequence[str]) -> list[AnnotationResult]:
        """Annotate ``texts`` with every annotator.

        Parameters
        ----------
        texts : sequence of str
            The texts.

        Returns
        -------
        list of AnnotationResult
            One per annotator, in panel order, each with one row per text in input order.

        Raises
        ------
        TypeError, ValueError
            On bad texts (the index is named) or an inconsistent panel.
        Exception
            An annotator's own error, with a note naming the annotator and the texts.
        """
        annotators = self._cached_annotators(self._check_annotators())
        texts = check_texts(texts, "LLMPanel")
        n = len(texts)
        size = n if self.batch_size is None else int(self.batch_size)
        starts = list(range(0, n, size))
        jobs = [(j, s) for j in range(len(annotators)) for s in starts]
        parallel = Parallel(n_jobs=self.n_jobs, prefer=self.prefer, return_as="generator")
        outputs = parallel(
            delayed(_annotate_job)(annotators[j], texts[s: s + size], s) for j, s in jobs
        )
        try:
            parts = self._collect(outputs, jobs, annotators, n, size)
        except BaseException as exc:
            _cancel_jobs(outputs, exc)
            raise
        return [AnnotationResult.concatenate(p) for p in parts]

    def _collect(self, outputs, jobs: list[tuple[int, int]], annotators: list[Any], n: int,
                 size: int) -> list[list[AnnotationResult]]:
        """The jobs' results per annotator, in job order, each checked for its shape."""
        if self.show_progress:
            from tqdm.auto import tqdm

            outputs = tqdm(outputs, total=len(jobs), desc="LLM panel", unit="job")
        parts: list[list[AnnotationResult]] = [[] for _ in annotators]
        n_classes = len(annotators[0].labels)
        for (j, s), result in zip(jobs, outputs):
            expected = (min(size, n - s), n_classes)
            if not isinstance(result, AnnotationResult) or result.probs.shape != expected:
                shape = getattr(getattr(result, "probs", None), "shape", None)
                raise RuntimeError(
                    f"LLMPanel: annotator {annotators[j].name!r} returned {shape} for texts "
                    f"{s}..{s + expected[0] - 1}; expected probs of shape {expected}"
                )
            parts[j].append(result)
        return parts

    def transform(self, X: Sequence[str]) -> np.ndarray:
        """Signals of the texts ``X``: shape ``(n_texts, n_annotators, 2, n_classes)``.

        ``[:, j, 0]`` are annotator ``j``'s probabilities, ``[:, j, 1]`` its vote shares.
        """
        results = self.annotate(X)
        return np.stack([r.to_signals() for r in results], axis=1)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags
