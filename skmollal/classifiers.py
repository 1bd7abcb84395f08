"""The classifiers of the loop, built by name: the one factory for ``mlp``, ``logreg``, ``finetune``.

The experiment runner (:mod:`skmollal.experiment`, hence the command line) and the
benchmarks build the classifier that the active-learning loop trains through
:func:`make_classifier`, so one name means one configuration everywhere. It lives in the
learning layer (beside :mod:`~skmollal.negative_learning` and :mod:`~skmollal.finetune`), so
that :mod:`skmollal.active_learning` may use it too.
"""
from __future__ import annotations

from typing import Any

__all__ = ["CLASSIFIERS", "make_classifier"]

#: name -> what :func:`make_classifier` builds for it
CLASSIFIERS = {
    "mlp": "NegativeLearningClassifier: an MLP on fixed features (e.g. sentence embeddings)",
    "logreg": "scikit-learn LogisticRegression(max_iter=1000) on fixed features",
    "finetune": "TransformerTextClassifier: a transformer fine-tuned end to end on the texts",
}


def make_classifier(kind: str, random_state: int | None = None,
                    max_epochs: int | None = None) -> Any:
    """A fresh, unfitted classifier of kind ``kind``.

    Parameters
    ----------
    kind : {"mlp", "logreg", "finetune"}
        See :data:`CLASSIFIERS`. ``"mlp"`` and ``"logreg"`` take feature rows; ``"finetune"``
        takes the texts themselves.
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
    else:
        raise ValueError(f"unknown classifier {kind!r}; choose one of {sorted(CLASSIFIERS)}")
    epochs = {} if max_epochs is None else {"max_epochs": max_epochs}
    return estimator(random_state=random_state, **epochs)
