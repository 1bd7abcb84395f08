"""Cascade annotation: ask a panel's LLMs one at a time, only as many as a text needs.

* :mod:`~skmollal.cascade.panel`: :class:`CascadePanel`, the panel that cascades;
* :mod:`~skmollal.cascade.seed`: what it learns from the gold seed (the order of its LLMs,
  its threshold, simulated out of fold);
* :mod:`~skmollal.cascade.masked`: :class:`MaskedAggregator`, fusing signals where some LLMs
  were not asked (one model per set of asked LLMs);
* :mod:`~skmollal.cascade.loop_hooks`: what a cascade changes in the MoLLIA loop.
"""
from .masked import MaskedAggregator, asked_mask, join_masked
from .build import cascade_panel, is_cascade
from .panel import CascadePanel
from .seed import cascade_order, choose_threshold

__all__ = ["CascadePanel", "MaskedAggregator", "asked_mask", "cascade_order", "cascade_panel",
           "choose_threshold", "is_cascade", "join_masked"]
