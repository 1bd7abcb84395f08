"""The texts of an experiment and a summary of recorded annotations.

:func:`load_experiment_data` loads a CSV of one's own, the bundled demo set or recorded
annotations; :func:`recordings_summary` tells how accurate each recorded LLM is.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from sklearn.utils import Bunch

from .datasets import default_recordings_path
from .own_data import load_csv

__all__ = ["load_experiment_data", "recordings_summary"]


def load_experiment_data(task: str = "trec", recordings: str | Path | None = None,
                         data: str | Path | None = None,
                         labels: str | Sequence[str] | None = None,
                         recorded: bool = False) -> Bunch:
    """The texts of an experiment: a CSV (``data``), the demo set or a recorded task.

    Parameters
    ----------
    task : str, default="trec"
        ``"demo"`` for the bundled demo questions, else a recorded task of ``recordings``
        (with ``data``: the one ``recorded`` replays).
    recordings : str or path, optional
        Folder of recorded LLM annotations (default: :func:`default_recordings_path`).
    data, labels : str or path, and str or sequence of str, optional
        A CSV (read by :func:`load_csv`) and its class names.
    recorded : bool, default=False
        With ``data``: ``task``'s recordings answer its texts
        (:func:`~skmollal.recorded_csv.load_recorded_csv`).

    Returns
    -------
    Bunch
        ``texts`` (list of str), ``y`` (gold class index, -1 where unknown), ``labels``
        and ``recordings`` (the recordings Bunch, or None for a CSV or the demo set).
    """
    rec_path = default_recordings_path() if recordings is None else recordings
    if data and recorded:
        from .recorded_csv import load_recorded_csv
        return load_recorded_csv(data, labels, rec_path, task)
    if data:
        return Bunch(**load_csv(data, labels), recordings=None)
    if task == "demo":
        from .demo import load_demo

        demo = load_demo()
        return Bunch(texts=list(demo.texts), y=np.asarray(demo.target),
                     labels=list(demo.target_names), recordings=None)
    from .datasets import load_recordings

    rec = load_recordings(rec_path, task)
    if rec.texts is None:
        raise ValueError(f"the {task!r} recordings hold no texts; the loop needs texts")
    return Bunch(texts=list(rec.texts), y=np.asarray(rec.target),
                 labels=list(rec.target_names), recordings=rec)


def recordings_summary(path: str | Path, task: str) -> str:
    """Per-LLM and majority-vote accuracy of recorded annotations, as a text table.

    Parameters
    ----------
    path : str or path
        Folder of the recordings.
    task : str
        Recorded task, e.g. ``"trec"``.

    Returns
    -------
    str
    """
    from .datasets import load_recordings

    rec = load_recordings(path, task)
    rows = []
    for j, name in enumerate(rec.annotator_names):
        rows.append((name, float((rec.signals[:, j, 1].argmax(1) == rec.target).mean())))
    votes = rec.signals[:, :, 1].sum(axis=1)
    rows.append(("majority vote", float((votes.argmax(1) == rec.target).mean())))
    lines = [f"task {task}: {len(rec.target)} texts, {len(rec.target_names)} classes",
             f"{'annotator':<16}accuracy"]
    lines += [f"{name:<16}{acc:.3f}" for name, acc in rows]
    return "\n".join(lines)
