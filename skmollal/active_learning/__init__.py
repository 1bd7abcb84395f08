"""Active learning: a modAL-compatible learner, query strategies and the MoLLIA loop.

``__all__`` lists what a user imports: the learners, the budget and stopping rules, the
file-based review oracle and the exception a pending review raises, the query strategies
(plain functions with modAL's signature) and the learning-curve helpers. The loop's parts
are imported from their modules (``active_learning.state``, ``active_learning.review``, ...).
"""
from .._deprecation import module_getattr
from .classifier import MoLLIAClassifier
from .history import area_under_curve, history_to_frame, plot_learning_curve
from .learner import ActiveLearner
from .loop import MoLLIALoop
from .review import ReviewPending
from .review_csv import CsvReviewOracle
from .budget import Budget
from .stopping import KappaAverage, StableLabels, replay_stopping
from .strategies import (
    badge_sampling,
    coreset_sampling,
    least_confidence,
    margin_sampling,
    max_entropy,
    random_sampling,
)
from .torch_strategies import bemps_kmeans_sampling, bemps_sampling, noise_stability_sampling

__all__ = [
    "ActiveLearner",
    "MoLLIAClassifier",
    "MoLLIALoop",
    "Budget",
    "KappaAverage",
    "StableLabels",
    "replay_stopping",
    "CsvReviewOracle",
    "ReviewPending",
    "random_sampling",
    "max_entropy",
    "margin_sampling",
    "least_confidence",
    "coreset_sampling",
    "badge_sampling",
    "bemps_sampling",
    "bemps_kmeans_sampling",
    "noise_stability_sampling",
    "history_to_frame",
    "area_under_curve",
    "plot_learning_curve",
]

#: names that left this namespace -> their home (found with a FutureWarning)
_MOVED = {
    "LoopState": "skmollal.active_learning.state",
    "REVIEW_STRATEGIES": "skmollal.active_learning.review",
    "least_confident_rows": "skmollal.active_learning.review",
    "panel_split_rows": "skmollal.active_learning.review",
    "select_review_rows": "skmollal.active_learning.review",
    "STRATEGIES": "skmollal.active_learning.strategies",
    "get_strategy": "skmollal.active_learning.strategies",
    "mc_dropout_proba": "skmollal.active_learning.torch_strategies",
}

__getattr__ = module_getattr(__name__, globals(), moved=_MOVED)
