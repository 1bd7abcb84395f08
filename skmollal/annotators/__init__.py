"""LLM annotators: turn texts into per-class probabilities and votes.

Backends with heavy dependencies (transformers, httpx) load on first use.
"""
from __future__ import annotations

import importlib
from typing import Any

from .base import PROBS, VOTES, AnnotationResult, Annotator
from .costs import AnnotatorCost, CallCost, Price
from .parsing import parse_label, vote_distribution
from .recorded import RecordedAnnotator

_LAZY = {
    "AnnotationTask": ".task",
    "TransformersAnnotator": ".local",
    "OpenAICompatibleAnnotator": ".openai",
    "AnnotationCache": ".cache",
    "CachedAnnotator": ".cache",
    "LLMPanel": ".panel",
}

__all__ = [
    "AnnotationResult",
    "Annotator",
    "AnnotatorCost",
    "CallCost",
    "Price",
    "PROBS",
    "VOTES",
    "RecordedAnnotator",
    "parse_label",
    "vote_distribution",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
