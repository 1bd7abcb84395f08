"""The loop's labelling step: the panel annotates rows chunk by chunk, the mixture fuses.

:class:`PanelLabeller` owns the panel, the mixture and the texts for a loop: it annotates
rows that have no signals yet (saving after every chunk through a callback), refits the
mixture on every signal held plus the gold rows, and returns the pool rows' posteriors as a
:class:`Labels` value. What differs for a panel that asks only some LLMs per text (a
cascade) is behind a small set of hooks (:class:`PanelHooks`); a panel brings its own by a
``loop_hooks()`` method (see :mod:`skmollal.cascade.loop_hooks`), so the loop itself has no
branch for it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from sklearn.base import clone

from ..aggregation.gold_cv import accepts_text
from ..annotators.base import relocate_text_error
from ..annotators.panel import annotate_with_costs
from .learner import take_rows
from .routing import full_proba
from .state import LoopState

__all__ = ["Labels", "PanelHooks", "PanelLabeller"]


class PanelHooks:
    """What the loop asks of a panel that asks every LLM about every text.

    A panel with other needs returns its own object with these methods from
    ``panel.loop_hooks()``.

    Parameters
    ----------
    panel : LLMPanel, list of annotators or annotator
        The panel.
    """

    #: whether a label report per LLM makes sense (every LLM answered every row)
    per_llm_report = True

    def __init__(self, panel: Any) -> None:
        self.panel = panel

    def fingerprint(self) -> dict | None:
        """What the panel adds to the run's fingerprint (None: nothing)."""
        return None

    def annotate(self, texts: list[str], every_llm: bool = False):
        """Signals and per-annotator costs of ``texts`` (``every_llm``: the gold seed)."""
        return annotate_with_costs(self.panel, texts)

    def refit(self, state: LoopState) -> None:
        """Learn from the signals paid for, before a round annotates (nothing here)."""

    def fusion(self, mixture: Any) -> Any:
        """The estimator the loop fits on the signals it holds."""
        return mixture

    def fitted_fusion(self, state: LoopState, mixture: Any) -> Any | None:
        """A fusion of the held signals the panel has fitted already (None: fit one)."""
        return None


def hooks_for(panel: Any) -> PanelHooks:
    """``panel.loop_hooks()`` if the panel has its own, else :class:`PanelHooks`."""
    make = getattr(panel, "loop_hooks", None)
    return make() if callable(make) else PanelHooks(panel)


@dataclass
class Labels:
    """What one labelling gives.

    Parameters
    ----------
    mixture : estimator
        The fitted mixture (None before a round labelled anything).
    rows : ndarray of int
        The rows it was fitted on (seed and annotated rows).
    pool_rows : ndarray of int
        The annotated pool rows it labelled, in annotation order.
    proba : ndarray of shape (n_pool_rows, n_classes)
        Their posteriors.
    """

    mixture: Any
    rows: np.ndarray
    pool_rows: np.ndarray
    proba: np.ndarray


