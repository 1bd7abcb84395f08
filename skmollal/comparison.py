"""The same run with majority-vote labels: what the mixture adds, side by side.

:func:`majority_vote_run` runs a second MoLLIA loop on the same texts, seed, panel,
classifier and settings, with the panel's majority vote
(:class:`~skmollal.aggregation.MajorityVote`) in place of the mixture. Its annotations come
from the annotation cache the first run filled, so where both loops query the same texts
(random queries) it costs no LLM call; any text only it queries is paid for and counted.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["majority_vote_run"]


def majority_vote_run(make_loop: Callable[..., Any], estimator: Any, panel: Any,
                      X: Any, y: np.ndarray, X_test: Any, y_test: np.ndarray,
                      output_dir: str | Path, loop_params: dict, n_rounds: int) -> dict:
    """Held-out accuracy per round of the loop with majority-vote labels.

    Parameters
    ----------
    make_loop : callable
        Builds (or resumes) a loop: ``make_loop(estimator, panel, X, y, mixture=...,
        output_dir=..., **loop_params)`` (:func:`skmollal.experiment.make_loop`).
    estimator, panel, X, y
        As the compared run's.
    X_test, y_test
        The held-out rows.
    output_dir : str or path
        Where this loop keeps its state (resumable like the main run's).
    loop_params : dict
        The other loop parameters of the compared run (``X_val``/``y_val`` included).
    n_rounds : int

    Returns
    -------
    dict
        ``history`` (per round: ``round``, ``val_accuracy``, ``llm_calls``),
        ``test_accuracy`` and ``llm_calls_paid`` (calls this loop made that the cache
        could not serve).
    """
    from .aggregation import MajorityVote
    from .annotators.cache import CachedAnnotator
    from .annotators.panel import panel_annotators

    cached = [a for a in panel_annotators(panel) if isinstance(a, CachedAnnotator)]
    paid_before = sum(a.n_annotated_total_ for a in cached)
    loop = make_loop(estimator, panel, X, y, mixture=MajorityVote(), output_dir=output_dir,
                     **loop_params)
    history = loop.run(n_rounds)
    pred = loop.learner.predict(X_test)
    return {"history": [{"round": h["round"], "val_accuracy": h.get("val_accuracy"),
                         "llm_calls": h["llm_calls"]} for h in history],
            "test_accuracy": float(np.mean(pred == np.asarray(y_test))),
            "llm_calls_paid": sum(a.n_annotated_total_ for a in cached) - paid_before}
