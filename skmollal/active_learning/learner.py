"""A modAL-compatible active learner that runs on today's scikit-learn.

:class:`ActiveLearner` has modAL's constructor, attributes and methods
(``query``, ``teach``, ``fit``, ``predict``, ``predict_proba``, ``score``,
``transform_without_estimating``, ``X_training`` / ``y_training``), so code written for
``modAL.models.ActiveLearner`` runs unchanged, and modAL's query strategies run inside it.
As in modAL, ``query`` hands the strategy the pool as given (with ``on_transformed=True``
too: a strategy that works on the pipeline's features reads the flag and calls
``transform_without_estimating`` itself), returns the strategy's indices as they are (a
single index gives ``(index, X_pool[index])``, repeated indices are kept), and
``teach(only_new=True)`` fits on the new rows without adding them to ``X_training``.
Differences from modAL 0.4.2:

* ``teach`` does not call ``check_X_y(force_all_finite=...)`` (removed in scikit-learn 1.8,
  which makes modAL's ``teach`` crash); it accepts lists of texts, arrays, sparse matrices,
  DataFrames, and soft labels ``(n, n_classes)`` as ``y``.
* ``query`` tells a strategy's ``(indices, scores)`` pair from a bare index array by type
  instead of by trying to unpack it (modAL mistakes a bare array of two indices for a pair).
* ``clone`` gives an unfitted copy with the same parameters (``X_training`` and
  ``y_training`` included) and the same ``**fit_kwargs``, as scikit-learn's ``clone``
  promises; the constructor fits, the copy does not until ``fit`` or ``teach``.
  ``**fit_kwargs`` are kept in ``fit_kwargs`` but are not part of ``get_params``.
"""
from __future__ import annotations

import logging
from typing import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import Pipeline

from .strategies import get_strategy, max_entropy

__all__ = ["ActiveLearner", "distinct_indices", "stack_rows", "take_rows"]

logger = logging.getLogger(__name__)


def _n_rows(X) -> int:
    return int(X.shape[0]) if hasattr(X, "shape") else len(X)


def take_rows(X, idx):
    """``X[idx]`` for arrays, sparse matrices, DataFrames and lists."""
    idx = np.asarray(idx, dtype=int).reshape(-1)
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    if isinstance(X, (list, tuple)):
        return [X[i] for i in idx]
    return X[idx]


def distinct_indices(idx) -> np.ndarray:
    """``idx`` as a 1-d int array, or a ValueError when an index repeats.

    :meth:`ActiveLearner.query` keeps repeated indices (as modAL does); a loop that
    annotates each queried row once needs them distinct.
    """
    idx = np.asarray(idx, dtype=int).reshape(-1)
    if len(np.unique(idx)) != len(idx):
        raise ValueError(f"the query strategy returned repeated indices: {idx.tolist()}; "
                         "each queried row is annotated once, so they must be distinct")
    return idx


def stack_rows(blocks):
    """Stack row blocks of the same kind (arrays, sparse, DataFrames, lists)."""
    blocks = [b for b in blocks if b is not None]
    if not blocks:
        raise ValueError("stack_rows: nothing to stack")
    first = blocks[0]
    if any(sp.issparse(b) for b in blocks):
        return sp.vstack(blocks).tocsr()
    if hasattr(first, "iloc"):
        import pandas as pd

        return pd.concat(blocks, axis=0)
    if isinstance(first, (list, tuple)):
        out: list = []
        for b in blocks:
            out.extend(list(b))
        return out
    try:
        return np.concatenate([np.asarray(b) for b in blocks])
    except ValueError as exc:
        shapes = [np.shape(b) for b in blocks]
        raise ValueError(
            f"the new training data do not match the data seen so far (shapes {shapes})"
        ) from exc


