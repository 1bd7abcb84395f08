"""Seed demonstrations on a panel: what fills the selectors' pool, what keys a text.

:func:`share_seed_examples` fills the pool of every demonstration selector of a panel
(:class:`~skmollal.demonstrations.SeedDemonstrations`, given to the annotators by
:func:`~skmollal.demonstrations.configure_prompts`) with the gold rows (the seed, a person's
answers; never a row an LLM annotated), as the loop does before every round; and
:func:`prompt_key_texts` is what an annotation cache keys each text on: the text and the
examples its prompt shows.
"""
from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np

__all__ = ["prompt_key_texts", "share_seed_examples"]


def _tasks(panel: Any) -> list[Any]:
    """The annotation tasks of a panel's live annotators (cached ones unwrapped)."""
    from .panel import panel_annotators

    tasks = []
    for annotator in panel_annotators(panel):
        inner = getattr(annotator, "annotator", annotator)  # a CachedAnnotator
        task = getattr(inner, "task", None)
        if task is not None:
            tasks.append(task)
    return tasks


def share_seed_examples(panel: Any, texts: Sequence[str], y: Sequence[int],
                        labels: Sequence[str] | None = None) -> int:
    """Give every demonstration selector of ``panel`` the gold rows as its pool.

    Parameters
    ----------
    panel : panel, list of annotators or annotator
    texts : sequence of str
        Every row's text.
    y : sequence of int
        Class index of the rows whose label is gold (the seed, a person's answers), -1
        elsewhere. Rows an LLM annotated must be -1 here: they never become examples.
    labels : sequence of str, optional
        The class names; default the panel's
        (``panel_labels``).

    Returns
    -------
    int
        The pool's size (0 when no annotator of the panel uses seed demonstrations).
    """
    selectors = {id(t.demonstrations): t.demonstrations for t in _tasks(panel)
                 if getattr(t, "demonstrations", None) is not None}
    if not selectors:
        return 0
    if labels is None:
        from .panel import panel_labels

        labels = panel_labels(panel)
    y = np.asarray(y)
    rows = np.flatnonzero(y >= 0)
    pool_texts = [texts[i] for i in rows]
    pool_labels = [labels[int(y[i])] for i in rows]
    for selector in selectors.values():
        selector.set_pool(pool_texts, pool_labels)
    return len(rows)


def prompt_key_texts(annotator: Any, texts: Sequence[str]) -> list[str]:
    """What an annotation cache keys ``texts`` on: each text and the examples it gets.

    Unchanged texts for an annotator without seed demonstrations (so its keys stay those
    of earlier versions); else a JSON pair ``[text, examples]`` per text.

    Parameters
    ----------
    annotator : annotator
        Whose task may hold seed demonstrations.
    texts : sequence of str
        The texts.

    Returns
    -------
    list of str
    """
    task = getattr(annotator, "task", None)
    selector = getattr(task, "demonstrations", None)
    if selector is None or not selector.pool_texts:
        return list(texts)
    selector.prepare(texts)
    return [json.dumps([t, [list(e) for e in task.examples_for(t)]], ensure_ascii=False)
            for t in texts]
