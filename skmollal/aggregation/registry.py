"""Aggregators by name: the names the command line and the experiment runner accept."""
from __future__ import annotations

from typing import Any

__all__ = ["AGGREGATORS", "make_aggregator"]

#: aggregator name -> the :mod:`skmollal.aggregation` estimator it builds (default parameters)
AGGREGATORS = {
    "molam": "MixtureAggregator",
    "mollia": "MixtureAggregator",
    "majority": "MajorityVote",
    "mean": "MeanProbability",
    "best-single": "BestSingleLLM",
    "dawid-skene": "DawidSkene",
    "two-view": "TwoViewMixture",  # the mixture plus a text view, weighed by gold-row CV
}


def make_aggregator(name: str) -> Any:
    """The aggregator (mixture model or baseline) ``name``, with default parameters.

    Parameters
    ----------
    name : str
        A key of :data:`AGGREGATORS`: ``molam`` / ``mollia`` (the mixture model),
        ``majority``, ``mean``, ``best-single``, ``dawid-skene`` or ``two-view`` (the
        mixture and the text's features, weighed by cross-validation on the gold rows).

    Returns
    -------
    estimator
        A new, unfitted aggregator.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the names.
    """
    if name not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {name!r}; choose one of {sorted(AGGREGATORS)}")
    from .. import aggregation

    return getattr(aggregation, AGGREGATORS[name])()
