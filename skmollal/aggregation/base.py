"""What every aggregator of panel signals shares: the fit/predict plumbing, and class columns.

An *aggregator* fuses the signals ``S`` of shape ``(n_texts, n_llms, 2, n_classes)`` into one
label distribution per text, optionally learning from gold labels ``y`` (``-1`` marks
unlabeled rows, as in scikit-learn's :class:`~sklearn.semi_supervised.SelfTrainingClassifier`).
Its classes are the positions ``0 .. n_classes - 1`` of the signals' last axis.
"""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import check_partial_labels
from ..signals import check_signals, normalise_rows

__all__ = ["SignalAggregator", "expand_proba", "fit_soft_targets", "takes_proba_targets"]


def expand_proba(proba, classes, n_classes: int) -> np.ndarray:
    """Place probability columns at their class index; classes absent from ``classes`` get 0.

    Parameters
    ----------
    proba : array-like of shape (n_rows, n_seen)
        Probabilities of a classifier fitted on class indices, e.g. ``predict_proba``.
    classes : array-like of int, shape (n_seen,)
        The class index of each column (the classifier's ``classes_``).
    n_classes : int
        Number of classes of the full problem.

    Returns
    -------
    ndarray of shape (n_rows, n_classes)
    """
    proba = np.asarray(proba)
    out = np.zeros((proba.shape[0], n_classes))
    out[:, np.asarray(classes, dtype=int)] = proba
    return out


def takes_proba_targets(estimator) -> bool:
    """Whether ``estimator.fit`` takes probability targets: ``y`` of shape (n, n_classes).

    An estimator declares it with the class attribute ``takes_proba_targets = True`` (as
    :class:`~skmollal.negative_learning.NegativeLearningClassifier` and so the fine-tuned
    :class:`~skmollal.finetune.TransformerTextClassifier` do); any other estimator is
    taken to want class labels.

    Parameters
    ----------
    estimator : estimator
        Fitted or not.

    Returns
    -------
    bool
    """
    return getattr(estimator, "takes_proba_targets", False) is True


def fit_soft_targets(estimator, X, posterior, gold, gold_weight: float = 1.0):
    """Fit a classifier to soft labels, gold rows (one-hot posteriors) counted
    ``gold_weight`` times.

    An estimator that :func:`takes_proba_targets` is fitted on the posteriors themselves
    (``sample_weight``: ``gold_weight`` on gold rows, else 1); any other gets one copy of
    each row per class, weighted by its posterior.

    Parameters
    ----------
    estimator : classifier
        A fresh estimator whose ``fit`` takes ``sample_weight`` (it is fitted in place).
    X : ndarray of shape (n_rows, n_features) or (n_rows,)
        Features (or texts, for an estimator that reads them).
    posterior : ndarray of shape (n_rows, n_classes)
        Soft label of each row.
    gold : ndarray of bool, shape (n_rows,)
        Rows whose label is a gold label.
    gold_weight : float, default=1.0
        Weight of a gold row relative to a soft-labelled row.

    Returns
    -------
    estimator
        The fitted estimator, its classes a subset of ``0 .. n_classes - 1``.

    Raises
    ------
    ValueError
        If the weighted rows show fewer than two classes.
    """
    n, n_classes = posterior.shape
    if takes_proba_targets(estimator):
        if np.count_nonzero(posterior.sum(axis=0) > 1e-4) < 2:
            raise ValueError("training rows show fewer than two classes")
        return estimator.fit(X, posterior, sample_weight=np.where(gold, gold_weight, 1.0))
    rows = np.repeat(np.arange(n), n_classes)
    cls = np.tile(np.arange(n_classes), n)
    weight = posterior.ravel() * np.where(gold[rows], gold_weight, 1.0)
    keep = weight > 1e-4
    if np.unique(cls[keep]).size < 2:
        raise ValueError("training rows show fewer than two classes")
    return estimator.fit(X[rows[keep]], cls[keep], sample_weight=weight[keep])


class SignalAggregator(ClassifierMixin, BaseEstimator):
    """Base class of the aggregators: subclasses implement ``_scores(S)``, maybe ``_fit``.

    ``fit`` validates ``S`` and ``y`` and sets the attributes below, then calls
    ``_fit(S, y)``; ``predict_proba`` normalises the rows of ``_scores(S)`` (rows without
    any score become uniform). Set ``_requires_labels = True`` on a subclass that needs gold
    labels.

    Attributes
    ----------
    n_llms_ : int
        Number of LLMs in the signals seen in ``fit``.
    n_classes_ : int
        Number of classes.
    classes_ : ndarray of shape (n_classes,)
        ``arange(n_classes)``.
    """

    _requires_labels = False

    def fit(self, S, y=None):
        """Fit on signals ``S`` and gold labels ``y`` (``-1`` = unlabeled).

        Parameters
        ----------
        S : array-like of shape (n_texts, n_llms, 2, n_classes)
            Panel signals.
        y : array-like of shape (n_texts,), optional
            Gold class indices, ``-1`` for unlabeled rows.

        Returns
        -------
        self
        """
        S = check_signals(S, name="S")
        y = check_partial_labels(
            y, S.shape[0], S.shape[3], require_labels=self._requires_labels
        )
        self.n_llms_, self.n_classes_ = S.shape[1], S.shape[3]
        self.classes_ = np.arange(self.n_classes_)
        self._fit(S, y)
        return self

    def _fit(self, S: np.ndarray, y: np.ndarray) -> None:
        pass

    def _scores(self, S: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _check_predict(self, S) -> np.ndarray:
        check_is_fitted(self, "classes_")
        S = check_signals(S, name="S")
        if S.shape[1] != self.n_llms_ or S.shape[3] != self.n_classes_:
            raise ValueError(
                f"S has {S.shape[1]} LLMs and {S.shape[3]} classes; fitted on "
                f"{self.n_llms_} and {self.n_classes_}"
            )
        return S

    def predict_proba(self, S) -> np.ndarray:
        """Class probabilities, shape (n_texts, n_classes)."""
        return normalise_rows(self._scores(self._check_predict(S)))

    def predict(self, S) -> np.ndarray:
        """Predicted class index per text (ties go to the lowest class index)."""
        proba = self.predict_proba(S)
        return self.classes_[proba.argmax(axis=1)]
