"""The loop's state: one dense array per kind of per-row fact, and its save / load.

:class:`LoopState` holds everything a MoLLIA run has learned or paid for, row by row:

* ``signals[i]``: the panel's answer for row ``i`` (NaN until annotated);
* ``order[i]``: when row ``i`` was annotated (0, 1, ... in annotation order; -1 never);
* ``weights[i]``: its discrepancy weight (NaN until weighed);
* ``first_labels[i]``: the mixture's posterior for it in the round it was annotated;
* ``human_y[i]`` / ``review_round[i]``: a person's answer for it (-1 none or skipped) and the
  round that asked (-1 never; see :mod:`.review`);

plus the round counter, the round in progress (``pending``: its queried rows, so a resume
annotates the same rows), the LLM-call count, the history and the cost of annotations made
since the last history record (``unrecorded_cost``, so a round interrupted mid-way still
reports the chunks it paid for). :meth:`LoopState.save` writes
``state.json`` (scalars, history, fingerprint) and ``state.npz`` (the annotated rows only)
into a folder, each through a uniquely named temporary file and an atomic rename, so an
interrupted save never leaves a half-written state and two writers never share a temp file.
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

__all__ = ["FolderBusyError", "FolderLock", "LoopState", "STATE_VERSION"]

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


class FolderBusyError(RuntimeError):
    """Another process is writing the same run folder."""


class FolderLock:
    """One writer per run folder: an exclusive advisory lock on ``<folder>/.writer.lock``.

    Taken with :meth:`acquire` (non-blocking ``flock``; the holder's process id is written
    into the file), released by :meth:`release` or when the process ends, even by a crash
    or SIGKILL. Where the platform has no ``flock`` the lock is a no-op.
    """

    def __init__(self, folder: Path, handle) -> None:
        self.folder = folder
        self._handle = handle

    @classmethod
    def acquire(cls, folder) -> "FolderLock":
        """Lock ``folder`` for this process.

        Parameters
        ----------
        folder : str or path
            The run folder (created if missing).

        Returns
        -------
        FolderLock

        Raises
        ------
        FolderBusyError
            If another process holds the lock (the message names its process id).
        """
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        handle = open(folder / ".writer.lock", "a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - no flock on this platform
            return cls(folder, handle)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise FolderBusyError(
                f"{folder} is being written by another run (process {holder}); wait for it "
                "to finish, or give another output_dir"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        return cls(folder, handle)

    def release(self) -> None:
        """Give the folder back (closing the file drops the lock)."""
        if self._handle is not None and not self._handle.closed:
            self._handle.close()
        self._handle = None


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
        Discrepancy weights, NaN where not weighed.
    first_labels : ndarray of shape (n_rows, n_classes), optional
        The mixture's posterior in the round each row was annotated, NaN before.
    human_y : ndarray of int, shape (n_rows,), optional
        A person's answer per reviewed row, -1 where none (not asked, or skipped).
    review_round : ndarray of int, shape (n_rows,), optional
        The round that asked a person about each row, -1 where never.
    round : int, default=0
        Rounds completed.
    started : bool, default=False
        Whether round 0 (the seed fit) ran.
    pending : dict or None
        The round in progress: its number and queried rows.
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
    first_labels: np.ndarray = None
    human_y: np.ndarray = None
    review_round: np.ndarray = None
    round: int = 0
    started: bool = False
    pending: dict | None = None
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
            self.weights = np.full(n, np.nan)
        if self.first_labels is None:
            self.first_labels = np.full((n, C), np.nan)
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
                     weights=self.weights[rows], first_labels=self.first_labels[rows],
                     human_y=self.human_y[rows], review_round=self.review_round[rows])

        meta = {
            "version": STATE_VERSION,
            "fingerprint": self.fingerprint,
            "round": self.round,
            "started": self.started,
            "llm_calls": self.llm_calls,
            "pending": self.pending,
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
        self.weights[rows] = arrays["weights"]
        self.first_labels[rows] = arrays["first_labels"]
        if "human_y" in arrays.files:  # states saved before human review had none
            self.human_y[rows] = arrays["human_y"]
            self.review_round[rows] = arrays["review_round"]
        self.round = int(meta["round"])
        self.started = bool(meta["started"])
        self.pending = meta["pending"]
        self.history = list(meta["history"])
        self.unrecorded_cost = dict(meta.get("unrecorded_cost") or {})
        logger.info("resuming from %s: %d rounds done, %d texts annotated", folder,
                    self.round, len(rows))
        return self
