"""The gold rows' veto: a self-trained mixture gives way to a simpler fusion they prefer.

Self-training assumes that the unlabeled rows, labelled by the model itself, teach it
something true. When the panel breaks that assumption (LLMs that share their errors, so that
agreement is no sign of being right), the mixture drifts away from what its gold rows say.
Two simpler fusions learn from the same gold rows without that assumption:

* ``"gold_only"``: the meta-learner fitted on the gold rows alone (no unlabeled rows), where
  they show every class (else it could never predict the missing ones);
* ``"single_llm"``: one LLM alone, its own signals (vote shares, log-probabilities, vote
  argmax) weighed to fit the gold rows: the LLM whose weighed signals fit them best.

Each of the three is judged on the gold rows out of fold (:func:`~skmollal.aggregation.
gold_folds`: refitted with the fold's labels hidden, the mixture with its whole
self-training), by log loss after a temperature fitted to its out-of-fold probabilities (so
that a calibrated candidate is not preferred for its calibration alone). The mixture stays
unless a simpler fusion has the lower log loss by more than :data:`Z_CRIT` standard errors of
the paired per-row difference: the self-training is the default and the gold rows must
refute it, which they can only do where the difference is large (a noisy choice between
near-equal fusions is what this rule avoids). No label beyond ``y`` is read.

Both fallbacks are logistic regressions on the mixture's own meta-features, so they serve as
its ``estimator_``: a single LLM is the model whose only coefficients are the weights of its
own features of each class.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
from scipy.special import log_softmax
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch

from .base import expand_proba
from .calibration import fit_view_weights, safe_log
from .gold_cv import gold_folds
from .soft_logistic import SoftLogisticRegression

__all__ = ["Z_CRIT", "gold_guard", "prefer_simpler"]

logger = logging.getLogger(__name__)

#: standard errors by which a simpler fusion must beat the mixture's out-of-fold log loss
Z_CRIT = 2.0
#: fewest gold rows the guard judges from (fewer: the mixture is kept)
MIN_GOLD = 20
#: the blocks of :func:`~skmollal.signals.signal_features` that hold one LLM's own signals as
#: class scores: vote shares (1), log-probabilities (2) and the vote argmax one-hot (3)
_BLOCKS = (1, 2, 3)


def _views(X, n_llms: int, n_classes: int, llm: int) -> list[np.ndarray]:
    """LLM ``llm``'s score blocks, each of shape (n_rows, n_classes)."""
    return [X[:, (b * n_llms + llm) * n_classes:(b * n_llms + llm + 1) * n_classes]
            for b in _BLOCKS]


def _fit_llm(X, y, rows, n_llms, n_classes) -> tuple[int, np.ndarray, float]:
    """The LLM whose own signals, weighed to fit ``rows`` best, give them the lowest log
    loss: its index, the relative weights of its score blocks (summing to 1; their scale, a
    temperature, is left to the out-of-fold rows: fitted on a few rows the LLM may
    separate perfectly, it would run to its bound) and that log loss."""
    best = None
    for j in range(n_llms):
        views = [v[rows] for v in _views(X, n_llms, n_classes, j)]
        w = fit_view_weights(views, y[rows])
        loss = -log_softmax(np.einsum("v,vnc->nc", w, np.stack(views)), axis=1)[
            np.arange(rows.size), y[rows]].mean()
        if best is None or loss < best[2]:
            best = (j, w / w.sum() if w.sum() > 0 else np.ones_like(w) / w.size, float(loss))
    return best


def _llm_scores(X, n_llms, n_classes, llm, weights) -> np.ndarray:
    return np.einsum("v,vnc->nc", weights, np.stack(_views(X, n_llms, n_classes, llm)))


def _gold_only(X, y, rows, C: float, n_classes: int) -> LogisticRegression:
    """``LogisticRegression(C=C)`` fitted on ``rows`` (the same objective, its own solver)."""
    solver = SoftLogisticRegression(X[rows], C=C)
    solver.fit(np.eye(n_classes)[y[rows]])
    return solver.estimator()


