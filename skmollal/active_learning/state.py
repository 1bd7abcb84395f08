"""The loop's state: one dense array per kind of per-row fact, and its save / load.

:class:`LoopState` holds everything a MoLLIA run has learned or paid for, row by row:

* ``signals[i]``: the panel's answer for row ``i`` (NaN until annotated);
* ``order[i]``: when row ``i`` was annotated (0, 1, ... in annotation order; -1 never);
* ``weights[i]``: its discrepancy weight (1 until weighed; ``weighed[i]`` says whether it was);
* ``first_labels[i]``: the mixture's posterior for it in the round it was annotated
  (``has_first_label[i]`` says whether it got one);
* ``human_y[i]`` / ``review_round[i]``: a person's answer for it (-1 none or skipped) and the
  round that asked (-1 never; see :mod:`.review`);

plus the round counter, the round in progress (``pending``, a :class:`PendingRound`: its
queried rows, so a resume annotates the same rows, and the rows sent for review), the
LLM-call count, the history and the cost of annotations made since the last history record
(``unrecorded_cost``, so a round interrupted mid-way still reports the chunks it paid for).
:meth:`LoopState.save` writes ``state.json`` (scalars, history, fingerprint) and
``state.npz`` (the annotated rows only) into a folder, each through a uniquely named
temporary file and an atomic rename, so an interrupted save never leaves a half-written
state and two writers never share a temp file.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..annotators.costs import add_cost_dicts

__all__ = ["LoopState", "PendingRound", "STATE_VERSION"]

logger = logging.getLogger(__name__)

#: Version of the files written by :meth:`LoopState.save`.
STATE_VERSION = 2


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _replace_atomically(path: Path, write) -> None:
    """Write through a unique temp file in ``path``'s folder, then rename over ``path``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _add_per_name(a: dict, b: dict) -> dict:
    """Sum two per-annotator dicts of flat cost records."""
    return {name: add_cost_dicts(a.get(name), b.get(name)) for name in dict.fromkeys([*a, *b])}


@dataclass
class PendingRound:
    """The round in progress: what it queried and whom it asked, saved before paying.

    Parameters
    ----------
    round : int
        Its number.
    queried : list of int
        The rows it queried (a resumed round annotates these).
    query_s : float, default=0.0
        Seconds its query took.
    review : list of int or None, default=None
        The rows sent to a person, once chosen (a resumed round asks these again, or none
        if they were answered).
    """

    round: int
    queried: list
    query_s: float = 0.0
    review: list | None = None

    def to_dict(self) -> dict:
        """The JSON form saved in ``state.json``."""
        out = {"round": int(self.round), "queried": [int(i) for i in self.queried],
               "query_s": float(self.query_s)}
        if self.review is not None:
            out["review"] = [int(i) for i in self.review]
        return out

    @classmethod
    def from_dict(cls, data: dict | None) -> "PendingRound | None":
        """Read the saved form back (None stays None)."""
        if data is None:
            return None
        return cls(int(data["round"]), [int(i) for i in data["queried"]],
                   float(data.get("query_s", 0.0)), data.get("review"))


