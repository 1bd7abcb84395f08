"""What a cascade learns from the gold seed: the order of its LLMs and its threshold.

A cascade (:class:`~skmollal.cascade.CascadePanel`) asks its LLMs in a fixed order and stops
for a text once the fused posterior of the LLMs asked so far reaches a threshold. The order:
:func:`cascade_order`, by each LLM's accuracy on the gold rows (:func:`llm_accuracy`), per
unit of cost when the user gives one. Which threshold is worth its calls depends on the panel and the task; the gold seed can tell,
because every LLM annotated it. :func:`prefix_oof_proba` gives every gold row the posterior of
every prefix of the order, each predicted out of fold
(:func:`~skmollal.aggregation.gold_cv.cross_val_gold_proba`: the fusion of the prefix refitted
with the row's fold hidden); :func:`simulate_cascade` replays the stopping rule on them;
:func:`choose_threshold` scores candidate thresholds by the simulated accuracy and calls, and
keeps the cheapest one that no other candidate (the full panel, threshold 1, included) beats
by more than ``n_se`` standard errors of the paired accuracy difference
(:func:`~skmollal.aggregation.selection.choose_by_gold_cv`).

Only the gold rows are used: no pool row has been asked every LLM, and the simulated
cascade's labels are judged against gold labels the fusion did not see.
"""
from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
from sklearn.utils import Bunch

from ..aggregation.gold_cv import cross_val_gold_proba
from ..aggregation.selection import choose_by_gold_cv
from ..annotators.base import PROBS, VOTES

__all__ = ["AUTO_THRESHOLDS", "cascade_order", "choose_threshold", "llm_accuracy",
           "prefix_oof_proba", "simulate_cascade"]

logger = logging.getLogger(__name__)

#: Candidate thresholds of ``threshold="auto"``; 1.0 asks every LLM (the full panel).
AUTO_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0)


def llm_accuracy(signals, y) -> np.ndarray:
    """Accuracy of each LLM on gold rows: the argmax of its votes (of its probabilities
    where it abstained on every vote).

    Parameters
    ----------
    signals : array-like of shape (n_texts, n_llms, 2, n_classes)
        Full-panel signals of gold rows (rows with ``y == -1`` are ignored).
    y : array-like of shape (n_texts,)
        Gold class indices, ``-1`` for unlabeled rows.

    Returns
    -------
    ndarray of shape (n_llms,)
    """
    S = np.asarray(signals, dtype=float)
    y = np.asarray(y)
    keep = y >= 0
    S, y = S[keep], y[keep]
    if len(y) == 0:
        raise ValueError("llm_accuracy needs gold rows (y != -1)")
    votes, probs = S[:, :, VOTES], S[:, :, PROBS]
    said = np.where(votes.sum(axis=2) > 0, votes.argmax(axis=2), probs.argmax(axis=2))
    return (said == y[:, None]).mean(axis=0)


def cascade_order(signals, y, cost: Sequence[float] | None = None) -> list[int]:
    """The order in which a cascade asks its LLMs, from gold rows only.

    By accuracy on the gold rows (:func:`llm_accuracy`), highest first; with ``cost``, by
    accuracy per unit of cost. Ties keep the panel order.

    Parameters
    ----------
    signals : array-like of shape (n_texts, n_llms, 2, n_classes)
        Full-panel signals of the gold rows.
    y : array-like of shape (n_texts,)
        Their gold class indices (``-1`` rows are ignored).
    cost : sequence of float, optional
        Cost of one call of each LLM (any unit), all positive.

    Returns
    -------
    list of int
        LLM indices, first asked first.
    """
    acc = llm_accuracy(signals, y)
    score = acc
    if cost is not None:
        cost = np.asarray(cost, dtype=float)
        if cost.shape != acc.shape or not np.all(np.isfinite(cost)) or np.any(cost <= 0):
            raise ValueError(
                f"cost must give one positive number per LLM ({len(acc)}); got {cost.tolist()}"
            )
        score = acc / cost
    return [int(j) for j in np.argsort(-score, kind="stable")]


