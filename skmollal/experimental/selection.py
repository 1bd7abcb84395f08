"""Pick a fusion by gold-row cross-validation: :class:`FusionSelector` (experimental).

With a few gold rows a user could try several fusions and keep the one that labels the gold
rows best: the mixture, Dawid-Skene, or simply the one LLM that is right most often.
:class:`FusionSelector` does that honestly: every candidate predicts each gold row out of
fold (:mod:`~skmollal.aggregation.gold_cv`; a candidate that already estimated its own
out-of-fold predictions, ``cv_rows_`` and ``cv_proba_`` like
:class:`~skmollal.aggregation.TwoViewMixture`, is not refitted for that), and
:func:`~skmollal.aggregation.gold_cv.choose_by_gold_cv` keeps the richest candidate that no
simpler one beats by more than ``n_se`` standard errors of the paired accuracy difference
(with ~50 gold rows, out-of-fold accuracy differences of a few points are noise). The price
is on panels where the mixture itself fails: with one good LLM among several that answer at
random, the rule may keep a mixture well below that LLM (see the tests). The chosen
candidate's probabilities are temperature-scaled from its out-of-fold predictions.
"""
from __future__ import annotations

import logging

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.utils.validation import check_is_fitted

from ..aggregation.base import expand_proba
from ..aggregation.baselines import BestSingleLLM
from ..aggregation.calibration import combine_views, fit_view_weights, safe_log
from ..aggregation.dawid_skene import DawidSkene
from ..aggregation.gold_cv import (accepts_text, choose_by_gold_cv, cross_val_gold_proba,
                                   encode_partial)
from ..aggregation.two_view import TwoViewMixture

__all__ = ["FusionSelector", "default_candidates"]

logger = logging.getLogger(__name__)


def default_candidates() -> list[tuple[str, object]]:
    """The default candidates, richest first: two-view mixture, Dawid-Skene, best LLM."""
    return [
        ("two_view", TwoViewMixture()),
        ("dawid_skene", DawidSkene()),
        ("best_single_llm", BestSingleLLM()),
    ]


