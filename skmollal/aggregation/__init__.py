"""Aggregation: fuse an LLM panel's signals into one label distribution per text.

* :mod:`~skmollal.aggregation.base`: the shared fit/predict plumbing
  (:class:`SignalAggregator`) and :func:`~skmollal.aggregation.base.expand_proba`;
* :mod:`~skmollal.aggregation.baselines`: :class:`MajorityVote`, :class:`MeanProbability`,
  :class:`BestSingleLLM`;
* :mod:`~skmollal.aggregation.dawid_skene`: :class:`DawidSkene` and its function
  :func:`~skmollal.aggregation.dawid_skene.dawid_skene`;
* :mod:`~skmollal.aggregation.mixture`: the mixture model :class:`MixtureAggregator`
  (alias ``MixtureOfLLMsAnnotator``), learned from a few gold rows;
* :mod:`~skmollal.aggregation.two_view`: :class:`TwoViewMixture`, the mixture plus a text
  view (e.g. sentence embeddings), views weighed by cross-validation on the gold rows;
* :mod:`~skmollal.aggregation.gold_cv`, :mod:`~skmollal.aggregation.calibration`: out-of-fold
  predictions of the gold rows and the choice they support, view weights / temperature
  scaling, calibration error;
* :mod:`~skmollal.aggregation.report`: :func:`label_report`, what a user reads after
  annotation.

All take signals ``S`` of shape ``(n_texts, n_llms, 2, n_classes)`` and ``y`` with ``-1`` for
unlabeled rows. ``__all__`` lists the estimators and the label report; helpers are imported
from their modules. Experimental fusions are in :mod:`skmollal.experimental`.
"""
from .._deprecation import module_getattr
from .base import SignalAggregator
from .baselines import BestSingleLLM, MajorityVote, MeanProbability
from .dawid_skene import DawidSkene, dawid_skene  # noqa: F401 (the function shadows its module)
from .mixture import MixtureAggregator, MixtureOfLLMsAnnotator
from .report import format_label_report, label_report, plot_label_report
from .two_view import TwoViewMixture

__all__ = [
    "MixtureAggregator",
    "MixtureOfLLMsAnnotator",
    "TwoViewMixture",
    "MajorityVote",
    "MeanProbability",
    "BestSingleLLM",
    "DawidSkene",
    "SignalAggregator",
    "label_report",
    "format_label_report",
    "plot_label_report",
]

#: names that left this namespace -> their home (found with a FutureWarning)
_MOVED = {
    "VoteAnchoredMixture": "skmollal.experimental",
    "vote_log_proba": "skmollal.experimental",
    "FusionSelector": "skmollal.experimental",
    "choose_by_gold_cv": "skmollal.aggregation.gold_cv",
    "cross_val_gold_proba": "skmollal.aggregation.gold_cv",
    "fit_view_weights": "skmollal.aggregation.calibration",
    "expected_calibration_error": "skmollal.aggregation.calibration",
    "expand_proba": "skmollal.aggregation.base",
    "takes_proba_targets": "skmollal.aggregation.base",
    **dict.fromkeys(("MaskedAggregator", "asked_mask", "check_masked_signals", "join_masked"),
                    "skmollal.cascade.masked"),
}

__getattr__ = module_getattr(__name__, globals(), moved=_MOVED)