def prefix_oof_proba(estimator, S, y, order: Sequence[int], *, cv: int = 5,
                     random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """Out-of-fold posterior of every prefix of ``order`` on the gold rows.

    Parameters
    ----------
    estimator : aggregator
        Unfitted fusion (``fit(S, y)`` with ``-1`` = unlabeled, ``predict_proba(S)``), cloned
        per prefix and fold.
    S : array-like of shape (n_texts, n_llms, 2, n_classes)
        Signals with every LLM's answer (the gold seed; other rows may be ``-1`` in ``y``
        and join every fit as unlabeled rows).
    y : array-like of int, shape (n_texts,)
        Class indices, ``-1`` for unlabeled rows.
    order : sequence of int
        The LLMs, first asked first.
    cv : int, default=5
        Folds over the gold rows (the same folds for every prefix).
    random_state : int, default=0
        Seed of the fold split.

    Returns
    -------
    rows : ndarray of int
        Gold rows with an out-of-fold posterior of every prefix.
    proba : ndarray of shape (len(rows), len(order), n_classes)
        ``proba[:, k]``: the posterior of the first ``k + 1`` LLMs.
    """
    S = np.asarray(S, dtype=float)
    y = np.asarray(y, dtype=int)
    order = [int(j) for j in order]
    rows, probas = None, []
    for k in range(len(order)):
        r, p = cross_val_gold_proba(estimator, S[:, order[: k + 1]], y, cv=cv,
                                    random_state=random_state, n_classes=S.shape[3])
        if rows is not None and not np.array_equal(r, rows):  # pragma: no cover - same folds
            raise RuntimeError("prefix_oof_proba: the folds differ between prefixes")
        rows = r
        probas.append(p)
    return rows, np.stack(probas, axis=1)


def simulate_cascade(proba, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Replay the stopping rule on every prefix's posterior.

    Parameters
    ----------
    proba : array-like of shape (n_texts, n_llms, n_classes)
        ``proba[:, k]``: the fused posterior of the first ``k + 1`` LLMs of the order.
    threshold : float
        A text stops at the first prefix whose largest class probability reaches it (else
        after every LLM).

    Returns
    -------
    label : ndarray of int, shape (n_texts,)
        Argmax of the posterior the text stopped at.
    n_asked : ndarray of int, shape (n_texts,)
        LLMs asked.
    """
    proba = np.asarray(proba, dtype=float)
    sure = proba.max(axis=2) >= threshold
    sure[:, -1] = True
    stop = sure.argmax(axis=1)
    label = proba[np.arange(proba.shape[0]), stop].argmax(axis=1)
    return label, stop + 1


def choose_threshold(proba, y, thresholds: Sequence[float] = AUTO_THRESHOLDS, *,
                     n_se: float = 1.0) -> Bunch:
    """The cheapest threshold whose simulated cascade no candidate beats by over ``n_se`` SE.

    Parameters
    ----------
    proba : array-like of shape (n_gold, n_llms, n_classes)
        Out-of-fold posterior of every prefix (:func:`prefix_oof_proba`).
    y : array-like of int, shape (n_gold,)
        Gold class indices of those rows.
    thresholds : sequence of float, default=AUTO_THRESHOLDS
        Candidates in ``(0, 1]``; include 1.0 to weigh every choice against the full panel.
    n_se : float, default=1.0
        Tie rule of :func:`~skmollal.aggregation.selection.choose_by_gold_cv`, with the
        candidates ordered from the fewest simulated calls to the most.

    Returns
    -------
    Bunch
        ``threshold`` (the choice), ``thresholds``, ``accuracy`` and ``calls`` (simulated,
        per candidate, in the order of ``thresholds``).
    """
    thresholds = [float(t) for t in thresholds]
    if not thresholds or any(not 0.0 < t <= 1.0 for t in thresholds):
        raise ValueError(f"thresholds must be in (0, 1], got {thresholds}")
    y = np.asarray(y, dtype=int)
    if y.size == 0:  # nothing to judge by: the strictest candidate
        n = len(thresholds)
        return Bunch(threshold=max(thresholds), thresholds=thresholds,
                     accuracy=[float("nan")] * n, calls=[float("nan")] * n)
    sims = [simulate_cascade(proba, t) for t in thresholds]
    correct = np.array([label == y for label, _ in sims])
    calls = np.array([n_asked.mean() for _, n_asked in sims])
    cheap = np.lexsort((thresholds, calls))  # fewest calls first, then the lower threshold
    pick = int(cheap[choose_by_gold_cv(correct[cheap], n_se)])
    out = Bunch(threshold=thresholds[pick], thresholds=thresholds,
                accuracy=correct.mean(axis=1).tolist(), calls=calls.tolist())
    logger.info("cascade threshold %g (gold CV accuracy %s, calls %s)", out.threshold,
                np.round(out.accuracy, 3).tolist(), np.round(calls, 2).tolist())
    return out


def threshold_candidates(threshold) -> list | None:
    """The candidate thresholds a ``threshold`` setting chooses from (None: a fixed one).

    ``"auto"``: :data:`AUTO_THRESHOLDS`; a sequence: its values; a number: None.
    """
    if isinstance(threshold, str):
        if threshold != "auto":
            raise ValueError(f"CascadePanel: threshold must be 'auto' or a number; "
                             f"got {threshold!r}")
        return list(AUTO_THRESHOLDS)
    if isinstance(threshold, (list, tuple, np.ndarray)):
        return list(threshold)
    return None


def check_threshold(threshold) -> None:
    """Refuse a ``threshold`` setting that is not "auto", a number in (0, 1] or a sequence
    of them."""
    candidates = threshold_candidates(threshold)
    if candidates is None:
        candidates = [threshold]
    if not candidates or any(isinstance(c, bool) or not isinstance(c, (int, float))
                             or not 0.0 < c <= 1.0 for c in candidates):
        raise ValueError(f"CascadePanel: threshold must be 'auto', a number in (0, 1] or "
                         f"a sequence of them; got {threshold!r}")


def _costs(cost, names: list[str]) -> list[float] | None:
    if cost is None:
        return None
    if isinstance(cost, dict):
        missing = [n for n in names if n not in cost]
        if missing:
            raise ValueError(f"CascadePanel: cost gives no value for {missing}")
        return [float(cost[n]) for n in names]
    return [float(c) for c in cost]


def order_from_setting(order, names: list[str], signals, y, cost=None) -> list[int]:
    """The cascade's order from its ``order`` setting: ``"accuracy"`` (:func:`cascade_order`
    on the gold rows ``signals``, ``y``, per unit of ``cost`` if given) or the LLMs' names or
    indices in the order to ask them.

    Returns
    -------
    list of int
        Panel column of each step.
    """
    if isinstance(order, str):
        if order != "accuracy":
            raise ValueError(
                f"CascadePanel: order must be 'accuracy' or a list of LLM names or "
                f"indices; got {order!r}"
            )
        return cascade_order(signals, y, _costs(cost, names))
    steps = [names.index(o) if isinstance(o, str) and o in names else o for o in order]
    if sorted(steps) != list(range(len(names))):
        raise ValueError(
            f"CascadePanel: order must name every LLM of {names} once; got {list(order)}"
        )
    return [int(j) for j in steps]
