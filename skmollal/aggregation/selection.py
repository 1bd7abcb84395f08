"""Moved to :mod:`skmollal.experimental.selection` (this stub goes in the next release).

``choose_by_gold_cv`` is now in :mod:`skmollal.aggregation.gold_cv`.
"""
from .._deprecation import moved_module
from ..experimental.selection import FusionSelector, default_candidates
from .gold_cv import choose_by_gold_cv

__all__ = ["FusionSelector", "choose_by_gold_cv", "default_candidates"]

moved_module(__name__, "skmollal.experimental.selection")
