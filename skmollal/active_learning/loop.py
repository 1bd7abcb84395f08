"""The MoLLIA loop: the order of a round's steps, and the state that makes a run resume.

A round is ``query -> annotate -> label (fuse, review) -> targets -> fit``: the learner
queries ``batch_size`` pool rows (:func:`.round_steps.query_round`), the panel annotates
them chunk by chunk and the mixture, refitted on every signal held plus the gold rows,
labels every annotated row (:class:`.labelling.PanelLabeller`), a person may answer some of
them (:func:`.round_steps.review_round`), the noise-handling settings turn labels into
targets (:class:`.target_policy.TargetPolicy`) and the classifier is refitted
(:func:`.round_steps.fit_round`). The state (:class:`.state.LoopState`) is saved by a
:class:`.checkpoint.Checkpoint` after every chunk and round, history records come from
:mod:`.records`, and every setting is declared once in :mod:`.params`.
"""
from __future__ import annotations

import inspect
import logging
import time
import warnings

import numpy as np

from ..annotators.panel import panel_annotators
from .labelling import Labels
from .params import store_settings, with_settings
from .learner import take_rows
from .records import (monitor_record, round_record, seed_record, stop_predictions,
                      validation_metrics)
from .routing import full_proba
from .round_steps import fit_round, query_round, review_round
from .run_parts import build_run, make_learner
from .state import PendingRound
from .stopping import Upcoming, check_stopping

__all__ = ["MoLLIALoop"]

logger = logging.getLogger(__name__)

_P = inspect.Parameter
_FIRST = [_P(n, _P.POSITIONAL_OR_KEYWORD) for n in ("estimator", "panel", "X", "y")] + [
    _P("texts", _P.POSITIONAL_OR_KEYWORD, default=None)]


