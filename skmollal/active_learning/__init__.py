"""Active learning: a modAL-compatible learner, query strategies and the MoLLIA loop."""
from .classifier import MoLLIAClassifier
from .history import area_under_curve, history_to_frame, plot_learning_curve
from .learner import ActiveLearner
from .loop import MoLLIALoop
from .state import LoopState
from .strategies import (
    STRATEGIES,
    badge_sampling,
    coreset_sampling,
    get_strategy,
    least_confidence,
    margin_sampling,
    max_entropy,
    random_sampling,
)
from .torch_strategies import (
    bemps_kmeans_sampling,
    bemps_sampling,
    mc_dropout_proba,
    noise_stability_sampling,
)

__all__ = [
    "ActiveLearner",
    "MoLLIAClassifier",
    "LoopState",
    "MoLLIALoop",
    "STRATEGIES",
    "area_under_curve",
    "badge_sampling",
    "bemps_kmeans_sampling",
    "bemps_sampling",
    "coreset_sampling",
    "get_strategy",
    "history_to_frame",
    "least_confidence",
    "margin_sampling",
    "max_entropy",
    "mc_dropout_proba",
    "noise_stability_sampling",
    "plot_learning_curve",
    "random_sampling",
]
