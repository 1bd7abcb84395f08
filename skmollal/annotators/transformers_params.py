"""The parameters of a :class:`~skmollal.annotators.local.TransformersAnnotator`.

:func:`check_params` validates them when the annotator is made (a clear error naming the
annotator and the parameter); :func:`identity_params` is the part of its cache key that
changes the annotations, :func:`identity_json` the whole key.
"""
from __future__ import annotations

import json
from typing import Any

import numpy as np

from .prompt_batches import DEFAULT_MAX_PROMPT_TOKENS, LONG_TEXT_MODES
from .task import AnnotationTask
from .transformers_model import model_description

__all__ = ["check_params", "identity_params", "identity_json", "VOTE_MODES", "PREFIX_CACHE_MODES",
           "LONG_TEXT_MODES"]

VOTE_MODES = ("sample", "generate")
PREFIX_CACHE_MODES = ("shared", "batch", "off")


def check_params(annotator: Any, where: str) -> None:
    """Raise ``TypeError`` / ``ValueError`` (prefixed by ``where``) on a bad parameter."""
    a = annotator
    if not isinstance(a.task, AnnotationTask):
        raise TypeError(f"{where}: task must be an AnnotationTask, got {type(a.task).__name__}")
    if not isinstance(a.n_votes, (int, np.integer)) or a.n_votes < 1:
        raise ValueError(f"{where}: n_votes must be a positive int, got {a.n_votes!r}")
    if not 0 < float(a.top_p) <= 1:
        raise ValueError(f"{where}: top_p must be in (0, 1], got {a.top_p!r}")
    for name, allowed in (("long_texts", LONG_TEXT_MODES), ("vote_mode", VOTE_MODES),
                          ("prefix_cache", PREFIX_CACHE_MODES)):
        if getattr(a, name) not in allowed:
            raise ValueError(f"{where}: {name} must be one of {allowed}, "
                             f"got {getattr(a, name)!r}")
    cap = getattr(a, "max_prompt_tokens", None)
    if cap is not None and (not isinstance(cap, (int, np.integer)) or cap < 1):
        raise ValueError(f"{where}: max_prompt_tokens must be a positive int or None, "
                         f"got {cap!r}")
    if not isinstance(a.batch_size, (int, np.integer)) or a.batch_size < 1:
        raise ValueError(f"{where}: batch_size must be a positive int, got {a.batch_size!r}")
    if a.max_new_tokens is not None and a.max_new_tokens < 1:
        raise ValueError(f"{where}: max_new_tokens must be >= 1, got {a.max_new_tokens!r}")
    if not isinstance(a.model, str) and not hasattr(a.model, "forward"):
        raise TypeError(f"{where}: model must be a name/path or a causal LM, "
                        f"got {type(a.model).__name__}")

def identity_params(annotator: Any) -> dict:
    """The parameters that change an annotator's outputs, for its cache key."""
    random_state = annotator.random_state
    return {
        "n_votes": int(annotator.n_votes),
        "temperature": float(annotator.temperature),
        "top_p": float(annotator.top_p),
        "vote_mode": annotator.vote_mode,
        "max_new_tokens": annotator.max_new_tokens,
        "case_variants": bool(annotator.case_variants),
        **({"long_texts": "skip"} if annotator.long_texts == "skip" else {}),
        **({"max_prompt_tokens": annotator.max_prompt_tokens}
           if annotator.max_prompt_tokens != DEFAULT_MAX_PROMPT_TOKENS else {}),
        "random_state": random_state if isinstance(random_state, (int, type(None)))
        else repr(random_state),
    }


def identity_json(annotator: Any) -> str:
    """The annotator's cache key: backend, model, weights, tokenizer, task, parameters."""
    desc = {
        "backend": "transformers",
        "model": annotator._model_label(),
        **model_description(annotator),
        "task": json.loads(annotator.task.identity()),
        "params": identity_params(annotator),
    }
    return json.dumps(desc, sort_keys=True)
