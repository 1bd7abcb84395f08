"""Active learning: a modAL-compatible learner, query strategies and the MoLLIA loop."""
from .classifier import MoLLIAClassifier
from .history import area_under_curve, history_to_frame, plot_learning_curve
from .learner import ActiveLearner
from .loop import MoLLIALoop
from .review import (REVIEW_STRATEGIES, ReviewPending, least_confident_rows, panel_split_rows,
                     select_review_rows)
from .review_csv import CsvReviewOracle
from .state import LoopState
from .budget import Budget
from .stopping import KappaAverage, StableLabels, replay_stopping
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
    "Budget",
    "CsvReviewOracle",
    "REVIEW_STRATEGIES",
    "ReviewPending",
    "KappaAverage",
    "StableLabels",
    "replay_stopping",
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
    "least_confident_rows",
    "margin_sampling",
    "max_entropy",
    "mc_dropout_proba",
    "noise_stability_sampling",
    "panel_split_rows",
    "plot_learning_curve",
    "random_sampling",
    "select_review_rows",
]
