"""A persistent annotation cache: never pay twice for the same LLM annotation.

:class:`AnnotationCache` is a small SQLite database (WAL mode, so several processes can read
and write it at once) that maps ``sha256(annotator identity, text)`` to the annotation of
that text: probabilities, votes, raw answers, the abstention flag and what the annotation
cost (:class:`~skmollal.annotators.costs.CallCost`), so a replay from the cache reports the
original cost as saved.

:class:`CachedAnnotator` wraps any annotator that has an ``identity()``. It annotates only the
texts the cache misses, in batches, and commits every batch as soon as it returns, before
anything uses it: an interrupted run keeps every finished batch, and a re-run annotates only
what is left.

The default database is ``$SKMOLLAL_CACHE/annotations.sqlite`` when the ``SKMOLLAL_CACHE``
environment variable names a folder, else ``~/.cache/skmollal/annotations.sqlite``.

Nothing invalid is cached: :meth:`AnnotationCache.put` refuses values that
:func:`~skmollal.annotators.base.check_annotation_values` refuses, and every row read back is
checked again. A damaged file (garbage, truncated, a row that is not valid JSON or holds
invalid values) raises :class:`CacheCorruptedError`, which names the file and the two fixes:
delete it, or open it with ``invalid="refresh"`` (the command line's ``--refresh-cache``),
which re-annotates the bad rows (and moves a file that is not a database at all aside).

(Over 400 lines: the SQLite store and the wrapper that reads and writes it share one key
scheme and the commit-as-you-go rule; both sides of that contract are kept in one module.)
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
from typing import Any, Iterator, Sequence

import numpy as np

from .._validation import check_texts
from .base import AnnotationResult, check_annotation_values, relocate_text_error
from .costs import CallCost, row_costs, timed_annotate
from .seed_pool import prompt_key_texts

__all__ = ["AnnotationCache", "CachedAnnotator", "CacheCorruptedError", "default_cache_path",
           "cache_key"]

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


def _batches(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


class CachedAnnotator:
    """An annotator that looks every text up in an :class:`AnnotationCache` first.

    Only the texts the cache misses go to the wrapped annotator (each distinct text once),
    in batches of ``batch_size``; each batch is committed to the cache as soon as it
    returns, and each text as soon as it arrives when the annotator has an
    ``iter_annotate(texts)`` that yields ``(index, one-row result)`` pairs (as the
    OpenAI-compatible annotator does). If the wrapped annotator fails (or Ctrl-C is pressed)
    on a later batch, the earlier batches stay cached and the error is re-raised with a note
    saying how much was saved; rows of the failed batch that the annotator attached to its
    exception (``exc.partial`` with ``exc.completed`` indices) are saved too. So a crash (even
    a SIGKILL) loses at most one batch per annotator, or, with ``iter_annotate``, the
    requests in flight.

    Parameters
    ----------
    annotator : annotator
        Anything with ``name``, ``labels``, ``identity()`` and ``annotate(texts)``.
    cache : AnnotationCache or str or path-like, optional
        The cache, or a database path for one. Defaults to ``AnnotationCache()``.
    batch_size : int, default=32
        Texts per call of the wrapped annotator.
    show_progress : bool, default=False
        Show a tqdm bar over the batches.

    Attributes
    ----------
    n_hits_ : int
        Texts answered from the cache by the last :meth:`annotate` call.
    n_annotated_ : int
        Texts the wrapped annotator annotated in the last call.
    n_annotated_total_ : int
        Texts the wrapped annotator annotated over this object's lifetime.

    Notes
    -----
    The result's ``costs`` give every text's cost: what the wrapped annotator reported for
    the texts it annotated now, and the stored original cost for texts served from the cache
    (flagged in ``from_cache``; a text given twice in one call is annotated once, its
    repeat counts as served). ``result.cost`` thus splits paid from saved.

    Examples
    --------
    >>> import tempfile, os
    >>> from skmollal.testing.fake import FakeAnnotator
    >>> cache = AnnotationCache(os.path.join(tempfile.mkdtemp(), "a.sqlite"))
    >>> cached = CachedAnnotator(FakeAnnotator(["pos", "neg"]), cache)
    >>> _ = cached.annotate(["good", "bad"]); cached.n_annotated_
    2
    >>> _ = cached.annotate(["good", "bad", "meh"]); cached.n_annotated_, cached.n_hits_
    (1, 2)
    """

    def __init__(self, annotator: Any, cache: AnnotationCache | str | os.PathLike | None = None,
                 batch_size: int = 32, show_progress: bool = False) -> None:
        identity = getattr(annotator, "identity", None)
        if not callable(identity):
            raise TypeError(
                f"CachedAnnotator: annotator {getattr(annotator, 'name', annotator)!r} has no "
                "identity() method, so its annotations cannot be keyed safely"
            )
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"CachedAnnotator: batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(cache, AnnotationCache):
            cache = AnnotationCache(cache)
        self.annotator = annotator
        self.cache = cache
        self.batch_size = int(batch_size)
        self.show_progress = show_progress
        self.n_hits_ = 0
        self.n_annotated_ = 0
        self.n_annotated_total_ = 0
        self._identity: str | None = None

    @property
    def name(self) -> str:
        """The wrapped annotator's name."""
        return self.annotator.name

    @property
    def labels(self) -> Sequence[str]:
        """The wrapped annotator's labels."""
        return self.annotator.labels

    def identity(self) -> str:
        """The wrapped annotator's identity (cached results are identical to its own)."""
        if self._identity is None:
            ident = self.annotator.identity()
            if not isinstance(ident, str) or not ident:
                raise TypeError(
                    f"CachedAnnotator: {self.name}.identity() must return a non-empty str"
                )
            self._identity = ident
        return self._identity

    def _keys(self, texts: Sequence[str]) -> list[str]:
        """What each text is keyed on: the text and the demonstrations its prompt gets."""
        return prompt_key_texts(self.annotator, texts)

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __repr__(self) -> str:
        return f"CachedAnnotator({self.annotator!r}, cache={self.cache!r})"

    def _save_partial(self, identity: str, batch: list[str], exc: BaseException) -> int:
        """Commit the rows an annotator finished before failing.

        An annotator may attach them to its exception as ``partial`` (an AnnotationResult)
        and ``completed`` (their indices into the batch), as
        :class:`~skmollal.annotators.openai.OpenAICompatibleAnnotator` does.
        """
        partial = getattr(exc, "partial", None)
        completed = list(getattr(exc, "completed", None) or [])
        if partial is None or not completed or len(partial) != len(completed):
            return 0
        try:
            self.cache.put(identity, self._keys([batch[i] for i in completed]), partial)
        except Exception:  # noqa: BLE001 - never hide the original error
            logger.exception("%s: could not save the partial batch", self.name)
            return 0
        self.n_annotated_total_ += len(completed)
        return len(completed)

    def _annotate_batch(self, identity: str, batch: list[str], saved: list[int]) -> AnnotationResult:
        """Annotate ``batch`` with the wrapped annotator; every row is cached before return.

        An annotator with ``iter_annotate`` (rows as they arrive) has each row committed the
        moment it arrives, so a crash loses only the rows in flight; ``saved[0]`` counts
        them. Others are committed batch by batch.
        """
        stream = getattr(self.annotator, "iter_annotate", None)
        if not callable(stream):
            result = timed_annotate(self.annotator, batch)
            if len(result) != len(batch):
                raise RuntimeError(
                    f"{self.name}: returned {len(result)} rows for {len(batch)} texts"
                )
            self.cache.put(identity, self._keys(batch), result)
            return result
        rows: dict[int, AnnotationResult] = {}
        answers = stream(batch)
        interrupt: BaseException | None = None
        t0 = time.perf_counter()
        while True:
            try:  # after a Ctrl-C here, the annotator stops sending and hands over the rest
                j, row = next(answers) if interrupt is None else answers.throw(interrupt)
            except StopIteration:
                break
            interrupt = None
            if row.costs is None:  # billed one call, the wall time since the previous row
                row.costs, t0 = row_costs(len(row), time.perf_counter() - t0), time.perf_counter()
            try:
                self.cache.put(identity, self._keys([batch[j]]), row)
            except KeyboardInterrupt as exc:  # Ctrl-C while committing a row paid for
                self.cache.put(identity, self._keys([batch[j]]), row)
                interrupt = exc
            rows[j] = row
            saved[0] += 1
        if sorted(rows) != list(range(len(batch))):
            raise RuntimeError(f"{self.name}: returned rows {sorted(rows)} for {len(batch)} texts")
        return AnnotationResult.concatenate([rows[j] for j in range(len(batch))])

    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Annotate ``texts`` from the cache, asking the wrapped annotator only for misses.

        Raises
        ------
        TypeError, ValueError
            On bad ``texts`` (the index is named).
        Exception
            Whatever the wrapped annotator raised on a batch, with a note naming the texts of
            the failed batch; every earlier batch is already committed to the cache, and so
            is every finished text of the failed one (an annotator with ``iter_annotate``
            commits each text as it arrives; others may attach them to the error).
        KeyboardInterrupt
            Re-raised after the same saving.
        """
        where = f"{self.name} (cached)"
        texts = check_texts(texts, where)
        identity = self.identity()
        found = self.cache.get(identity, self._keys(texts))
        hits = set(found)
        first_index: dict[str, int] = {}
        for i, text in enumerate(texts):
            if i not in found:
                first_index.setdefault(text, i)
        misses = list(first_index)
        self.n_hits_ = len(found)
        self.n_annotated_ = 0
        if misses:
            logger.info("%s: %d cached, annotating %d texts", self.name, len(found), len(misses))
            starts = list(_batches(len(misses), self.batch_size))
            if self.show_progress and len(starts) > 1:
                from tqdm.auto import tqdm

                starts = tqdm(starts, desc=f"{self.name}: annotating", unit="batch", leave=False)
            for start, stop in starts:
                batch = misses[start:stop]
                saved = [0]
                try:
                    result = self._annotate_batch(identity, batch, saved)
                except BaseException as exc:  # also Ctrl-C: keep what was paid for
                    if saved[0]:  # committed one by one as they arrived
                        self.n_annotated_total_ += saved[0]
                    else:
                        saved[0] = self._save_partial(identity, batch, exc)
                    indices = [first_index[t] for t in batch]
                    relocate_text_error(exc, indices, where)
                    exc.add_note(
                        f"{where}: failed on the batch of texts {indices[0]}..{indices[-1]} "
                        f"(indices into this call); {self.n_annotated_} texts annotated before "
                        f"it and {saved[0]} finished texts of the batch are saved in the cache"
                    )
                    raise
                raw = result.raw_answers if result.raw_answers else [[] for _ in batch]
                for j, text in enumerate(batch):
                    found[first_index[text]] = {
                        "probs": result.probs[j], "votes": result.votes[j],
                        "raw_answers": list(raw[j]), "abstained": bool(result.abstained[j]),
                        "cost": result.costs[j],
                    }
                self.n_annotated_ += len(batch)
                self.n_annotated_total_ += len(batch)
        rows = []
        by_text = {}
        served = np.ones(len(texts), dtype=bool)  # from the cache or a repeat in this call
        for i, text in enumerate(texts):
            record = found.get(i)
            if record is None:  # a duplicate of a text annotated in this call
                record = by_text[text]
            elif i not in hits:
                served[i] = False
            by_text.setdefault(text, record)
            rows.append(record)
        n_classes = len(self.labels)
        probs = np.asarray([r["probs"] for r in rows], dtype=float).reshape(len(rows), n_classes)
        votes = np.asarray([r["votes"] for r in rows], dtype=float).reshape(len(rows), n_classes)
        return AnnotationResult(
            probs=probs,
            votes=votes,
            raw_answers=[list(r["raw_answers"]) for r in rows],
            abstained=np.asarray([r["abstained"] for r in rows], dtype=bool),
            costs=[_stored_cost(r.get("cost")) for r in rows],
            from_cache=served,
        )


def _stored_cost(cost: Any) -> CallCost:
    """A row's cost: as the annotator reported it, or as the cache stored it."""
    return cost if isinstance(cost, CallCost) else CallCost.from_dict(cost)