class ActiveLearner(ClassifierMixin, BaseEstimator):
    """Pool-based active learner with modAL's API.

    Parameters
    ----------
    estimator : estimator
        Any scikit-learn classifier (or Pipeline) with ``fit`` / ``predict_proba``.
    query_strategy : callable or str, default=max_entropy
        ``strategy(learner, X_pool, n_instances=..., **kw)`` returning indices, or
        ``(indices, scores)``; a name from :data:`skmollal.active_learning.strategies.STRATEGIES`;
        modAL's strategies work too.
    X_training, y_training : array-like, optional
        Initial labeled data; when given, the estimator is fitted at construction (as modAL).
    bootstrap_init : bool, default=False
        Fit the initial estimator on a bootstrap sample (as modAL).
    on_transformed : bool, default=False
        A flag for the strategy (as in modAL): strategies that read it work on
        ``transform_without_estimating(X_pool)`` (they transform the pool themselves); the
        learner always hands them the pool as given.
    **fit_kwargs
        Passed to ``estimator.fit`` at construction.

    Attributes
    ----------
    X_training, y_training
        The labeled data the estimator was last fitted on (grow with :meth:`teach`).
    classes_ : ndarray
        The fitted estimator's classes.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 2)); y = (X[:, 0] > 0).astype(int)
    >>> learner = ActiveLearner(LogisticRegression(), X_training=X[:4], y_training=y[:4])
    >>> idx, rows = learner.query(X[4:], n_instances=3)
    >>> learner.teach(rows, y[4:][idx]).y_training.shape
    (7,)
    """

    def __init__(self, estimator, query_strategy: Callable | str = max_entropy,
                 X_training=None, y_training=None, bootstrap_init: bool = False,
                 on_transformed: bool = False, **fit_kwargs) -> None:
        self.estimator = estimator
        self.query_strategy = query_strategy
        self.X_training = X_training
        self.y_training = y_training
        self.bootstrap_init = bootstrap_init
        self.on_transformed = on_transformed
        self.fit_kwargs = fit_kwargs
        if X_training is not None:
            if y_training is None:
                raise ValueError("ActiveLearner: X_training was given without y_training")
            self._fit_to_known(bootstrap=bootstrap_init, **fit_kwargs)

    # ------------------------------------------------------------------ training data
    @staticmethod
    def _check_Xy(X, y):
        if X is None or y is None:
            raise ValueError("ActiveLearner: both X and y are required")
        y = np.asarray(y)
        n_x, n_y = _n_rows(X), (y.shape[0] if y.ndim else 1)
        if n_x != n_y:
            raise ValueError(f"ActiveLearner: X has {n_x} rows but y has {n_y}")
        if n_x == 0:
            raise ValueError("ActiveLearner: no rows to learn from")
        return X, y

    def _add_training_data(self, X, y) -> None:
        X, y = self._check_Xy(X, y)
        if self.X_training is None:
            self.X_training, self.y_training = X, y
        else:
            self.X_training = stack_rows([self.X_training, X])
            self.y_training = stack_rows([np.asarray(self.y_training), y])

    def _fit_to_known(self, bootstrap: bool = False, **fit_kwargs) -> "ActiveLearner":
        X, y = self._check_Xy(self.X_training, self.y_training)
        if bootstrap:
            idx = np.random.choice(_n_rows(X), _n_rows(X), replace=True)
            X, y = take_rows(X, idx), y[idx]
        self.estimator.fit(X, y, **fit_kwargs)
        return self

    def fit(self, X, y, bootstrap: bool = False, **fit_kwargs) -> "ActiveLearner":
        """Forget the labeled data, then fit on ``X, y`` (which become ``X_training``).

        Per-sample fit parameters (``sample_weight=``, ``negative_mask=``) belong here: they
        are passed to ``estimator.fit`` with the data they describe.
        """
        X, y = self._check_Xy(X, y)
        self.X_training, self.y_training = X, y
        return self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    def _fit_on_new(self, X, y, bootstrap: bool = False, **fit_kwargs) -> "ActiveLearner":
        X, y = self._check_Xy(X, y)
        if bootstrap:
            idx = np.random.choice(_n_rows(X), _n_rows(X), replace=True)
            X, y = take_rows(X, idx), y[idx]
        self.estimator.fit(X, y, **fit_kwargs)
        return self

    def teach(self, X, y, bootstrap: bool = False, only_new: bool = False,
              **fit_kwargs) -> "ActiveLearner":
        """Add labeled rows and refit on everything known; with ``only_new``, fit on the
        new rows alone and leave ``X_training`` / ``y_training`` as they are (as modAL).

        ``fit_kwargs`` go to ``estimator.fit`` as they are (as in modAL), so per-sample
        parameters must match the rows being fitted: use :meth:`fit` for those.
        """
        if only_new:  # as modAL: fitted on the new rows, which X_training does not keep
            return self._fit_on_new(X, y, bootstrap=bootstrap, **fit_kwargs)
        self._add_training_data(X, y)
        return self._fit_to_known(bootstrap=bootstrap, **fit_kwargs)

    # ------------------------------------------------------------------ prediction
    def predict(self, X, **predict_kwargs):
        """The estimator's predictions."""
        return self.estimator.predict(X, **predict_kwargs)

    def predict_proba(self, X, **predict_proba_kwargs):
        """The estimator's class probabilities."""
        return self.estimator.predict_proba(X, **predict_proba_kwargs)

    def score(self, X, y, sample_weight=None):
        """The estimator's score (accuracy for classifiers)."""
        if sample_weight is None:
            return self.estimator.score(X, y)
        return self.estimator.score(X, y, sample_weight=sample_weight)

    @property
    def classes_(self):
        """Classes of the fitted estimator."""
        est = self.estimator
        if hasattr(est, "classes_"):
            return est.classes_
        raise AttributeError("the estimator has no classes_ (is it fitted?)")

    def __sklearn_is_fitted__(self) -> bool:
        from sklearn.utils.validation import check_is_fitted

        try:
            check_is_fitted(self.estimator)
        except Exception:  # noqa: BLE001 - any failure means "not fitted"
            return False
        return True

    def transform_without_estimating(self, X):
        """Apply all but the last step of a Pipeline estimator; else return ``X``."""
        if isinstance(self.estimator, Pipeline):
            return self.estimator[:-1].transform(X)
        return X

    # ------------------------------------------------------------------ querying
    def query(self, X_pool, *query_args, return_metrics: bool = False, **query_kwargs):
        """Ask the strategy which pool rows to label.

        The strategy gets ``X_pool`` as given, with ``on_transformed`` too (the flag is for
        the strategy to read).

        Returns
        -------
        query_idx : ndarray of int, or int
            The strategy's indices (repeats kept); a single int when it returned one.
        X_query : rows of ``X_pool`` at ``query_idx`` (one row for a single int)
        metrics : ndarray, only with ``return_metrics=True`` (None when the strategy
            returns bare indices)
        """
        strategy = get_strategy(self.query_strategy)
        result = strategy(self, X_pool, *query_args, **query_kwargs)
        if isinstance(result, tuple) and len(result) == 2:
            query_idx, metrics = result
        else:
            query_idx, metrics = result, None
        if np.ndim(query_idx) == 0:  # one index: one row, as modAL
            query_idx = int(query_idx)
            rows = take_rows(X_pool, [query_idx])
            rows = rows.iloc[0] if hasattr(rows, "iloc") else rows[0]
        else:
            query_idx = np.asarray(query_idx, dtype=int).reshape(-1)
            rows = take_rows(X_pool, query_idx)
        if return_metrics:
            return query_idx, rows, metrics
        return query_idx, rows

    def __sklearn_clone__(self) -> "ActiveLearner":
        """An unfitted copy with the same parameters and ``fit_kwargs`` (nothing is fitted,
        unlike the constructor given ``X_training``)."""
        new = type(self).__new__(type(self))
        for name, value in self.get_params(deep=False).items():
            setattr(new, name, clone(value, safe=False))
        new.fit_kwargs = {k: clone(v, safe=False) for k, v in self.fit_kwargs.items()}
        return new