class PanelLabeller:
    """Annotate and fuse for a loop (see the module docstring).

    Parameters
    ----------
    panel : panel, list of annotators or annotator
        Who annotates.
    mixture : estimator or None
        The fusion (cloned before each fit); None: the default mixture.
    texts : list of str
        Every row's text.
    X : array-like
        Every row's features (a dense numeric ``X`` is the text view of a mixture that
        reads one).
    n_classes : int
    chunk : int
        Texts per panel call.
    show_progress : bool
    """

    def __init__(self, panel: Any, mixture: Any, texts: list[str], X: Any, n_classes: int,
                 chunk: int, show_progress: bool) -> None:
        self.hooks = hooks_for(panel)
        self.mixture = mixture
        self.texts = texts
        self.X = X
        self.n_classes = n_classes
        self.chunk = max(1, int(chunk))
        self.show_progress = show_progress

    def annotate(self, state: LoopState, rows: Sequence[int], desc: str,
                 on_chunk: Callable[[list], None], every_llm: bool = False) -> float:
        """Annotate the rows without signals, chunk by chunk; return the seconds spent.

        After each chunk its signals are in ``state`` and ``on_chunk(costs)`` is called
        (the loop records the costs and saves), so an interruption loses at most one chunk.
        """
        rows = np.asarray(rows, dtype=int)
        todo = rows[~state.is_annotated(rows)].tolist()
        t0 = time.perf_counter()
        chunks = [todo[k:k + self.chunk] for k in range(0, len(todo), self.chunk)]
        if self.show_progress and chunks:
            from tqdm.auto import tqdm

            chunks = tqdm(chunks, desc=desc, unit="chunk", leave=False)
        for chunk in chunks:
            try:
                sig, costs = self.hooks.annotate([self.texts[i] for i in chunk], every_llm)
            except Exception as exc:
                relocate_text_error(exc, chunk, "MoLLIALoop", unit="row")
                raise
            expected = (len(chunk), state.n_llms, 2, self.n_classes)
            if sig.shape != expected:
                raise ValueError(f"the panel returned signals of shape {sig.shape}; "
                                 f"expected {expected}")
            state.record_signals(chunk, sig)
            on_chunk(costs)
        return time.perf_counter() - t0

    def text_view(self, mixture: Any, rows: np.ndarray) -> dict:
        """``{"X_text": features of rows}`` for a mixture that reads the texts' features
        when ``X`` is a dense numeric matrix (embeddings); else nothing."""
        X = self.X
        dense = isinstance(X, np.ndarray) and X.ndim == 2 and np.issubdtype(X.dtype, np.number)
        if not dense or not accepts_text(mixture):
            return {}
        return {"X_text": take_rows(X, rows)}

    def _new_fusion(self) -> Any:
        if self.mixture is None:
            from ..aggregation import MixtureAggregator

            return self.hooks.fusion(MixtureAggregator())
        return self.hooks.fusion(clone(self.mixture))

    def label(self, state: LoopState, exclude: np.ndarray = np.zeros(0, int),
              reviewed: bool = False) -> Labels:
        """Refit the mixture on the held signals and gold; label the annotated pool rows.

        Parameters
        ----------
        state : LoopState
        exclude : ndarray of int
            Rows left out (the pending round's, to rebuild the last finished round's fit).
        reviewed : bool
            With the pending round's review answers as gold.
        """
        rows = state.annotated_rows()
        rows = rows[~np.isin(rows, exclude)]
        mixture = None
        if not len(exclude) and not reviewed:  # the panel's own fits may be this fit
            mixture = self.hooks.fitted_fusion(state, self.mixture)
        if mixture is None:
            mixture = self._new_fusion()
            y = state.partial_labels(include_pending=reviewed)
            mixture.fit(state.signals[rows], y[rows], **self.text_view(mixture, rows))
        pool_rows = state.pool_rows()
        pool_rows = pool_rows[~np.isin(pool_rows, exclude)]
        if len(pool_rows) == 0:
            return Labels(mixture, rows, pool_rows, np.zeros((0, self.n_classes)))
        proba = full_proba(mixture, state.signals[pool_rows], self.n_classes,
                           **self.text_view(mixture, pool_rows))
        return Labels(mixture, rows, pool_rows, proba)

    def report(self, labels: Labels, state: LoopState, names: list[str], **params):
        """:func:`~skmollal.aggregation.label_report` of the last fit (see
        :meth:`MoLLIALoop.label_report`)."""
        from ..aggregation.report import label_report

        if not self.hooks.per_llm_report:
            raise ValueError("no label report for a cascade panel: the LLMs asked differ "
                             "per text")
        rows = labels.rows
        params.setdefault("annotator_names", names)
        report = label_report(labels.mixture, state.signals[rows],
                              state.partial_labels()[rows],
                              **self.text_view(labels.mixture, rows), **params)
        report.rows = rows
        return report
