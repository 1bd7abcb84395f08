"""Building a cascade from the settings, and recognising one.

:func:`cascade_panel` is what ``MoLLIAClassifier(cascade=...)`` and ``skmollal run
--cascade`` build; :func:`is_cascade` tells a cascade from a full panel.
"""
from __future__ import annotations

from typing import Any

from .panel import CascadePanel

__all__ = ["cascade_panel", "is_cascade"]


def cascade_panel(panel: Any, threshold: Any, mixture: Any = None) -> Any:
    """``panel`` as a cascade, or ``panel`` itself when ``threshold`` is None.

    What ``MoLLIAClassifier(cascade=...)`` and ``skmollal run --cascade`` build.

    Parameters
    ----------
    panel : LLMPanel or list of annotators
        The panel.
    threshold : float, "auto" or None
        Where the cascade stops for a text (``"auto"``: chosen from the gold seed).
    mixture : estimator, optional
        The fusion of each prefix (default: the mixture).

    Returns
    -------
    CascadePanel or the panel
    """
    return panel if threshold is None else CascadePanel(panel, threshold=threshold,
                                                        mixture=mixture)


def is_cascade(panel: Any) -> bool:
    """Whether ``panel`` is a cascade (asks only some LLMs; its gold rows need all of them).

    Parameters
    ----------
    panel : object
        A panel, a list of annotators, or a :class:`CascadePanel` (or anything with its
        ``fit_signals`` and ``annotate_all``).

    Returns
    -------
    bool
    """
    return hasattr(panel, "fit_signals") and hasattr(panel, "annotate_all")
