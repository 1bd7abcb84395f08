"""A mixture that also reads the text: two views of the same label, weighed from the gold rows.

The LLM panel's signals and the text itself are two views of one label.
:class:`TwoViewMixture`:

1. *signal view*: a :class:`~skmollal.aggregation.MixtureAggregator` fitted on the signals
   and ``y`` (``-1`` = unlabeled) gives a posterior for every row;
2. *text view* (only when the texts' features ``X_text`` are given, e.g. sentence
   embeddings): a classifier on ``X_text`` fitted to those posteriors as soft labels (one
   weighted copy of each row per class), gold rows counted ``gold_weight`` times. It
   generalises the panel's labels along the geometry of the text (co-training the two
   views over several rounds is the experimental
   :class:`~skmollal.experimental.CoTrainingMixture`);
3. *weights*: both views are refitted once per fold of the gold rows with that fold's labels
   hidden (:mod:`~skmollal.aggregation.gold_cv`); the out-of-fold log-probabilities of the
   gold rows fix the weights of ``softmax(w_s log p_signals + w_t log p_text)`` by log loss
   (:func:`~skmollal.aggregation.calibration.fit_view_weights`). A text view that carries
   nothing gets ``w_t = 0``; ``w_s`` alone is temperature scaling, so ``predict_proba`` is
   calibrated from the gold rows, with or without text.

A text view that is costly to fit (a fine-tuned transformer reading the raw texts, e.g.
:class:`~skmollal.finetune.TransformerTextClassifier`) is fitted once instead
(``text_fit="once"``): on the rows *without* gold, to the signal view's posteriors, so that
its probabilities of the gold rows, which it never saw, weigh the views. One text fit
instead of ``cv + 1``.

Without ``X_text`` (e.g. IMDB recordings, which carry no texts) it is the mixture with a
temperature learned from the gold rows: the same labels, calibrated probabilities. No step
reads any label beyond ``y``.
"""
from __future__ import annotations

import importlib
import logging
import warnings

import numpy as np
from sklearn.utils import _safe_indexing
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted

from .._validation import check_texts
from .base import expand_proba, fit_soft_targets
from .calibration import combine_views, fit_view_weights, safe_log
from .gold_cv import check_cv, encode_partial, gold_folds
from .mixture import MixtureAggregator

__all__ = ["TEXT_FITS", "TwoViewMixture"]

#: How the text view is fitted (``TwoViewMixture(text_fit=...)``).
TEXT_FITS = ("folds", "once")

logger = logging.getLogger(__name__)


def _holds_texts(X_text) -> bool:
    """Whether ``X_text`` is a 1-d sequence of texts (its first entry a str), not features."""
    return (getattr(X_text, "ndim", 1) == 1 and len(X_text) > 0
            and isinstance(next(iter(X_text)), str))