class FusionSelector(ClassifierMixin, BaseEstimator):
    """Choose among fusions by cross-validated accuracy on the gold rows, then calibrate.

    Parameters
    ----------
    candidates : list of (str, estimator), optional
        Named fusions, richest first (the tie rule prefers earlier ones). Default:
        :func:`default_candidates`. Candidates whose ``fit`` takes ``X_text`` get the
        texts' features.
    cv : int, default=5
        Folds over the gold rows for candidates without their own out-of-fold estimate.
    random_state : int, default=0
        Seed of the fold split.
    n_se : float, default=1.0
        Tie rule of :func:`choose_by_gold_cv`.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (those of the first candidate).
    candidates_ : dict of str to estimator
        Every candidate, fitted on all of ``y``.
    cv_accuracy_ : dict of str to float
        Out-of-fold accuracy of each candidate on the gold rows.
    cv_correct_ : dict of str to ndarray of bool
        Whether each candidate's out-of-fold prediction of each row of ``cv_rows_`` is right.
    chosen_ : str
        Name of the chosen candidate.
    best_estimator_ : estimator
        The chosen candidate (fitted).
    temperature_ : float
        Temperature applied to its probabilities (1.0 for a candidate calibrated already).
    cv_rows_ : ndarray of int
        Gold rows with an out-of-fold prediction from every candidate.
    cv_proba_ : ndarray of shape (n_cv_rows, n_classes)
        The chosen candidate's out-of-fold probabilities of those rows.
    n_features_in_ : int
        Number of features of the first candidate, where it has them.
    """

    def __init__(self, candidates=None, cv: int = 5, random_state=0, n_se: float = 1.0):
        self.candidates = candidates
        self.cv = cv
        self.random_state = random_state
        self.n_se = n_se

    def _candidates(self) -> list[tuple[str, object]]:
        cands = default_candidates() if self.candidates is None else list(self.candidates)
        if not cands:
            raise ValueError("candidates must name at least one fusion")
        names = [name for name, _ in cands]
        if len(set(names)) != len(names):
            raise ValueError(f"candidate names must be unique, got {names}")
        return cands

    def _oof(self, name, est, fitted, S, enc, X_text):
        """Out-of-fold (rows, proba) of one candidate; its own estimate when it has one."""
        if hasattr(fitted, "cv_rows_") and hasattr(fitted, "cv_proba_"):
            return fitted.cv_rows_, fitted.cv_proba_
        text = X_text if accepts_text(est) else None
        return cross_val_gold_proba(est, S, enc, cv=self.cv, random_state=self.random_state,
                                    X_text=text, n_classes=len(self.classes_))

    def fit(self, S, y, X_text=None):
        """Fit every candidate, score each by gold-row CV, keep one by the 1-SE rule.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes) or (n_texts, n_features)
            Panel signals (flat features only if every candidate takes them).
        y : array-like of shape (n_texts,)
            Gold labels; ``-1`` marks unlabeled rows.
        X_text : array-like of shape (n_texts, n_text_features), optional
            Texts' features for the candidates that read them.

        Returns
        -------
        self
        """
        cands = self._candidates()
        self.candidates_ = {}
        for name, est in cands:
            text = {"X_text": X_text} if X_text is not None and accepts_text(est) else {}
            self.candidates_[name] = clone(est).fit(S, y, **text)
        S = S if hasattr(S, "iloc") else np.asarray(S)  # validated by the candidates
        first = self.candidates_[cands[0][0]]
        self.classes_ = first.classes_
        if hasattr(first, "n_features_in_"):
            self.n_features_in_ = first.n_features_in_
        enc = encode_partial(y, self.classes_)
        oof = {name: self._oof(name, est, self.candidates_[name], S, enc, X_text)
               for name, est in cands}
        rows = np.flatnonzero(enc >= 0)
        for r, _ in oof.values():
            rows = np.intersect1d(rows, r)
        probas = {}
        for name, (r, p) in oof.items():
            pos = {row: i for i, row in enumerate(r)}
            probas[name] = p[[pos[row] for row in rows]] if rows.size else p[:0]
        correct = np.array([probas[name].argmax(axis=1) == enc[rows] for name, _ in cands])
        self.cv_accuracy_ = {
            name: float(c.mean()) if c.size else float("nan")
            for (name, _), c in zip(cands, correct)
        }
        self.cv_correct_ = {name: c for (name, _), c in zip(cands, correct)}
        pick = choose_by_gold_cv(correct, self.n_se) if rows.size else 0
        self.chosen_ = cands[pick][0]
        self.best_estimator_ = self.candidates_[self.chosen_]
        self.cv_rows_, self.cv_proba_ = rows, probas[self.chosen_]
        calibrated = hasattr(self.best_estimator_, "cv_proba_")
        if calibrated or rows.size == 0:
            self.temperature_ = 1.0
        else:
            w = fit_view_weights([safe_log(self.cv_proba_)], enc[rows])[0]
            self.temperature_ = float(1.0 / max(w, 1e-3))  # bounded: keeps the argmax
        logger.info("gold-CV accuracy %s: chose %s", self.cv_accuracy_, self.chosen_)
        return self

    def _predict_kwargs(self, X_text) -> dict:
        est = self.best_estimator_
        return {"X_text": X_text} if X_text is not None and accepts_text(est) else {}

    def predict_proba(self, S, X_text=None) -> np.ndarray:
        """The chosen fusion's probabilities, temperature-scaled; (n_texts, n_classes)."""
        check_is_fitted(self, "best_estimator_")
        est = self.best_estimator_
        proba = expand_proba(est.predict_proba(S, **self._predict_kwargs(X_text)),
                             np.searchsorted(self.classes_, est.classes_), len(self.classes_))
        if self.temperature_ == 1.0:
            return proba
        return combine_views([safe_log(proba)], [1.0 / self.temperature_])

    def predict(self, S, X_text=None) -> np.ndarray:
        """Most probable class per text (the chosen fusion's label)."""
        check_is_fitted(self, "best_estimator_")
        est = self.best_estimator_
        return est.predict(S, **self._predict_kwargs(X_text))

    def score(self, S, y, sample_weight=None, X_text=None) -> float:
        """Accuracy of :meth:`predict` (``X_text`` as in ``fit``)."""
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(S, X_text), sample_weight=sample_weight)
