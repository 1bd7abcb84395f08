"""How the loop talks to the user's classifier: per-sample fit arguments and round settings.

The loop hands the classifier two per-sample arguments, ``sample_weight`` (discrepancy
weights) and ``negative_mask`` (negative labels), and sets two parameters on its own copy of
the classifier each round, ``nl_weight`` and, when the training labels lack classes,
``classes``. Two kinds of classifier take them:

* a plain estimator whose ``fit`` has the argument in its signature (what
  :func:`sklearn.utils.validation.has_fit_parameter` tells);
* a meta-estimator (a :class:`~sklearn.pipeline.Pipeline`, ...): scikit-learn's metadata
  routing decides, so the step that should receive an argument must request it
  (``step.set_fit_request(sample_weight=True)``; a
  :class:`~skmollal.negative_learning.NegativeLearningClassifier` requests both by default).
  The loop fits it inside ``sklearn.config_context(enable_metadata_routing=True)``.

An argument the classifier does not take is not passed, and the loop says so once.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Iterable

import numpy as np
import sklearn
from sklearn.pipeline import Pipeline
from sklearn.utils.metadata_routing import MetadataRouter, get_routing_for_object
from sklearn.utils.validation import has_fit_parameter

from ..aggregation.base import expand_proba

__all__ = [
    "final_estimator", "fit_arguments_taken", "full_proba", "routing_context", "set_round_params",
]


def final_estimator(estimator: Any) -> Any:
    """The estimator that does the classifying: the last step of (nested) Pipelines.

    Parameters
    ----------
    estimator : estimator
        A classifier, a Pipeline, or an :class:`~skmollal.active_learning.ActiveLearner`
        (anything with an ``estimator`` attribute and ``query``), which is unwrapped first.

    Returns
    -------
    estimator
    """
    while True:
        if hasattr(estimator, "query") and hasattr(estimator, "estimator"):
            estimator = estimator.estimator
        elif isinstance(estimator, Pipeline):
            estimator = estimator.steps[-1][1]
        else:
            return estimator


def _is_router(estimator: Any) -> bool:
    with sklearn.config_context(enable_metadata_routing=True):
        return isinstance(get_routing_for_object(estimator), MetadataRouter)


def fit_arguments_taken(estimator: Any, names: Iterable[str]) -> set[str]:
    """Which of the per-sample ``names`` ``estimator.fit`` takes.

    Parameters
    ----------
    estimator : estimator
        A plain estimator or a meta-estimator such as a Pipeline.
    names : iterable of str
        Candidate fit arguments, e.g. ``("sample_weight", "negative_mask")``.

    Returns
    -------
    set of str
        For a meta-estimator, the arguments that metadata routing sends to some step
        (requested there); for a plain one, those in its ``fit`` signature.
    """
    names = list(names)
    if not _is_router(estimator):
        return {n for n in names if has_fit_parameter(estimator, n)}
    with sklearn.config_context(enable_metadata_routing=True):
        routing = get_routing_for_object(estimator)
        return set(routing.consumes("fit", names))


def routing_context(estimator: Any):
    """The context to call ``estimator.fit`` in: metadata routing on for meta-estimators.

    Parameters
    ----------
    estimator : estimator
        The estimator about to be fitted.

    Returns
    -------
    context manager
    """
    if _is_router(estimator):
        return sklearn.config_context(enable_metadata_routing=True)
    return nullcontext()


def set_round_params(estimator: Any, *, n_classes: int, y: np.ndarray,
                     nl_weight: float | None) -> None:
    """Set this round's ``nl_weight`` and, if needed, ``classes`` on the final estimator.

    Only for parameters the final estimator has. The loop calls this on its own clone,
    never on the user's estimator.

    Parameters
    ----------
    estimator : estimator
        The loop's clone (a classifier or a Pipeline ending in one).
    n_classes : int
        Number of classes of the task.
    y : ndarray
        This round's training targets: ``classes`` is set (to ``arange(n_classes)``) when it
        is None and hard labels ``y`` lack some classes, so the outputs keep one column per
        class.
    nl_weight : float or None
        The round's negative-learning weight; None leaves the parameter alone.
    """
    final = final_estimator(estimator)
    own = final.get_params(deep=False)
    params: dict[str, Any] = {}
    if ("classes" in own and own["classes"] is None and y.ndim == 1
            and len(np.unique(y)) < n_classes):
        params["classes"] = np.arange(n_classes)
    if "nl_weight" in own and nl_weight is not None:
        params["nl_weight"] = float(nl_weight)
    if params:
        final.set_params(**params)


def full_proba(estimator: Any, X: Any, n_classes: int, **params) -> np.ndarray:
    """``predict_proba`` spread onto all ``n_classes`` columns (classes never seen get 0).

    Parameters
    ----------
    estimator : classifier
        Fitted, with ``predict_proba`` (and ``classes_`` when it saw fewer classes).
    X : array-like
        Rows to predict.
    n_classes : int
        Number of classes of the task.
    **params
        Passed to ``predict_proba`` (e.g. a two-view mixture's ``X_text``).

    Returns
    -------
    ndarray of shape (n_rows, n_classes)
    """
    proba = np.asarray(estimator.predict_proba(X, **params), dtype=float)
    if proba.shape[1] == n_classes:
        return proba
    classes = getattr(estimator, "classes_", np.arange(proba.shape[1]))
    return expand_proba(proba, classes, n_classes)
