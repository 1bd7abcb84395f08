"""LLM annotators: turn texts into per-class probabilities and votes."""
from .base import PROBS, VOTES, AnnotationResult, Annotator
from .parsing import parse_label, vote_distribution
from .recorded import RecordedAnnotator

__all__ = [
    "AnnotationResult",
    "Annotator",
    "PROBS",
    "VOTES",
    "RecordedAnnotator",
    "parse_label",
    "vote_distribution",
]
