"""Round 0 and each next round of a MoLLIA run, step by step, on the run's parts.

:class:`Rounds` is what :class:`~skmollal.active_learning.MoLLIALoop` delegates to: it holds
the run's parts (:class:`~.run_parts.RunParts`) and the loop's settings, and runs
``query -> annotate -> label (fuse, review) -> weigh -> fit -> record``, saving the state
through the checkpoint after every step that paid or decided something.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import numpy as np

from .labelling import Labels
from .learner import take_rows
from .records import (monitor_record, round_record, seed_record, stop_predictions,
                      validation_metrics)
from .round_steps import fit_round, query_round, review_round, weigh_round
from .routing import full_proba
from .run_parts import RunParts
from .state import PendingRound
from .stopping import Upcoming, check_stopping

__all__ = ["Rounds"]

logger = logging.getLogger(__name__)


class Rounds:
    """Run a loop's rounds.

    Parameters
    ----------
    run : RunParts
        The run's collaborators and its state.
    loop : MoLLIALoop
        Whose settings (``batch_size``, ``relabel``, ``review_size``, ...) and data (``X``)
        the rounds read; never written.
    """

    def __init__(self, run: RunParts, loop: Any) -> None:
        self.run = run
        self.loop = loop
        self.labels: Labels | None = None  # the last labelling (its mixture: ``mixture_``)
        self.fitted_here = False  # the classifier was fitted in this process

    @property
    def n_classes(self) -> int:
        return len(self.run.labels)

    def _save(self) -> None:
        self.run.checkpoint.save(self.run.state)

    def _on_chunk(self, costs) -> None:
        self.run.state.add_cost(self.run.chunk_costs(costs))
        self._save()

    def _empty(self) -> Labels:
        return Labels(None, np.zeros(0, int), np.zeros(0, int), np.zeros((0, self.n_classes)))

    def _clf_proba(self, rows: list[int]) -> np.ndarray:
        return full_proba(self.run.learner, take_rows(self.loop.X, rows), self.n_classes)

    def _targets_proba(self, labels: Labels) -> np.ndarray:
        """The pool rows' posteriors to train on: this round's, or with ``relabel=False``
        the ones they got when annotated."""
        if self.loop.relabel:
            return labels.proba
        return self.run.state.labels_at_annotation(labels.pool_rows, labels.proba)

    def _fit(self, labels: Labels, round_: int, include_pending_review: bool) -> float:
        seconds = fit_round(self.run.learner, self.run.policy, self.run.state, self.loop.X,
                            labels.pool_rows, self._targets_proba(labels), round_,
                            self.n_classes, include_pending_review=include_pending_review)
        self.fitted_here = True
        return seconds

    def _extras(self) -> tuple[dict, dict]:
        learner, n = self.run.learner, self.n_classes
        return (validation_metrics(learner, self.loop.X_val, self.loop.y_val, n),
                stop_predictions(learner, self.loop.X, self.run.stop_idx, n))

    def start(self) -> dict:
        """Round 0: annotate the seed's texts (for the mixture) and fit on the gold seed."""
        state, run = self.run.state, self.run
        if state.started:
            if not self.fitted_here:
                self.refit_last()
            return state.history[-1]
        run.checkpoint.refuse_existing()  # a fresh run never overwrites a saved one
        run.checkpoint.lock()  # before any paid call: a second run on the folder is refused
        seed_todo = int((~state.is_annotated(state.seed_idx)).sum())
        stop = check_stopping([self.loop.budget] if self.loop.budget is not None else [],
                              state.history, Upcoming(seed_todo, state.n_llms))
        if stop is not None:
            raise ValueError(f"the budget cannot pay for annotating the gold seed "
                             f"({stop['reason']})")
        t_ann = run.labeller.annotate(state, state.seed_idx, "annotating seed",
                                      self._on_chunk, every_llm=True)
        t_fit = self._fit(self._empty(), 0, include_pending_review=False)
        state.started = True
        metrics, stop = self._extras()
        state.history.append(seed_record(state, annotation_s=t_ann, fit_s=t_fit,
                                         metrics=metrics, stop=stop))
        self._save()
        return state.history[-1]

    def refit_last(self) -> None:
        """After a resume: rebuild mixture and classifier of the last finished round from
        the saved state (no LLM call; a crashed round's rows are left out)."""
        pending = self.run.state.pending
        exclude = np.asarray([] if pending is None else pending.queried, dtype=int)
        labels = (self.run.labeller.label(self.run.state, exclude=exclude)
                  if self.run.state.round > 0 else None)
        if labels is not None:
            self.labels = labels
        else:
            labels = self._empty()
        self._fit(labels, self.run.state.round, include_pending_review=False)

    def step(self) -> dict | None:
        """Run one round; return its history record, or None when the pool is exhausted."""
        state, run = self.run.state, self.run
        round_ = state.round + 1
        if state.pending is not None and state.pending.round == round_:
            logger.info("round %d: resuming a pending round of %d texts", round_,
                        len(state.pending.queried))
        else:
            queried, t_query = query_round(run.learner, self.loop.X, state,
                                           self.loop.batch_size, self.loop.random_state, round_)
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
        labels = self.labels = run.labeller.label(state)
        t_mix = time.perf_counter() - t0
        if self.loop.review_size and review_round(
                state, pending, labels, oracle=self.loop.oracle, size=self.loop.review_size,
                strategy=self.loop.review_strategy, random_state=self.loop.random_state,
                texts=run.texts, class_names=run.labels, annotator_names=run.cost_names,
                save=self._save):
            labels = self.labels = run.labeller.label(state, reviewed=True)
        weigh_round(run.policy, state, pending.queried, labels, self._clf_proba)
        t_fit = self._fit(labels, round_, include_pending_review=True)
        state.round, state.pending = round_, None
        metrics, stop = self._extras()
        record = round_record(state, round_, queried=pending.queried,
                              pool_rows=labels.pool_rows, pool_labels=labels.proba.argmax(1),
                              seconds={"annotation_s": t_ann, "mixture_s": t_mix,
                                       "fit_s": t_fit, "query_s": pending.query_s},
                              metrics=metrics, stop=stop)
        if self.loop.y_monitor is not None:  # reporting only, never used for a decision
            proba = self._targets_proba(labels)
            record.update(monitor_record(
                proba, np.asarray(self.loop.y_monitor)[labels.pool_rows],
                run.policy.negative(state.signals[labels.pool_rows], proba)))
        state.history.append(record)
        self._save()
        logger.info("round %d: %d labeled, %d LLM calls", round_, record["n_labeled"],
                    state.llm_calls)
        return record



    def upcoming(self) -> Upcoming:
        """What the next round would annotate: its new texts and the panel size."""
        state = self.run.state
        if state.pending is not None and state.pending.round == state.round + 1:
            texts = int((~state.is_annotated(state.pending.queried)).sum())
        else:
            texts = min(int(self.loop.batch_size), len(state.candidates()))
        return Upcoming(texts, state.n_llms)

    def check_stopping(self) -> dict | None:
        """The first stopping rule that stops before the next round (written into the last
        history record as ``stopped_by`` and saved), or None."""
        state = self.run.state
        if not self.run.rules or not state.history:
            return None
        stop = check_stopping(self.run.rules, state.history, self.upcoming())
        if stop is not None:
            logger.info("stopping after round %d: %s (%s)", stop["round"], stop["rule"],
                        stop["reason"])
            state.history[-1]["stopped_by"] = stop
            self._save()
        return stop
