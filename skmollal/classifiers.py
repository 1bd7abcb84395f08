"""The classifiers of the loop, built by name: the one factory for ``mlp``, ``logreg``, ``finetune``.

The experiment runner (:mod:`skmollal.experiment`, hence the command line) and the
benchmarks build the classifier that the active-learning loop trains through
:func:`make_classifier`, so one name means one configuration everywhere. ``auto`` is
resolved before that, from the data: :func:`choose_classifier` cross-validates the
candidates on the gold rows a user gave and keeps the first (the richest) unless a simpler
one is better by more than a standard error (the rule of
:func:`~skmollal.aggregation.gold_cv.choose_by_gold_cv`). It lives in the learning layer (beside
:mod:`~skmollal.negative_learning` and :mod:`~skmollal.finetune`), so that
:mod:`skmollal.active_learning` may use it too.
"""
from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

__all__ = ["AUTO_CANDIDATES", "CLASSIFIERS", "choose_classifier", "make_classifier",
           "resolve_classifier"]

logger = logging.getLogger(__name__)

#: name -> what :func:`make_classifier` builds for it
CLASSIFIERS = {
    "mlp": "NegativeLearningClassifier: an MLP on fixed features (e.g. sentence embeddings)",
    "logreg": "scikit-learn LogisticRegression(max_iter=1000) on fixed features",
    "finetune": "TransformerTextClassifier: a transformer fine-tuned end to end on the texts",
    "auto": "mlp or logreg, whichever cross-validates better on the gold rows "
            "(choose_classifier)",
}

#: What ``auto`` chooses between, richest first (the first is kept unless a later one is
#: clearly better on the gold rows).
AUTO_CANDIDATES = ("mlp", "logreg")


def _gold_splitter(y: np.ndarray, cv: int, random_state: int | None):
    """Stratified folds when every class has two gold rows or more, else plain ones."""
    from sklearn.model_selection import KFold, StratifiedKFold

    smallest = np.unique(y, return_counts=True)[1].min()
    seed = 0 if random_state is None else random_state
    if smallest >= 2:
        return StratifiedKFold(min(cv, smallest), shuffle=True, random_state=seed)
    return KFold(min(cv, len(y)), shuffle=True, random_state=seed)


def choose_classifier(X: Any, y: Any, candidates: Sequence[str] = AUTO_CANDIDATES, *,
                      cv: int = 5, n_se: float = 1.0, random_state: int | None = None,
                      max_epochs: int | None = None) -> tuple[str, dict[str, float]]:
    """Pick the classifier by cross-validation on gold rows (the one-SE rule).

    Every candidate predicts each gold row out of fold; the first candidate is kept unless
    another is more accurate by more than ``n_se`` standard errors of the paired difference
    (:func:`~skmollal.aggregation.gold_cv.choose_by_gold_cv`), so a handful of gold rows only
    overturns the order on a clear difference.

    Parameters
    ----------
    X : array-like of shape (n_gold, n_features)
        Features of the gold rows (e.g. the seed's sentence embeddings).
    y : array-like of shape (n_gold,)
        Their gold labels.
    candidates : sequence of str, default=AUTO_CANDIDATES
        Names for :func:`make_classifier`, richest first.
    cv : int, default=5
        Folds (fewer when a class has fewer gold rows).
    n_se : float, default=1.0
        Standard errors a later candidate must gain to displace an earlier one.
    random_state : int, optional
        Seed of the folds and of the candidates.
    max_epochs : int, optional
        Passed to :func:`make_classifier`.

    Returns
    -------
    name : str
        The chosen candidate; the first one when there are too few gold rows to
        cross-validate (fewer than two classes, or fewer than two rows).
    scores : dict of str to float
        Each candidate's out-of-fold accuracy on the gold rows (empty when not measured).
    """
    from sklearn.model_selection import cross_val_predict

    from .aggregation.gold_cv import choose_by_gold_cv

    candidates = list(candidates)
    if not candidates:
        raise ValueError("choose_classifier: no candidates")
    y = np.asarray(y)
    if len(y) < 2 or np.unique(y).size < 2:
        logger.info("choose_classifier: too few gold rows to compare; keeping %s",
                    candidates[0])
        return candidates[0], {}
    folds = _gold_splitter(y, cv, random_state)
    correct = [cross_val_predict(make_classifier(name, random_state, max_epochs), X, y,
                                 cv=folds) == y for name in candidates]
    scores = {name: float(np.mean(c)) for name, c in zip(candidates, correct)}
    chosen = candidates[choose_by_gold_cv(correct, n_se)]
    logger.info("choose_classifier: %s (gold-row CV accuracy %s)", chosen,
                ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    return chosen, scores


def resolve_classifier(kind: str, X: Any, y: Any, random_state: int | None = None,
                       max_epochs: int | None = None) -> tuple[str, dict[str, float]]:
    """The classifier name to build: ``kind``, or for ``"auto"`` the one chosen on the gold
    rows of ``(X, y)`` by :func:`choose_classifier`.

    Parameters
    ----------
    kind : str
        A key of :data:`CLASSIFIERS`.
    X : array-like of shape (n_rows, n_features)
        Features of the rows (only read for ``"auto"``).
    y : array-like of shape (n_rows,)
        Class indices, ``-1`` for rows without a gold label.
    random_state, max_epochs : int, optional
        As for :func:`choose_classifier`.

    Returns
    -------
    (str, dict of str to float)
        The name, and the candidates' gold-row CV accuracy (empty unless ``kind`` is
        ``"auto"``).
    """
    if kind != "auto":
        return kind, {}
    gold = np.flatnonzero(np.asarray(y) >= 0)
    return choose_classifier(np.asarray(X)[gold], np.asarray(y)[gold],
                             random_state=random_state, max_epochs=max_epochs)


def make_classifier(kind: str, random_state: int | None = None,
                    max_epochs: int | None = None) -> Any:
    """A fresh, unfitted classifier of kind ``kind``.

    Parameters
    ----------
    kind : {"mlp", "logreg", "finetune"}
        See :data:`CLASSIFIERS`. ``"mlp"`` and ``"logreg"`` take feature rows; ``"finetune"``
        takes the texts themselves. (``"auto"`` needs data: resolve it with
        :func:`choose_classifier` first.)
    random_state : int, optional
        Seed of the network's initialisation and shuffling (``"mlp"``, ``"finetune"``);
        ``logreg`` is deterministic and ignores it.
    max_epochs : int, optional
        Training epochs per fit (``"mlp"``, ``"finetune"``); None keeps the estimator's
        default.

    Returns
    -------
    estimator
        An unfitted scikit-learn compatible classifier.

    Raises
    ------
    ValueError
        If ``kind`` is not a known name; the message lists them.

    Examples
    --------
    >>> make_classifier("mlp", random_state=0, max_epochs=5).max_epochs
    5
    """
    if kind == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    if kind == "mlp":
        from .negative_learning import NegativeLearningClassifier as estimator
    elif kind == "finetune":
        from .finetune import TransformerTextClassifier as estimator
    elif kind == "auto":
        raise ValueError("classifier 'auto' is chosen from the gold rows: call "
                         "choose_classifier(X_gold, y_gold) and make that one")
    else:
        raise ValueError(f"unknown classifier {kind!r}; choose one of {sorted(CLASSIFIERS)}")
    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    return estimator(random_state=random_state, **epochs)
