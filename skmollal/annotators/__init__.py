"""LLM annotators: turn texts into per-class probabilities and votes.

``__all__`` lists what a user imports: the annotator interface and its result, the task,
the backends, the panel and the cache, prices, and the two parsing helpers a custom
annotator needs. Other helpers are imported from their modules (``annotators.cache``,
``annotators.costs``, ...). Backends with heavy dependencies (transformers, httpx) load on
first use.
"""
from __future__ import annotations

from .._deprecation import module_getattr
from .base import AnnotationResult, Annotator
from .costs import CallCost, Price
from .parsing import parse_label, vote_distribution
from .recorded import RecordedAnnotator

_LAZY = {
    "AnnotationTask": ".task",
    "TransformersAnnotator": ".local",
    "OpenAICompatibleAnnotator": ".openai",
    "AnnotationCache": ".cache",
    "LLMPanel": ".panel",
}

__all__ = [
    "AnnotationResult",
    "Annotator",
    "CallCost",
    "Price",
    "RecordedAnnotator",
    "parse_label",
    "vote_distribution",
    *_LAZY,
]

#: names that left this namespace -> their home (found with a FutureWarning)
_MOVED = {
    "PROBS": "skmollal.annotators.base",
    "VOTES": "skmollal.annotators.base",
    "AnnotatorCost": "skmollal.annotators.costs",
    "CachedAnnotator": "skmollal.annotators.cache",
}

__getattr__ = module_getattr(__name__, globals(), lazy=_LAZY, moved=_MOVED)
