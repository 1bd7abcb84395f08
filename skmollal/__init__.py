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
    "load_recordings": "skmollal.datasets",
    "fetch_recordings": "skmollal.datasets",
    "AnnotationResult": "skmollal.annotators.base",
    "RecordedAnnotator": "skmollal.annotators.recorded",
    "parse_label": "skmollal.annotators.parsing",
    "vote_distribution": "skmollal.annotators.parsing",
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
