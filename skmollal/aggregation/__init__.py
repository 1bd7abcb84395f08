"""Aggregation: fuse an LLM panel's signals into one label distribution per text.

* :mod:`~skmollal.aggregation.base`: the shared fit/predict plumbing
  (:class:`SignalAggregator`) and :func:`expand_proba`;
* :mod:`~skmollal.aggregation.baselines`: :class:`MajorityVote`, :class:`MeanProbability`,
  :class:`BestSingleLLM`;
* :mod:`~skmollal.aggregation.dawid_skene`: :func:`dawid_skene` and :class:`DawidSkene`;
* :mod:`~skmollal.aggregation.mixture`: the mixture model :class:`MixtureAggregator`
  (alias ``MixtureOfLLMsAnnotator``), learned from a few gold rows;
* :mod:`~skmollal.aggregation.two_view`: :class:`TwoViewMixture`, the mixture plus a text
  view (e.g. sentence embeddings), views weighed by cross-validation on the gold rows;
* :mod:`~skmollal.aggregation.anchored`: :class:`VoteAnchoredMixture`, the mixture and
  majority vote weighed as two views by the gold rows' log loss (labels that a few
  misleading gold rows cannot pull far below majority vote's);
* :mod:`~skmollal.aggregation.selection`: :class:`FusionSelector`, the fusion (two-view,
  Dawid-Skene, best single LLM) that gold-row CV supports, calibrated;
* :mod:`~skmollal.aggregation.gold_cv`, :mod:`~skmollal.aggregation.calibration`: out-of-fold
  predictions of the gold rows, view weights / temperature scaling, calibration error;
* :mod:`~skmollal.aggregation.report`: :func:`label_report`, what a user reads after
  annotation.

All take signals ``S`` of shape ``(n_texts, n_llms, 2, n_classes)`` and ``y`` with ``-1`` for
unlabeled rows.
"""
from .anchored import VoteAnchoredMixture, vote_log_proba
from .base import SignalAggregator, expand_proba, takes_proba_targets
from .baselines import BestSingleLLM, MajorityVote, MeanProbability
from .dawid_skene import DawidSkene, dawid_skene
from .calibration import expected_calibration_error, fit_view_weights
from .gold_cv import cross_val_gold_proba
from .mixture import MixtureAggregator, MixtureOfLLMsAnnotator
from .report import format_label_report, label_report, plot_label_report
from .selection import FusionSelector, choose_by_gold_cv
from .two_view import TwoViewMixture

__all__ = [
    "MixtureAggregator",
    "MixtureOfLLMsAnnotator",
    "TwoViewMixture",
    "VoteAnchoredMixture",
    "vote_log_proba",
    "FusionSelector",
    "choose_by_gold_cv",
    "cross_val_gold_proba",
    "fit_view_weights",
    "expected_calibration_error",
    "label_report",
    "format_label_report",
    "plot_label_report",
    "MajorityVote",
    "MeanProbability",
    "BestSingleLLM",
    "DawidSkene",
    "dawid_skene",
    "SignalAggregator",
    "expand_proba",
    "takes_proba_targets",
]

#: names whose home moved: name -> new module
_MOVED = {name: "skmollal.cascade.masked" for name in ("MaskedAggregator", "asked_mask",
                                                "check_masked_signals", "join_masked")}


def __getattr__(name: str):
    if name in _MOVED:
        import importlib
        import warnings

        warnings.warn(f"skmollal.aggregation.{name} moved to {_MOVED[name]}.{name}",
                      FutureWarning, stacklevel=2)
        return getattr(importlib.import_module(_MOVED[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