class TwoViewMixture(ClassifierMixin, BaseEstimator):
    """Fuse LLM signals and (optionally) text features, views weighed by gold-row CV.

    Parameters
    ----------
    mixture : estimator, optional
        The signal view, cloned; default :class:`~skmollal.aggregation.MixtureAggregator`
        with its defaults.
    text_estimator : classifier, optional
        The text view, cloned; its ``fit`` must take ``sample_weight``. Default:
        ``LogisticRegression(C=1.0, max_iter=1000)``. One that
        :func:`~skmollal.aggregation.base.takes_proba_targets` is fitted on the posteriors
        themselves, any other on one weighted copy of each row per class. One that reads
        raw texts (a :class:`~skmollal.finetune.TransformerTextClassifier`) takes the texts
        as ``X_text``.
    gold_weight : float, default=5.0
        Weight of a gold row relative to a soft-labelled row in the text view.
    cv : int, default=5
        Folds over the gold rows used to weigh the views.
    random_state : int, default=0
        Seed of the fold split.
    n_iter : int, optional
        Deprecated, removed in the next release: co-training rounds are the experimental
        :class:`~skmollal.experimental.CoTrainingMixture`. Passing it warns
        (``FutureWarning``); a positive value fits that estimator's way.
    text_fit : {"folds", "once"}, default="folds"
        How the text view is fitted and weighed. ``"folds"``: on every row (gold rows
        ``gold_weight`` times), and again inside each gold fold for the weights. ``"once"``:
        a single fit on the rows without gold, used both for the weights (its
        probabilities of the gold rows are out of sample) and for predictions: the choice
        for a costly text view such as a fine-tuned transformer. Its targets come from the
        signal view fitted on all gold rows, so the gold rows' labels reach it through the
        meta-learner, never as its own training rows. Needs rows without gold.

    Attributes
    ----------
    classes_ : ndarray
        Class labels (those of the fitted mixture).
    mixture_ : estimator
        The signal view fitted on all of ``y``.
    text_estimator_ : classifier or None
        The text view, None when fitted without ``X_text``.
    view_weights_ : ndarray of shape (n_views,)
        Weights of the signal view (and of the text view); ``1 / view_weights_[0]`` is the
        signal view's temperature when there is no text.
    cv_rows_ : ndarray of int
        Gold rows (indices into the training rows) that have an out-of-fold prediction.
    cv_proba_ : ndarray of shape (n_cv_rows, n_classes)
        Their out-of-fold fused probabilities (the weights, too, fitted without the row's
        fold): an honest estimate of how the fusion does on unseen rows.
    cv_view_log_proba_ : list of ndarray of shape (n_cv_rows, n_classes)
        Each view's out-of-fold log-probabilities of those rows (what the weights were
        fitted on).
    n_features_in_ : int
        Number of signal meta-features.
    """

    def __init__(self, mixture=None, text_estimator=None, gold_weight: float = 5.0,
                 cv: int = 5, random_state=0, n_iter="deprecated", text_fit: str = "folds"):
        self.mixture = mixture
        self.text_estimator = text_estimator
        self.gold_weight = gold_weight
        self.cv = cv
        self.random_state = random_state
        self.n_iter = n_iter
        self.text_fit = text_fit

    # ------------------------------------------------------------------ helpers
    def _check_params(self) -> None:
        if not (isinstance(self.gold_weight, (int, float)) and self.gold_weight > 0):
            raise ValueError(f"gold_weight must be a positive number, got {self.gold_weight!r}")
        check_cv(self.cv)
        if self.text_fit not in TEXT_FITS:
            raise ValueError(f"text_fit must be one of {TEXT_FITS}, got {self.text_fit!r}")

    def _base_mixture(self):
        return MixtureAggregator() if self.mixture is None else self.mixture

    def _check_text(self, X_text, n_rows: int):
        """``X_text`` as a float matrix (CSR when sparse), or as a 1-d object array when it
        holds texts."""
        if X_text is None:
            return None
        if isinstance(X_text, str):
            raise ValueError("X_text must hold one entry per row, got a single string")
        if _holds_texts(X_text):
            if self.text_estimator is None:
                raise ValueError(
                    "X_text holds texts, but the default text view (a logistic regression) "
                    "needs numeric features: pass sentence embeddings (e.g. "
                    "SentenceEmbedder().fit_transform(texts)), or a text_estimator that "
                    "reads texts (e.g. TransformerTextClassifier, with text_fit='once')")
            E = np.asarray(check_texts(X_text, f"{type(self).__name__} X_text"), dtype=object)
        else:
            E = check_array(X_text, accept_sparse="csr", dtype=np.float64,
                            input_name="X_text")
        if E.shape[0] != n_rows:
            raise ValueError(f"X_text has {E.shape[0]} rows but S has {n_rows}")
        return E

    def _signal_proba(self, mixture, S) -> np.ndarray:
        """A fold's mixture (fitted on class indices) in ``classes_`` columns."""
        return expand_proba(mixture.predict_proba(S), mixture.classes_, len(self.classes_))

    def _fit_text(self, E: np.ndarray, posterior: np.ndarray, enc: np.ndarray):
        gold = enc >= 0
        post = posterior.copy()
        post[gold] = np.eye(len(self.classes_))[enc[gold]]
        base = self.text_estimator
        if base is None:
            base = LogisticRegression(C=1.0, max_iter=1000)
        return fit_soft_targets(clone(base), E, post, gold, self.gold_weight)

    def _text_proba(self, text, E: np.ndarray) -> np.ndarray:
        return expand_proba(text.predict_proba(E), text.classes_, len(self.classes_))

    def _fit_text_view(self, model, S, y_fit, enc: np.ndarray, E: np.ndarray,
                       cols: np.ndarray):
        """The text view fitted to the posteriors of the signal view ``model``.

        ``model`` was fitted on ``y_fit``, ``enc`` is ``y_fit`` as class indices and ``cols``
        the columns of ``classes_`` that ``model.classes_`` stand for. Returns ``(model,
        text view)``; a subclass may refit ``model`` as well.
        """
        post = expand_proba(model.predict_proba(S), cols, len(self.classes_))
        return model, self._fit_text(E, post, enc)

    def _fit_text_once(self, S, enc: np.ndarray, E: np.ndarray):
        """``text_fit="once"``: the text view fitted on the rows without gold, to the signal
        view's posteriors (so its probabilities of the gold rows are out of sample)."""
        train = enc < 0
        if not train.any():
            raise ValueError("text_fit='once' fits the text view on the rows without gold; "
                             "every row has a gold label")
        post = self.mixture_.predict_proba(_safe_indexing(S, np.flatnonzero(train)))
        return self._fit_text(E[train], post, enc[train])

    def _cv_log_probas(self, S, enc: np.ndarray, E) -> tuple[np.ndarray, list[np.ndarray]]:
        """Out-of-fold log-probabilities of the gold rows, per view (with ``text_fit="once"``
        the text view's are those of its single fit, which never saw a gold row)."""
        once = E is not None and self.text_fit == "once"
        mixture = self._base_mixture()
        text = self.text_estimator_  # with text_fit="once": the same fit in every fold
        rows, views = [], []
        for fold in gold_folds(enc, self.cv, self.random_state):
            y_fold = enc.copy()
            y_fold[fold] = -1
            if np.unique(y_fold[y_fold >= 0]).size < 2:
                continue
            model = clone(mixture).fit(S, y_fold)
            if E is not None and not once:
                model, text = self._fit_text_view(model, S, y_fold, y_fold, E,
                                                  model.classes_)
            logs = [safe_log(self._signal_proba(model, _safe_indexing(S, fold)))]
            if E is not None:
                logs.append(safe_log(self._text_proba(text, E[fold])))
            rows.append(fold)
            views.append(logs)
        if not rows:
            return np.zeros(0, dtype=int), []
        return np.concatenate(rows), [np.concatenate(v) for v in zip(*views)]

    def _fold_fused(self, logs: list[np.ndarray], y: np.ndarray) -> np.ndarray:
        """Out-of-fold fused probabilities, the weights fitted without each row's fold."""
        proba = np.zeros_like(logs[0])
        for fold in gold_folds(np.zeros(y.size, dtype=int), self.cv, self.random_state):
            test = np.zeros(y.size, dtype=bool)
            test[fold] = True
            w = fit_view_weights([lp[~test] for lp in logs], y[~test])
            proba[test] = combine_views([lp[test] for lp in logs], w)
        return proba

    # ------------------------------------------------------------------ API
    def fit(self, S, y, X_text=None):
        """Fit both views on all rows and weigh them by cross-validation on the gold rows.

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes) or (n_texts, n_features)
            Panel signals (or flat features), as for the mixture.
        y : array-like of shape (n_texts,)
            Gold labels; ``-1`` marks unlabeled rows.
        X_text : array-like or sparse matrix of shape (n_texts, n_text_features), optional
            Features of the texts (e.g. sentence embeddings, or a sparse TF-IDF matrix);
            None fits the signal view only.

        Returns
        -------
        self
        """
        if self.n_iter != "deprecated":
            return self._fit_deprecated_n_iter(S, y, X_text)
        return self._fit(S, y, X_text)

    def _fit_deprecated_n_iter(self, S, y, X_text):
        """``TwoViewMixture(n_iter=k)``: warn; for ``k != 0`` fit as ``CoTrainingMixture``."""
        warnings.warn(
            "TwoViewMixture(n_iter=...) is deprecated and will be removed in the next "
            "release; co-training is skmollal.experimental.CoTrainingMixture(n_iter=...)",
            FutureWarning, stacklevel=3)
        if isinstance(self.n_iter, (int, np.integer)) and self.n_iter == 0:
            return self._fit(S, y, X_text)
        # found by name: the core does not depend on the experimental package
        co_training = importlib.import_module("skmollal.experimental.co_training")
        params = {k: v for k, v in self.get_params(deep=False).items() if k != "text_fit"}
        if self.text_fit != "folds":
            raise ValueError("text_fit='once' fits the text view a single time; co-training "
                             "(n_iter > 0) refits it every round: use text_fit='folds'")
        fitted = co_training.CoTrainingMixture(**params).fit(S, y, X_text)
        self.__dict__.update({k: v for k, v in vars(fitted).items() if k.endswith("_")})
        return self

    def _fit(self, S, y, X_text):
        self._check_params()
        self.mixture_ = clone(self._base_mixture()).fit(S, y)
        self.classes_ = self.mixture_.classes_
        self.n_features_in_ = self.mixture_.n_features_in_
        S = S if hasattr(S, "iloc") else np.asarray(S)
        enc = encode_partial(y, self.classes_)
        E = self._check_text(X_text, enc.shape[0])
        self.text_estimator_ = None
        if E is not None and self.text_fit == "once":
            self.text_estimator_ = self._fit_text_once(S, enc, E)
        elif E is not None:
            self.mixture_, self.text_estimator_ = self._fit_text_view(
                self.mixture_, S, y, enc, E, np.arange(len(self.classes_)))
        rows, logs = self._cv_log_probas(S, enc, E)
        n_views = 1 if E is None else 2
        if rows.size:
            self.view_weights_ = fit_view_weights(logs, enc[rows])
            self.cv_proba_ = self._fold_fused(logs, enc[rows])
        else:  # too few gold rows to cross-validate: the signal view as it is
            logger.warning("too few gold rows to weigh the views; using the signal view")
            self.view_weights_ = np.r_[1.0, np.zeros(n_views - 1)]
            self.cv_proba_ = np.zeros((0, len(self.classes_)))
        self.cv_rows_ = rows
        self.cv_view_log_proba_ = logs
        logger.info("view weights %s from %d gold rows", np.round(self.view_weights_, 3),
                    rows.size)
        return self

    def view_proba(self, S, X_text=None) -> dict[str, np.ndarray]:
        """Each view's own class probabilities: ``{"signals": ..., "text": ...}``.

        ``"text"`` is present only when fitted with ``X_text``.
        """
        check_is_fitted(self, "view_weights_")
        out = {"signals": self.mixture_.predict_proba(S)}
        if self.text_estimator_ is None:
            if X_text is not None:
                raise ValueError(f"{type(self).__name__} was fitted without X_text; "
                                 "do not pass it to predict")
            return out
        if X_text is None:
            raise ValueError(f"{type(self).__name__} was fitted with X_text; pass the "
                             "texts' features to predict as well (X_text=...)")
        E = self._check_text(X_text, out["signals"].shape[0])
        out["text"] = self._text_proba(self.text_estimator_, E)
        return out

    def predict_proba(self, S, X_text=None) -> np.ndarray:
        """Fused, calibrated class probabilities, shape (n_texts, n_classes)."""
        views = self.view_proba(S, X_text)
        return combine_views([safe_log(p) for p in views.values()], self.view_weights_)

    def predict(self, S, X_text=None) -> np.ndarray:
        """Most probable class per text."""
        check_is_fitted(self, "view_weights_")
        return self.classes_[self.predict_proba(S, X_text).argmax(axis=1)]

    def score(self, S, y, sample_weight=None, X_text=None) -> float:
        """Accuracy of :meth:`predict` (``X_text`` as in ``fit``)."""
        from sklearn.metrics import accuracy_score

        return accuracy_score(y, self.predict(S, X_text), sample_weight=sample_weight)