def _calibrated_losses(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
    """Per-row Brier score of ``softmax(w * scores)``, ``w`` the inverse temperature that
    fits these rows best (log loss), and ``w``."""
    w = fit_view_weights([scores], y)[0]
    proba = np.exp(log_softmax(w * scores, axis=1))
    return ((proba - np.eye(proba.shape[1])[y]) ** 2).sum(axis=1), w


def prefer_simpler(losses: dict[str, np.ndarray], z_crit: float = Z_CRIT
                   ) -> tuple[str, dict[str, float]]:
    """``"mixture"``, or the fusion whose per-row losses beat it by more than ``z_crit`` SEs.

    Parameters
    ----------
    losses : dict of str to ndarray of shape (n_rows,)
        Out-of-fold log loss of each row under each fusion; must hold ``"mixture"``.
    z_crit : float, default=Z_CRIT
        Standard errors of the paired mean difference a simpler fusion must win by.

    Returns
    -------
    choice : str
    z : dict of str to float
        Each simpler fusion's paired z (positive: lower loss than the mixture).
    """
    ref, z, gain = losses["mixture"], {}, {}
    for name, loss in losses.items():
        if name == "mixture":
            continue
        d = ref - loss
        se = d.std(ddof=1) / np.sqrt(d.size) if d.size > 1 else np.inf
        z[name] = float(d.mean() / se) if se > 0 else (np.inf if d.mean() > 0 else 0.0)
        gain[name] = float(d.mean())
    winners = [n for n in z if z[n] > z_crit]
    return (max(winners, key=gain.get) if winners else "mixture"), z


def single_llm_estimator(llm: int, weights, n_llms: int, n_classes: int,
                         n_features: int) -> LogisticRegression:
    """One LLM's score blocks, weighed by ``weights``, as a fitted logistic regression."""
    coef = np.zeros((n_classes, n_features))
    for b, w in zip(_BLOCKS, weights):
        start = (b * n_llms + llm) * n_classes
        coef[np.arange(n_classes), start + np.arange(n_classes)] = w
    if n_classes == 2:  # the binomial model: sigmoid(z_1 - z_0)
        coef = coef[1:] - coef[:1]
    est = LogisticRegression()
    est.classes_, est.coef_ = np.arange(n_classes), coef
    est.intercept_ = np.zeros(coef.shape[0])
    est.n_features_in_, est.n_iter_ = n_features, np.array([0], dtype=np.int32)
    return est


def gold_guard(X: np.ndarray, y: np.ndarray, fit_mixture: Callable[[np.ndarray], np.ndarray],
               *, n_llms: int, n_classes: int, C: float, cv: int = 5) -> Bunch:
    """Judge the mixture against the simpler fusions on the gold rows, out of fold.

    Parameters
    ----------
    X : ndarray of shape (n_rows, n_features)
        The mixture's meta-features (:func:`~skmollal.signals.signal_features`).
    y : ndarray of int, shape (n_rows,)
        Class indices, ``-1`` for unlabeled rows.
    fit_mixture : callable
        ``fit_mixture(y_fold)`` fits the mixture on ``y_fold`` and returns its probabilities
        of every row, shape (n_rows, n_classes).
    n_llms, n_classes : int
        Layout of the signals behind ``X``.
    C : float
        Penalty of the gold-only meta-learner.
    cv : int, default=5
        Folds over the gold rows.

    Returns
    -------
    Bunch
        ``choice`` (``"mixture"``, ``"gold_only"`` or ``"single_llm"``), ``estimator`` (the
        fallback, fitted on every gold row; None for the mixture), ``log_loss`` (mean
        calibrated out-of-fold log loss per fusion), ``z`` (see :func:`prefer_simpler`),
        ``llm`` (the single LLM chosen on every gold row).
    """
    gold = np.flatnonzero(y >= 0)
    # a fit on gold rows that miss a class can never predict it: no fallback for all rows
    every_class = np.unique(y[gold]).size == n_classes
    rows, logs = [], {"mixture": [], "gold_only": [], "single_llm": []}
    for fold in gold_folds(y, cv) if gold.size >= MIN_GOLD else []:
        y_fold = y.copy()
        y_fold[fold] = -1
        train = np.flatnonzero(y_fold >= 0)
        if np.unique(y_fold[train]).size < 2:
            continue
        logs["mixture"].append(safe_log(fit_mixture(y_fold)[fold]))
        if every_class:
            est = _gold_only(X, y_fold, train, C, n_classes)
            logs["gold_only"].append(safe_log(expand_proba(est.predict_proba(X[fold]),
                                                           est.classes_, n_classes)))
        j, w, _ = _fit_llm(X, y_fold, train, n_llms, n_classes)
        logs["single_llm"].append(_llm_scores(X[fold], n_llms, n_classes, j, w))
        rows.append(fold)
    j, w, _ = _fit_llm(X, y, gold, n_llms, n_classes)
    out = Bunch(choice="mixture", estimator=None, log_loss={}, z={}, llm=j)
    if not rows:
        return out
    rows = np.concatenate(rows)
    fitted = {name: _calibrated_losses(np.concatenate(v), y[rows])
              for name, v in logs.items() if v}
    losses = {name: v[0] for name, v in fitted.items()}
    out.log_loss = {name: float(v.mean()) for name, v in losses.items()}
    out.choice, out.z = prefer_simpler(losses)
    if out.choice == "gold_only":
        out.estimator = _gold_only(X, y, gold, C, n_classes)
    elif out.choice == "single_llm":
        out.estimator = single_llm_estimator(j, w * fitted["single_llm"][1], n_llms,
                                             n_classes, X.shape[1])
    logger.info("gold guard: %s (out-of-fold log loss %s, z %s)", out.choice,
                out.log_loss, out.z)
    return out
