"""What a round's history record says: counts, timings, metrics, costs, stopping inputs.

Pure functions of what the round did; the loop appends their result to ``state.history``.
Records are plain dicts (they are saved as JSON and read by
:func:`~skmollal.active_learning.history.history_to_frame` and the stopping rules).
"""
from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, f1_score

from ..label_noise import negative_label_hits
from .learner import take_rows
from .routing import full_proba
from .state import LoopState

__all__ = ["round_record", "seed_record"]


def validation_metrics(learner, X_val, y_val, n_classes: int) -> dict:
    """``val_accuracy`` / ``val_macro_f1`` of the learner on the validation rows (if any)."""
    if X_val is None or y_val is None:
        return {}
    pred = np.asarray(learner.predict(X_val))
    y_val = np.asarray(y_val)
    return {"val_accuracy": float(accuracy_score(y_val, pred)),
            "val_macro_f1": float(f1_score(y_val, pred, average="macro",
                                           labels=np.arange(n_classes), zero_division=0))}


def stop_predictions(learner, X, rows: np.ndarray, n_classes: int) -> dict:
    """The classifier's predictions on the fixed stopping sample of pool rows."""
    if len(rows) == 0:
        return {}
    proba = full_proba(learner, take_rows(X, rows), n_classes)
    return {"stop_predictions": [int(p) for p in proba.argmax(axis=1)]}


def seed_record(state: LoopState, *, annotation_s: float, fit_s: float, metrics: dict,
                stop: dict) -> dict:
    """Round 0's record: the gold seed annotated and the classifier fitted on it.

    Parameters
    ----------
    state : LoopState
        The state after round 0 (its unrecorded cost goes into the record).
    annotation_s, fit_s : float
        Seconds spent annotating the seed and fitting the classifier.
    metrics : dict
        Validation metrics (``val_accuracy``, ``val_macro_f1``; may be empty).
    stop : dict
        What the stopping rules read (``stop_predictions``; may be empty).

    Returns
    -------
    dict
    """
    return {"round": 0, "n_labeled": int(len(state.seed_idx)), "n_annotated": 0,
            "n_gold": int(len(state.seed_idx)), "n_reviewed": 0,
            "llm_calls": state.llm_calls,
            "annotation_s": annotation_s, "mixture_s": 0.0, "fit_s": fit_s, "query_s": 0.0,
            "queried": [], **metrics, **state.round_cost(), **stop, "pool_labels": []}


def round_record(state: LoopState, round_: int, *, queried: list[int], pool_rows: np.ndarray,
                 pool_labels: np.ndarray, seconds: dict, metrics: dict, stop: dict) -> dict:
    """A finished round's record.

    Parameters
    ----------
    state : LoopState
        The state after the round.
    round_ : int
        Its number.
    queried : list of int
        The rows it queried.
    pool_rows : ndarray of int
        Every annotated pool row.
    pool_labels : ndarray of int
        The mixture's label of each of them (``pool_labels`` of the record).
    seconds : dict
        ``annotation_s``, ``mixture_s``, ``fit_s``, ``query_s``.
    metrics, stop : dict
        As for :func:`seed_record`.

    Returns
    -------
    dict
    """
    return {
        "round": round_,
        "n_labeled": int(len(state.seed_idx) + len(pool_rows)),
        "n_annotated": int(len(pool_rows)),
        "n_gold": state.n_gold,  # the seed and a person's answers
        "n_reviewed": int((state.review_round == round_).sum()),
        "llm_calls": state.llm_calls,
        # also when resumed mid-round; a cascade asks only some LLMs about a text
        "llm_calls_round": int(np.isfinite(state.signals[queried][:, :, 0, 0]).sum()),
        **seconds,
        "queried": queried,
        "n_downweighted": int(np.sum(state.weights[queried] < 1.0)),
        **metrics, **state.round_cost(), **stop,
        "pool_labels": [int(c) for c in pool_labels],
    }


def monitor_record(proba: np.ndarray, gold: np.ndarray, negative: np.ndarray) -> dict:
    """Reporting only (hidden gold, never used for a decision): the mixture's label
    accuracy and the share of negative labels that rule out the true class."""
    negative = negative.copy()
    negative[np.arange(len(gold)), proba.argmax(1)] = False  # as in training
    return {"mixture_label_accuracy": float((proba.argmax(1) == gold).mean()),
            "negative_label_hits": negative_label_hits(negative, gold)}
