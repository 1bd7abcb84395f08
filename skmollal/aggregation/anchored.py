"""Moved to :mod:`skmollal.experimental.anchored` (this stub goes in the next release)."""
from .._deprecation import moved_module
from ..experimental.anchored import VoteAnchoredMixture, vote_log_proba

__all__ = ["VoteAnchoredMixture", "vote_log_proba"]

moved_module(__name__, "skmollal.experimental.anchored")
