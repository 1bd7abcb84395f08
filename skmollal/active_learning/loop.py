"""The MoLLIA loop: it orders the steps of a round, and keeps the state that makes it resume.

One round of *Mixture of LLMs in the Loop Active Learning*:

1. **query**: the active learner picks ``batch_size`` pool rows;
2. **annotate**: the LLM panel labels their texts (signals ``(n, L, 2, C)``), chunk by chunk,
   the state saved after each chunk;
3. **label**: the mixture model is refitted on every signal seen so far plus the gold seed
   (seed rows carry their gold label, annotated rows ``-1``) and labels the annotated rows.
   With ``review_size``, a person (``oracle``) then answers that many annotated rows the
   panel disputes most; their answers are gold from then on and the mixture is refitted
   with them (see :mod:`.review`);
4. **weigh** (off by default): sample weights of the annotated rows by the ``discrepancy``
   mode (see :func:`~skmollal.label_noise.noise_weights`); in the reference
   (``discrepancy="reference"``), rows where the current classifier disagrees with the
   mixture label get the discrepancy weight (0.5): the queried rows, once, when they are
   annotated (``discrepancy_update="query"``) or every annotated row again each round
   (``"round"``);
5. **train**: the classifier is refitted on seed + annotated rows with the targets of
   :func:`~skmollal.active_learning.targets.training_targets` (labels, weights, and, when
   ``nl_threshold`` is set, negative labels: classes whose mean LLM probability, or fused
   posterior, is at most ``nl_threshold``) and the round's negative-learning weight.

Both noise-handling parts are off by default, as the active-learning benchmark says (see its
page): the reference discrepancy weights cost a fine-tuned MiniLM about ten points, negative
labels about one, and no weighting mode helped either classifier beyond seed noise. The reference MoLLIA is ``discrepancy="reference", nl_threshold=0.001``.

Each round's history record also says what its LLM calls cost per annotator (``cost``, and
``cost_total`` since the start; see :mod:`skmollal.annotators.costs`) and what the stopping
rules read (``stop_predictions``: the classifier's predictions on a fixed sample of pool
rows; ``pool_labels``: the mixture's labels of the annotated pool rows). :meth:`run` asks the
rules (``budget``, ``stopping``; see :mod:`.stopping`) after every round, and the record of
the round it stops after says why (``stopped_by``).

The pieces live next door: per-row state and its files in :mod:`.state`, the pure
state -> targets step in :mod:`.targets`, how fit arguments reach the classifier in
:mod:`.routing`. The user's estimator is cloned, never changed. With ``output_dir`` the
state is written after every round and every annotated chunk; an interrupted run (a crash,
Ctrl-C, even during training) continues with :meth:`MoLLIALoop.resume`, makes the same
decisions as an uninterrupted run (the mixture and classifier are rebuilt from the rounds
that finished) and pays again only for the chunk in progress, or, with an annotation cache,
for the answers in flight (see :mod:`skmollal.annotators.cache`). Gold labels other than
the seed are never used for any decision; ``y_monitor`` (optional) is only reported.

(Over 400 lines because :class:`MoLLIALoop`'s parameters are documented here in full; the
steps themselves are short methods.)
"""
from __future__ import annotations

import inspect
import logging
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score

from .._validation import check_partial_labels, check_texts, warn_blank_texts
from ..aggregation.gold_cv import accepts_text
from ..annotators.base import relocate_text_error
from ..annotators.costs import cost_names, price_for
from ..annotators.panel import (annotate_with_costs, costs_from_signals, panel_annotators,
                                panel_labels)
from ..cascade import is_cascade
from ..label_noise import DISCREPANCY_MODES, negative_label_hits, noise_weights
from .fingerprint import fingerprint_differences, run_fingerprint
from .learner import ActiveLearner, distinct_indices, take_rows
from .review import (REVIEW_STRATEGIES, ask_oracle, human_targets, review_info,
                     select_review_rows)
from .routing import fit_arguments_taken, full_proba, routing_context, set_round_params
from .state import FolderLock, LoopState
from .stopping import (STOP_SAMPLE_SIZE, Budget, Upcoming, check_stopping,
                       stopping_rules, stopping_sample)
from .strategies import get_strategy
from .targets import (NL_SOURCES, pool_negative_mask, resolve_soft_labels, round_nl_weight,
                      training_targets)

__all__ = ["MoLLIALoop"]

logger = logging.getLogger(__name__)

FIT_ARGUMENTS = ("sample_weight", "negative_mask")


# --------------------------------------------------------------------------- cascade panels
def _cascade_settings(panel) -> dict | None:
    """What a cascade panel adds to the run's fingerprint (None for a full panel)."""
    if not is_cascade(panel):
        return None
    return {name: getattr(panel, name, None) for name in ("threshold", "order", "cost")}


def _masked_for_cascade(panel, mixture):
    """A cascade's signals have NaN for unasked LLMs: fuse them per set of asked LLMs."""
    from ..aggregation.masked import MaskedAggregator

    if not is_cascade(panel) or isinstance(mixture, MaskedAggregator):
        return mixture
    return MaskedAggregator(mixture)


