"""What a cascade changes in the MoLLIA loop, as the hooks the loop calls.

The loop (:class:`~skmollal.active_learning.MoLLIALoop`) asks its panel for
``loop_hooks()``; a :class:`~skmollal.cascade.CascadePanel` answers with
:class:`CascadeHooks`:

* the gold seed is annotated by every LLM (the cascade's order and prefix models need it);
* before each round the cascade is refitted on the signals paid for (no LLM call), once per
  set of answers and gold;
* the signals held (NaN where an LLM was not asked) are fused per set of asked LLMs
  (:class:`~skmollal.cascade.masked.MaskedAggregator`), or by the cascade's own prefix
  models when the loop's mixture is the cascade's fusion;
* the cascade's settings are part of the run's fingerprint, and there is no label report
  per LLM.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np

from ..annotators.panel import annotate_with_costs, costs_from_signals
from .masked import MaskedAggregator

__all__ = ["CascadeHooks"]


class CascadeHooks:
    """The loop's hooks for a cascade panel (see the module docstring).

    Parameters
    ----------
    panel : CascadePanel
        The cascade.
    """

    per_llm_report = False

    def __init__(self, panel: Any) -> None:
        self.panel = panel
        self._fitted_on: tuple | None = None

    def fingerprint(self) -> dict:
        return {name: getattr(self.panel, name, None) for name in ("threshold", "order", "cost")}

    def annotate(self, texts: list[str], every_llm: bool = False):
        if not every_llm:
            return annotate_with_costs(self.panel, texts)
        t0 = time.perf_counter()  # the seed: every LLM
        signals = self.panel.annotate_all(texts)
        return signals, costs_from_signals(signals, time.perf_counter() - t0)

    def refit(self, state) -> None:
        """Refit order and prefix models on the signals paid for (seed with every LLM, pool
        rows with the LLMs asked); not again on the same answers and gold."""
        rows = state.annotated_rows()
        S = state.signals[rows]
        # a person's answer about a text asked only some LLMs is gold for the classifier and
        # the mixture, not for the order / prefix models (they need every LLM)
        y = np.where(np.isfinite(S[:, :, 0, 0]).all(axis=1), state.partial_labels()[rows], -1)
        seen = (len(rows), state.llm_calls, y.tobytes())
        if self._fitted_on != seen:
            self.panel.fit_signals(S, y)
            self._fitted_on = seen

    def fusion(self, mixture: Any) -> Any:
        return mixture if isinstance(mixture, MaskedAggregator) else MaskedAggregator(mixture)

    def fitted_fusion(self, state, mixture: Any) -> Any | None:
        if not self.panel.fuses_like(mixture):
            return None
        self.refit(state)  # its prefix models are that fit
        return self.panel.masked_fusion()
