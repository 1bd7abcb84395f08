"""The steps of a MoLLIA round that are not labelling: query, review, fit.

Each is a function of what it needs, returning what it produced; the loop
(:class:`~skmollal.active_learning.MoLLIALoop`) calls them in order and saves in between.
"""
from __future__ import annotations

import inspect
import logging
import time
from typing import Any, Callable

import numpy as np

from .labelling import Labels
from .learner import ActiveLearner, distinct_indices, take_rows
from .review import ask_oracle, review_info, select_review_rows
from .routing import routing_context
from .state import LoopState, PendingRound
from .strategies import get_strategy
from .target_policy import TargetPolicy

__all__ = ["fit_round", "query_round", "review_round", "weigh_round"]

logger = logging.getLogger(__name__)


def round_seed(random_state: int | None, *keys: int) -> int:
    """A seed for one draw of one round, from the run's ``random_state`` and ``keys``."""
    seq = np.random.SeedSequence([0 if random_state is None else int(random_state), *keys])
    return int(seq.generate_state(1)[0])


def query_round(learner: ActiveLearner, X: Any, state: LoopState, batch_size: int,
                random_state: int | None, round_: int) -> tuple[list[int], float]:
    """The rows a round queries (all that are left when fewer than ``batch_size``).

    Parameters
    ----------
    learner : ActiveLearner
        Its strategy picks the rows.
    X : array-like
        Every row's features.
    state : LoopState
        Which rows can still be queried.
    batch_size : int
        Rows per round.
    random_state : int or None
        The run's seed (the round's own is drawn from it).
    round_ : int
        The round.

    Returns
    -------
    rows : list of int
    seconds : float
    """
    t0 = time.perf_counter()
    cand = state.candidates()
    if len(cand) == 0:
        return [], 0.0
    n = int(batch_size)
    if len(cand) < n:
        logger.warning("round %d: only %d pool rows left for a batch of %d; taking all",
                       round_, len(cand), n)
        return cand.tolist(), time.perf_counter() - t0
    strategy = get_strategy(learner.query_strategy)
    kwargs = {}
    if "random_state" in inspect.signature(strategy).parameters:
        kwargs["random_state"] = round_seed(random_state, round_)
    idx, _ = learner.query(take_rows(X, cand), n_instances=n, **kwargs)
    return cand[distinct_indices(idx)].tolist(), time.perf_counter() - t0


def review_round(state: LoopState, pending: PendingRound, labels: Labels, *, oracle: Callable,
                 size: int, strategy: str, random_state: int | None, texts: list[str],
                 class_names: list[str], annotator_names: list[str],
                 save: Callable[[], None]) -> bool:
    """Ask the person about ``size`` annotated rows; return whether any answer came.

    The rows are saved (``pending.review``) before asking and the answers right after, so a
    resumed round asks the same rows, or none if they were answered.

    Parameters
    ----------
    state : LoopState
        Where the answers are recorded.
    pending : PendingRound
        The round in progress.
    labels : Labels
        Its labelling (the posteriors the choice of rows reads).
    oracle : callable
        The person (see :mod:`.review`).
    size : int
        Rows to ask about.
    strategy : str
        Which rows (``REVIEW_STRATEGIES`` of :mod:`.review`).
    random_state : int or None
        The run's seed.
    texts, class_names, annotator_names : list of str
        Every row's text, the class names and the LLMs' names, shown to the person.
    save : callable
        Saves the state (called before asking and after the answers).

    Returns
    -------
    bool
    """
    round_, pool_rows, proba = pending.round, labels.pool_rows, labels.proba
    if pending.review is None:
        cand = np.flatnonzero(state.review_candidates(pool_rows))
        pick = select_review_rows(strategy, proba[cand], state.signals[pool_rows[cand]], size,
                                  random_state=round_seed(random_state, round_, 1))
        pending.review = [int(i) for i in pool_rows[cand[pick]]]
        save()
    rows = np.asarray(pending.review, dtype=int)
    if len(rows) and not (state.review_round[rows] == round_).all():
        pos = [int(np.flatnonzero(pool_rows == i)[0]) for i in rows]
        info = review_info(rows, proba[pos], state.signals[rows], class_names,
                           annotator_names, round_)
        answers = ask_oracle(oracle, [texts[i] for i in rows], rows, info)
        state.record_review(rows, answers, round_)
        save()
        logger.info("round %d: a person answered %d of %d texts", round_,
                    int((answers >= 0).sum()), len(rows))
    return bool((state.human_y[rows] >= 0).any())


def fit_round(learner: ActiveLearner, policy: TargetPolicy, state: LoopState, X: Any,
              pool_rows: np.ndarray, pool_proba: np.ndarray, round_: int, n_classes: int, *,
              include_pending_review: bool) -> float:
    """Fit the learner on seed + annotated rows with the round's targets.

    Parameters
    ----------
    learner : ActiveLearner
        Fitted in place.
    policy : TargetPolicy
        Makes the targets and the fit arguments.
    state : LoopState
        The seed, signals, weights and a person's answers.
    X : array-like
        Every row's features.
    pool_rows : ndarray of int
        The annotated pool rows to train on.
    pool_proba : ndarray of shape (n_pool_rows, n_classes)
        Their posteriors.
    round_ : int
        The round (0: the seed alone).
    n_classes : int
        The number of classes.
    include_pending_review : bool
        Whether the answers of the round in progress count as gold.

    Returns
    -------
    float
        Seconds.
    """
    t0 = time.perf_counter()
    estimator = learner.estimator
    targets = policy.targets(state, pool_rows, pool_proba, estimator,
                             include_pending_review=include_pending_review)
    fit_args = policy.prepare(estimator, targets, n_classes, round_)
    rows = np.concatenate([state.seed_idx, pool_rows]).astype(int)
    with routing_context(estimator):
        learner.fit(take_rows(X, rows), targets.y, **fit_args)
    return time.perf_counter() - t0


def weigh_round(policy: TargetPolicy, state: LoopState, queried: list[int], labels: Labels,
                classifier_proba: Callable[[list[int]], np.ndarray]) -> None:
    """Weigh the rows the policy weighs this round and keep the queried rows' first labels.

    Parameters
    ----------
    policy : TargetPolicy
        Which rows, and how.
    state : LoopState
        Where weights and first labels are kept.
    queried : list of int
        The round's rows.
    labels : Labels
        The round's labelling.
    classifier_proba : callable
        The current classifier's probabilities of some rows.
    """
    pos = {int(i): k for k, i in enumerate(labels.pool_rows)}
    weigh = policy.rows_to_weigh(state, queried, labels.pool_rows)
    policy.weigh(state, weigh, labels.proba[[pos[i] for i in weigh]], classifier_proba)
    state.set_first_labels(queried, labels.proba[[pos[i] for i in queried]])
