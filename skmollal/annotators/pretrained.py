"""Hugging Face models by name or path: identity from their files, one loaded copy per process.

* :func:`pretrained_files_digest` describes what ``from_pretrained(name, **kwargs)`` would
  load *without loading it*: the content digests of the model folder's files (the GGUF file
  alone when ``gguf_file`` is given). A local folder is hashed (once per process and file
  version: path, size and modification time); a hub name is looked up in the local hub
  cache only, where a file's blob name already is its hash. So a run whose annotations are
  all cached never loads the weights.
* :func:`load_pretrained_model` / :func:`load_pretrained_tokenizer` load once per process:
  annotators on the same name, arguments and device share one model while any of them
  holds it (a weak registry: when the last one is gone, so is the model).
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import weakref
from pathlib import Path
from typing import Any

__all__ = ["pretrained_files_digest", "load_pretrained_model", "load_pretrained_tokenizer"]

logger = logging.getLogger(__name__)

#: ``from_pretrained`` arguments that say where / how to fetch, not what is loaded.
_FETCH_ONLY = {"local_files_only", "cache_dir", "token", "force_download", "proxies",
               "resume_download", "low_cpu_mem_usage", "device_map"}
#: Arguments the tokenizer is loaded with too (the model's files are its files).
_TOKENIZER_KWARGS = ("gguf_file", "local_files_only", "revision", "cache_dir", "subfolder",
                     "trust_remote_code", "token")
#: Files of a model folder that never change what is loaded.
_IGNORED = {"README.md", ".gitattributes", "LICENSE", "LICENSE.txt"}

_digests: dict[tuple[str, int, int], str] = {}
_models: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_tokenizers: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_lock = threading.Lock()


def _file_digest(path: Path) -> str:
    """sha256 of a file's content; a hub-cache blob's name (its hash) when it is one."""
    real = path.resolve()
    if real.parent.name == "blobs" and real != path.absolute():
        return real.name  # huggingface_hub stores files under their sha256 / git hash
    stat = real.stat()
    key = (str(real), stat.st_size, stat.st_mtime_ns)
    found = _digests.get(key)
    if found is None:
        digest = hashlib.sha256()
        with open(real, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
        found = _digests[key] = digest.hexdigest()
    return found


def _local_folder(name: str, kwargs: dict) -> Path | None:
    """The folder ``from_pretrained(name, **kwargs)`` reads, if it is on this machine."""
    if os.path.isdir(name):
        folder = Path(name)
    else:
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(name, revision=kwargs.get("revision"),
                                            cache_dir=kwargs.get("cache_dir"),
                                            local_files_only=True))
        except Exception:  # noqa: BLE001 - not a hub name, or not downloaded
            return None
    if kwargs.get("subfolder"):
        folder = folder / kwargs["subfolder"]
    return folder if folder.is_dir() else None


def pretrained_files_digest(name: str, kwargs: dict | None = None) -> dict | None:
    """What ``from_pretrained(name, **kwargs)`` loads, by file content, without loading it.

    Parameters
    ----------
    name : str
        A local model folder or a hub name.
    kwargs : dict, optional
        ``from_pretrained`` arguments; ``gguf_file`` narrows the files to that one.

    Returns
    -------
    dict or None
        ``{"files": {file name: digest}, "kwargs": {...}}`` (the arguments that change what
        is loaded); ``None`` when the files are not on this machine (a hub name not in the
        local cache): the caller then has to load the model to identify it.
    """
    kwargs = dict(kwargs or {})
    folder = _local_folder(name, kwargs)
    if folder is None:
        return None
    gguf = kwargs.get("gguf_file")
    if gguf:
        files = [folder / gguf]
        if not files[0].is_file():
            return None
    else:
        files = sorted(p for p in folder.iterdir()
                       if p.is_file() and not p.name.startswith(".") and p.name not in _IGNORED)
        if not files:
            return None
    loaded_as = {k: v for k, v in kwargs.items() if k not in _FETCH_ONLY}
    return {
        "files": {p.name: _file_digest(p) for p in files},
        "kwargs": json.loads(json.dumps(loaded_as, sort_keys=True, default=str)),
    }


def _key(name: str, kwargs: dict, *rest: Any) -> tuple:
    return (name, json.dumps(kwargs, sort_keys=True, default=str), *map(str, rest))


def load_pretrained_model(name: str, kwargs: dict | None = None, device: Any = "cpu") -> Any:
    """``AutoModelForCausalLM.from_pretrained(name, **kwargs)`` on ``device``, in eval mode.

    One copy per process and (name, arguments, device) while it is in use.

    Parameters
    ----------
    name : str
        A local model folder or a hub name.
    kwargs : dict, optional
        ``from_pretrained`` arguments (``gguf_file``, ``dtype``, ``local_files_only``, ...).
    device : str or torch.device, default="cpu"
        Where to put the model.

    Returns
    -------
    transformers.PreTrainedModel
    """
    from transformers import AutoModelForCausalLM

    kwargs = dict(kwargs or {})
    key = _key(name, kwargs, device)
    with _lock:  # threads and panel members on one model load it once
        model = _models.get(key)
        if model is None:
            logger.info("loading model %s", name)
            model = AutoModelForCausalLM.from_pretrained(name, **kwargs).to(device).eval()
            _models[key] = model
    return model


def load_pretrained_tokenizer(name: str, kwargs: dict | None = None) -> Any:
    """``AutoTokenizer.from_pretrained`` of a model's name with the arguments it applies to.

    One copy per process and (name, arguments) while it is in use.

    Parameters
    ----------
    name : str
        A local model folder or a hub name.
    kwargs : dict, optional
        The model's ``from_pretrained`` arguments; those a tokenizer takes too
        (``gguf_file``, ``local_files_only``, ``revision``, ...) are passed on.

    Returns
    -------
    transformers.PreTrainedTokenizerBase
    """
    from transformers import AutoTokenizer

    kwargs = {k: v for k, v in (kwargs or {}).items() if k in _TOKENIZER_KWARGS}
    key = _key(name, kwargs)
    with _lock:
        tokenizer = _tokenizers.get(key)
        if tokenizer is None:
            tokenizer = AutoTokenizer.from_pretrained(name, **kwargs)
            _tokenizers[key] = tokenizer
    return tokenizer
