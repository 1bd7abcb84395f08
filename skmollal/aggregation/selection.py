"""Moved to :mod:`skmollal.experimental.selection` (this stub goes in the next release).

``choose_by_gold_cv`` is now in :mod:`skmollal.aggregation.gold_cv`. The other names are
found in the experimental package on first use (the core does not depend on it).
"""
from .._deprecation import module_getattr, moved_module
from .gold_cv import choose_by_gold_cv  # noqa: F401

__all__ = ["FusionSelector", "choose_by_gold_cv", "default_candidates"]

moved_module(__name__, "skmollal.experimental.selection")
__getattr__ = module_getattr(__name__, globals(), lazy=dict.fromkeys(
    ("FusionSelector", "default_candidates"), "skmollal.experimental.selection"))
