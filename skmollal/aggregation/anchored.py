"""Moved to :mod:`skmollal.experimental.anchored` (this stub goes in the next release).

Its names are found there on first use (no import of the experimental package at the top:
the core does not depend on it).
"""
from .._deprecation import module_getattr, moved_module

__all__ = ["VoteAnchoredMixture", "vote_log_proba"]

moved_module(__name__, "skmollal.experimental.anchored")
__getattr__ = module_getattr(__name__, globals(),
                             lazy=dict.fromkeys(__all__, "skmollal.experimental.anchored"))
