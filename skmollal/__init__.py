"""skmollal: Mixture of LLMs in the Loop Active Learning, scikit-learn style.

The top level holds what a user imports: data loaders, annotators and the panel, the
aggregators, the classifiers and the active-learning estimators. Everything else is in a
subpackage (``skmollal.aggregation``, ``skmollal.annotators``, ``skmollal.active_learning``,
whose ``__all__`` lists what a user imports there) or, for helpers, in its module
(``skmollal.label_noise.negative_labels``, ...). Experimental estimators are in
``skmollal.experimental``.

Public names are imported lazily, so ``import skmollal`` stays cheap and loads torch,
transformers or sentence-transformers only when an estimator that needs them is used.
"""
from __future__ import annotations

from ._deprecation import module_getattr

__version__ = "0.1.0"

#: public name -> module that defines it
_EXPORTS = {
    # data
    "load_recordings": "skmollal.datasets",
    "load_demo": "skmollal.demo",
    # annotators
    "AnnotationTask": "skmollal.annotators.task",
    "RecordedAnnotator": "skmollal.annotators.recorded",
    "TransformersAnnotator": "skmollal.annotators.local",
    "OpenAICompatibleAnnotator": "skmollal.annotators.openai",
    "AnnotationCache": "skmollal.annotators.cache",
    "LLMPanel": "skmollal.annotators.panel",
    # mixture of LLM annotations, and baselines
    "MixtureAggregator": "skmollal.aggregation",
    "MixtureOfLLMsAnnotator": "skmollal.aggregation",
    "MajorityVote": "skmollal.aggregation",
    "DawidSkene": "skmollal.aggregation",
    # cascade annotation: ask only the LLMs a text needs
    "CascadePanel": "skmollal.cascade",
    # the mixture that also reads the text
    "TwoViewMixture": "skmollal.aggregation",
    # learning from noisy labels
    "NegativeLearningClassifier": "skmollal.negative_learning",
    "TransformerTextClassifier": "skmollal.finetune",
    "SentenceEmbedder": "skmollal.featurizers",
    # active learning
    "ActiveLearner": "skmollal.active_learning",
    "MoLLIAClassifier": "skmollal.active_learning",
    "MoLLIALoop": "skmollal.active_learning",
}

__all__ = sorted(_EXPORTS)

#: names that left the top level -> their home (found with a FutureWarning)
_MOVED = {
    "fetch_recordings": "skmollal.datasets",
    "MeanProbability": "skmollal.aggregation",
    "BestSingleLLM": "skmollal.aggregation",
    "FusionSelector": "skmollal.experimental",
}

__getattr__ = module_getattr(__name__, globals(), lazy=_EXPORTS, moved=_MOVED)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
