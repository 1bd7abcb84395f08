"""Few-shot demonstrations chosen per text from the gold seed.

A :class:`SeedDemonstrations` holds a *pool* of labelled examples: the gold seed, and later
the rows a person answered (never rows an LLM annotated: see
:func:`~skmollal.annotators.seed_pool.share_seed_examples`).
For each text to annotate it picks ``k`` pool examples by sentence-embedding similarity
(MiniLM, :class:`~skmollal.featurizers.SentenceEmbedder`) and hands them to the
:class:`~skmollal.annotators.task.AnnotationTask` that renders the prompt, in a stated
order. A text that is itself in the pool never gets itself (or a copy of itself) as an
example, so the seed's own annotations stay honest about how good an LLM is.

Selectors (:data:`SELECTORS`):

* ``"nearest"``: the ``k`` most similar pool texts;
* ``"balanced"``: the most similar ones, at most ``ceil(k / n_classes)`` per label
  (:func:`balanced_indices`);
* ``"mmr"``: maximal marginal relevance, similar to the text but not to each other
  (:func:`mmr_indices`).

Orders (:data:`ORDERS`): ``"nearest_last"`` (the most similar example right before the
text) or ``"nearest_first"``.

The selection functions are pure and work on similarity arrays; the class embeds, caches
embeddings and remembers each text's choice until the pool changes.
"""
from __future__ import annotations

import logging
import math
import threading
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["SELECTORS", "ORDERS", "SeedDemonstrations", "nearest_indices",
           "balanced_indices", "mmr_indices", "order_examples", "parse_examples_spec",
           "configure_prompts"]

logger = logging.getLogger(__name__)

SELECTORS = ("nearest", "balanced", "mmr")
ORDERS = ("nearest_last", "nearest_first")


# ----------------------------------------------------------------------------- pure functions
def nearest_indices(similarity: np.ndarray, k: int, allowed: np.ndarray | None = None
                    ) -> np.ndarray:
    """The ``k`` pool items most similar to a text, most similar first.

    Parameters
    ----------
    similarity : ndarray of shape (n_pool,)
        Similarity of the text to each pool item.
    k : int
        How many to pick (fewer when fewer are allowed).
    allowed : ndarray of bool, shape (n_pool,), optional
        Items that may be picked (default: all).

    Returns
    -------
    ndarray of int
        Pool indices, by decreasing similarity (ties: the lower index first).
    """
    similarity = np.asarray(similarity, dtype=float)
    candidates = np.arange(len(similarity)) if allowed is None else np.flatnonzero(allowed)
    ranked = candidates[np.argsort(-similarity[candidates], kind="stable")]
    return ranked[:max(int(k), 0)]


def balanced_indices(similarity: np.ndarray, labels: Sequence[Any], k: int,
                     allowed: np.ndarray | None = None) -> np.ndarray:
    """The most similar pool items, at most ``ceil(k / n_labels)`` of any one label.

    ``n_labels`` counts the distinct labels among the allowed items. When the caps leave
    fewer than ``k``, the most similar of the rest fill up. Most similar first.

    Parameters
    ----------
    similarity : ndarray of shape (n_pool,)
        Each pool item's similarity to the text.
    labels : sequence
        Each pool item's label.
    k : int
        Items to pick.
    allowed : ndarray of bool, optional
        Which items may be picked (default: all).

    Returns
    -------
    ndarray of int
    """
    ranked = nearest_indices(similarity, len(similarity), allowed)
    labels = np.asarray(labels, dtype=object)
    n_labels = len(set(labels[ranked].tolist())) or 1
    cap = math.ceil(max(int(k), 0) / n_labels)
    counts: dict[Any, int] = {}
    picked = []
    for i in ranked:
        if len(picked) == k:
            break
        if counts.get(labels[i], 0) < cap:
            counts[labels[i]] = counts.get(labels[i], 0) + 1
            picked.append(i)
    rest = [i for i in ranked if i not in set(picked)]
    picked += rest[:max(int(k) - len(picked), 0)]
    order = np.argsort(-np.asarray(similarity, dtype=float)[picked], kind="stable")
    return np.asarray(picked, dtype=int)[order]


def mmr_indices(similarity: np.ndarray, pool_similarity: np.ndarray, k: int,
                diversity: float = 0.5, allowed: np.ndarray | None = None) -> np.ndarray:
    """Maximal marginal relevance: similar to the text, dissimilar to the picks so far.

    Greedy: each step picks the item maximising
    ``(1 - diversity) * similarity[i] - diversity * max_j pool_similarity[i, j]`` over the
    items ``j`` already picked (the first pick is the most similar item).

    Parameters
    ----------
    similarity : ndarray of shape (n_pool,)
    pool_similarity : ndarray of shape (n_pool, n_pool)
        Similarity between pool items.
    k : int
    diversity : float in [0, 1], default=0.5
        0: plain nearest neighbours; 1: only the distance to the picks counts.
    allowed : ndarray of bool, optional

    Returns
    -------
    ndarray of int
        Pool indices, by decreasing similarity to the text.
    """
    if not 0.0 <= diversity <= 1.0:
        raise ValueError(f"mmr_indices: diversity must be in [0, 1], got {diversity!r}")
    similarity = np.asarray(similarity, dtype=float)
    candidates = list(nearest_indices(similarity, len(similarity), allowed))
    picked: list[int] = []
    closest = np.full(len(similarity), -np.inf)  # max similarity to a pick so far
    while candidates and len(picked) < k:
        cand = np.asarray(candidates)
        penalty = np.where(np.isfinite(closest[cand]), closest[cand], 0.0)
        score = (1 - diversity) * similarity[cand] - diversity * penalty
        best = int(cand[int(np.argmax(score))])
        picked.append(best)
        candidates.remove(best)
        closest = np.maximum(closest, np.asarray(pool_similarity[best], dtype=float))
    order = np.argsort(-similarity[picked], kind="stable") if picked else []
    return np.asarray(picked, dtype=int)[order]


