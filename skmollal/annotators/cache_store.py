"""The SQLite store of the annotation cache: keys, records, and a database shared safely.

:class:`AnnotationCache` is a small SQLite database (WAL mode, so several processes can read
and write it at once) that maps :func:`cache_key` ``(annotator identity, text)`` to the
annotation of that text: probabilities, votes, raw answers, the abstention flag and what the
annotation cost (:class:`~skmollal.annotators.costs.CallCost`), so a replay from the cache
reports the original cost as saved. The key depends on the annotator and the text only, so
one database can serve several runs (the command line's ``--cache PATH``).

The default database is ``$SKMOLLAL_CACHE/annotations.sqlite`` when the ``SKMOLLAL_CACHE``
environment variable names a folder, else ``~/.cache/skmollal/annotations.sqlite``.

Nothing invalid is cached: :meth:`AnnotationCache.put` refuses values that
:func:`~skmollal.annotators.base.check_annotation_values` refuses, and every row read back is
checked again. A damaged file (garbage, truncated, a row that is not valid JSON or holds
invalid values) raises :class:`CacheCorruptedError`, which names the file and the two fixes:
delete it, or open it with ``invalid="refresh"`` (the command line's ``--refresh-cache``),
which re-annotates the bad rows (and moves a file that is not a database at all aside).

The wrapper that reads and writes it, committing every answer as it arrives, is
:class:`~skmollal.annotators.cache.CachedAnnotator`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .base import AnnotationResult, check_annotation_values

__all__ = ["AnnotationCache", "CacheCorruptedError", "INVALID_MODES", "cache_key",
           "default_cache_path"]

logger = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS annotations (
    key TEXT PRIMARY KEY,
    identity_sha TEXT NOT NULL,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""
_INDEX = "CREATE INDEX IF NOT EXISTS annotations_identity ON annotations(identity_sha)"
#: SQLite's default limit on host parameters is 999 in old builds; stay below it.
_CHUNK = 500


#: What a damaged cache can be: refused, or its bad rows re-annotated.
INVALID_MODES = ("raise", "refresh")


class CacheCorruptedError(ValueError):
    """An annotation cache file is damaged or holds invalid annotations.

    The message names the file and the fixes: delete the file, or open it with
    ``AnnotationCache(path, invalid="refresh")`` (command line: ``--refresh-cache``).
    """


def _record_problem(value: str) -> str | None:
    """Why a stored row is unusable, or None when it is a valid annotation."""
    try:
        record = json.loads(value)
    except ValueError as exc:
        return f"not valid JSON ({exc})"
    if not isinstance(record, dict) or not {"probs", "votes", "raw_answers",
                                            "abstained"} <= record.keys():
        return "not an annotation record"
    try:
        probs = np.asarray(record["probs"], dtype=float)
        votes = np.asarray(record["votes"], dtype=float)
    except (TypeError, ValueError):
        return "probs / votes are not lists of numbers"
    if probs.ndim != 1 or probs.shape != votes.shape:
        return f"probs {probs.shape} and votes {votes.shape} do not match"
    try:
        check_annotation_values(probs[None], votes[None], where="row")
    except ValueError as exc:
        return str(exc)
    return None


def default_cache_path() -> Path:
    """Where the cache lives by default.

    ``$SKMOLLAL_CACHE/annotations.sqlite`` if the environment variable is set, else
    ``~/.cache/skmollal/annotations.sqlite``.
    """
    root = os.environ.get("SKMOLLAL_CACHE")
    folder = Path(root).expanduser() if root else Path.home() / ".cache" / "skmollal"
    return folder / "annotations.sqlite"


def cache_key(identity: str, text: str) -> str:
    """The cache key of ``text`` annotated by the annotator with ``identity``.

    Parameters
    ----------
    identity : str
        The annotator's ``identity()`` (model, prompt and sampling settings).
    text : str
        The annotated text.

    Returns
    -------
    str
        A SHA-256 hex digest.
    """
    payload = json.dumps([identity, text], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _identity_sha(identity: str) -> str:
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()


class AnnotationCache:
    """SQLite store of annotations, shared safely between threads and processes.

    Parameters
    ----------
    path : str or path-like, optional
        The database file; created (with its folder) on first use. Defaults to
        :func:`default_cache_path`. ``":memory:"`` gives a private in-memory cache (one per
        thread; not shared with other processes).
    timeout : float, default=60.0
        Seconds a writer waits for another process's write lock (SQLite busy timeout).
    invalid : {"raise", "refresh"}, default="raise"
        What a damaged cache does. ``"raise"``: :class:`CacheCorruptedError` naming the file.
        ``"refresh"``: rows that cannot be read or hold invalid values count as missing (they
        are annotated again and overwritten, with a warning), and a file that is not a
        SQLite database at all is renamed to ``<name>.corrupt`` and a new cache started.

    Notes
    -----
    The cache pickles as its path only, so it can travel to joblib / dask workers; each
    process and thread opens its own connection.

    Examples
    --------
    >>> import numpy as np, tempfile, os
    >>> from skmollal.annotators.base import AnnotationResult
    >>> cache = AnnotationCache(os.path.join(tempfile.mkdtemp(), "a.sqlite"))
    >>> res = AnnotationResult(np.array([[.9, .1]]), np.array([[1., 0.]]), [["pos"]])
    >>> cache.put("model-v1", ["great"], res)
    >>> sorted(cache.get("model-v1", ["great", "dull"]))
    [0]
    """

    def __init__(self, path: str | os.PathLike | None = None, timeout: float = 60.0,
                 invalid: str = "raise") -> None:
        if invalid not in INVALID_MODES:
            raise ValueError(f"AnnotationCache: invalid must be one of {INVALID_MODES}, "
                             f"got {invalid!r}")
        self.path = default_cache_path() if path is None else path
        self.timeout = timeout
        self.invalid = invalid
        self._local = threading.local()

    # ------------------------------------------------------------------ connection
    @property
    def _in_memory(self) -> bool:
        return os.fspath(self.path) == ":memory:"

    def _fixes(self) -> str:
        return (f"delete {os.fspath(self.path)} (its annotations will be paid for again), or "
                "open it with AnnotationCache(path, invalid='refresh') (command line: "
                "--refresh-cache) to re-annotate what cannot be read")

    def _damaged(self, exc: BaseException) -> CacheCorruptedError:
        return CacheCorruptedError(
            f"the annotation cache {os.fspath(self.path)} is damaged or is not an skmollal "
            f"cache ({type(exc).__name__}: {exc}); {self._fixes()}"
        )

    def _move_aside(self, exc: BaseException) -> None:
        """``invalid="refresh"``: rename a damaged database file so a new one starts."""
        path = Path(self.path).expanduser()
        aside = path.with_name(path.name + ".corrupt")
        for suffix in ("", "-wal", "-shm"):
            part = Path(str(path) + suffix)
            if part.exists():
                os.replace(part, Path(str(aside) + suffix))
        logger.warning("the annotation cache %s is damaged (%s): moved it to %s and started "
                       "a new one", path, exc, aside)

    def _connect(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        try:
            conn = self._open()
        except sqlite3.DatabaseError as exc:
            if self.invalid != "refresh" or self._in_memory:
                raise self._damaged(exc) from exc
            self._move_aside(exc)
            conn = self._open()
        self._local.conn = conn
        self._local.pid = os.getpid()
        return conn

    def _open(self) -> sqlite3.Connection:
        """A new connection with WAL mode and the schema (DatabaseError on a bad file)."""
        if not self._in_memory:
            Path(self.path).expanduser().parent.mkdir(parents=True, exist_ok=True)
        target = os.fspath(self.path) if self._in_memory else os.fspath(Path(self.path).expanduser())
        conn = sqlite3.connect(target, timeout=self.timeout, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        # Switching to WAL needs a moment of exclusive access: retry while another process
        # is creating the same database.
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                if not self._in_memory:
                    conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
                conn.execute(_INDEX)
                if self.invalid == "refresh" and not self._in_memory:
                    check = conn.execute("PRAGMA quick_check").fetchone()[0]
                    if check != "ok":
                        raise sqlite3.DatabaseError(f"quick_check: {check}")
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    conn.close()
                    if "locked" in str(exc) or "unable to open" in str(exc):
                        raise OSError(f"AnnotationCache: cannot open {self.path}: {exc}") from exc
                    raise
                time.sleep(0.05)
            except sqlite3.DatabaseError:
                conn.close()
                raise
        return conn

    def close(self) -> None:
        """Close this thread's connection (it reopens on next use)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            conn.close()
        self._local = threading.local()

    def __getstate__(self) -> dict:
        return {"path": self.path, "timeout": self.timeout, "invalid": self.invalid}

    def __setstate__(self, state: dict) -> None:
        self.path = state["path"]
        self.timeout = state["timeout"]
        self.invalid = state.get("invalid", "raise")
        self._local = threading.local()

    def _execute(self, run):
        """``run(conn)`` with a damaged file reported as :class:`CacheCorruptedError`."""
        conn = self._connect()
        try:
            return run(conn)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise
            raise self._damaged(exc) from exc
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def __repr__(self) -> str:
        extra = "" if self.invalid == "raise" else f", invalid={self.invalid!r}"
        return f"AnnotationCache(path={os.fspath(self.path)!r}{extra})"

    # ------------------------------------------------------------------ reading / writing
    def get(self, identity: str, texts: Sequence[str]) -> dict[int, dict[str, Any]]:
        """Cached annotations of ``texts`` by the annotator with ``identity``.

        Returns
        -------
        dict of int to dict
            For every index of ``texts`` that is cached: ``{"probs", "votes", "raw_answers",
            "abstained"}`` and ``"cost"`` (a :meth:`CallCost.to_dict` record; absent in
            entries written before costs were stored). Missing texts are absent (and so are
            damaged rows with ``invalid="refresh"``).

        Raises
        ------
        CacheCorruptedError
            If the file or a row of it is damaged (with ``invalid="raise"``).
        """
        keys = [cache_key(identity, t) for t in texts]
        wanted: dict[str, list[int]] = {}
        for i, k in enumerate(keys):
            wanted.setdefault(k, []).append(i)
        found: dict[int, dict[str, Any]] = {}
        unique = list(wanted)
        n_bad = 0
        for start in range(0, len(unique), _CHUNK):
            chunk = unique[start: start + _CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self._execute(lambda conn: conn.execute(
                f"SELECT key, value FROM annotations WHERE key IN ({marks})", chunk
            ).fetchall())
            for key, value in rows:
                problem = _record_problem(value) if isinstance(value, str) else "not text"
                if problem is not None:
                    if self.invalid == "raise":
                        raise CacheCorruptedError(
                            f"the annotation cache {os.fspath(self.path)} holds an unusable "
                            f"row for text {wanted[key][0]} of this call ({problem}); "
                            f"{self._fixes()}"
                        )
                    n_bad += 1
                    continue
                record = json.loads(value)
                for i in wanted[key]:
                    found[i] = record
        if n_bad:
            logger.warning("the annotation cache %s: %d unusable row(s) ignored; they will be "
                           "annotated again", os.fspath(self.path), n_bad)
        return found

    def put(self, identity: str, texts: Sequence[str], result: AnnotationResult) -> None:
        """Store ``result`` (one row per text of ``texts``) in one committed transaction.

        Raises
        ------
        ValueError
            If the row counts differ or a value is invalid (nothing is stored then).
        """
        if len(texts) != len(result):
            raise ValueError(
                f"AnnotationCache.put: {len(texts)} texts but {len(result)} annotation rows"
            )
        check_annotation_values(result.probs, result.votes, where="AnnotationCache.put")
        raw = result.raw_answers if result.raw_answers else [[] for _ in texts]
        costs = result.costs if result.costs is not None else [None] * len(texts)
        ident_sha = _identity_sha(identity)
        now = time.time()
        rows = []
        for i, text in enumerate(texts):
            value = {
                "probs": [float(x) for x in result.probs[i]],
                "votes": [float(x) for x in result.votes[i]],
                "raw_answers": [str(a) for a in raw[i]],
                "abstained": bool(result.abstained[i]),
            }
            if costs[i] is not None:
                value["cost"] = costs[i].to_dict()
            rows.append((cache_key(identity, text), ident_sha, json.dumps(value), now))
        def write(conn: sqlite3.Connection) -> None:
            if conn.in_transaction:  # a Ctrl-C mid-write left one open; none of it committed
                conn.execute("ROLLBACK")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO annotations (key, identity_sha, value, created) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        self._execute(write)

    def count(self, identity: str | None = None) -> int:
        """Number of cached annotations (of one annotator when ``identity`` is given)."""
        if identity is None:
            return self._execute(
                lambda conn: conn.execute("SELECT COUNT(*) FROM annotations").fetchone()[0])
        return self._execute(lambda conn: conn.execute(
            "SELECT COUNT(*) FROM annotations WHERE identity_sha = ?", (_identity_sha(identity),)
        ).fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    def clear(self, identity: str | None = None) -> int:
        """Delete cached annotations (of one annotator when ``identity`` is given).

        Returns the number of rows deleted.
        """
        conn = self._connect()
        if identity is None:
            cur = conn.execute("DELETE FROM annotations")
        else:
            cur = conn.execute(
                "DELETE FROM annotations WHERE identity_sha = ?", (_identity_sha(identity),)
            )
        return cur.rowcount
