"""The fingerprint of a MoLLIA run: what a saved state must match to be resumed.

Two runs are the same run when they have the same data, panel and every setting that changes
a decision; then a saved state can be continued without paying again. Anything else is a
different run, and :meth:`~skmollal.active_learning.MoLLIALoop.resume` names what differs.
Descriptions are stable across processes (no memory addresses), so a re-run in a new process
matches.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import re
from typing import Any, Sequence

import numpy as np

from ..annotators.panel import panel_annotators

__all__ = ["fingerprint_differences", "fingerprint_digest", "run_fingerprint"]


def _describe(obj: Any) -> Any:
    """A JSON-able description of a setting that is the same in every process."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (np.integer, np.floating)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (list, tuple)):
        return [_describe(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _describe(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if hasattr(obj, "get_params") and not isinstance(obj, type):
        return {type(obj).__qualname__: _describe(obj.get_params(deep=False))}
    if isinstance(obj, type) or inspect.isfunction(obj) or inspect.ismethod(obj):
        return f"{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}"
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(obj))


def _annotator_identity(annotator: Any) -> str:
    if hasattr(annotator, "identity"):
        return str(annotator.identity())
    return f"{type(annotator).__qualname__}:{getattr(annotator, 'name', '')}"


def _texts_digest(texts: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def run_fingerprint(*, texts: Sequence[str], labels: Sequence[str], panel: Any,
                    seed_idx: np.ndarray, seed_y: np.ndarray, estimator: Any, strategy: Any,
                    mixture: Any, settings: dict) -> dict:
    """What defines a run: a saved state resumes only under the same fingerprint.

    Parameters
    ----------
    texts, labels : sequence of str
        All rows' texts (hashed) and the class names.
    panel : LLMPanel, list of annotators, or annotator
        Each annotator enters by its ``identity()`` (else its type and name).
    seed_idx, seed_y : ndarray of int
        The gold seed.
    estimator, strategy, mixture : objects
        Described by their parameters (estimators) or qualified names (functions).
    settings : dict
        Other settings that change a decision (batch size, weights, negative learning,
        seeds). Settings that change only speed or reporting (``annotate_chunk``,
        ``X_val``, ``show_progress``) stay out.

    Returns
    -------
    dict
        JSON-able, equal across processes for the same run.
    """
    return {
        "n_rows": len(texts),
        "texts_sha256": _texts_digest(texts),
        "labels": list(labels),
        "annotators": [_annotator_identity(a) for a in panel_annotators(panel)],
        "seed_idx": np.asarray(seed_idx).tolist(),
        "seed_y": np.asarray(seed_y).tolist(),
        "classifier": _describe(estimator),
        "strategy": _describe(strategy),
        "mixture": _describe(mixture),
        **{name: _describe(value) for name, value in settings.items()},
    }


def fingerprint_differences(saved: dict, current: dict) -> list[str]:
    """The keys on which two fingerprints differ, sorted.

    Parameters
    ----------
    saved, current : dict
        Fingerprints (:func:`run_fingerprint`): a saved run's and the one to compare.

    Returns
    -------
    list of str
        The differing keys (a key missing on one side differs).
    """
    keys = sorted(set(saved) | set(current))
    return [k for k in keys if saved.get(k) != current.get(k)]


def fingerprint_digest(fingerprint: dict, length: int = 12, **extra: Any) -> str:
    """A short hex name for a run: the SHA-256 of its fingerprint and ``extra`` settings.

    Parameters
    ----------
    fingerprint : dict
        From :func:`run_fingerprint` (e.g. ``MoLLIALoop.fingerprint``).
    length : int, default=12
        Hex digits kept.
    **extra
        Settings outside the loop's fingerprint that also define the run (described like
        the fingerprint's own settings), e.g. the featurizer and the number of rounds.

    Returns
    -------
    str
        Equal across processes for the same run; different runs differ.
    """
    payload = {"fingerprint": fingerprint, **{k: _describe(v) for k, v in extra.items()}}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:length]
