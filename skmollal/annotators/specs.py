"""Annotators named by short spec strings, as the command line's ``--annotator`` gives them.

The spec forms (:data:`SPEC_FORMS`):

* ``recorded:NAME`` - replay LLM ``NAME`` of a recordings Bunch
  (:func:`skmollal.datasets.load_recordings`);
* ``smollm2`` - the bundled SmolLM2 GGUF model, run with transformers, as a panel of prompt
  variants;
* ``hf:MODEL`` - a transformers causal LM from the Hugging Face hub (or its local cache);
* ``PATH`` - an existing local folder holding a transformers causal LM;
* ``http://HOST:PORT/v1#MODEL`` (or ``https``) - an OpenAI-compatible server and the model
  name it serves; ``#MODEL?tokenizer=T`` adds a tokenizer with the model's chat template
  (``smollm2``, a local folder or a hub name), so that every full label is scored on the
  server (:mod:`~skmollal.annotators.server_scoring`).

Anything else is refused with the list of forms, so a typo never turns into a hub download.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

from .panel import panel_annotators

__all__ = ["SPEC_FORMS", "build_annotator", "build_panel"]

logger = logging.getLogger(__name__)

#: spec form -> what it builds
SPEC_FORMS = {
    "recorded:NAME": "replay LLM NAME of the recordings",
    "smollm2": "the bundled SmolLM2 panel (transformers, prompt variants)",
    "hf:MODEL": "a transformers causal LM from the Hugging Face hub",
    "PATH": "an existing local folder holding a transformers causal LM",
    "http(s)://HOST:PORT/v1#MODEL[?tokenizer=T]": "an OpenAI-compatible server and its model "
                                                   "name (T: its chat template's tokenizer)",
}


def _spec_forms() -> str:
    return "; ".join(f"{form} ({what})" for form, what in SPEC_FORMS.items())


def _task(labels: Sequence[str], name: str | None):
    from .task import AnnotationTask

    return AnnotationTask(list(labels), name=name)


def build_annotator(spec: str, labels: Sequence[str], recordings: Any = None,
                    task_name: str | None = None, http: Mapping[str, Any] | None = None
                    ) -> Any:
    """Build what one spec string names (see :data:`SPEC_FORMS`).

    Parameters
    ----------
    spec : str
        The spec, e.g. ``"recorded:yi"``, ``"smollm2"``, ``"hf:Qwen/Qwen2.5-0.5B-Instruct"``.
    labels : sequence of str
        The class names the live annotators choose from.
    recordings : Bunch, optional
        Recorded annotations (:func:`skmollal.datasets.load_recordings`); needed by
        ``recorded:NAME``.
    task_name : str, optional
        Name of the annotation task (its prompt), for live annotators.
    http : mapping, optional
        Keyword arguments of a server annotator (``timeout``, ``n_votes``, ``api_key``, ...;
        see ``skmollal.annotators.server_options.http_options``); only ``http(s)://``
        specs take them.

    Returns
    -------
    annotator, list of annotators or LLMPanel
        ``smollm2`` builds a panel; every other form one annotator. Flatten with
        :func:`~skmollal.annotators.panel.panel_annotators`.

    Raises
    ------
    ValueError
        If ``spec`` is none of the known forms (the message lists them), a server URL lacks
        ``#MODEL``, or ``recorded:NAME`` comes without recordings.
    """
    if spec.startswith("recorded:"):
        from .recorded import RecordedAnnotator

        if recordings is None:
            raise ValueError(f"{spec}: recorded annotators need --recordings")
        return RecordedAnnotator(recordings, spec.split(":", 1)[1])
    if spec.startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        if not model:
            raise ValueError(f"{spec}: give the server's model name after '#', e.g. "
                             "http://localhost:8000/v1#my-model")
        from .openai import OpenAICompatibleAnnotator

        model, _, tokenizer = model.partition("?tokenizer=")
        if tokenizer == "smollm2":
            from .smollm2 import smollm2_tokenizer

            tokenizer = smollm2_tokenizer()
        return OpenAICompatibleAnnotator(url, model, _task(labels, task_name),
                                         tokenizer=tokenizer or None, **(http or {}))
    if spec == "smollm2":
        from . import smollm2

        return smollm2.smollm2_panel(_task(labels, task_name))
    if spec.startswith("hf:"):
        model = spec[3:]
    elif os.path.exists(spec):
        model = spec
    else:
        raise ValueError(f"unknown annotator spec {spec!r} (not an existing local path); "
                         f"the spec forms are: {_spec_forms()}")
    from .local import TransformersAnnotator

    return TransformersAnnotator(model, _task(labels, task_name),
                                 name=Path(model).name or model)


def _server_options(spec: str, http: Mapping[str, Any] | None) -> dict:
    """``{"http": http}`` for a server spec given options, else nothing."""
    return {"http": http} if http and spec.startswith(("http://", "https://")) else {}


def build_panel(specs: Sequence[str], labels: Sequence[str], recordings: Any = None,
                task_name: str | None = None, cache_path: str | os.PathLike | None = None,
                cache_invalid: str = "raise", http: Mapping[str, Any] | None = None
                ) -> list[Any]:
    """The annotators the specs name, in order, live ones cached.

    Parameters
    ----------
    specs : sequence of str
        Spec strings (see :func:`build_annotator`).
    labels, recordings, task_name
        As for :func:`build_annotator`.
    cache_path : str or path-like, optional
        SQLite annotation cache; every live (not recorded) annotator is wrapped in a
        :class:`~skmollal.annotators.cache.CachedAnnotator` on it, so no text is annotated
        twice across runs.
    cache_invalid : {"raise", "refresh"}, default="raise"
        What the cache does with entries it cannot read (see
        :class:`~skmollal.annotators.cache.AnnotationCache`); the command line's
        ``--refresh-cache`` gives ``"refresh"``.
    http : mapping, optional
        As for :func:`build_annotator`: the settings of every server annotator.

    Returns
    -------
    list of annotators
        One per panel column.
    """
    from .recorded import RecordedAnnotator

    annotators = [a for spec in specs for a in panel_annotators(
        build_annotator(spec, labels, recordings, task_name, **_server_options(spec, http)))]
    live = [a for a in annotators if not isinstance(a, RecordedAnnotator)]
    if cache_path is None or not live:
        return annotators
    from .cache import AnnotationCache, CachedAnnotator

    cache = AnnotationCache(cache_path, invalid=cache_invalid)
    return [CachedAnnotator(a, cache) if a in live else a for a in annotators]
