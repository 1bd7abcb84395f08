"""Recorded LLM annotations: loading them from disk and fetching the public ones.

Two on-disk formats are read, both as published by the MoLLIA authors:

* JSON lines, one file per LLM, ``<task>_<llm>.json``; each line holds ``text``, ``label``
  (gold class name), ``llm_logits`` (per-class probability of the first answer token) and
  ``llm_label`` (``k`` sampled free-text answers);
* ``<task>_meta_x.npy`` (``n x (n_llms * 2) x n_classes``: per LLM its probability row then
  its vote row) with ``<task>_meta_y.npy`` (one-hot gold), for tasks whose texts are not
  published.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.utils import Bunch

from .annotators.base import check_annotation_values
from .annotators.parsing import vote_distribution

__all__ = [
    "load_recordings",
    "fetch_recordings",
    "get_data_home",
    "default_recordings_path",
    "KNOWN_TASKS",
]

logger = logging.getLogger(__name__)

#: Class names, in the class order of the recordings, for the tasks the authors published.
KNOWN_TASKS: dict[str, list[str]] = {
    "trec": ["abbreviation", "entity", "description", "human", "location", "numeric"],
    "imdb": ["negative", "positive"],
}

#: LLM short names in the order the authors stack them in ``*_meta_x.npy``.
RECORDED_LLMS: list[str] = ["gemma", "llama", "mistral", "qwen", "yi"]

#: Files of the public recordings: name -> (folder in the authors' repository, SHA-256 of
#: the copy we verified).
REMOTE_FILES: dict[str, dict[str, tuple[str, str]]] = {
    "trec": {
        "trec_gemma.json": (
            "molam_train_raw_data",
            "7c8eb1af4a9a7d85146a457e3e5ff84e5d262539d25737134ad5005522fb1dab",
        ),
        "trec_llama.json": (
            "molam_train_raw_data",
            "22f3e43b2c6e2eac8f5dc845b10014e292fb94547af84cf3b4ce61ee6e6acc2e",
        ),
        "trec_mistral.json": (
            "molam_train_raw_data",
            "8b428a59c12d4f8e039e5069a147297cfa5b9aacac7e60fcaed5a390f01282be",
        ),
        "trec_qwen.json": (
            "molam_train_raw_data",
            "8ea4c2dcae6f6679dcdb5740c5f73d08ed6633a7eec0ead578d2de03b733cd9a",
        ),
        "trec_yi.json": (
            "molam_train_raw_data",
            "72f0598474cd7bebf696c79e6cf0021bad0d3e47afb03a514deb668ff4cd2c75",
        ),
    },
    "imdb": {
        "imdb_meta_x.npy": (
            "molam_train_data",
            "e27b29d60d39a03abca8fec661cb557e35247929d57fce5638fb178702eabd20",
        ),
        "imdb_meta_y.npy": (
            "molam_train_data",
            "16a25d9ee919984be4d34685b803ac04dd97e688445f363ca6aa4574cd58d640",
        ),
    },
}
#: The authors' repository, raw file access.
REMOTE_BASE = "https://raw.githubusercontent.com/qijindou/MoLLIA/main/output_exp/"


def _json_files(folder: Path, task: str) -> list[Path]:
    return sorted(folder.glob(f"{task}_*.json"))


def _check_task(task: str) -> str:
    if not isinstance(task, str) or not task:
        raise ValueError(f"task must be a non-empty string, got {task!r}")
    return task.lower()


def _read_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                raise ValueError(f"{path}: line {lineno} is empty")
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}: line {lineno} is not valid JSON ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise ValueError(f"{path}: line {lineno} is not a JSON object")
            missing = {"text", "label", "llm_logits", "llm_label"} - row.keys()
            if missing:
                raise ValueError(f"{path}: line {lineno} lacks field(s) {sorted(missing)}")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path}: file is empty")
    return rows


def _load_jsonl_task(files: Sequence[Path], labels: list[str] | None) -> Bunch:
    per_llm = [_read_jsonl(f) for f in files]
    first = per_llm[0]
    if labels is None:
        labels = sorted({row["label"] for row in first})
    index = {name: i for i, name in enumerate(labels)}
    n, n_classes = len(first), len(labels)
    for path, rows in zip(files[1:], per_llm[1:]):
        if len(rows) != n:
            raise ValueError(f"{path}: {len(rows)} lines, but {files[0]} has {n}")
        for lineno, (a, b) in enumerate(zip(first, rows), start=1):
            if a["text"] != b["text"]:
                raise ValueError(
                    f"{path}: line {lineno} holds text {b['text'][:60]!r}, but {files[0]} "
                    f"line {lineno} holds {a['text'][:60]!r}: files must list the same texts "
                    "in the same order"
                )
            if a["label"] != b["label"]:
                raise ValueError(
                    f"{path}: line {lineno} has gold label {b['label']!r}, {files[0]} has "
                    f"{a['label']!r}"
                )
    signals = np.zeros((n, len(files), 2, n_classes))
    target = np.empty(n, dtype=int)
    raw_answers: list[list[list[str]]] = [[] for _ in range(n)]
    for j, (path, rows) in enumerate(zip(files, per_llm)):
        for i, row in enumerate(rows):
            where = f"{path}: line {i + 1}"
            if row["label"] not in index:
                raise ValueError(f"{where}: unknown label {row['label']!r}; known: {labels}")
            target[i] = index[row["label"]]
            probs = row["llm_logits"]
            if not isinstance(probs, list) or len(probs) != n_classes:
                raise ValueError(
                    f"{where}: llm_logits must be a list of {n_classes} numbers, got {probs!r}"
                )
            probs = np.asarray(probs, dtype=float)
            check_annotation_values(probs[None], np.zeros_like(probs)[None],
                                    where=f"{where}: llm_logits")
            answers = row["llm_label"]
            if not isinstance(answers, list) or not all(isinstance(a, str) for a in answers):
                raise ValueError(f"{where}: llm_label must be a list of strings")
            signals[i, j, 0] = probs
            signals[i, j, 1] = vote_distribution(answers, labels)
            raw_answers[i].append(answers)
    return Bunch(
        texts=[row["text"] for row in first],
        target=target,
        target_names=list(labels),
        annotator_names=[f.stem.split("_", 1)[1] for f in files],
        signals=signals,
        raw_answers=raw_answers,
    )


def _load_npy_task(x_path: Path, y_path: Path, labels: list[str] | None) -> Bunch:
    if not y_path.exists():
        raise FileNotFoundError(f"{y_path}: missing (needed beside {x_path})")
    x = np.load(x_path)
    y = np.load(y_path)
    if x.ndim != 3 or x.shape[1] % 2:
        raise ValueError(
            f"{x_path}: expected shape (n_texts, 2 * n_llms, n_classes), got {x.shape}"
        )
    n, rows, n_classes = x.shape
    if y.ndim != 2 or y.shape != (n, n_classes):
        raise ValueError(f"{y_path}: expected one-hot shape {(n, n_classes)}, got {y.shape}")
    bad = np.flatnonzero(y.sum(axis=1) != 1)
    if bad.size:
        raise ValueError(f"{y_path}: row {bad[0]} is not one-hot ({y[bad[0]].tolist()})")
    if not np.all(np.isfinite(x)):
        row = int(np.argwhere(~np.isfinite(x))[0][0])
        raise ValueError(f"{x_path}: NaN or infinite value in row {row}")
    n_llms = rows // 2
    signals = x.reshape(n, n_llms, 2, n_classes).astype(float)
    check_annotation_values(signals[:, :, 0], signals[:, :, 1],
                            where=f"{x_path} (rows, LLMs)")
    names = RECORDED_LLMS if n_llms == len(RECORDED_LLMS) else [f"llm{j}" for j in range(n_llms)]
    if labels is None:
        labels = [f"class{c}" for c in range(n_classes)]
    if len(labels) != n_classes:
        raise ValueError(f"{x_path}: {n_classes} classes, but {len(labels)} label names given")
    return Bunch(
        texts=None,
        target=y.argmax(axis=1).astype(int),
        target_names=list(labels),
        annotator_names=list(names),
        signals=signals,
        raw_answers=None,
    )


def load_recordings(
    path: str | os.PathLike,
    task: str,
    labels: Sequence[str] | None = None,
    annotators: Sequence[str] | None = None,
) -> Bunch:
    """Load recorded LLM annotations of one task.

    Parameters
    ----------
    path : str or path-like
        Folder holding ``<task>_<llm>.json`` files, or ``<task>_meta_x.npy`` and
        ``<task>_meta_y.npy``.
    task : str
        Task name, e.g. ``"trec"`` or ``"imdb"``.
    labels : sequence of str, optional
        Class names in the recordings' class order. Defaults to the known order for
        ``"trec"`` and ``"imdb"``; for other JSON tasks, the sorted gold labels.
    annotators : sequence of str, optional
        Load only these LLMs (JSON format), in this order. Default: all files found.

    Returns
    -------
    Bunch
        ``texts`` (list of str, or None for ``.npy`` recordings), ``target`` (int array),
        ``target_names``, ``annotator_names``, ``signals`` (float array of shape
        ``(n_texts, n_llms, 2, n_classes)``: probabilities then vote shares) and
        ``raw_answers`` (per text, per LLM, the sampled answers; None for ``.npy``).

    Raises
    ------
    FileNotFoundError
        If the folder or the task's files are missing.
    ValueError
        On malformed lines, texts that differ between LLM files, unknown labels or
        inconsistent shapes; the message names the file and line.
    """
    folder = Path(path)
    task = _check_task(task)
    if not folder.is_dir():
        raise FileNotFoundError(f"recordings folder {folder} does not exist")
    if labels is None:
        labels = KNOWN_TASKS.get(task)
    labels = None if labels is None else list(labels)
    if labels is not None and len(set(labels)) != len(labels):
        raise ValueError(f"labels contain duplicates: {labels}")
    files = _json_files(folder, task)
    if annotators is not None:
        wanted = [folder / f"{task}_{name}.json" for name in annotators]
        missing = [str(f) for f in wanted if not f.exists()]
        if missing:
            raise FileNotFoundError(f"no recordings for annotator(s): {missing}")
        files = wanted
    if files:
        logger.info("loading %d recording files of task %r from %s", len(files), task, folder)
        return _load_jsonl_task(files, labels)
    x_path = folder / f"{task}_meta_x.npy"
    if x_path.exists():
        return _load_npy_task(x_path, folder / f"{task}_meta_y.npy", labels)
    known = sorted({p.name.split("_")[0] for p in folder.glob("*_*.json")} |
                   {p.name.split("_")[0] for p in folder.glob("*_meta_x.npy")})
    raise FileNotFoundError(
        f"no recordings for task {task!r} in {folder} (expected {task}_<llm>.json or "
        f"{task}_meta_x.npy); tasks found there: {known or 'none'}"
    )


def default_recordings_path() -> Path:
    """Folder the tests, benchmarks and command line read recordings from by default.

    ``$SKMOLLAL_RECORDINGS`` if set, else ``shared/data/llm-recordings`` beside a source
    checkout of skmollal (where the project's CI puts them).

    Returns
    -------
    Path
        The folder (it may not exist).
    """
    fallback = Path(__file__).resolve().parents[2] / "shared" / "data" / "llm-recordings"
    return Path(os.environ.get("SKMOLLAL_RECORDINGS", fallback))


def get_data_home(data_home: str | os.PathLike | None = None) -> Path:
    """Folder where fetched recordings are cached, created if needed.

    Parameters
    ----------
    data_home : str or path-like, optional
        The folder. Default: ``$SKMOLLAL_DATA`` if set, else ``~/skmollal_data``, as
        :func:`sklearn.datasets.get_data_home` does for scikit-learn's own data.

    Returns
    -------
    Path
        The folder.
    """
    if data_home is None:
        data_home = os.environ.get("SKMOLLAL_DATA", Path.home() / "skmollal_data")
    folder = Path(data_home).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_recordings(
    task: str,
    data_home: str | os.PathLike | None = None,
    download_if_missing: bool = True,
    base_url: str = REMOTE_BASE,
) -> Bunch:
    """Load the MoLLIA authors' public recordings, downloading them on first use.

    The files come from the authors' repository (``qijindou/MoLLIA`` on GitHub,
    ``output_exp/molam_train_raw_data/`` for TREC, ``output_exp/molam_train_data/`` for IMDB). They are cached in ``data_home`` and checked
    against SHA-256 sums before use; a cached copy is reused without network access.

    Parameters
    ----------
    task : {"trec", "imdb"}
        Which recordings.
    data_home : str or path-like, optional
        Cache folder; see :func:`get_data_home`.
    download_if_missing : bool, default=True
        If False, raise instead of downloading missing files.
    base_url : str
        Where the files are downloaded from.

    Returns
    -------
    Bunch
        As :func:`load_recordings`.

    Raises
    ------
    OSError
        If a file is missing and cannot be downloaded; the message says where to put it.
    ValueError
        If a file does not match its checksum.
    """
    task = _check_task(task)
    if task not in REMOTE_FILES:
        raise ValueError(f"unknown task {task!r}; published recordings: {sorted(REMOTE_FILES)}")
    folder = get_data_home(data_home)
    for name, (subfolder, expected) in REMOTE_FILES[task].items():
        target = folder / name
        if not target.exists():
            if not download_if_missing:
                raise OSError(
                    f"{target} is missing and download_if_missing=False; download {name} "
                    f"from {base_url} and put it in {folder}"
                )
            _download(f"{base_url}{subfolder}/{name}", target, folder)
        if _sha256(target) != expected:
            raise ValueError(
                f"{target}: checksum mismatch (expected sha256 {expected}); delete it to "
                "download again"
            )
    return load_recordings(folder, task)


def _download(url: str, target: Path, folder: Path) -> None:
    logger.info("downloading %s to %s", url, target)
    partial = target.with_suffix(target.suffix + ".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(partial, "wb") as out:
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise OSError(
            f"could not download {url} ({exc}); without network access, put the file "
            f"{target.name} in {folder} (or pass data_home= to a folder that has it)"
        ) from exc
    partial.replace(target)
