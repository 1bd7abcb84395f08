"""Where a run is saved: one writer per folder, the state files, the resume check.

:class:`Checkpoint` owns a run's ``output_dir``: it takes the folder's lock before the run
pays for anything (so a second run on the same folder is refused before it calls an LLM),
refuses a folder that holds another run, saves the :class:`~.state.LoopState` after every
chunk and round, and loads it back for a resume after checking the run's fingerprint. A
loop without ``output_dir`` gets a checkpoint that saves nothing.
"""
from __future__ import annotations

import os
from pathlib import Path

from .fingerprint import fingerprint_differences
from .state import LoopState

__all__ = ["Checkpoint", "FolderBusyError", "FolderLock"]


class FolderBusyError(RuntimeError):
    """Another process is writing the same run folder."""


class FolderLock:
    """One writer per run folder: an exclusive advisory lock on ``<folder>/.writer.lock``.

    Taken with :meth:`acquire` (non-blocking ``flock``; the holder's process id is written
    into the file), released by :meth:`release` or when the process ends, even by a crash
    or SIGKILL. Where the platform has no ``flock`` the lock is a no-op.

    Parameters
    ----------
    folder : path
        The locked folder.
    handle : file
        The open lock file (closing it drops the lock).
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


class Checkpoint:
    """The saved state of one run in ``folder`` (None: a run that saves nothing).

    Parameters
    ----------
    folder : str, path or None
        The run's ``output_dir``.
    """

    def __init__(self, folder) -> None:
        self.folder = None if folder is None else Path(folder)
        self.loaded = False  # the saved run in the folder is this one (load_into ran)
        self._lock: FolderLock | None = None

    @property
    def holds_run(self) -> bool:
        """Whether the folder holds a saved run."""
        return LoopState.saved_in(self.folder)

    def lock(self) -> None:
        """Take the folder for this process (once); a no-op without a folder.

        Raises
        ------
        FolderBusyError
            If another process is writing it.
        """
        if self.folder is not None and self._lock is None:
            self._lock = FolderLock.acquire(self.folder)

    def release(self) -> None:
        """Let other processes write the folder again."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def refuse_existing(self) -> None:
        """Refuse to start a fresh run in a folder that holds another (not loaded) one.

        Raises
        ------
        FileExistsError
            Naming how many rounds the saved run has done and how to continue it.
        """
        if self.holds_run and not self.loaded:
            meta = LoopState.read_meta(self.folder)
            raise FileExistsError(
                f"{self.folder} holds a saved MoLLIA run ({meta.get('round', '?')} rounds "
                "done): continue it with MoLLIALoop.resume(output_dir, ...), or give another "
                "output_dir (or delete this one) to start afresh"
            )

    def load_into(self, state: LoopState) -> LoopState:
        """Fill the fresh ``state`` from the folder, after checking it is the same run.

        Raises
        ------
        FileNotFoundError
            If the folder holds no saved run.
        ValueError
            If it holds a different run (the message names what differs).
        """
        if not self.holds_run:
            raise FileNotFoundError(f"{self.folder} holds no saved MoLLIA run (state.json)")
        meta = LoopState.read_meta(self.folder)
        differs = fingerprint_differences(meta["fingerprint"], state.fingerprint)
        if differs:
            raise ValueError(
                f"{self.folder} holds the state of a different run (differs in: "
                f"{', '.join(differs)}); resume it with the settings it was started with, or "
                "give another output_dir (or delete this one) to start afresh"
            )
        state.load_into(self.folder)
        self.loaded = True
        return state

    def save(self, state: LoopState) -> None:
        """Write the state (taking the lock first if not held yet)."""
        if self.folder is not None:
            self.lock()
            state.save(self.folder)
