"""A noise-robust skorch classifier: weighted cross-entropy plus a negative-learning term.

* :mod:`~skmollal.negative_learning.loss`: :func:`negative_learning_loss`, the loss of the
  MoLLIA reference implementation;
* :mod:`~skmollal.negative_learning.module`: :class:`MLPModule`, the default network;
* :mod:`~skmollal.negative_learning.classifier`: :class:`NegativeLearningClassifier`, the
  skorch classifier trained with that loss, and its scikit-learn input checks
  (:mod:`~skmollal.negative_learning.inputs`) and training-loop plumbing
  (:mod:`~skmollal.negative_learning.training`).
"""
from .classifier import NegativeLearningClassifier
from .inputs import EXTRA_KEYS, MASK_KEY, SOFT_TARGET_ATOL, TARGET_KEY, WEIGHT_KEY  # noqa: F401
from .loss import negative_learning_loss
from .module import MLPModule
# classifiers pickled before the split reference these names here
from .training import TrainingInterrupted as _TrainingInterrupted  # noqa: F401
from .training import index_accuracy as _index_accuracy  # noqa: F401

__all__ = [
    "NegativeLearningClassifier",
    "MLPModule",
    "negative_learning_loss",
    "TARGET_KEY",
    "WEIGHT_KEY",
    "MASK_KEY",
]
