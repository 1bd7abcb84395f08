"""The MoLLIA loop: it orders the steps of a round, and keeps the state that makes it resume.

One round of *Mixture of LLMs in the Loop Active Learning*:

1. **query**: the active learner picks ``batch_size`` pool rows;
2. **annotate**: the LLM panel labels their texts (signals ``(n, L, 2, C)``), chunk by chunk,
   the state saved after each chunk;
3. **label**: the mixture model is refitted on every signal seen so far plus the gold seed
   (seed rows carry their gold label, annotated rows ``-1``) and labels the annotated rows;
4. **weigh**: rows where the current classifier disagrees with the mixture label get the
   discrepancy weight (default 0.5): the queried rows, once, when they are annotated
   (``discrepancy_update="query"``, the reference) or every annotated row again each round
   (``"round"``);
5. **train**: the classifier is refitted on seed + annotated rows with the targets of
   :func:`~skmollal.active_learning.targets.training_targets` (labels, weights, negative
   labels: classes whose mean LLM probability is at most ``nl_threshold``) and the round's
   negative-learning weight.

The pieces live next door: per-row state and its files in :mod:`.state`, the pure
state -> targets step in :mod:`.targets`, how fit arguments reach the classifier in
:mod:`.routing`. The user's estimator is cloned, never changed. With ``output_dir`` the
state is written after every round and every annotated chunk; an interrupted run continues
with :meth:`MoLLIALoop.resume` and never pays for an annotation twice. Gold labels other
than the seed are never used for any decision; ``y_monitor`` (optional) is only reported.

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

from .._validation import check_partial_labels, check_texts
from ..annotators.panel import annotate_signals, panel_annotators, panel_labels
from .fingerprint import fingerprint_differences, run_fingerprint
from .learner import ActiveLearner, take_rows
from .routing import fit_arguments_taken, full_proba, routing_context, set_round_params
from .state import LoopState
from .strategies import get_strategy
from .targets import negative_mask_from_signals, round_nl_weight, training_targets

__all__ = ["MoLLIALoop"]

logger = logging.getLogger(__name__)

FIT_ARGUMENTS = ("sample_weight", "negative_mask")


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
        :mod:`skmollal.active_learning.routing` (signature for a plain estimator, metadata
        routing for a Pipeline); ``nl_weight`` is set on the clone each round when it has that
        parameter. A plain estimator is wrapped in an :class:`ActiveLearner` with
        ``strategy``.
    panel : LLMPanel, list of annotators, or annotator
        Who annotates the queried texts.
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
        Weight of rows whose mixture label disagrees with the classifier's prediction;
        None disables the discrepancy weighting (all weights 1). The weights are only as
        good as the classifier that sets them: with a transformer fine-tuned a few epochs
        per round, they lowered MoLLIA's test accuracy in the benchmark (see the
        active-learning benchmark page); use None there.
    discrepancy_update : {"query", "round"}, default="query"
        When the weights are computed. ``"query"`` (the reference): once per row, against
        the classifier of the round that queried it, with the label it got then.
        ``"round"``: every round, for every annotated row, against the classifier about to
        be retrained and with the row's current mixture label.
    nl_weight : float, callable or None, default=None
        The negative-learning weight per round: a constant, or ``nl_weight(r)`` for the
        r-th annotated round (r = 0, 1, ...); None means the reference schedule
        ``label_noise.nl_weight_schedule`` (0.4 + 0.06 r). The loop sets it on its clone of
        the classifier before each round's fit.
    nl_threshold : float or None, default=0.001
        Classes whose mean LLM probability is ``<=`` this are negative labels; None disables
        negative learning.
    soft_labels : bool, default=False
        Train on the mixture's probabilities instead of its argmax labels.
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

    Attributes
    ----------
    learner : ActiveLearner
        The learner around the clone being trained (after :meth:`start`).
    state : LoopState
        Per-row signals, weights and labels, the round counter and the history.
    mixture_ : estimator
        The mixture fitted in the last round.
    """

    def __init__(self, estimator, panel, X, y, texts=None, mixture=None, strategy="random",
                 batch_size: int = 50, discrepancy_weight: float | None = 0.5,
                 discrepancy_update: str = "query",
                 nl_weight: float | Callable[[int], float] | None = None,
                 nl_threshold: float | None = 0.001, soft_labels: bool = False,
                 relabel: bool = True, annotate_chunk: int = 16, X_val=None, y_val=None,
                 y_monitor=None, output_dir=None, random_state=None,
                 show_progress: bool = False) -> None:
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
        self.nl_weight = nl_weight
        self.nl_threshold = nl_threshold
        self.soft_labels = soft_labels
        self.relabel = relabel
        self.annotate_chunk = annotate_chunk
        self.X_val = X_val
        self.y_val = y_val
        self.y_monitor = y_monitor
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.random_state = random_state
        self.show_progress = show_progress
        self.state: LoopState | None = None
        self.mixture_ = None
        self._fitted_here = False  # classifier fitted in this process (False after resume)
        self._warned: set[str] = set()

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
        y = check_partial_labels(self.y, n, len(self._labels), where="MoLLIALoop: y",
                                 require_labels=True, min_classes=2)
        self._seed_idx = np.flatnonzero(y != -1)
        self._seed_y = y[self._seed_idx]
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer; got {self.batch_size!r}")
        if self.discrepancy_update not in ("query", "round"):
            raise ValueError("discrepancy_update must be 'query' or 'round', got "
                             f"{self.discrepancy_update!r}")
        if isinstance(self.estimator_in, ActiveLearner):
            strategy = self.strategy or self.estimator_in.query_strategy
            estimator = self.estimator_in.estimator
        else:
            strategy, estimator = self.strategy or "random", self.estimator_in
        self.learner = ActiveLearner(clone(estimator), query_strategy=strategy)
        self._y_val = None if self.y_val is None else np.asarray(self.y_val)
        self._y_monitor = None if self.y_monitor is None else np.asarray(self.y_monitor)
        self.state = LoopState(n_rows=n, n_llms=n_llms, n_classes=len(self._labels),
                               seed_idx=self._seed_idx, seed_y=self._seed_y)
        self.state.fingerprint = run_fingerprint(
            texts=self._texts, labels=self._labels, panel=self.panel, seed_idx=self._seed_idx,
            seed_y=self._seed_y, estimator=self.learner.estimator,
            strategy=self.learner.query_strategy, mixture=self.mixture,
            settings={name: getattr(self, name) for name in (
                "batch_size", "discrepancy_weight", "discrepancy_update", "nl_weight",
                "nl_threshold", "soft_labels", "relabel", "random_state")})

    def _save(self) -> None:
        if self.output_dir is not None:
            self.state.save(self.output_dir)

    # ------------------------------------------------------------------ views
    @property
    def estimator(self):
        """The classifier being trained (the loop's clone)."""
        return self.learner.estimator

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
    def _annotate(self, rows: Sequence[int], desc: str) -> float:
        """Annotate the rows not annotated yet, chunk by chunk; return the seconds spent."""
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
            sig = annotate_signals(self.panel, [self._texts[i] for i in chunk])
            expected = (len(chunk), self.state.n_llms, 2, self.n_classes)
            if sig.shape != expected:
                raise ValueError(f"the panel returned signals of shape {sig.shape}; "
                                 f"expected {expected}")
            self.state.record_signals(chunk, sig)
            self._save()
        return time.perf_counter() - t0

    def _label(self) -> tuple[np.ndarray, np.ndarray]:
        """Refit the mixture on all signals + seed gold; return pool rows and posteriors."""
        state = self.state
        rows = state.annotated_rows()
        y = np.full(state.n_rows, -1)
        y[state.seed_idx] = state.seed_y
        if self.mixture is None:
            from ..aggregation import MixtureAggregator

            mixture = MixtureAggregator()
        else:
            mixture = clone(self.mixture)
        mixture.fit(state.signals[rows], y[rows], **self._text_view(mixture, rows))
        self.mixture_ = mixture
        pool_rows = state.pool_rows()
        if len(pool_rows) == 0:
            return pool_rows, np.zeros((0, self.n_classes))
        return pool_rows, full_proba(mixture, state.signals[pool_rows], self.n_classes,
                                     **self._text_view(mixture, pool_rows))

    def _text_view(self, mixture, rows) -> dict:
        """``{"X_text": features of rows}`` for a mixture that reads the texts' features
        (e.g. :class:`~skmollal.aggregation.TwoViewMixture`) when ``X`` is a dense numeric
        matrix (embeddings); else nothing."""
        dense = isinstance(self.X, np.ndarray) and self.X.ndim == 2 and np.issubdtype(
            self.X.dtype, np.number)
        if not dense or "X_text" not in inspect.signature(mixture.fit).parameters:
            return {}
        return {"X_text": take_rows(self.X, rows)}

    def _weigh(self, rows: list[int], labels: np.ndarray) -> None:
        """Discrepancy weights of ``rows`` against the current classifier."""
        if not rows or self.discrepancy_weight is None:
            return
        from ..label_noise import discrepancy_weights

        clf_proba = full_proba(self.learner, take_rows(self.X, rows), self.n_classes)
        self.state.weights[rows] = discrepancy_weights(clf_proba, labels,
                                                       weight=self.discrepancy_weight)

    def _fit_arguments(self, targets) -> dict:
        taken = fit_arguments_taken(self.learner.estimator, FIT_ARGUMENTS)
        wanted = {"sample_weight": self.discrepancy_weight is not None,
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
        targets = training_targets(
            state.seed_y, pool_proba,
            pool_weights=state.weights[pool_rows] if self.discrepancy_weight is not None
            else None,
            pool_negative=negative_mask_from_signals(state.signals[pool_rows],
                                                     self.nl_threshold),
            soft_labels=self.soft_labels,
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
        return cand[idx].tolist(), time.perf_counter() - t0

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
        if LoopState.saved_in(self.output_dir):
            meta = LoopState.read_meta(self.output_dir)
            raise FileExistsError(
                f"{self.output_dir} holds a saved MoLLIA run ({meta.get('round', '?')} rounds "
                "done): continue it with MoLLIALoop.resume(output_dir, ...), or give another "
                "output_dir (or delete this one) to start afresh"
            )
        t_ann = self._annotate(state.seed_idx, "annotating seed")
        t_fit = self._train(np.zeros(0, int), np.zeros((0, self.n_classes)), 0)
        state.started = True
        record = {"round": 0, "n_labeled": int(len(state.seed_idx)), "n_annotated": 0,
                  "n_gold": int(len(state.seed_idx)), "llm_calls": state.llm_calls,
                  "annotation_s": t_ann, "mixture_s": 0.0, "fit_s": t_fit, "query_s": 0.0,
                  "queried": [], **self._metrics()}
        state.history.append(record)
        self._save()
        return record

    def _refit_from_state(self) -> None:
        """After a resume: rebuild mixture and classifier from the saved state (no LLM)."""
        pool_rows, proba = (self._label() if self.state.round > 0
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
        calls_before = state.llm_calls
        t_ann = self._annotate(queried, f"round {round_}: annotating")
        t0 = time.perf_counter()
        pool_rows, proba = self._label()
        t_mix = time.perf_counter() - t0
        pos = {int(i): k for k, i in enumerate(pool_rows)}
        # "round": every annotated row; "query": rows not weighed yet; both with current labels
        weigh = ([int(i) for i in pool_rows] if self.discrepancy_update == "round"
                 else [i for i in queried if not np.isfinite(state.weights[i])])
        self._weigh(weigh, proba[[pos[i] for i in weigh]].argmax(axis=1) if weigh else None)
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
            "n_gold": int(len(state.seed_idx)),
            "llm_calls": state.llm_calls,
            "llm_calls_round": state.llm_calls - calls_before,
            "annotation_s": t_ann, "mixture_s": t_mix, "fit_s": t_fit, "query_s": t_query,
            "queried": queried,
            "n_downweighted": int(np.sum(state.weights[queried] < 1.0)),
            **self._metrics(),
        }
        if self._y_monitor is not None:  # reporting only, never used for a decision
            gold = self._y_monitor[pool_rows]
            record["mixture_label_accuracy"] = float((proba.argmax(1) == gold).mean())
        state.history.append(record)
        self._save()
        logger.info("round %d: %d labeled, %d LLM calls%s", round_, record["n_labeled"],
                    state.llm_calls, "".join(f", {k}={v:.3f}" for k, v in record.items()
                                             if k.startswith("val_")))
        return record

    def run(self, n_rounds: int) -> list[dict]:
        """Run until ``n_rounds`` rounds are done (counting rounds done before a resume)."""
        self.start()
        todo = range(self.state.round, int(n_rounds))
        if self.show_progress:
            from tqdm.auto import tqdm

            todo = tqdm(todo, desc="MoLLIA rounds", unit="round")
        for _ in todo:
            if self.step() is None:
                break
        return self.state.history

