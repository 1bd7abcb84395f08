"""What a panel is: its annotators in column order, and the class names they share.

A panel is an :class:`~skmollal.annotators.panel.LLMPanel`, a list of annotators, one
annotator, or a wrapper of a panel (a cascade); :func:`panel_annotators` is the one place
that decides it.
"""
from __future__ import annotations

from typing import Any

__all__ = ["panel_annotators", "panel_labels"]


def panel_annotators(panel: Any) -> list[Any]:
    """The annotators of ``panel``, as a list: the one place that decides what a panel is.

    Parameters
    ----------
    panel : LLMPanel, list or tuple of annotators, or one annotator
        An :class:`~skmollal.annotators.panel.LLMPanel` (anything with an ``annotators`` list), a sequence of objects with
        ``annotate(texts)``, or a single such object.

    Returns
    -------
    list
        The annotators in column order of the signals.

    Raises
    ------
    ValueError
        If the panel is empty.
    TypeError
        If ``panel`` is none of the above.
    """
    if isinstance(panel, (list, tuple)):
        annotators = list(panel)
    elif hasattr(panel, "annotators") and not hasattr(panel, "annotate_one"):
        inner = panel.annotators  # a wrapper of a panel (e.g. a cascade) has its annotators
        annotators = panel_annotators(inner) if hasattr(inner, "annotators") else list(inner)
    elif hasattr(panel, "annotate"):
        annotators = [panel]
    else:
        raise TypeError(
            f"{type(panel).__name__} is not an annotator panel: give an LLMPanel, a list of "
            "annotators or one annotator (anything with annotate(texts))"
        )
    if not annotators:
        raise ValueError("the LLM panel is empty")
    return annotators


def panel_labels(panel: Any) -> list[str]:
    """Class names of a panel (LLMPanel, list of annotators, or one annotator).

    Parameters
    ----------
    panel : LLMPanel, list of annotators, or annotator
        The panel.

    Returns
    -------
    list of str
        The class names shared by all its annotators.

    Raises
    ------
    ValueError
        If the annotators disagree on the labels.
    """
    if (not isinstance(panel, (list, tuple)) and not hasattr(panel, "annotators")
            and getattr(panel, "labels", None) is not None):
        return list(panel.labels)  # a custom panel object that only states its labels
    labels = [list(a.labels) for a in panel_annotators(panel)]
    if any(lab != labels[0] for lab in labels):
        raise ValueError(f"the panel's annotators disagree on the labels: {labels}")
    return labels[0]
