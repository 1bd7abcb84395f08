"""Human review: a person answers the rows the LLM panel disputes most.

Each round, after the mixture has labelled the annotated rows, :class:`~.loop.MoLLIALoop`
with ``review_size > 0`` sends that many annotated pool rows (never asked before) to a
person, the **oracle**, and their answers become gold rows: the mixture is refitted with
them, and the classifier trains on them with the person's label and weight 1.

Which rows (``review_strategy``,
:data:`~skmollal.active_learning.review.REVIEW_STRATEGIES`; pure functions over the round's
fused posterior and signals):

* ``"least_confident"``: the lowest fused confidence (:func:`least_confident_rows`);
* ``"panel_split"``: the LLMs disagree most (:func:`panel_split_rows`);
* ``"random"``: any of them (:func:`random_rows`), i.e. random extra gold.

The oracle protocol: ``oracle(texts, rows, info) -> answers``, one class index per row,
``-1`` where the person skipped it (a skipped row is not asked again). ``texts`` are the
rows' texts, ``rows`` their indices in the loop's data and ``info`` a Bunch with what the
panel said (:func:`review_info`). Any callable works: a labeling tool, a notebook prompt, or
in a benchmark the recorded gold. :class:`~skmollal.active_learning.CsvReviewOracle` is the
file-based one of the command line: it writes the rows to a CSV, raises
:class:`ReviewPending` (the loop has saved its state; the run pauses), and when asked again
reads the labels filled in.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.utils import Bunch

from ..annotators.base import PROBS, VOTES

__all__ = ["REVIEW_STRATEGIES", "ReviewPending", "ask_oracle",
           "human_targets", "least_confident_rows", "panel_answers", "panel_split_rows",
           "random_rows", "review_info", "select_review_rows"]

logger = logging.getLogger(__name__)

class ReviewPending(Exception):
    """The person has not answered yet: the run pauses (its state is saved).

    Parameters
    ----------
    message : str
        What to do (which file to fill in).
    path : path, optional
        The review file waiting for answers.
    n_rows : int, default=0
        Rows waiting for an answer.
    """

    def __init__(self, message: str, path: Path | None = None, n_rows: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.n_rows = n_rows


# --------------------------------------------------------------------------- selection
def panel_answers(signals: np.ndarray) -> np.ndarray:
    """Each LLM's answer per row: the argmax of its votes (of its probabilities without votes).

    Parameters
    ----------
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes)
        NaN where an LLM was not asked (a cascade).

    Returns
    -------
    ndarray of int, shape (n_rows, n_llms)
        Class index, ``-1`` where the LLM gave no answer.
    """
    signals = np.nan_to_num(np.asarray(signals, dtype=float), nan=0.0)
    votes, probs = signals[:, :, VOTES], signals[:, :, PROBS]
    use = np.where(votes.sum(axis=-1, keepdims=True) > 0, votes, probs)
    return np.where(use.sum(axis=-1) > 0, use.argmax(axis=-1), -1)


def least_confident_rows(proba: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` rows whose fused label is least confident (lowest top probability).

    Parameters
    ----------
    proba : ndarray of shape (n_rows, n_classes)
        The mixture's posterior.
    n : int
        Rows to pick (all when fewer).

    Returns
    -------
    ndarray of int
        Positions in ``proba``, least confident first (ties: lower position first).
    """
    proba = np.asarray(proba, dtype=float)
    return np.argsort(proba.max(axis=1), kind="stable")[:n]


