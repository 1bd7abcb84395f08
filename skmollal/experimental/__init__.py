"""Experimental estimators: kept for research, outside the stable API.

Every estimator here was measured on the project's benchmarks and found neutral or worse
than the default it would replace (see :doc:`/benchmarks/mixture_accuracy` and
:doc:`/benchmarks/active_learning`); no default and no command-line name uses them. They are
kept so that the measurements can be repeated and the ideas tried on other data. Their
names, parameters and behaviour **may change, or they may go, without a deprecation
period**.

* :class:`CoTrainingMixture`: :class:`~skmollal.aggregation.TwoViewMixture` with its
  signal and text views co-trained over several rounds;
* :class:`VoteAnchoredMixture` and :func:`vote_log_proba`: the mixture and majority vote
  weighed as two views by the gold rows' log loss;
* :class:`FusionSelector`: a choice among fusions by cross-validation on the gold rows.
"""
from .anchored import VoteAnchoredMixture, vote_log_proba
from .co_training import CoTrainingMixture
from .selection import FusionSelector

__all__ = ["CoTrainingMixture", "FusionSelector", "VoteAnchoredMixture", "vote_log_proba"]
