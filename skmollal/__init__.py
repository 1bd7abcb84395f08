"""skmollal: Mixture of LLMs in the Loop Active Learning, scikit-learn style.

Public names are imported lazily, so ``import skmollal`` stays cheap and loads torch,
transformers or sentence-transformers only when an estimator that needs them is used.
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    # data
    "load_recordings": "skmollal.datasets",
    "fetch_recordings": "skmollal.datasets",
    "load_demo": "skmollal.demo",
    # annotators
    "AnnotationResult": "skmollal.annotators.base",
    "AnnotationTask": "skmollal.annotators.task",
    "RecordedAnnotator": "skmollal.annotators.recorded",
    "TransformersAnnotator": "skmollal.annotators.local",
    "OpenAICompatibleAnnotator": "skmollal.annotators.openai",
    "AnnotationCache": "skmollal.annotators.cache",
    "CachedAnnotator": "skmollal.annotators.cache",
    "LLMPanel": "skmollal.annotators.panel",
    "parse_label": "skmollal.annotators.parsing",
    "vote_distribution": "skmollal.annotators.parsing",
    # mixture of LLM annotations, and baselines
    "MixtureAggregator": "skmollal.aggregation",
    "MixtureOfLLMsAnnotator": "skmollal.aggregation",
    "MajorityVote": "skmollal.aggregation",
    "MeanProbability": "skmollal.aggregation",
    "BestSingleLLM": "skmollal.aggregation",
    "DawidSkene": "skmollal.aggregation",
    "TwoViewMixture": "skmollal.aggregation",
    "FusionSelector": "skmollal.aggregation",
    "label_report": "skmollal.aggregation",
    # learning from noisy labels
    "NegativeLearningClassifier": "skmollal.negative_learning",
    "TransformerTextClassifier": "skmollal.finetune",
    "SentenceEmbedder": "skmollal.featurizers",
    "negative_labels": "skmollal.label_noise",
    "discrepancy_weights": "skmollal.label_noise",
    "nl_weight_schedule": "skmollal.label_noise",
    # active learning
    "ActiveLearner": "skmollal.active_learning",
    "MoLLIAClassifier": "skmollal.active_learning",
    "MoLLIALoop": "skmollal.active_learning",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'skmollal' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
