"""How a round turns the mixture's labels into what the classifier is fitted with.

:class:`TargetPolicy` owns the noise-handling settings (discrepancy weights, negative
labels, soft labels, the negative-learning weight) and applies them: which rows to weigh
and their weights, the pool rows' negative labels, the round's training targets and the
fit arguments the classifier takes. The arithmetic is in the pure functions of
:mod:`.targets` and :mod:`skmollal.label_noise`; this class only carries the settings to
them.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from sklearn.utils import Bunch

from ..label_noise import noise_weights
from .review import human_targets
from .routing import fit_arguments_taken, set_round_params
from .state import LoopState
from .targets import pool_negative_mask, resolve_soft_labels, round_nl_weight, training_targets

__all__ = ["TargetPolicy"]

logger = logging.getLogger(__name__)

#: The fit arguments a round may pass to the classifier.
FIT_ARGUMENTS = ("sample_weight", "negative_mask")


@dataclass
class TargetPolicy:
    """The loop's noise-handling settings, applied.

    Parameters
    ----------
    discrepancy, discrepancy_weight, discrepancy_update : see MoLLIALoop
        How annotated rows are weighed.
    nl_threshold, nl_source, nl_weight : see MoLLIALoop
        Negative labels and their weight.
    soft_labels : see MoLLIALoop
        Probabilities or labels as targets.
    """

    discrepancy: str | None = None
    discrepancy_weight: float | None = 0.5
    discrepancy_update: str = "query"
    nl_threshold: float | None = None
    nl_source: str = "signals"
    nl_weight: float | Callable[[int], float] | None = None
    soft_labels: bool | str = "auto"
    _warned: set = field(default_factory=set, repr=False, init=False)

    @property
    def weighing(self) -> bool:
        """Whether rows get discrepancy weights at all."""
        return self.discrepancy is not None and self.discrepancy_weight is not None

    def rows_to_weigh(self, state: LoopState, queried: list[int],
                      pool_rows: np.ndarray) -> list[int]:
        """``"round"`` (and the mixture's own confidence): every annotated row; ``"query"``:
        the queried rows not weighed yet."""
        if not self.weighing:
            return []
        if self.discrepancy_update == "round" or self.discrepancy == "mixture_confidence":
            return [int(i) for i in pool_rows]
        return [i for i in queried if not state.weighed[i]]

    def weigh(self, state: LoopState, rows: list[int], proba: np.ndarray,
              classifier_proba: Callable[[list[int]], np.ndarray]) -> None:
        """Set the weights of ``rows`` (mixture posterior ``proba``); ``classifier_proba``
        gives the current classifier's probabilities of rows when the mode needs them."""
        if not rows:
            return
        clf = None if self.discrepancy == "mixture_confidence" else classifier_proba(rows)
        state.set_weights(rows, noise_weights(self.discrepancy, proba, clf,
                                              weight=self.discrepancy_weight))

    def negative(self, signals: np.ndarray, proba: np.ndarray) -> np.ndarray:
        """Negative labels of annotated pool rows (``nl_source``, ``nl_threshold``)."""
        return pool_negative_mask(signals, proba, self.nl_threshold, self.nl_source)

    def targets(self, state: LoopState, pool_rows: np.ndarray, pool_proba: np.ndarray,
                estimator: Any, *, include_pending_review: bool) -> Bunch:
        """The round's targets for seed + ``pool_rows`` (see :func:`training_targets`).

        A person's answer (finished rounds', and the pending round's with
        ``include_pending_review``) is gold: its label, weight 1, no negative labels.
        """
        human = state.partial_labels(include_pending=include_pending_review)[pool_rows]
        pool_negative = np.where((human >= 0)[:, None], False,
                                 self.negative(state.signals[pool_rows], pool_proba))
        pool_proba, pool_weights = human_targets(
            pool_proba, state.weights[pool_rows] if self.weighing else None, human)
        return training_targets(state.seed_y, pool_proba, pool_weights=pool_weights,
                                pool_negative=pool_negative,
                                soft_labels=resolve_soft_labels(self.soft_labels, estimator))

    def prepare(self, estimator: Any, targets: Bunch, n_classes: int, round_: int) -> dict:
        """Set the round's parameters on ``estimator`` (classes, negative-learning weight)
        and return the fit arguments it takes (warning once about any it cannot take)."""
        set_round_params(estimator, n_classes=n_classes, y=targets.y,
                         nl_weight=round_nl_weight(self.nl_weight, round_ - 1)
                         if round_ > 0 else None)
        taken = fit_arguments_taken(estimator, FIT_ARGUMENTS)
        wanted = {"sample_weight": self.weighing, "negative_mask": self.nl_threshold is not None}
        for name in FIT_ARGUMENTS:
            if wanted[name] and name not in taken and name not in self._warned:
                self._warned.add(name)
                logger.warning(
                    "the classifier %s does not take %s: %s not used (for a Pipeline, "
                    "request it on its last step: set_fit_request(%s=True))",
                    type(estimator).__name__, name,
                    "discrepancy weights are" if name == "sample_weight"
                    else "negative labels are", name)
        return {name: targets[name] for name in FIT_ARGUMENTS if name in taken}