@with_settings(first=_FIRST)
class MoLLIALoop:
    """Run MoLLIA rounds on a pool, saving state so that runs resume.

    The user's estimator is cloned, never changed. With ``output_dir`` the state is written
    after every annotated chunk and round; an interrupted run continues with :meth:`resume`,
    makes the same decisions as an uninterrupted one and pays again only for what was in
    flight. Gold labels other than the seed's (and a person's answers) steer nothing.

    Parameters
    ----------
    estimator : classifier or ActiveLearner
        The classifier trained each round (a clone of it). ``sample_weight`` /
        ``negative_mask`` reach it by its ``fit`` signature, or by metadata routing for a
        Pipeline; ``nl_weight`` is set on the clone when it has that parameter. A plain
        estimator is wrapped in an :class:`ActiveLearner` with ``strategy``.
    panel : LLMPanel, list of annotators, annotator, or CascadePanel
        Who annotates. A :class:`~skmollal.cascade.CascadePanel` asks each queried text only
        as many LLMs as it needs (see :mod:`skmollal.cascade.loop_hooks`).
    X : array-like or list
        Features (or texts) of every row, as the estimator takes them.
    y : array-like of int
        Gold class indices (into the panel's labels) of the seed rows, ``-1`` elsewhere.
    texts : list of str, optional
        Every row's text for the panel; defaults to ``X`` (which must then be texts).
    {settings}

    Attributes
    ----------
    estimator_ : estimator
        The classifier being trained (the loop's clone), after :meth:`start`.
    learner : ActiveLearner
        The learner around it.
    state : LoopState
        Per-row signals, weights and labels, the round counter and the history.
    mixture_ : estimator
        The mixture fitted in the last round; ``mixture_rows_`` the rows it was fitted on.
    stopped_by_ : dict or None
        Set by :meth:`run`: the rule that stopped it (``rule``, ``reason``, ``round``).
    """

    def __init__(self, estimator, panel, X, y, texts=None, **settings) -> None:
        self.estimator = estimator
        self.panel = panel
        self.X = X
        self.y = y
        self.texts = texts
        store_settings(self, settings, "MoLLIALoop")
        self.stopped_by_: dict | None = None
        self.state = None
        self._labels: Labels | None = None
        self._fitted_here = False  # the classifier was fitted in this process

    # ------------------------------------------------------------------ set-up
    @classmethod
    def resume(cls, output_dir, estimator, panel, X, y, **params) -> "MoLLIALoop":
        """Continue the run saved in ``output_dir``, with the same data and settings.

        Raises ``FileNotFoundError`` if it holds no run, ``ValueError`` (naming what
        differs) if it holds another run. A round interrupted mid-way is finished by the
        next :meth:`step`, annotating the same rows.
        """
        loop = cls(estimator, panel, X, y, output_dir=output_dir, **params)
        loop._setup()
        checkpoint = loop._run.checkpoint
        if not checkpoint.holds_run:
            raise FileNotFoundError(f"{output_dir} holds no saved MoLLIA run (state.json)")
        checkpoint.lock()  # before anything is paid: another process may be writing it
        try:
            checkpoint.load_into(loop.state)
        except BaseException:
            checkpoint.release()
            raise
        return loop

    @classmethod
    def resume_or_start(cls, output_dir, estimator, panel, X, y, **params) -> "MoLLIALoop":
        """:meth:`resume` the run saved in ``output_dir``, or start one that saves there."""
        from .state import LoopState

        if LoopState.saved_in(output_dir):
            return cls.resume(output_dir, estimator, panel, X, y, **params)
        return cls(estimator, panel, X, y, output_dir=output_dir, **params)

    def _setup(self) -> None:
        if self.state is None:
            self._run = build_run(self)
            self.learner, self.state = self._run.learner, self._run.state

    def _save(self) -> None:
        self._run.checkpoint.save(self.state)

    def _on_chunk(self, costs) -> None:
        run = self._run
        self.state.add_cost({name: cost.to_dict(price) for name, cost, price in zip(
            run.cost_names, costs, run.prices) if cost is not None})
        self._save()

    def release(self) -> None:
        """Let other processes write ``output_dir`` again (:meth:`run` does this at its end)."""
        if self.state is not None:
            self._run.checkpoint.release()

    # ------------------------------------------------------------------ views
    estimator_ = property(lambda self: self.learner.estimator,
                          doc="The classifier being trained (the loop's clone).")
    mixture_ = property(lambda self: None if self._labels is None else self._labels.mixture)
    mixture_rows_ = property(lambda self: None if self._labels is None else self._labels.rows)
    round_ = property(lambda self: self.state.round, doc="Rounds completed (0: the seed).")
    history = property(lambda self: self.state.history, doc="One record per round.")
    llm_calls = property(lambda self: self.state.llm_calls, doc="(text, LLM) answers held.")
    signals = property(lambda self: self.state.signals,
                       doc="Signals of every row; NaN where not annotated.")

    @property
    def estimator_in(self):
        """Deprecated: the estimator given, now ``estimator`` (goes in 0.3)."""
        warnings.warn("MoLLIALoop.estimator_in is deprecated: the estimator given is "
                      "`estimator`, the trained clone `estimator_`", FutureWarning, stacklevel=2)
        return self.estimator

    @property
    def fingerprint(self) -> dict:
        """What defines this run (see :mod:`.fingerprint`); computed without running."""
        self._setup()
        return self.state.fingerprint

    @property
    def labels(self) -> list[str]:
        """The panel's class names."""
        self._setup()
        return self._run.labels

    n_classes = property(lambda self: len(self.labels), doc="The number of classes.")

    @property
    def seed_idx(self) -> np.ndarray:
        """The gold seed's rows."""
        self._setup()
        return self.state.seed_idx

    def training_rows(self) -> np.ndarray:
        """Indices of the seed and annotated rows."""
        return self.state.training_rows()

    @property
    def cost(self) -> dict:
        """Cost so far per annotator (flat records, see :mod:`skmollal.annotators.costs`)."""
        return self.state.cost_so_far() if self.state is not None else {}

    # ------------------------------------------------------------------ the round
    def _targets_proba(self, labels: Labels) -> np.ndarray:
        """The pool rows' posteriors to train on: this round's, or with ``relabel=False``
        the ones they got when annotated."""
        if self.relabel:
            return labels.proba
        return self.state.labels_at_annotation(labels.pool_rows, labels.proba)

    def _fit(self, labels: Labels, round_: int, include_pending_review: bool) -> float:
        seconds = fit_round(self.learner, self._run.policy, self.state, self.X,
                            labels.pool_rows, self._targets_proba(labels), round_,
                            self.n_classes, include_pending_review=include_pending_review)
        self._fitted_here = True
        return seconds

    def _extras(self) -> tuple[dict, dict]:
        return (validation_metrics(self.learner, self.X_val, self.y_val, self.n_classes),
                stop_predictions(self.learner, self.X, self._run.stop_idx, self.n_classes))

    def start(self) -> dict:
        """Round 0: annotate the seed's texts (for the mixture) and fit on the gold seed."""
        self._setup()
        state, run = self.state, self._run
        if state.started:
            if not self._fitted_here:
                self._refit_from_state()
            return state.history[-1]
        run.checkpoint.refuse_existing()  # a fresh run never overwrites a saved one
        run.checkpoint.lock()  # before any paid call: a second run on the folder is refused
        seed_todo = int((~state.is_annotated(state.seed_idx)).sum())
        stop = check_stopping([self.budget] if self.budget is not None else [],
                              state.history, Upcoming(seed_todo, state.n_llms))
        if stop is not None:
            raise ValueError(f"the budget cannot pay for annotating the gold seed "
                             f"({stop['reason']})")
        t_ann = run.labeller.annotate(state, state.seed_idx, "annotating seed",
                                      self._on_chunk, every_llm=True)
        empty = Labels(None, np.zeros(0, int), np.zeros(0, int), np.zeros((0, self.n_classes)))
        t_fit = self._fit(empty, 0, include_pending_review=False)
        state.started = True
        metrics, stop = self._extras()
        state.history.append(seed_record(state, annotation_s=t_ann, fit_s=t_fit,
                                         metrics=metrics, stop=stop))
        self._save()
        return state.history[-1]

    def _refit_from_state(self) -> None:
        """After a resume: rebuild mixture and classifier of the last finished round from
        the saved state (no LLM call; a crashed round's rows are left out)."""
        pending = self.state.pending
        exclude = np.asarray([] if pending is None else pending.queried, dtype=int)
        labels = (self._run.labeller.label(self.state, exclude=exclude)
                  if self.state.round > 0 else None)
        if labels is not None:
            self._labels = labels
        else:
            labels = Labels(None, np.zeros(0, int), np.zeros(0, int),
                            np.zeros((0, self.n_classes)))
        self._fit(labels, self.state.round, include_pending_review=False)

    def step(self) -> dict | None:
        """Run one round; return its history record, or None when the pool is exhausted."""
        self.start()
        state, run = self.state, self._run
        round_ = state.round + 1
        if state.pending is not None and state.pending.round == round_:
            logger.info("round %d: resuming a pending round of %d texts", round_,
                        len(state.pending.queried))
        else:
            queried, t_query = query_round(self.learner, self.X, state, self.batch_size,
                                           self.random_state, round_)
            if not queried:
                logger.info("round %d: the pool is exhausted", round_)
                return None
            state.pending = PendingRound(round_, queried, t_query)
            self._save()
        pending = state.pending
        run.labeller.hooks.refit(state)
        t_ann = run.labeller.annotate(state, pending.queried, f"round {round_}: annotating",
                                      self._on_chunk)
        t0 = time.perf_counter()
        labels = self._labels = run.labeller.label(state)
        t_mix = time.perf_counter() - t0
        if self.review_size and review_round(
                state, pending, labels, oracle=self.oracle, size=self.review_size,
                strategy=self.review_strategy, random_state=self.random_state,
                texts=run.texts, class_names=run.labels, annotator_names=run.cost_names,
                save=self._save):
            labels = self._labels = run.labeller.label(state, reviewed=True)
        pos = {int(i): k for k, i in enumerate(labels.pool_rows)}
        weigh = run.policy.rows_to_weigh(state, pending.queried, labels.pool_rows)
        run.policy.weigh(state, weigh, labels.proba[[pos[i] for i in weigh]], self._clf_proba)
        state.set_first_labels(pending.queried, labels.proba[[pos[i] for i in pending.queried]])
        t_fit = self._fit(labels, round_, include_pending_review=True)
        state.round, state.pending = round_, None
        metrics, stop = self._extras()
        record = round_record(state, round_, queried=pending.queried,
                              pool_rows=labels.pool_rows, pool_labels=labels.proba.argmax(1),
                              seconds={"annotation_s": t_ann, "mixture_s": t_mix,
                                       "fit_s": t_fit, "query_s": pending.query_s},
                              metrics=metrics, stop=stop)
        if self.y_monitor is not None:  # reporting only, never used for a decision
            proba = self._targets_proba(labels)
            record.update(monitor_record(
                proba, np.asarray(self.y_monitor)[labels.pool_rows],
                run.policy.negative(state.signals[labels.pool_rows], proba)))
        state.history.append(record)
        self._save()
        logger.info("round %d: %d labeled, %d LLM calls", round_, record["n_labeled"],
                    state.llm_calls)
        return record

    def _clf_proba(self, rows: list[int]) -> np.ndarray:
        return full_proba(self.learner, take_rows(self.X, rows), self.n_classes)

    def run(self, n_rounds: int) -> list[dict]:
        """Run until ``n_rounds`` rounds are done (counting those before a resume), asking
        the stopping rules (``budget`` first) before each; the last record of a stopped run
        says why (``stopped_by``, also :attr:`stopped_by_`)."""
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
        """Train the classifier again on the last finished round's targets (no LLM call);
        with ``estimator``, a clone of it replaces the loop's classifier first. Raises
        ``ValueError`` before :meth:`start`."""
        self._setup()
        if not self.state.started:
            raise ValueError("refit needs a started loop: call start() or run() first")
        if estimator is not None:
            self.learner = make_learner(estimator, self.learner.query_strategy)
        self._refit_from_state()
        return self

    def upcoming(self) -> Upcoming:
        """What the next round would annotate: its new texts and the panel size."""
        self._setup()
        state = self.state
        if state.pending is not None and state.pending.round == state.round + 1:
            texts = int((~state.is_annotated(state.pending.queried)).sum())
        else:
            texts = min(int(self.batch_size), len(state.candidates()))
        return Upcoming(texts, state.n_llms)

    def check_stopping(self) -> dict | None:
        """Ask the stopping rules about the next round; record (``stopped_by`` in the last
        history record, saved) and return the first that stops, else None."""
        self._setup()
        if not self._run.rules or not self.state.history:
            return None
        stop = check_stopping(self._run.rules, self.state.history, self.upcoming())
        if stop is not None:
            logger.info("stopping after round %d: %s (%s)", stop["round"], stop["rule"],
                        stop["reason"])
            self.state.history[-1]["stopped_by"] = stop
            self.stopped_by_ = stop
            self._save()
        return stop

    def label_report(self, **params):
        """How good the mixture's labels are: :func:`~skmollal.aggregation.label_report` of
        ``mixture_`` on the rows and gold it was fitted on (``**params`` passed on; the
        result's ``rows`` are loop rows). Raises ``ValueError`` before a round has fitted
        the mixture, and for a cascade panel (the LLMs asked differ per text)."""
        if self._labels is None:
            raise ValueError("no mixture fitted yet: the label report needs a finished round")
        names = [str(getattr(a, "name", type(a).__name__)) for a in panel_annotators(self.panel)]
        return self._run.labeller.report(self._labels, self.state, names, **params)
