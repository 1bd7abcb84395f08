"""The collaborators of one MoLLIA run, built once from the loop's settings and data.

:func:`build_run` validates the inputs (the settings against their declared constraints,
the texts and the gold seed) and returns a :class:`RunParts`: the learner around a clone of
the user's classifier, the panel labeller, the target policy, the checkpoint, the cost
names and prices, the stopping rules and the empty state with the run's fingerprint.
Nothing is annotated or fitted here.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from sklearn.base import clone

from .._validation import check_partial_labels, check_texts, warn_blank_texts
from ..annotators.costs import cost_names, price_for
from ..annotators.panel import panel_annotators, panel_labels
from .checkpoint import Checkpoint
from .fingerprint import run_fingerprint
from .labelling import PanelLabeller
from .learner import ActiveLearner
from .params import check_loop_settings, fingerprint_settings
from .state import LoopState
from .stopping import STOP_SAMPLE_SIZE, stopping_rules, stopping_sample
from .target_policy import TargetPolicy
from .targets import resolve_soft_labels

__all__ = ["RunParts", "build_run"]


@dataclass
class RunParts:
    """What a run is made of (see :func:`build_run`).

    Parameters
    ----------
    labels : list of str
        The class names.
    texts : list of str
        Every row's text.
    learner : ActiveLearner
        Around the clone of the user's classifier.
    labeller : PanelLabeller
        Annotates and fuses.
    policy : TargetPolicy
        The noise-handling settings, applied.
    checkpoint : Checkpoint
        Saves and resumes the state.
    cost_names : list of str
        The annotators' names in cost records.
    prices : list
        Each annotator's price (or None).
    rules : list
        The stopping rules.
    stop_idx : ndarray of int
        The pool rows whose predictions the stopping rules watch.
    state : LoopState
        The (fresh) state, with the run's fingerprint.
    """

    labels: list
    texts: list
    learner: ActiveLearner
    labeller: PanelLabeller
    policy: TargetPolicy
    checkpoint: Checkpoint
    cost_names: list
    prices: list
    rules: list
    stop_idx: np.ndarray
    state: LoopState

    def chunk_costs(self, costs: list) -> dict:
        """One annotated chunk's cost records by annotator name (with their prices)."""
        return {name: cost.to_dict(price) for name, cost, price in zip(
            self.cost_names, costs, self.prices) if cost is not None}


def make_learner(estimator: Any, strategy: Any) -> ActiveLearner:
    """An :class:`ActiveLearner` around a clone of ``estimator`` (or of an ActiveLearner's
    estimator, keeping its strategy unless ``strategy`` is given)."""
    if isinstance(estimator, ActiveLearner):
        return ActiveLearner(clone(estimator.estimator),
                             query_strategy=strategy or estimator.query_strategy)
    return ActiveLearner(clone(estimator), query_strategy=strategy or "random")


def build_run(loop: Any) -> RunParts:
    """Validate ``loop``'s inputs and settings and build its parts.

    Parameters
    ----------
    loop : MoLLIALoop
        Its data and settings (read only).

    Returns
    -------
    RunParts

    Raises
    ------
    ValueError
        Naming the setting or input that is wrong.
    """
    settings = {name: getattr(loop, name) for name in loop._setting_names}
    check_loop_settings(settings, type(loop).__name__)
    labels = panel_labels(loop.panel)
    X = loop.X
    n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
    texts = check_texts(X if loop.texts is None else loop.texts, "MoLLIALoop")
    if len(texts) != n:
        raise ValueError(f"X has {n} rows but texts has {len(texts)}")
    warn_blank_texts(texts, "MoLLIALoop")
    y = check_partial_labels(loop.y, n, len(labels), where="MoLLIALoop: y",
                             require_labels=True, min_classes=2)
    seed_idx = np.flatnonzero(y != -1)
    learner = make_learner(loop.estimator, loop.strategy)
    resolve_soft_labels(loop.soft_labels, learner.estimator)
    labeller = PanelLabeller(loop.panel, loop.mixture, texts, X, len(labels),
                             loop.annotate_chunk, loop.show_progress)
    annotators = panel_annotators(loop.panel)
    prices = [price_for(loop.prices, getattr(a, "name", "")) for a in annotators]
    state = LoopState(n_rows=n, n_llms=len(annotators), n_classes=len(labels),
                      seed_idx=seed_idx, seed_y=y[seed_idx])
    review = ({"review": {"size": int(loop.review_size), "strategy": loop.review_strategy}}
              if loop.review_size else {})
    state.fingerprint = run_fingerprint(
        texts=texts, labels=labels, panel=loop.panel, seed_idx=seed_idx, seed_y=y[seed_idx],
        estimator=learner.estimator, strategy=learner.query_strategy, mixture=loop.mixture,
        settings={**fingerprint_settings(settings),
                  "cascade": labeller.hooks.fingerprint(), **review})
    return RunParts(
        labels=labels, texts=texts, learner=learner, labeller=labeller,
        policy=TargetPolicy(**{f.name: settings[f.name] for f in fields(TargetPolicy)
                               if f.init}),
        checkpoint=Checkpoint(loop.output_dir), cost_names=cost_names(annotators),
        prices=prices,
        rules=stopping_rules(loop.budget, loop.stopping,
                             priced=any(p is not None for p in prices)),
        stop_idx=stopping_sample(np.setdiff1d(np.arange(n), seed_idx), STOP_SAMPLE_SIZE,
                                 loop.random_state),
        state=state)
