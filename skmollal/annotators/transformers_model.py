"""The model behind a :class:`~skmollal.annotators.local.TransformersAnnotator`.

:func:`load_model_and_tokenizer` loads (or moves) the causal LM and finds its tokenizer;
:func:`model_description` describes both for the annotator's cache key, from the files'
digests without loading anything when the model is given by name or path, else from the
loaded model's configuration and a digest of its weights.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable

from .._validation import resolve_device
from .pretrained import load_pretrained_model, load_pretrained_tokenizer, pretrained_files_digest

__all__ = ["load_model_and_tokenizer", "model_description", "model_label", "weights_fingerprint",
           "describe_tokenizer", "max_positions"]


def load_model_and_tokenizer(model: Any, tokenizer: Any, model_kwargs: dict | None,
                             device: Any, where: str) -> tuple[Any, Any]:
    """(model in eval mode on its device, tokenizer) from an annotator's parameters.

    A model name or path is loaded (once per process: panel members on the same model
    share it) on ``device`` (``None``: ``"auto"``); a model object is moved to ``device``
    when one is given. The tokenizer defaults to the model's files; a string is loaded.

    Raises
    ------
    ValueError
        When no usable tokenizer is found (naming ``where``).
    """
    kwargs = dict(model_kwargs or {})
    loaded = model
    if isinstance(model, str):
        loaded = load_pretrained_model(model, kwargs,
                                       resolve_device("auto" if device is None else device, where))
    elif device is not None:
        loaded = model.to(resolve_device(device, where))
    loaded.eval()
    if tokenizer is None and isinstance(model, str):
        try:
            tokenizer = load_pretrained_tokenizer(model, kwargs)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{where}: no usable tokenizer for {model!r}: {exc}") from exc
    elif isinstance(tokenizer, str):
        tokenizer = load_pretrained_tokenizer(tokenizer)
    if tokenizer is None or not callable(getattr(tokenizer, "encode", None)):
        raise ValueError(
            f"{where}: the model has no usable tokenizer; pass tokenizer= "
            "(a transformers tokenizer) with a model object"
        )
    return loaded, tokenizer


def model_label(model: Any, model_kwargs: dict | None) -> str:
    """A short name of the model: the last part of its path (``:<gguf file>`` when given)."""
    if isinstance(model, str):
        path = model
    else:
        path = getattr(model, "name_or_path", "") or type(model).__name__
    gguf = (model_kwargs or {}).get("gguf_file")
    label = str(path).rstrip("/").split("/")[-1] or type(model).__name__
    return f"{label}:{gguf}" if gguf else label


def weights_fingerprint(model: Any, max_elements: int = 4096) -> str:
    """Cheap digest of the weights: name, shape and a strided sample of every tensor."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // max_elements)
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(flat[::step].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def describe_tokenizer(tokenizer: Any) -> dict:
    """Name, vocabulary size and chat-template digest of a tokenizer."""
    return {
        "name": getattr(tokenizer, "name_or_path", ""),
        "vocab": len(tokenizer),
        "chat_template_sha": hashlib.sha256(
            str(getattr(tokenizer, "chat_template", "") or "").encode()
        ).hexdigest()[:16],
    }


def _loaded_model_identity(model: Any, weights_digest: Callable[[], str]) -> dict:
    """Configuration, weight digest and dtype of a loaded model."""
    config = getattr(model, "config", None)
    config_dict = config.to_dict() if config is not None else {}
    for volatile in ("_commit_hash", "transformers_version", "_name_or_path"):
        config_dict.pop(volatile, None)
    config_json = json.dumps(config_dict, sort_keys=True, default=str)
    return {
        "revision": getattr(config, "_commit_hash", None),
        "config_sha": hashlib.sha256(config_json.encode()).hexdigest()[:16],
        "weights_sha": weights_digest(),
        "dtype": str(next(model.parameters()).dtype),
    }


def model_description(annotator: Any) -> dict:
    """The model and tokenizer part of an annotator's identity (loads only what it must).

    ``annotator`` gives ``model``, ``model_kwargs``, ``tokenizer`` and ``_load()``; the
    weights' digest of a loaded model is memoised on it (``_weights_digest``).
    """
    model, kwargs = annotator.model, annotator.model_kwargs
    files = pretrained_files_digest(model, kwargs) if isinstance(model, str) else None
    if files is None:
        loaded, tokenizer, _ = annotator._load()

        def digest() -> str:
            if not hasattr(annotator, "_weights_digest"):
                annotator._weights_digest = weights_fingerprint(loaded)
            return annotator._weights_digest

        return {**_loaded_model_identity(loaded, digest),
                "tokenizer": describe_tokenizer(tokenizer)}
    tokenizer = annotator.tokenizer
    if tokenizer is None:
        tok_desc: Any = "model files"
    elif not isinstance(tokenizer, str):
        tok_desc = describe_tokenizer(tokenizer)
    else:
        tok_desc = pretrained_files_digest(tokenizer) or describe_tokenizer(annotator._load()[1])
    return {"files": files, "tokenizer": tok_desc}


def max_positions(model: Any) -> int | None:
    """The model's context length (``max_position_embeddings`` / ``n_positions``), if known."""
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
