"""Aggregation: fuse an LLM panel's signals into one label distribution per text.

* :mod:`~skmollal.aggregation.base`: the shared fit/predict plumbing
  (:class:`SignalAggregator`) and :func:`expand_proba`;
* :mod:`~skmollal.aggregation.baselines`: :class:`MajorityVote`, :class:`MeanProbability`,
  :class:`BestSingleLLM`;
* :mod:`~skmollal.aggregation.dawid_skene`: :func:`dawid_skene` and :class:`DawidSkene`;
* :mod:`~skmollal.aggregation.mixture`: the mixture model :class:`MixtureAggregator`
  (alias ``MixtureOfLLMsAnnotator``), learned from a few gold rows;
* :mod:`~skmollal.aggregation.masked`: :class:`MaskedAggregator`, for partial panels (a
  cascade's signals, NaN where an LLM was not asked): one model per set of asked LLMs.

All take signals ``S`` of shape ``(n_texts, n_llms, 2, n_classes)`` and ``y`` with ``-1`` for
unlabeled rows.
"""
from .base import SignalAggregator, expand_proba
from .baselines import BestSingleLLM, MajorityVote, MeanProbability
from .dawid_skene import DawidSkene, dawid_skene
from .masked import MaskedAggregator, asked_mask, check_masked_signals
from .mixture import MixtureAggregator, MixtureOfLLMsAnnotator

__all__ = [
    "MixtureAggregator",
    "MixtureOfLLMsAnnotator",
    "MajorityVote",
    "MeanProbability",
    "BestSingleLLM",
    "DawidSkene",
    "dawid_skene",
    "SignalAggregator",
    "expand_proba",
    "MaskedAggregator",
    "asked_mask",
    "check_masked_signals",
]