def panel_split_rows(signals: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` rows on which the LLMs split most.

    A row's split is the entropy of its LLMs' answers (:func:`panel_answers`); ties are
    broken by the entropy of their mean vote shares (how unsure they are together).

    Parameters
    ----------
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes)
        The rows' panel signals.
    n : int
        Rows to pick (all when fewer).

    Returns
    -------
    ndarray of int
        Positions in ``signals``, most split first.
    """
    signals = np.asarray(signals, dtype=float)
    answers = panel_answers(signals)
    C = signals.shape[-1]
    counts = np.stack([(answers == c).sum(axis=1) for c in range(C)], axis=1).astype(float)
    mean_votes = np.nanmean(np.nan_to_num(signals[:, :, VOTES], nan=0.0), axis=1)
    split, unsure = _entropy(counts), _entropy(mean_votes)
    return np.lexsort((-unsure, -split))[:n]


def _entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy per row of non-negative weights (normalised; 0 for an all-zero row)."""
    total = weights.sum(axis=1, keepdims=True)
    p = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    return -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)


def random_rows(n_rows: int, n: int, random_state=None) -> np.ndarray:
    """``n`` of ``n_rows`` rows drawn at random without replacement.

    Parameters
    ----------
    n_rows : int
        Rows to draw from.
    n : int
        Rows to pick (all when fewer).
    random_state : int, Generator or None
        Seed of the draw.

    Returns
    -------
    ndarray of int
    """
    rng = np.random.default_rng(random_state)
    return rng.permutation(n_rows)[:n]


#: ``review_strategy`` name -> what it picks
REVIEW_STRATEGIES = {
    "least_confident": "lowest fused confidence (least_confident_rows)",
    "panel_split": "LLMs disagree most (panel_split_rows)",
    "random": "random extra gold (random_rows)",
}


def select_review_rows(strategy: str, proba: np.ndarray, signals: np.ndarray, n: int,
                       random_state=None) -> np.ndarray:
    """The rows to send to the person, by ``strategy`` (a name of ``REVIEW_STRATEGIES``).

    Parameters
    ----------
    strategy : {"least_confident", "panel_split", "random"}
        How to pick.
    proba : ndarray of shape (n_rows, n_classes)
        The candidates' fused posterior.
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes)
        The candidates' panel signals.
    n : int
        Rows to pick.
    random_state : int or None
        Seed of ``"random"``.

    Returns
    -------
    ndarray of int
        Positions among the candidates.

    Raises
    ------
    ValueError
        If ``strategy`` is unknown.
    """
    n = min(int(n), len(proba))
    if strategy == "least_confident":
        return least_confident_rows(proba, n)
    if strategy == "panel_split":
        return panel_split_rows(signals, n)
    if strategy == "random":
        return random_rows(len(proba), n, random_state)
    raise ValueError(f"unknown review_strategy {strategy!r}; choose one of "
                     f"{sorted(REVIEW_STRATEGIES)}")


# --------------------------------------------------------------------------- asking
def review_info(rows: np.ndarray, proba: np.ndarray, signals: np.ndarray,
                labels: Sequence[str], annotator_names: Sequence[str], round_: int) -> Bunch:
    """What the oracle is told about the rows it is asked: the panel's answers.

    Parameters
    ----------
    rows : ndarray of int
        The rows asked (indices in the loop's data).
    proba : ndarray of shape (n_rows, n_classes)
        Their fused posterior.
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes)
        Their panel signals.
    labels, annotator_names : sequence of str
        Class names and the panel's annotator names.
    round_ : int
        The round asking.

    Returns
    -------
    Bunch
        ``rows``, ``proba``, ``fused`` (class index), ``confidence``, ``signals``,
        ``answers`` (``(n_rows, n_llms)`` class index per LLM, -1 none, see
        :func:`panel_answers`), ``labels``, ``annotator_names`` and ``round``.
    """
    proba = np.asarray(proba, dtype=float)
    return Bunch(rows=np.asarray(rows, dtype=int), proba=proba, fused=proba.argmax(axis=1),
                 confidence=proba.max(axis=1), signals=np.asarray(signals),
                 answers=panel_answers(signals), labels=list(labels),
                 annotator_names=list(annotator_names), round=int(round_))


def ask_oracle(oracle: Callable, texts: Sequence[str], rows: np.ndarray, info: Bunch
               ) -> np.ndarray:
    """Ask ``oracle(texts, rows, info)`` and check its answers.

    Parameters
    ----------
    oracle : callable
        The person (see the module docstring).
    texts : sequence of str
        The rows' texts.
    rows : ndarray of int
        The rows asked.
    info : Bunch
        From :func:`review_info`.

    Returns
    -------
    ndarray of int, shape (n_rows,)
        A class index per row, -1 where skipped.

    Raises
    ------
    ValueError
        If the answers are not one class index (or -1) per row; the message names the row.
    ReviewPending
        Raised by the oracle itself when the person has not answered yet.
    """
    answers = np.asarray(oracle(list(texts), np.asarray(rows, dtype=int), info))
    if answers.shape != (len(rows),):
        raise ValueError(f"the review oracle must answer one class index per row "
                         f"({len(rows)}); got shape {answers.shape}")
    n_classes = len(info.labels)
    for row, answer in zip(rows, answers):
        if isinstance(answer, (bool, np.bool_)) or not float(answer).is_integer() or not (
                -1 <= answer < n_classes):
            raise ValueError(f"the review oracle answered {answer} for row {int(row)}; "
                             f"expected a class index in 0..{n_classes - 1} or -1 (skipped)")
    return answers.astype(int)


def human_targets(pool_proba: np.ndarray, pool_weights: np.ndarray | None,
                  human: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Training targets of the pool rows with the person's answers in place of the mixture's.

    Parameters
    ----------
    pool_proba : ndarray of shape (n_pool, n_classes)
        The mixture's posterior per annotated pool row.
    pool_weights : ndarray of shape (n_pool,) or None
        Their discrepancy weights (None: not used).
    human : ndarray of int, shape (n_pool,)
        The person's class per row, -1 where none.

    Returns
    -------
    tuple
        ``(proba, weights)``: one-hot and weight 1 on the rows a person labelled.
    """
    human = np.asarray(human, dtype=int)
    done = human >= 0
    if not done.any():
        return pool_proba, pool_weights
    proba = np.array(pool_proba, dtype=float)
    proba[done] = np.eye(proba.shape[1])[human[done]]
    if pool_weights is not None:
        pool_weights = np.array(pool_weights, dtype=float)
        pool_weights[done] = 1.0
    return proba, pool_weights