def order_examples(indices_most_similar_first: Sequence[int], order: str) -> list[int]:
    """Pool indices in prompt order.

    Parameters
    ----------
    indices_most_similar_first : sequence of int
        The chosen pool items, most similar first.
    order : {"nearest_last", "nearest_first"}
        ``"nearest_last"`` reverses them, ``"nearest_first"`` keeps them.

    Returns
    -------
    list of int
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    out = [int(i) for i in indices_most_similar_first]
    return out[::-1] if order == "nearest_last" else out


def parse_examples_spec(spec: str) -> tuple[str, int]:
    """``"nearest:8"`` -> ``("nearest", 8)``; ``"mmr"`` -> ``("mmr", 8)``.

    Parameters
    ----------
    spec : str
        ``SELECTOR[:K]``.

    Returns
    -------
    tuple of (str, int)

    Raises
    ------
    ValueError
        On an unknown selector or a k that is not a positive integer.
    """
    if not isinstance(spec, str):
        raise TypeError(f"examples spec must be a str such as 'nearest:8', got {spec!r}")
    name, _, k = spec.strip().partition(":")
    if name not in SELECTORS:
        raise ValueError(f"examples {spec!r}: unknown selector {name!r}; choose one of "
                         f"{SELECTORS}, optionally with ':K' (e.g. nearest:8)")
    if not k:
        return name, 8
    if not k.isdigit() or int(k) < 1:
        raise ValueError(f"examples {spec!r}: K must be a positive integer")
    return name, int(k)


def _normalised(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    norm = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(norm > 0, norm, 1.0)


# ----------------------------------------------------------------------------- the selector
class SeedDemonstrations:
    """Chooses each text's few-shot demonstrations from a pool of labelled examples.

    Parameters
    ----------
    k : int, default=8
        Demonstrations per text (fewer when the pool is smaller).
    selector : {"nearest", "balanced", "mmr"}, default="nearest"
        How they are chosen (see the module docstring).
    order : {"nearest_last", "nearest_first"}, default="nearest_last"
        Their order in the prompt.
    diversity : float, default=0.5
        ``mmr``'s trade-off (:func:`mmr_indices`).
    embedder : transformer, optional
        Texts -> embeddings (cosine similarity); default
        :class:`~skmollal.featurizers.SentenceEmbedder` (MiniLM).

    Notes
    -----
    The pool is set with :meth:`set_pool` (the loop does it through
    :func:`~skmollal.annotators.seed_pool.share_seed_examples`); until then no text gets
    demonstrations. :meth:`to_dict` (part of the task's identity) describes the selector,
    not the pool; the examples a text gets are part of its cache key
    (:func:`~skmollal.annotators.seed_pool.prompt_key_texts`).
    """

    def __init__(self, k: int = 8, selector: str = "nearest", order: str = "nearest_last",
                 diversity: float = 0.5, embedder: Any = None) -> None:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"SeedDemonstrations: k must be a positive int, got {k!r}")
        if selector not in SELECTORS:
            raise ValueError(f"SeedDemonstrations: selector must be one of {SELECTORS}, "
                             f"got {selector!r}")
        if order not in ORDERS:
            raise ValueError(f"SeedDemonstrations: order must be one of {ORDERS}, got {order!r}")
        if not 0.0 <= float(diversity) <= 1.0:
            raise ValueError(f"SeedDemonstrations: diversity must be in [0, 1], got {diversity!r}")
        self.k = int(k)
        self.selector = selector
        self.order = order
        self.diversity = float(diversity)
        self.embedder = embedder
        self.pool_texts: tuple[str, ...] = ()
        self.pool_labels: tuple[str, ...] = ()
        self._pool_X: np.ndarray | None = None
        self._pool_sim: np.ndarray | None = None
        self._vectors: dict[str, np.ndarray] = {}
        self._chosen: dict[str, tuple[tuple[str, str], ...]] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_spec(cls, spec: str, **kwargs: Any) -> "SeedDemonstrations":
        """A selector from ``"nearest:8"``, ``"balanced:4"``, ``"mmr:12"``."""
        selector, k = parse_examples_spec(spec)
        return cls(k=k, selector=selector, **kwargs)

    # -------------------------------------------------------------- pool
    def set_pool(self, texts: Sequence[str], labels: Sequence[str]) -> "SeedDemonstrations":
        """Use ``(texts[i], labels[i])`` as the examples to choose from (class names).

        Setting the same pool again keeps what was chosen; another pool forgets it.
        """
        texts, labels = tuple(texts), tuple(labels)
        if len(texts) != len(labels):
            raise ValueError(f"SeedDemonstrations: {len(texts)} texts but {len(labels)} labels")
        if not all(isinstance(t, str) for t in texts) or not all(
                isinstance(lab, str) for lab in labels):
            raise TypeError("SeedDemonstrations: pool texts and labels must be str")
        with self._lock:
            if (texts, labels) == (self.pool_texts, self.pool_labels):
                return self
            self.pool_texts, self.pool_labels = texts, labels
            self._pool_X = self._embed(texts) if texts else None
            self._pool_sim = None
            self._chosen = {}
        logger.info("demonstrations: a pool of %d examples", len(texts))
        return self

    def _embed(self, texts: Sequence[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self._vectors))
        if todo:
            if self.embedder is None:
                from .featurizers import SentenceEmbedder

                self.embedder = SentenceEmbedder(show_progress_bar=False)
            self._vectors.update(zip(todo, _normalised(self.embedder.transform(todo))))
        return np.stack([self._vectors[t] for t in texts])

    # -------------------------------------------------------------- choosing
    def prepare(self, texts: Sequence[str]) -> None:
        """Choose the demonstrations of ``texts`` at once (one embedding batch)."""
        with self._lock:
            todo = [t for t in dict.fromkeys(texts) if t not in self._chosen]
            if not todo or not self.pool_texts:
                return
            sims = self._embed(todo) @ self._pool_X.T
            for text, sim in zip(todo, sims):
                self._chosen[text] = self._pick(text, sim)

    def examples_for(self, text: str) -> tuple[tuple[str, str], ...]:
        """The ``(text, label)`` demonstrations of ``text``, in prompt order."""
        if not self.pool_texts:
            return ()
        if text not in self._chosen:
            self.prepare([text])
        return self._chosen[text]

    def _pick(self, text: str, sim: np.ndarray) -> tuple[tuple[str, str], ...]:
        allowed = np.asarray([t != text for t in self.pool_texts])  # never itself
        if self.selector == "nearest":
            idx = nearest_indices(sim, self.k, allowed)
        elif self.selector == "balanced":
            idx = balanced_indices(sim, self.pool_labels, self.k, allowed)
        else:
            if self._pool_sim is None:
                self._pool_sim = self._pool_X @ self._pool_X.T
            idx = mmr_indices(sim, self._pool_sim, self.k, self.diversity, allowed)
        return tuple((self.pool_texts[i], self.pool_labels[i])
                     for i in order_examples(idx, self.order))

    # -------------------------------------------------------------- identity
    def to_dict(self) -> dict[str, Any]:
        """The selector's settings (not its pool), as JSON-able data."""
        from .featurizers import model_identity

        embedder = self.embedder
        model = getattr(embedder, "model", None) if embedder is not None else None
        return {"k": self.k, "selector": self.selector, "order": self.order,
                **({"diversity": self.diversity} if self.selector == "mmr" else {}),
                "embedder": model_identity(model) if embedder is None or model is None
                or isinstance(model, str) else repr(model)}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (f"SeedDemonstrations(k={self.k}, selector={self.selector!r}, "
                f"order={self.order!r}, pool={len(self.pool_texts)})")


def configure_prompts(panel: Any, examples: str | SeedDemonstrations | None = None,
                      label_descriptions: Mapping[str, str] | None = None) -> Any:
    """Give the live annotators of ``panel`` seed demonstrations and label descriptions.

    Parameters
    ----------
    panel : panel, list of annotators or annotator
    examples : str or SeedDemonstrations, optional
        A spec (``"nearest:8"``, see :func:`parse_examples_spec`; ``"none"``: none) or a
        selector; one selector is shared by every annotator (the seed is embedded once).
    label_descriptions : mapping of str to str, optional
        What each class name means (see :class:`~skmollal.annotators.task.AnnotationTask`).

    Returns
    -------
    panel
        The same object: each annotator's ``task`` is replaced by a copy with the changes
        (annotators without a task, recorded ones, are left alone).
    """
    changes: dict[str, Any] = {}
    if examples is not None and examples != "none":
        changes["demonstrations"] = (examples if isinstance(examples, SeedDemonstrations)
                                     else SeedDemonstrations.from_spec(examples))
    if label_descriptions:
        changes["label_descriptions"] = dict(label_descriptions)
    if not changes:
        return panel
    from .annotators.panel import panel_annotators

    for annotator in panel_annotators(panel):
        inner = getattr(annotator, "annotator", annotator)
        if getattr(inner, "task", None) is not None:
            inner.task = inner.task.replace(**changes)
        for memo in {id(annotator): annotator, id(inner): inner}.values():
            if getattr(memo, "_identity", None) is not None:  # memoised identities
                memo._identity = None
    return panel