@dataclass
class LoopState:
    """Per-row arrays and counters of a MoLLIA run.

    Parameters
    ----------
    n_rows : int
        Rows of the whole data set (seed + pool).
    n_llms, n_classes : int
        Panel size and number of classes (the shape of a row's signals).
    seed_idx : ndarray of int
        The gold seed rows.
    seed_y : ndarray of int
        Their gold labels.
    fingerprint : dict
        What defines the run (data, panel, settings); a saved state is only resumed by a
        loop with the same fingerprint.
    signals : ndarray of shape (n_rows, n_llms, 2, n_classes), optional
        Panel answers per row, NaN where not annotated (default: all NaN).
    order : ndarray of int, shape (n_rows,), optional
        Annotation order per row, -1 where not annotated.
    weights : ndarray of shape (n_rows,), optional
        Discrepancy weights (1 where not weighed).
    weighed : ndarray of bool, shape (n_rows,), optional
        Whether a row's weight was set.
    first_labels : ndarray of shape (n_rows, n_classes), optional
        The mixture's posterior in the round each row was annotated (NaN before).
    has_first_label : ndarray of bool, shape (n_rows,), optional
        Whether a row got its first label.
    human_y : ndarray of int, shape (n_rows,), optional
        A person's answer per reviewed row, -1 where none (not asked, or skipped).
    review_round : ndarray of int, shape (n_rows,), optional
        The round that asked a person about each row, -1 where never.
    round : int, default=0
        Rounds completed.
    started : bool, default=False
        Whether round 0 (the seed fit) ran.
    pending : PendingRound or None
        The round in progress.
    history : list of dict
        One record per completed round.
    unrecorded_cost : dict
        Cost per annotator (flat records of :mod:`skmollal.annotators.costs`) of the
        annotations made since the last history record.
    """

    n_rows: int
    n_llms: int
    n_classes: int
    seed_idx: np.ndarray
    seed_y: np.ndarray
    fingerprint: dict = field(default_factory=dict)
    signals: np.ndarray = None
    order: np.ndarray = None
    weights: np.ndarray = None
    weighed: np.ndarray = None
    first_labels: np.ndarray = None
    has_first_label: np.ndarray = None
    human_y: np.ndarray = None
    review_round: np.ndarray = None
    round: int = 0
    started: bool = False
    pending: PendingRound | None = None
    history: list = field(default_factory=list)
    unrecorded_cost: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        n, L, C = self.n_rows, self.n_llms, self.n_classes
        self.seed_idx = np.asarray(self.seed_idx, dtype=int)
        self.seed_y = np.asarray(self.seed_y, dtype=int)
        if self.signals is None:
            self.signals = np.full((n, L, 2, C), np.nan)
        if self.order is None:
            self.order = np.full(n, -1, dtype=int)
        if self.weights is None:
            self.weights = np.ones(n)
        if self.weighed is None:
            self.weighed = np.zeros(n, dtype=bool)
        if self.first_labels is None:
            self.first_labels = np.full((n, C), np.nan)
        if self.has_first_label is None:
            self.has_first_label = np.zeros(n, dtype=bool)
        if self.human_y is None:
            self.human_y = np.full(n, -1, dtype=int)
        if self.review_round is None:
            self.review_round = np.full(n, -1, dtype=int)
        self._is_seed = np.zeros(n, dtype=bool)
        self._is_seed[self.seed_idx] = True

    # ------------------------------------------------------------------ views
    @property
    def n_annotated(self) -> int:
        """Rows annotated so far (seed and pool)."""
        return int((self.order >= 0).sum())

    def annotated_rows(self) -> np.ndarray:
        """Annotated rows (seed and pool) in the order they were annotated."""
        rows = np.flatnonzero(self.order >= 0)
        return rows[np.argsort(self.order[rows], kind="stable")]

    def pool_rows(self) -> np.ndarray:
        """Annotated rows outside the seed, in annotation order."""
        rows = self.annotated_rows()
        return rows[~self._is_seed[rows]]

    def partial_labels(self, include_pending: bool = False) -> np.ndarray:
        """Labels of every row as the mixture sees them: gold on the seed, -1 elsewhere.

        Rows a person answered (:attr:`human_y`) are gold too: those of finished rounds, and
        with ``include_pending`` those of the round in progress (so that a resumed round
        labels as the uninterrupted one did before its review).
        """
        y = np.full(self.n_rows, -1)
        y[self.seed_idx] = self.seed_y
        human = (self.human_y >= 0) & (include_pending | (self.review_round <= self.round))
        y[human] = self.human_y[human]
        return y

    @property
    def n_gold(self) -> int:
        """Gold labels of finished rounds: the seed and the rows a person answered."""
        return int((self.partial_labels() >= 0).sum())

    def review_candidates(self, rows) -> np.ndarray:
        """Whether each of ``rows`` may still be sent to a person (never asked before)."""
        return self.review_round[np.asarray(rows, dtype=int)] < 0

    def record_review(self, rows, answers, round_: int) -> None:
        """Store a person's ``answers`` (class index, -1 skipped) to ``rows`` in ``round_``."""
        rows = np.asarray(rows, dtype=int)
        self.human_y[rows] = np.asarray(answers, dtype=int)
        self.review_round[rows] = int(round_)

    def candidates(self) -> np.ndarray:
        """Rows that can still be queried: neither seed nor annotated, ascending."""
        return np.flatnonzero((self.order < 0) & ~self._is_seed)

    def is_annotated(self, rows) -> np.ndarray:
        """Whether each of ``rows`` has signals."""
        return self.order[np.asarray(rows, dtype=int)] >= 0

    def training_rows(self) -> np.ndarray:
        """The rows a round trains on: the seed, then the annotated pool rows."""
        return np.concatenate([self.seed_idx, self.pool_rows()]).astype(int)

    @property
    def llm_calls(self) -> int:
        """LLM calls behind the state: the (row, LLM) answers held (a cascade asks fewer)."""
        return int(np.isfinite(self.signals[:, :, 0, 0]).sum())

    # ------------------------------------------------------------------ updates
    def record_signals(self, rows, signals: np.ndarray) -> None:
        """Store the panel's signals of ``rows`` (not annotated before), in this order."""
        rows = np.asarray(rows, dtype=int)
        if self.is_annotated(rows).any():
            raise ValueError("record_signals: some rows are annotated already")
        start = int(self.order.max()) + 1 if self.n_annotated else 0
        self.signals[rows] = signals
        self.order[rows] = np.arange(start, start + len(rows))

    def set_weights(self, rows, weights) -> None:
        """Set the discrepancy weights of ``rows``."""
        rows = np.asarray(rows, dtype=int)
        self.weights[rows] = weights
        self.weighed[rows] = True

    def set_first_labels(self, rows, proba) -> None:
        """Keep the posteriors ``rows`` got in the round that annotated them (once)."""
        rows = np.asarray(rows, dtype=int)
        fresh = ~self.has_first_label[rows]
        self.first_labels[rows[fresh]] = np.asarray(proba)[fresh]
        self.has_first_label[rows[fresh]] = True

    def labels_at_annotation(self, rows, proba) -> np.ndarray:
        """``proba`` with each row's first label where it has one."""
        rows = np.asarray(rows, dtype=int)
        return np.where(self.has_first_label[rows][:, None], self.first_labels[rows], proba)

    def add_cost(self, costs: dict) -> None:
        """Add per-annotator cost records (flat dicts) to :attr:`unrecorded_cost`."""
        self.unrecorded_cost = _add_per_name(self.unrecorded_cost, costs)

    def round_cost(self) -> dict:
        """``cost`` (not yet in a history record; reset) and ``cost_total``, per annotator.

        What the next history record says about the round's cost.
        """
        cost, self.unrecorded_cost = self.unrecorded_cost, {}
        last = self.history[-1].get("cost_total", {}) if self.history else {}
        return {"cost": cost, "cost_total": _add_per_name(last, cost)}

    def cost_so_far(self) -> dict:
        """Cost per annotator: the history's total plus what is not recorded yet."""
        last = self.history[-1].get("cost_total", {}) if self.history else {}
        return _add_per_name(last, self.unrecorded_cost)

    # ------------------------------------------------------------------ persistence
    def save(self, folder) -> None:
        """Write ``state.json`` and ``state.npz`` into ``folder`` (atomically each)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        rows = self.annotated_rows()

        def write_npz(fh):
            np.savez(fh, annotated_idx=rows, signals=self.signals[rows],
                     weights=np.where(self.weighed[rows], self.weights[rows], np.nan),
                     first_labels=np.where(self.has_first_label[rows][:, None],
                                           self.first_labels[rows], np.nan),
                     human_y=self.human_y[rows], review_round=self.review_round[rows])

        meta = {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "round": self.round,
            "started": self.started,
            "llm_calls": self.llm_calls,
            "pending": None if self.pending is None else self.pending.to_dict(),
            "history": self.history,
            "unrecorded_cost": self.unrecorded_cost,
        }
        text = json.dumps(meta, indent=1, default=_json_default).encode()
        _replace_atomically(folder / "state.npz", write_npz)
        _replace_atomically(folder / "state.json", lambda fh: fh.write(text))

    @staticmethod
    def saved_in(folder) -> bool:
        """Whether ``folder`` holds a saved state."""
        return folder is not None and (Path(folder) / "state.json").exists()

    @staticmethod
    def read_meta(folder) -> dict:
        """The JSON part of a saved state (raises a clear error on a bad file)."""
        path = Path(folder) / "state.json"
        try:
            meta = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"cannot read the saved loop state {path}: {exc}; delete the "
                             "folder to start afresh") from exc
        if meta.get("version") != STATE_VERSION:
            raise ValueError(
                f"{path} was written by another version of skmollal (state version "
                f"{meta.get('version')!r}, this one reads {STATE_VERSION}); give another "
                "output_dir or delete it to start afresh"
            )
        return meta

    def load_into(self, folder) -> "LoopState":
        """Fill this (fresh) state from ``folder``; the caller checks the fingerprint first."""
        meta = self.read_meta(folder)
        arrays = np.load(Path(folder) / "state.npz")
        rows = arrays["annotated_idx"].astype(int)
        self.signals[rows] = arrays["signals"]
        self.order[rows] = np.arange(len(rows))
        weights = arrays["weights"]  # NaN in the file: not weighed
        self.weighed[rows] = np.isfinite(weights)
        self.weights[rows] = np.where(self.weighed[rows], weights, 1.0)
        first = arrays["first_labels"]
        self.has_first_label[rows] = np.isfinite(first).all(axis=1)
        self.first_labels[rows] = first
        if "human_y" in arrays.files:  # states saved before human review had none
            self.human_y[rows] = arrays["human_y"]
            self.review_round[rows] = arrays["review_round"]
        self.round = int(meta["round"])
        self.started = bool(meta["started"])
        self.pending = PendingRound.from_dict(meta["pending"])
        self.history = list(meta["history"])
        self.unrecorded_cost = dict(meta.get("unrecorded_cost") or {})
        logger.info("resuming from %s: %d rounds done, %d texts annotated", folder,
                    self.round, len(rows))
        return self


def __getattr__(name: str):
    if name in ("FolderBusyError", "FolderLock"):  # their home is now .checkpoint
        from . import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