# --------------------------------------------------------------------------- the loop
class MoLLIALoop:
    """Run MoLLIA rounds on a pool, saving state so that runs resume.

    Parameters
    ----------
    estimator : classifier or ActiveLearner
        The classifier trained each round (default use: a
        :class:`~skmollal.negative_learning.NegativeLearningClassifier`, possibly at the end
        of a Pipeline). The loop trains a clone; the object given is never changed.
        ``sample_weight`` / ``negative_mask`` reach it as described in
        the routing module (signature for a plain estimator, metadata
        routing for a Pipeline); ``nl_weight`` is set on the clone each round when it has that
        parameter. A plain estimator is wrapped in an :class:`ActiveLearner` with
        ``strategy``.
    panel : LLMPanel, list of annotators, annotator, or CascadePanel
        Who annotates the queried texts. A :class:`~skmollal.cascade.CascadePanel` annotates
        the seed with every LLM, is refitted on the signals paid for before each round, and
        asks each queried text only as many LLMs as it needs; the unasked LLMs stay NaN in
        the state, the mixture is then fitted per set of asked LLMs
        (:class:`~skmollal.aggregation.MaskedAggregator`) and ``llm_calls`` counts the calls
        made.
    X : array-like or list
        Features (or texts) of every row, as the estimator takes them.
    y : array-like of int
        Gold labels of the seed rows, ``-1`` elsewhere (the pool). Labels index
        ``panel_labels(panel)``.
    texts : list of str, optional
        Texts of every row for the panel; defaults to ``X`` (which must then be texts).
    mixture : estimator, optional
        Fuses the panel's signals; default :class:`~skmollal.aggregation.MixtureAggregator`.
        Any ``fit(S, y)`` / ``predict_proba(S)`` model with ``-1`` = unlabeled works (e.g.
        the baselines).
    strategy : str or callable, default="random"
        Query strategy (name or function, see :mod:`.strategies`).
    batch_size : int, default=50
        Rows queried per round. When fewer pool rows are left, the round takes them all (a
        warning is logged); with none left, :meth:`step` returns None.
    discrepancy_weight : float or None, default=0.5
        The lowest sample weight of an annotated row: the weight of a down-weighted row
        (``discrepancy`` ``"reference"`` / ``"confident"``) or the floor of the mixture's
        confidence (``"mixture_confidence"``); None disables the weighting (all weights
        1), as ``discrepancy=None`` does.
    discrepancy_update : {"query", "round"}, default="query"
        When classifier-based weights are computed. ``"query"`` (the reference): once per
        row, against the classifier of the round that queried it, with the label it got
        then. ``"round"``: every round, for every annotated row, against the classifier
        about to be retrained and with the row's current mixture label.
    discrepancy : {"reference", "confident", "mixture_confidence"} or None, default=None
        How annotated rows are weighed (see :func:`~skmollal.label_noise.noise_weights`).
        ``"reference"`` (MoLLIA): every row whose mixture label the classifier disagrees
        with gets ``discrepancy_weight``; those weights are only as good as the classifier
        that sets them, and with a transformer fine-tuned a few epochs per round they
        encode its own errors (see the active-learning benchmark page). ``"confident"``:
        only rows where the classifier disagrees *and* is surer of its prediction than the
        mixture is of its label. ``"mixture_confidence"``: the mixture's posterior of each
        row's label (recomputed every round, at least ``discrepancy_weight``), no classifier
        involved. None (the default): all weights 1.
    nl_weight : float, callable or None, default=None
        The negative-learning weight per round: a constant, or ``nl_weight(r)`` for the
        r-th annotated round (r = 0, 1, ...); None means the reference schedule
        ``label_noise.nl_weight_schedule`` (0.4 + 0.06 r). The loop sets it on its clone of
        the classifier before each round's fit.
    nl_threshold : float or None, default=None
        Classes whose probability (see ``nl_source``) is ``<=`` this are negative labels;
        None (the default) disables negative learning; the reference is 0.001.
    nl_source : {"signals", "posterior"}, default="signals"
        Where that probability comes from: ``"signals"`` (the reference), each class's mean
        probability over the LLMs; ``"posterior"``, the mixture's fused posterior (see
        :func:`~skmollal.active_learning.targets.pool_negative_mask`). With ``y_monitor``,
        each round's record reports ``negative_label_hits``, the share of negative labels
        that rule out the true class.
    soft_labels : bool or "auto", default="auto"
        Train on the mixture's probabilities instead of its argmax labels. ``"auto"``:
        when the classifier's loss takes probabilities (a
        :class:`~skmollal.negative_learning.NegativeLearningClassifier`, e.g. the MLP or the
        fine-tuned transformer), else the labels (see
        :func:`~skmollal.active_learning.targets.resolve_soft_labels`). Measured on TREC
        (docs page "Active learning"): soft targets helped the MLP on 3 of 3 seeds and the
        fine-tuned MiniLM on 2 of 3.
    relabel : bool, default=True
        Relabel every annotated row with each round's refitted mixture (else keep the label
        a row got in the round it was annotated).
    annotate_chunk : int, default=16
        Texts per panel call; state is saved after each chunk.
    X_val, y_val : optional
        Validation rows for the history's accuracy / macro-F1 (reporting only).
    y_monitor : array-like, optional
        Hidden gold of all rows, used only to report the mixture's label accuracy.
    output_dir : str or path, optional
        Where ``state.json`` / ``state.npz`` are written. A fresh loop refuses a folder that
        holds a saved run; continue one with :meth:`resume`.
    random_state : int or None
        Seeds the query strategy per round.
    show_progress : bool, default=False
        tqdm bars over rounds and annotation chunks.
    budget : Budget, optional
        Stop before a round would spend more LLM calls, tokens, seconds or money than this
        (see :class:`~skmollal.active_learning.stopping.Budget` for how exact that is).
    stopping : rule or list of rules, optional
        More stopping rules (e.g. :class:`~skmollal.active_learning.stopping.KappaAverage`,
        :class:`~skmollal.active_learning.stopping.StableLabels`), asked by :meth:`run`
        after every round, after the budget.
    prices : Price or dict, optional
        Money per call / token / second: one
        :class:`~skmollal.annotators.costs.Price` for every annotator or a dict by
        annotator name (see :func:`~skmollal.annotators.costs.price_for`). Needed by a
        money budget.
    oracle : callable, optional
        A person: ``oracle(texts, rows, info) -> class index per row`` (-1: skipped), asked
        about ``review_size`` annotated rows per round (see :mod:`.review`;
        :class:`~skmollal.active_learning.CsvReviewOracle` pauses the run until a CSV is
        filled in). Its answers are gold rows for the mixture and for training (weight 1).
        Not part of the run's fingerprint; the answers are saved with the state.
    review_size : int, default=0
        Rows per round sent to ``oracle`` (0: no review).
    review_strategy : {"least_confident", "panel_split", "random"}, default="least_confident"
        Which annotated rows, never asked before: lowest fused confidence, most split
        LLMs, or at random (random extra gold).

    Attributes
    ----------
    learner : ActiveLearner
        The learner around the clone being trained (after :meth:`start`).
    state : LoopState
        Per-row signals, weights and labels, the round counter and the history.
    mixture_ : estimator
        The mixture fitted in the last round.
    mixture_rows_ : ndarray of int
        The rows ``mixture_`` was fitted on (seed and annotated rows).
    stopped_by_ : dict or None
        Set by :meth:`run`: the rule that stopped it (``rule``, ``reason``, ``round``), None
        when it ran its rounds (or the pool ran out).
    """

    def __init__(self, estimator, panel, X, y, texts=None, mixture=None, strategy="random",
                 batch_size: int = 50, discrepancy_weight: float | None = 0.5,
                 discrepancy_update: str = "query", discrepancy: str | None = None,
                 nl_weight: float | Callable[[int], float] | None = None,
                 nl_threshold: float | None = None, nl_source: str = "signals",
                 soft_labels: bool | str = "auto",
                 relabel: bool = True, annotate_chunk: int = 16, X_val=None, y_val=None,
                 y_monitor=None, output_dir=None, random_state=None,
                 show_progress: bool = False, budget: Budget | None = None,
                 stopping=None, prices=None, oracle: Callable | None = None,
                 review_size: int = 0, review_strategy: str = "least_confident") -> None:
        self.estimator_in = estimator
        self.panel = panel
        self.X = X
        self.y = y
        self.texts = texts
        self.mixture = mixture
        self.strategy = strategy
        self.batch_size = batch_size
        self.discrepancy_weight = discrepancy_weight
        self.discrepancy_update = discrepancy_update
        self.discrepancy = discrepancy
        self.nl_weight = nl_weight
        self.nl_threshold = nl_threshold
        self.nl_source = nl_source
        self.soft_labels = soft_labels
        self.relabel = relabel
        self.annotate_chunk = annotate_chunk
        self.X_val = X_val
        self.y_val = y_val
        self.y_monitor = y_monitor
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.random_state = random_state
        self.show_progress = show_progress
        self.budget = budget
        self.stopping = stopping
        self.prices = prices
        self.oracle = oracle
        self.review_size = review_size
        self.review_strategy = review_strategy
        self.stopped_by_: dict | None = None
        self.state: LoopState | None = None
        self.mixture_ = None
        self.mixture_rows_: np.ndarray | None = None
        self._fitted_here = False  # classifier fitted in this process (False after resume)
        self._resumed = False  # state loaded by resume() (a crash may precede round 0's end)
        self._warned: set[str] = set()
        self._writer: FolderLock | None = None  # the output_dir lock while writing
        self._cascade_fitted_on: tuple | None = None  # what the cascade was last fitted on

    # ------------------------------------------------------------------ set-up
    @classmethod
    def resume(cls, output_dir, estimator, panel, X, y, **params) -> "MoLLIALoop":
        """Continue the run saved in ``output_dir``.

        Parameters
        ----------
        output_dir : str or path
            The folder the run saved its state in.
        estimator, panel, X, y, **params
            As for the constructor, and the same as the saved run's: the data, panel and
            every setting that changes a decision must match its fingerprint.

        Returns
        -------
        MoLLIALoop
            Positioned after the last saved round (a round interrupted mid-way is finished
            by the next :meth:`step`, annotating the same rows).

        Raises
        ------
        FileNotFoundError
            If ``output_dir`` holds no saved run.
        ValueError
            If the saved run is a different run (the message names what differs).
        """
        loop = cls(estimator, panel, X, y, output_dir=output_dir, **params)
        if not LoopState.saved_in(loop.output_dir):
            raise FileNotFoundError(f"{output_dir} holds no saved MoLLIA run (state.json)")
        loop._setup()
        meta = LoopState.read_meta(loop.output_dir)
        differs = fingerprint_differences(meta["fingerprint"], loop.state.fingerprint)
        if differs:
            raise ValueError(
                f"{loop.output_dir} holds the state of a different run (differs in: "
                f"{', '.join(differs)}); resume it with the settings it was started with, or "
                "give another output_dir (or delete this one) to start afresh"
            )
        loop.state.load_into(loop.output_dir)
        loop._resumed = True
        return loop

    @classmethod
    def resume_or_start(cls, output_dir, estimator, panel, X, y, **params) -> "MoLLIALoop":
        """:meth:`resume` the run saved in ``output_dir``, or start one that saves there.

        What :class:`MoLLIAClassifier` and the command line do with their output folder: a
        re-run with the same data and settings continues, one with others is refused (see
        :meth:`resume`). ``output_dir`` None: a new loop that saves nothing.
        """
        if LoopState.saved_in(output_dir):
            return cls.resume(output_dir, estimator, panel, X, y, **params)
        return cls(estimator, panel, X, y, output_dir=output_dir, **params)

    def _setup(self) -> None:
        """Validate the inputs and build the learner and an empty state (once)."""
        if self.state is not None:
            return
        self._labels = panel_labels(self.panel)
        n_llms = len(panel_annotators(self.panel))
        X = self.X
        n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        self._n_rows = n
        self._texts = check_texts(X if self.texts is None else self.texts, "MoLLIALoop")
        if len(self._texts) != n:
            raise ValueError(f"X has {n} rows but texts has {len(self._texts)}")
        warn_blank_texts(self._texts, "MoLLIALoop")
        y = check_partial_labels(self.y, n, len(self._labels), where="MoLLIALoop: y",
                                 require_labels=True, min_classes=2)
        self._seed_idx = np.flatnonzero(y != -1)
        self._seed_y = y[self._seed_idx]
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}")
        if self.discrepancy_update not in ("query", "round"):
            raise ValueError("discrepancy_update must be 'query' or 'round', got "
                             f"{self.discrepancy_update!r}")
        if self.discrepancy is not None and self.discrepancy not in DISCREPANCY_MODES:
            raise ValueError(f"discrepancy must be one of {DISCREPANCY_MODES} or None, got "
                             f"{self.discrepancy!r}")
        if self.nl_source not in NL_SOURCES:
            raise ValueError(f"nl_source must be one of {NL_SOURCES}, got {self.nl_source!r}")
        if isinstance(self.estimator_in, ActiveLearner):
            strategy = self.strategy or self.estimator_in.query_strategy
            estimator = self.estimator_in.estimator
        else:
            strategy, estimator = self.strategy or "random", self.estimator_in
        self.learner = ActiveLearner(clone(estimator), query_strategy=strategy)
        self._y_val = None if self.y_val is None else np.asarray(self.y_val)
        self._y_monitor = None if self.y_monitor is None else np.asarray(self.y_monitor)
        self._setup_costs_and_stopping(n)
        self.state = LoopState(n_rows=n, n_llms=n_llms, n_classes=len(self._labels),
                               seed_idx=self._seed_idx, seed_y=self._seed_y)
        resolve_soft_labels(self.soft_labels, self.learner.estimator)  # a bad value fails here
        self.state.fingerprint = run_fingerprint(
            texts=self._texts, labels=self._labels, panel=self.panel, seed_idx=self._seed_idx,
            seed_y=self._seed_y, estimator=self.learner.estimator,
            strategy=self.learner.query_strategy, mixture=self.mixture,
            settings={**{name: getattr(self, name) for name in (
                "batch_size", "discrepancy_weight", "discrepancy_update", "discrepancy",
                "nl_weight", "nl_threshold", "nl_source", "soft_labels", "relabel",
                "random_state")},
                "cascade": _cascade_settings(self.panel), **self._review_settings()})

    def _review_settings(self) -> dict:
        """Check the review settings; what they add to the fingerprint (nothing without)."""
        size = self.review_size
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 0:
            raise ValueError(f"review_size must be a non-negative integer; got {size!r}")
        if self.review_strategy not in REVIEW_STRATEGIES:
            raise ValueError(f"unknown review_strategy {self.review_strategy!r}; choose one "
                             f"of {sorted(REVIEW_STRATEGIES)}")
        if size and self.oracle is None:
            raise ValueError("review_size > 0 needs an oracle (a person answering the rows)")
        return {"review": {"size": int(size), "strategy": self.review_strategy}} if size else {}

    def _setup_costs_and_stopping(self, n_rows: int) -> None:
        """Cost names and prices, the stopping rules and the pool sample they watch."""
        annotators = panel_annotators(self.panel)
        self._cost_names = cost_names(annotators)
        self._prices = [price_for(self.prices, getattr(a, "name", "")) for a in annotators]
        self._rules = stopping_rules(self.budget, self.stopping,
                                     priced=any(p is not None for p in self._prices))
        pool = np.setdiff1d(np.arange(n_rows), self._seed_idx)
        self._stop_idx = stopping_sample(pool, STOP_SAMPLE_SIZE, self.random_state)

    def _add_costs(self, costs) -> None:
        """Record the cost of one annotated chunk (per annotator) in the state."""
        self.state.add_cost({name: cost.to_dict(price) for name, cost, price in zip(
            self._cost_names, costs, self._prices) if cost is not None})

    def _stop_predictions(self) -> dict:
        """The classifier's predictions on the fixed stopping sample of pool rows."""
        if len(self._stop_idx) == 0:
            return {}
        proba = full_proba(self.learner, take_rows(self.X, self._stop_idx), self.n_classes)
        return {"stop_predictions": [int(p) for p in proba.argmax(axis=1)]}

    def _save(self) -> None:
        if self.output_dir is not None:
            if self._writer is None:  # one writer per folder: refuse a second process
                self._writer = FolderLock.acquire(self.output_dir)
            self.state.save(self.output_dir)

    def release(self) -> None:
        """Let other processes write ``output_dir`` again (:meth:`run` does this at its end).

        A loop driven by :meth:`step` keeps its folder locked until this is called or the
        process ends.
        """
        if self._writer is not None:
            self._writer.release()
            self._writer = None

    # ------------------------------------------------------------------ views
    @property
    def estimator(self):
        """The classifier being trained (the loop's clone)."""
        return self.learner.estimator

    @property
    def fingerprint(self) -> dict:
        """What defines this run (see :mod:`.fingerprint`); computed without running."""
        self._setup()
        return self.state.fingerprint

    @property
    def labels(self) -> list[str]:
        """The panel's class names."""
        self._setup()
        return self._labels

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def seed_idx(self) -> np.ndarray:
        self._setup()
        return self._seed_idx

    @property
    def round_(self) -> int:
        """Rounds completed (0 = only the seed-trained classifier)."""
        return self.state.round

    @property
    def history(self) -> list[dict]:
        """One record per round (round 0 = the seed)."""
        return self.state.history

    @property
    def llm_calls(self) -> int:
        """Texts x LLMs annotated so far."""
        return self.state.llm_calls

    @property
    def signals(self) -> np.ndarray:
        """Signals of every row ``(n_rows, n_llms, 2, n_classes)``; NaN where not annotated."""
        return self.state.signals

    def training_rows(self) -> np.ndarray:
        """Indices of the seed and annotated rows."""
        return self.state.training_rows()

    # ------------------------------------------------------------------ steps of a round
    def _annotate(self, rows: Sequence[int], desc: str, every_llm: bool = False) -> float:
        """Annotate the rows not annotated yet, chunk by chunk; return the seconds spent.

        ``every_llm``: a cascade panel asks every LLM (the gold seed), not only as many as a
        text needs.
        """
        rows = np.asarray(rows, dtype=int)
        todo = rows[~self.state.is_annotated(rows)].tolist()
        size = max(1, int(self.annotate_chunk))
        t0 = time.perf_counter()
        chunks = [todo[k:k + size] for k in range(0, len(todo), size)]
        iterator = chunks
        if self.show_progress and chunks:
            from tqdm.auto import tqdm

            iterator = tqdm(chunks, desc=desc, unit="chunk", leave=False)
        for chunk in iterator:
            texts = [self._texts[i] for i in chunk]
            try:
                if every_llm and is_cascade(self.panel):  # the seed: every LLM
                    t_call = time.perf_counter()
                    sig = self.panel.annotate_all(texts)
                    costs = costs_from_signals(sig, time.perf_counter() - t_call)
                else:
                    sig, costs = annotate_with_costs(self.panel, texts)
            except Exception as exc:
                relocate_text_error(exc, chunk, "MoLLIALoop", unit="row")
                raise
            expected = (len(chunk), self.state.n_llms, 2, self.n_classes)
            if sig.shape != expected:
                raise ValueError(f"the panel returned signals of shape {sig.shape}; "
                                 f"expected {expected}")
            self.state.record_signals(chunk, sig)
            self._add_costs(costs)
            self._save()
        return time.perf_counter() - t0

    def _fit_cascade(self) -> None:
        """A cascade panel: refit its order and prefix models on the signals paid for so far
        (seed with every LLM, pool rows with the LLMs asked); no LLM call. Not again on the
        same answers and gold (the last round's mixture may have been these fits)."""
        if not is_cascade(self.panel):
            return
        state = self.state
        rows = state.annotated_rows()
        S = state.signals[rows]
        # a person's answer about a text the cascade asked only some LLMs is gold for the
        # classifier and the mixture, not for the order / prefix models (they need every LLM)
        y = np.where(np.isfinite(S[:, :, 0, 0]).all(axis=1), state.partial_labels()[rows], -1)
        seen = (len(rows), state.llm_calls, y.tobytes())
        if self._cascade_fitted_on == seen:
            return
        self.panel.fit_signals(S, y)
        self._cascade_fitted_on = seen

    def _label(self, upto_round: bool = False,
               reviewed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Refit the mixture on all signals + seed gold; return pool rows and posteriors.

        ``upto_round``: leave out the rows of the pending (unfinished) round, so that the
        mixture is the one the last finished round fitted. ``reviewed``: with the answers
        of the pending round's review as gold.
        """
        state = self.state
        rows = state.annotated_rows()
        if upto_round:
            rows = rows[~np.isin(rows, self._pending_rows())]
        if (not upto_round and not reviewed and is_cascade(self.panel)
                and self.panel.fuses_like(self.mixture)):  # its prefix models are that fit
            self._fit_cascade()
            mixture = self.panel.masked_fusion()
        else:
            if self.mixture is None:
                from ..aggregation import MixtureAggregator

                mixture = MixtureAggregator()
            else:
                mixture = clone(self.mixture)
            mixture = _masked_for_cascade(self.panel, mixture)
            y = state.partial_labels(include_pending=reviewed)
            mixture.fit(state.signals[rows], y[rows], **self._text_view(mixture, rows))
        self.mixture_, self.mixture_rows_ = mixture, rows
        pool_rows = state.pool_rows()
        if upto_round:
            pool_rows = pool_rows[~np.isin(pool_rows, self._pending_rows())]
        if len(pool_rows) == 0:
            return pool_rows, np.zeros((0, self.n_classes))
        return pool_rows, full_proba(mixture, state.signals[pool_rows], self.n_classes,
                                     **self._text_view(mixture, pool_rows))

    def label_report(self, **params):
        """How good the mixture's labels are: :func:`~skmollal.aggregation.label_report`
        of ``mixture_`` on the rows and gold seed it was fitted on.

        Parameters
        ----------
        **params
            Passed on (``n_suspects``, ``cv``, ``random_state``, ``annotator_names``:
            default the panel's names).

        Returns
        -------
        Bunch
            The report, with ``rows``: the loop row of each of its rows (``suspects`` index
            into ``rows``).

        Raises
        ------
        ValueError
            Before a round has fitted the mixture, or with a cascade panel (the LLMs asked
            differ per text, so there is no per-LLM report).
        """
        from ..aggregation.report import label_report

        if self.mixture_ is None:
            raise ValueError("no mixture fitted yet: the label report needs a finished round")
        if is_cascade(self.panel):
            raise ValueError("no label report for a cascade panel: the LLMs asked differ "
                             "per text")
        rows = self.mixture_rows_
        params.setdefault("annotator_names",
                          [str(getattr(a, "name", type(a).__name__))
                           for a in panel_annotators(self.panel)])
        report = label_report(self.mixture_, self.state.signals[rows],
                              self.state.partial_labels()[rows],
                              **self._text_view(self.mixture_, rows), **params)
        report.rows = rows
        return report

    def _text_view(self, mixture, rows) -> dict:
        """``{"X_text": features of rows}`` for a mixture that reads the texts' features
        (e.g. :class:`~skmollal.aggregation.TwoViewMixture`) when ``X`` is a dense numeric
        matrix (embeddings); else nothing."""
        dense = isinstance(self.X, np.ndarray) and self.X.ndim == 2 and np.issubdtype(
            self.X.dtype, np.number)
        if not dense or not accepts_text(mixture):
            return {}
        return {"X_text": take_rows(self.X, rows)}

    def _pending_rows(self) -> np.ndarray:
        """Rows queried by the round in progress (empty when none is)."""
        pending = self.state.pending
        return np.asarray([] if pending is None else pending["queried"], dtype=int)

    def _review(self, round_: int, pool_rows: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Ask the oracle about ``review_size`` annotated rows; return the posteriors of the
        mixture refitted with the answers (unchanged without review or answers).

        The rows are saved (``pending["review"]``) before asking and the answers right
        after, so a resumed round asks the same rows, or none if they were answered.
        """
        if not self.review_size:
            return proba
        state = self.state
        if "review" not in state.pending:
            cand = np.flatnonzero(state.review_candidates(pool_rows))
            seed = np.random.SeedSequence([0 if self.random_state is None
                                           else int(self.random_state), round_, 1])
            pick = select_review_rows(self.review_strategy, proba[cand],
                                      state.signals[pool_rows[cand]], self.review_size,
                                      random_state=int(seed.generate_state(1)[0]))
            state.pending["review"] = [int(i) for i in pool_rows[cand[pick]]]
            self._save()
        rows = np.asarray(state.pending["review"], dtype=int)
        if len(rows) and not (state.review_round[rows] == round_).all():
            pos = [int(np.flatnonzero(pool_rows == i)[0]) for i in rows]
            info = review_info(rows, proba[pos], state.signals[rows], self._labels,
                               self._cost_names, round_)
            answers = ask_oracle(self.oracle, [self._texts[i] for i in rows], rows, info)
            state.record_review(rows, answers, round_)
            self._save()
            logger.info("round %d: a person answered %d of %d texts", round_,
                        int((answers >= 0).sum()), len(rows))
        if not (state.human_y[rows] >= 0).any():
            return proba
        return self._label(reviewed=True)[1]

    @property
    def _weighing(self) -> bool:
        return self.discrepancy is not None and self.discrepancy_weight is not None

    def _weigh(self, rows: list[int], proba: np.ndarray) -> None:
        """Weights of ``rows`` (mixture posterior ``proba``) by the ``discrepancy`` mode."""
        if not rows or not self._weighing:
            return
        clf_proba = (None if self.discrepancy == "mixture_confidence" else
                     full_proba(self.learner, take_rows(self.X, rows), self.n_classes))
        self.state.weights[rows] = noise_weights(self.discrepancy, proba, clf_proba,
                                                 weight=self.discrepancy_weight)

    def _negative(self, pool_rows: np.ndarray, pool_proba: np.ndarray) -> np.ndarray:
        """Negative labels of the annotated pool rows (``nl_source``, ``nl_threshold``)."""
        return pool_negative_mask(self.state.signals[pool_rows], pool_proba,
                                  self.nl_threshold, self.nl_source)

    def _fit_arguments(self, targets) -> dict:
        taken = fit_arguments_taken(self.learner.estimator, FIT_ARGUMENTS)
        wanted = {"sample_weight": self._weighing,
                  "negative_mask": self.nl_threshold is not None}
        for name in FIT_ARGUMENTS:
            if wanted[name] and name not in taken and name not in self._warned:
                self._warned.add(name)
                logger.warning(
                    "the classifier %s does not take %s: %s not used (for a Pipeline, "
                    "request it on its last step: set_fit_request(%s=True))",
                    type(self.learner.estimator).__name__, name,
                    "discrepancy weights are" if name == "sample_weight"
                    else "negative labels are", name)
        return {name: targets[name] for name in FIT_ARGUMENTS if name in taken}

    def _train(self, pool_rows: np.ndarray, pool_proba: np.ndarray, round_: int) -> float:
        """Fit the learner on seed + annotated rows; return seconds."""
        t0 = time.perf_counter()
        state = self.state
        human = state.partial_labels(include_pending=round_ > state.round)[pool_rows]
        pool_negative = np.where((human >= 0)[:, None], False,  # a person's answer is gold
                                 self._negative(pool_rows, pool_proba))
        pool_proba, pool_weights = human_targets(  # a person's answer: their label, weight 1
            pool_proba, state.weights[pool_rows] if self._weighing else None, human)
        targets = training_targets(
            state.seed_y, pool_proba,
            pool_weights=pool_weights,
            pool_negative=pool_negative,
            soft_labels=resolve_soft_labels(self.soft_labels, self.learner.estimator),
        )
        set_round_params(self.learner.estimator, n_classes=self.n_classes, y=targets.y,
                         nl_weight=round_nl_weight(self.nl_weight, round_ - 1)
                         if round_ > 0 else None)
        rows = np.concatenate([state.seed_idx, pool_rows]).astype(int)
        with routing_context(self.learner.estimator):
            self.learner.fit(take_rows(self.X, rows), targets.y, **self._fit_arguments(targets))
        self._fitted_here = True
        return time.perf_counter() - t0

    def _query(self, round_: int) -> tuple[list[int], float]:
        t0 = time.perf_counter()
        cand = self.state.candidates()
        if len(cand) == 0:
            return [], 0.0
        n = int(self.batch_size)
        if len(cand) < n:
            logger.warning("round %d: only %d pool rows left for a batch of %d; taking all",
                           round_, len(cand), n)
            return cand.tolist(), time.perf_counter() - t0
        strategy = get_strategy(self.learner.query_strategy)
        kwargs = {}
        if "random_state" in inspect.signature(strategy).parameters:
            seq = np.random.SeedSequence([0 if self.random_state is None
                                          else int(self.random_state), round_])
            kwargs["random_state"] = int(seq.generate_state(1)[0])
        idx, _ = self.learner.query(take_rows(self.X, cand), n_instances=n, **kwargs)
        return cand[distinct_indices(idx)].tolist(), time.perf_counter() - t0

    def _metrics(self) -> dict:
        out: dict = {}
        if self.X_val is not None and self._y_val is not None:
            pred = np.asarray(self.learner.predict(self.X_val))
            out["val_accuracy"] = float(accuracy_score(self._y_val, pred))
            out["val_macro_f1"] = float(f1_score(self._y_val, pred, average="macro",
                                                 labels=np.arange(self.n_classes),
                                                 zero_division=0))
        return out

    # ------------------------------------------------------------------ public steps
    def start(self) -> dict:
        """Round 0: annotate the seed's texts (for the mixture) and fit on the gold seed."""
        self._setup()
        state = self.state
        if state.started:
            if not self._fitted_here:
                self._refit_from_state()
            return state.history[-1]
        if not self._resumed and LoopState.saved_in(self.output_dir):
            meta = LoopState.read_meta(self.output_dir)
            raise FileExistsError(
                f"{self.output_dir} holds a saved MoLLIA run ({meta.get('round', '?')} rounds "
                "done): continue it with MoLLIALoop.resume(output_dir, ...), or give another "
                "output_dir (or delete this one) to start afresh"
            )
        seed_todo = int((~state.is_annotated(state.seed_idx)).sum())
        stop = check_stopping([self.budget] if self.budget is not None else [],
                              state.history, Upcoming(seed_todo, state.n_llms))
        if stop is not None:
            raise ValueError(f"the budget cannot pay for annotating the gold seed "
                             f"({stop['reason']})")
        t_ann = self._annotate(state.seed_idx, "annotating seed", every_llm=True)
        t_fit = self._train(np.zeros(0, int), np.zeros((0, self.n_classes)), 0)
        state.started = True
        record = {"round": 0, "n_labeled": int(len(state.seed_idx)), "n_annotated": 0,
                  "n_gold": int(len(state.seed_idx)), "n_reviewed": 0,
                  "llm_calls": state.llm_calls,
                  "annotation_s": t_ann, "mixture_s": 0.0, "fit_s": t_fit, "query_s": 0.0,
                  "queried": [], **self._metrics(), **state.round_cost(),
                  **self._stop_predictions(), "pool_labels": []}
        state.history.append(record)
        self._save()
        return record

    def _refit_from_state(self) -> None:
        """After a resume: rebuild mixture and classifier from the saved state (no LLM).

        They are those of the last finished round: rows a crashed round had annotated
        already are left out, so the resumed round weighs and queries exactly as the
        uninterrupted run would have.
        """
        pool_rows, proba = (self._label(upto_round=True) if self.state.round > 0
                            else (np.zeros(0, int), np.zeros((0, self.n_classes))))
        if not self.relabel and len(pool_rows):
            proba = self._labels_at_annotation(pool_rows, proba)
        self._train(pool_rows, proba, self.state.round)

    def _labels_at_annotation(self, pool_rows: np.ndarray, proba: np.ndarray) -> np.ndarray:
        first = self.state.first_labels[pool_rows]
        return np.where(np.isfinite(first).all(axis=1, keepdims=True), first, proba)

    def step(self) -> dict | None:
        """Run one round; return its history record, or None when the pool is exhausted."""
        self.start()
        state = self.state
        round_ = state.round + 1
        if state.pending is not None and int(state.pending["round"]) == round_:
            queried = [int(i) for i in state.pending["queried"]]
            t_query = float(state.pending.get("query_s", 0.0))
            logger.info("round %d: resuming a pending round of %d texts", round_, len(queried))
        else:
            queried, t_query = self._query(round_)
            if not queried:
                logger.info("round %d: the pool is exhausted", round_)
                return None
            state.pending = {"round": round_, "queried": queried, "query_s": t_query}
            self._save()
        self._fit_cascade()
        t_ann = self._annotate(queried, f"round {round_}: annotating")
        t0 = time.perf_counter()
        pool_rows, proba = self._label()
        t_mix = time.perf_counter() - t0
        proba = self._review(round_, pool_rows, proba)
        mixture_labels = proba.argmax(axis=1)
        pos = {int(i): k for k, i in enumerate(pool_rows)}
        # "round" (and the mixture's own confidence): every annotated row; "query": rows not
        # weighed yet; both with current labels
        weigh = ([int(i) for i in pool_rows] if self.discrepancy_update == "round"
                 or self.discrepancy == "mixture_confidence"
                 else [i for i in queried if not np.isfinite(state.weights[i])])
        self._weigh(weigh, proba[[pos[i] for i in weigh]])
        fresh = [i for i in queried if not np.isfinite(state.first_labels[i]).all()]
        state.first_labels[fresh] = proba[[pos[i] for i in fresh]]
        if not self.relabel:
            proba = self._labels_at_annotation(pool_rows, proba)
        t_fit = self._train(pool_rows, proba, round_)
        state.round = round_
        state.pending = None
        record = {
            "round": round_,
            "n_labeled": int(len(state.seed_idx) + len(pool_rows)),
            "n_annotated": int(len(pool_rows)),
            "n_gold": state.n_gold,  # the seed and a person's answers
            "n_reviewed": int((state.review_round == round_).sum()),
            "llm_calls": state.llm_calls,
            # also when resumed mid-round; a cascade asks only some LLMs about a text
            "llm_calls_round": int(np.isfinite(state.signals[queried][:, :, 0, 0]).sum()),
            "annotation_s": t_ann, "mixture_s": t_mix, "fit_s": t_fit, "query_s": t_query,
            "queried": queried,
            "n_downweighted": int(np.sum(state.weights[queried] < 1.0)),
            **self._metrics(), **state.round_cost(), **self._stop_predictions(),
            "pool_labels": [int(c) for c in mixture_labels],
        }
        if self._y_monitor is not None:  # reporting only, never used for a decision
            gold = self._y_monitor[pool_rows]
            record["mixture_label_accuracy"] = float((proba.argmax(1) == gold).mean())
            negative = self._negative(pool_rows, proba)
            negative[np.arange(len(gold)), proba.argmax(1)] = False  # as in training
            record["negative_label_hits"] = negative_label_hits(negative, gold)
        state.history.append(record)
        self._save()
        logger.info("round %d: %d labeled, %d LLM calls%s", round_, record["n_labeled"],
                    state.llm_calls, "".join(f", {k}={v:.3f}" for k, v in record.items()
                                             if k.startswith("val_")))
        return record

    def run(self, n_rounds: int) -> list[dict]:
        """Run until ``n_rounds`` rounds are done (counting rounds done before a resume).

        Before each round the stopping rules (``budget`` first, then ``stopping``) are asked;
        the first that answers stops the run, and the last history record gets
        ``stopped_by`` (also :attr:`stopped_by_`).
        """
        try:
            self.start()
            self.stopped_by_ = None
            todo = range(self.state.round, int(n_rounds))
            if self.show_progress:
                from tqdm.auto import tqdm

                todo = tqdm(todo, desc="MoLLIA rounds", unit="round")
            for _ in todo:
                if self.check_stopping() is not None or self.step() is None:
                    break
            return self.state.history
        finally:
            self.release()

    def refit(self, estimator=None) -> "MoLLIALoop":
        """Train the classifier again on the last finished round's targets (no LLM call).

        With ``estimator``, a clone of it replaces the loop's classifier first: e.g. a costly
        classifier trained once on the labels of a run whose rounds did not read their
        classifier (random queries, no classifier-based ``discrepancy``), which is then the
        model that run would have ended with.

        Parameters
        ----------
        estimator : classifier, optional
            The classifier to train (cloned; the object given is never changed); None
            retrains the loop's own.

        Returns
        -------
        MoLLIALoop
            This loop, its classifier (``learner``) trained.

        Raises
        ------
        ValueError
            Before :meth:`start` has fitted round 0.
        """
        self._setup()
        if not self.state.started:
            raise ValueError("refit needs a started loop: call start() or run() first")
        if estimator is not None:
            self.learner = ActiveLearner(clone(estimator),
                                         query_strategy=self.learner.query_strategy)
        self._refit_from_state()
        return self

    def upcoming(self) -> Upcoming:
        """What the next round would annotate: its new texts and the panel size."""
        self._setup()
        state = self.state
        if state.pending is not None and int(state.pending["round"]) == state.round + 1:
            rows = np.asarray(state.pending["queried"], dtype=int)
            texts = int((~state.is_annotated(rows)).sum())
        else:
            texts = min(int(self.batch_size), len(state.candidates()))
        return Upcoming(texts, state.n_llms)

    def check_stopping(self) -> dict | None:
        """Ask the stopping rules about the next round; record and return the one that stops.

        Returns
        -------
        dict or None
            ``{"rule", "reason", "round"}`` of the first rule that stops the loop (written as
            ``stopped_by`` into the last history record and saved), or None.
        """
        self._setup()
        if not self._rules or not self.state.history:
            return None
        stop = check_stopping(self._rules, self.state.history, self.upcoming())
        if stop is not None:
            logger.info("stopping after round %d: %s (%s)", stop["round"], stop["rule"],
                        stop["reason"])
            self.state.history[-1]["stopped_by"] = stop
            self.stopped_by_ = stop
            self._save()
        return stop

    @property
    def cost(self) -> dict:
        """Cost so far per annotator (flat records, see :mod:`skmollal.annotators.costs`)."""
        return self.state.cost_so_far() if self.state is not None else {}

