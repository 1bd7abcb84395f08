"""What each class name means, written into an annotation task's instruction.

:func:`read_label_descriptions` reads them from a mapping or a file
(``--label-descriptions FILE``) and checks them against the task's labels.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, Sequence

__all__ = ["read_label_descriptions"]


def read_label_descriptions(source: str | os.PathLike | Mapping[str, str] | None,
                            labels: Sequence[str]) -> dict[str, str] | None:
    """Label descriptions from a mapping or a file (``--label-descriptions FILE``).

    A ``.json`` file holds one object ``{"label": "description", ...}``; any other file one
    ``label: description`` per line (blank lines and lines starting with ``#`` skipped).

    Parameters
    ----------
    source : str, path, mapping or None
        The file or the mapping (None: no descriptions).
    labels : sequence of str
        The task's class names.

    Returns
    -------
    dict or None

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        On a line without ``:``, bad JSON, or a label that is not one of ``labels``.
    """
    if source is None or isinstance(source, Mapping):
        return check_descriptions(source, labels)
    path = Path(source)
    if not path.is_file():
        raise FileNotFoundError(f"--label-descriptions {path}: no such file")
    raw = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        try:
            found = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--label-descriptions {path}: not valid JSON ({exc})") from None
        if not isinstance(found, dict):
            raise ValueError(f"--label-descriptions {path}: must hold one JSON object")
    else:
        found = {}
        for number, line in enumerate(raw.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            label, sep, text = line.partition(":")
            if not sep:
                raise ValueError(f"--label-descriptions {path} line {number}: write "
                                 "'label: description'")
            found[label.strip()] = text.strip()
    try:
        return check_descriptions(found, labels)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"--label-descriptions {path}: {exc}") from None


def check_descriptions(descriptions: Mapping[str, str] | None,
                        labels: Sequence[str]) -> dict[str, str] | None:
    if descriptions is None:
        return None
    if not isinstance(descriptions, Mapping):
        raise TypeError("AnnotationTask: label_descriptions must be a mapping of label to "
                        f"description, got {type(descriptions).__name__}")
    unknown = [k for k in descriptions if k not in labels]
    if unknown:
        raise ValueError(f"AnnotationTask: label_descriptions name unknown labels {unknown}; "
                         f"the labels are {list(labels)}")
    bad = [k for k, v in descriptions.items() if not isinstance(v, str) or not v.strip()]
    if bad:
        raise ValueError(f"AnnotationTask: label_descriptions of {bad} must be non-empty str")
    return {k: " ".join(v.split()) for k, v in descriptions.items()}
