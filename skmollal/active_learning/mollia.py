"""The MoLLIA round as a reusable step, with state saved after every round.

One round of *Mixture of LLMs in the Loop Active Learning*:

1. **query**: the active learner picks ``batch_size`` pool rows;
2. **annotate**: the LLM panel labels their texts (signals ``(n, L, 2, C)``);
3. **label**: the mixture model is refitted on every signal seen so far plus the gold seed
   (seed rows carry their gold label, annotated rows ``-1``) and labels the annotated rows;
4. **weigh**: rows where the current classifier disagrees with the mixture label get the
   discrepancy weight (default 0.5): the queried rows, once, when they are annotated
   (``discrepancy_update="query"``, the reference) or every annotated row again each round
   (``"round"``); classes whose mean LLM probability is at most
   ``nl_threshold`` become negative labels;
5. **train**: the classifier is refitted on seed + annotated rows with those weights,
   negative labels and the round's negative-learning weight.

:class:`MoLLIALoop` runs rounds and writes ``state.json`` + ``state.npz`` into
``output_dir`` after every round *and* after every annotated chunk, so an interrupted run
(crash, Ctrl-C, an annotator failing mid-round) resumes where it stopped and never pays for
an annotation twice. Gold labels other than the seed are never used for any decision;
``y_monitor`` (optional) is only reported.
"""
from __future__ import annotations

import inspect
import json
import logging
import os
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.metrics import accuracy_score, f1_score
from sklearn.pipeline import Pipeline

from .._validation import check_texts
from ..annotators.base import PROBS
from ..annotators.panel import annotate_signals, panel_annotators, panel_labels
from .learner import ActiveLearner, take_rows
from .strategies import get_strategy

__all__ = ["MoLLIALoop", "annotate_signals", "panel_labels"]

logger = logging.getLogger(__name__)

STATE_VERSION = 1


# --------------------------------------------------------------------------- estimator helpers
def _final_step(estimator):
    if isinstance(estimator, ActiveLearner):
        estimator = estimator.estimator
    if isinstance(estimator, Pipeline):
        return estimator.steps[-1][0] + "__", estimator.steps[-1][1]
    return "", estimator


def _accepts(est, name: str) -> bool:
    try:
        params = inspect.signature(est.fit).parameters
    except (TypeError, ValueError):
        return False
    return name in params


def full_proba(estimator, X, n_classes: int) -> np.ndarray:
    """``predict_proba`` spread onto all ``n_classes`` columns (classes never seen get 0)."""
    proba = np.asarray(estimator.predict_proba(X), dtype=float)
    if proba.shape[1] == n_classes:
        return proba
    classes = np.asarray(getattr(estimator, "classes_", np.arange(proba.shape[1]))).astype(int)
    out = np.zeros((proba.shape[0], n_classes))
    out[:, classes] = proba
    return out


def _nl_weight(schedule, round_: int) -> float:
    if callable(schedule):
        return float(schedule(round_))
    return float(schedule)


def _default_schedule(round_: int) -> float:
    from ..label_noise import nl_weight_schedule

    return nl_weight_schedule(round_)


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


# --------------------------------------------------------------------------- the loop
class MoLLIALoop:
    """Run MoLLIA rounds on a pool, saving state so that runs resume.

    Parameters
    ----------
    estimator : classifier or ActiveLearner
        The classifier trained each round (default use: a
        :class:`~skmollal.negative_learning.NegativeLearningClassifier`, possibly at the end
        of a Pipeline). ``sample_weight`` / ``negative_mask`` are passed when its ``fit``
        takes them, and ``nl_weight`` is set each round when it has that parameter. A plain
        estimator is wrapped in an :class:`ActiveLearner` with ``strategy``.
    panel : LLMPanel, list of annotators, or annotator
        Who annotates the queried texts.
    X : array-like or list
        Features (or texts) of every row, as the estimator takes them.
    y : array-like of int
        Gold labels of the seed rows, ``-1`` elsewhere (the pool). Labels index
        ``panel_labels(panel)``.
    texts : list of str, optional
        Texts of every row for the panel; defaults to ``X`` (which must then be texts).
    mixture : estimator, optional
        Fuses the panel's signals; default
        :class:`~skmollal.mixture.MixtureOfLLMsAnnotator`. Any ``fit(S, y)`` /
        ``predict_proba(S)`` model with ``-1`` = unlabeled works (e.g. the baselines).
    strategy : str or callable, default="random"
        Query strategy (name or function, see :mod:`.strategies`).
    batch_size : int, default=50
        Rows queried per round. When fewer pool rows are left, the round takes them all (a
        warning is logged); with none left, :meth:`step` returns None.
    discrepancy_weight : float or None, default=0.5
        Weight of rows whose mixture label disagrees with the classifier's prediction;
        None disables the discrepancy weighting (all weights 1). The weights are only as
        good as the classifier that sets them: with a transformer fine-tuned a few epochs
        per round, they lowered MoLLIA's test accuracy in the benchmark (see the
        active-learning benchmark page); use None there.
    discrepancy_update : {"query", "round"}, default="query"
        When the weights are computed. ``"query"`` (the reference): once per row, against
        the classifier of the round that queried it, with the label it got then.
        ``"round"``: every round, for every annotated row, against the classifier about to
        be retrained and with the row's current mixture label. The first rounds' classifier
        has seen only the seed; with ``"query"`` its disagreements stay on those rows for
        good, which matters when it is weak (e.g. a transformer fine-tuned for a few epochs
        on 50 texts).
    nl_weight : float, callable or None, default=None
        Negative-learning weight per round (``nl_weight(round_index)`` with 0 for the first
        annotated round); None means ``label_noise.nl_weight_schedule`` (0.4 + 0.06 r).
    nl_threshold : float or None, default=0.001
        Classes whose mean LLM probability is ``<=`` this are negative labels; None disables
        negative learning.
    soft_labels : bool, default=False
        Train on the mixture's probabilities instead of its argmax labels.
    relabel : bool, default=True
        Relabel every annotated row with each round's refitted mixture (else keep the label
        a row got in the round it was annotated).
    annotate_chunk : int, default=16
        Texts per panel call; state is saved after each chunk.
    X_val, y_val : optional
        Validation rows for the history's accuracy / macro-F1 (reporting only).
    y_monitor : array-like, optional
        Hidden gold of all rows, used only to report the mixture's label accuracy.
    output_dir : str or path, optional
        Where ``state.json`` / ``state.npz`` are written and read back on resume.
    random_state : int or None
        Seeds the query strategy per round.
    show_progress : bool, default=False
        tqdm bars over rounds and annotation chunks.
    """

    def __init__(self, estimator, panel, X, y, texts=None, mixture=None, strategy="random",
                 batch_size: int = 50, discrepancy_weight: float | None = 0.5,
                 discrepancy_update: str = "query",
                 nl_weight: float | Callable | None = None, nl_threshold: float | None = 0.001,
                 soft_labels: bool = False, relabel: bool = True, annotate_chunk: int = 16,
                 X_val=None, y_val=None, y_monitor=None, output_dir=None, random_state=None,
                 show_progress: bool = False) -> None:
        self.panel = panel
        self.labels = panel_labels(panel)
        self.n_classes = len(self.labels)
        self.n_llms = len(panel_annotators(panel))
        self.X = X
        n = int(X.shape[0]) if hasattr(X, "shape") else len(X)
        self.n_rows = n
        self.texts = check_texts(X if texts is None else texts, "MoLLIALoop")
        if len(self.texts) != n:
            raise ValueError(f"X has {n} rows but texts has {len(self.texts)}")
        y = np.asarray(y)
        if y.shape != (n,):
            raise ValueError(f"y must have shape ({n},); got {y.shape}")
        y = y.astype(int)
        if ((y < -1) | (y >= self.n_classes)).any():
            raise ValueError(
                f"y must be -1 (unlabeled) or a class index in [0, {self.n_classes}) of "
                f"{self.labels}; got values {sorted(set(y.tolist()))[:10]}"
            )
        self.seed_idx = np.flatnonzero(y != -1)
        self.seed_y = y[self.seed_idx]
        if len(self.seed_idx) == 0:
            raise ValueError("no gold seed: mark at least two classes' rows in y (y != -1)")
        if len(np.unique(self.seed_y)) < 2:
            raise ValueError(
                f"the gold seed has only one class ({self.labels[self.seed_y[0]]!r}); the "
                "classifier and the mixture need at least two"
            )
        if isinstance(estimator, ActiveLearner):
            self.learner = estimator
            if strategy is not None:
                self.learner.query_strategy = strategy
        else:
            self.learner = ActiveLearner(estimator, query_strategy=strategy or "random")
        self.mixture = mixture
        self.batch_size = int(batch_size)
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}")
        self.discrepancy_weight = discrepancy_weight
        if discrepancy_update not in ("query", "round"):
            raise ValueError(
                f"discrepancy_update must be 'query' or 'round', got {discrepancy_update!r}"
            )
        self.discrepancy_update = discrepancy_update
        self.nl_weight = nl_weight
        self.nl_threshold = nl_threshold
        self.soft_labels = soft_labels
        self.relabel = relabel
        self.annotate_chunk = max(1, int(annotate_chunk))
        self.X_val, self.y_val = X_val, (None if y_val is None else np.asarray(y_val))
        self.y_monitor = None if y_monitor is None else np.asarray(y_monitor)
        self.output_dir = None if output_dir is None else Path(output_dir)
        self.random_state = random_state
        self.show_progress = show_progress
        # state
        self.round_ = 0  # completed rounds (0 = only the seed-trained classifier)
        self.annotated_idx: list[int] = []  # pool + seed rows with signals, in order
        self.signals: dict[int, np.ndarray] = {}
        self.weights: dict[int, float] = {}  # discrepancy weight of annotated pool rows
        self.labels_at_annotation: dict[int, np.ndarray] = {}
        self.history: list[dict] = []
        self.pending: dict | None = None
        self.llm_calls = 0
        self.started = False
        self.mixture_ = None
        self._fitted_here = False  # classifier fitted in this process (False after resume)
        if self.output_dir is not None and (self.output_dir / "state.json").exists():
            self._load_state()

    # ------------------------------------------------------------------ persistence
    def _fingerprint(self) -> dict:
        return {"n_rows": self.n_rows, "labels": self.labels, "n_llms": self.n_llms,
                "seed_idx": self.seed_idx.tolist(), "seed_y": self.seed_y.tolist()}

    def state_dict(self) -> dict:
        """The JSON part of the state (arrays go to the npz)."""
        return {
            "version": STATE_VERSION,
            "fingerprint": self._fingerprint(),
            "round": self.round_,
            "started": self.started,
            "llm_calls": self.llm_calls,
            "pending": self.pending,
            "history": self.history,
            "batch_size": self.batch_size,
        }

    def save(self) -> None:
        """Write ``state.json`` and ``state.npz`` (atomically) when ``output_dir`` is set."""
        if self.output_dir is None:
            return
        self.output_dir.mkdir(parents=True, exist_ok=True)
        idx = np.asarray(self.annotated_idx, dtype=int)
        sig = (np.stack([self.signals[i] for i in idx]) if len(idx)
               else np.zeros((0, self.n_llms, 2, self.n_classes)))
        w = np.asarray([self.weights.get(int(i), np.nan) for i in idx], dtype=float)
        first = np.full((len(idx), self.n_classes), np.nan)
        for k, i in enumerate(idx):
            if int(i) in self.labels_at_annotation:
                first[k] = self.labels_at_annotation[int(i)]
        tmp = self.output_dir / "state.tmp.npz"
        np.savez(tmp, annotated_idx=idx, signals=sig, weights=w, first_labels=first)
        os.replace(tmp, self.output_dir / "state.npz")
        tmp = self.output_dir / "state.tmp.json"
        tmp.write_text(json.dumps(self.state_dict(), indent=1, default=_json_default))
        os.replace(tmp, self.output_dir / "state.json")

    def _load_state(self) -> None:
        state = json.loads((self.output_dir / "state.json").read_text())
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"{self.output_dir}/state.json has an unknown version")
        if state["fingerprint"] != self._fingerprint():
            raise ValueError(
                f"{self.output_dir} holds the state of a different run (other data, seed or "
                "panel); use another output_dir or delete it"
            )
        arrays = np.load(self.output_dir / "state.npz")
        idx = arrays["annotated_idx"].astype(int)
        self.annotated_idx = idx.tolist()
        self.signals = {int(i): s for i, s in zip(idx, arrays["signals"])}
        self.weights = {int(i): float(w) for i, w in zip(idx, arrays["weights"])
                        if np.isfinite(w)}
        self.labels_at_annotation = {int(i): p for i, p in zip(idx, arrays["first_labels"])
                                     if np.isfinite(p).all()}
        self.round_ = int(state["round"])
        self.started = bool(state["started"])
        self.llm_calls = int(state["llm_calls"])
        self.pending = state["pending"]
        self.history = list(state["history"])
        logger.info("resuming from %s: %d rounds done, %d texts annotated", self.output_dir,
                    self.round_, len(self.annotated_idx))

    # ------------------------------------------------------------------ pieces
    def _annotate(self, rows: Sequence[int], desc: str) -> float:
        """Annotate the rows not annotated yet, chunk by chunk; return the seconds spent."""
        todo = [int(i) for i in rows if int(i) not in self.signals]
        t0 = time.perf_counter()
        chunks = [todo[k:k + self.annotate_chunk] for k in range(0, len(todo), self.annotate_chunk)]
        iterator = chunks
        if self.show_progress and chunks:
            from tqdm.auto import tqdm

            iterator = tqdm(chunks, desc=desc, unit="chunk", leave=False)
        for chunk in iterator:
            sig = annotate_signals(self.panel, [self.texts[i] for i in chunk])
            expected = (len(chunk), self.n_llms, 2, self.n_classes)
            if sig.shape != expected:
                raise ValueError(f"the panel returned signals of shape {sig.shape}; "
                                 f"expected {expected}")
            for i, s in zip(chunk, sig):
                self.signals[i] = s
                self.annotated_idx.append(i)
            self.llm_calls += len(chunk) * self.n_llms
            self.save()
        return time.perf_counter() - t0

    def _fit_mixture(self) -> tuple[np.ndarray, np.ndarray]:
        """Refit the mixture on all signals + seed gold; return its (n_annotated_pool, C)."""
        seed_set = set(self.seed_idx.tolist())
        idx = np.asarray(self.annotated_idx, dtype=int)
        S = np.stack([self.signals[i] for i in idx])
        gold = dict(zip(self.seed_idx.tolist(), self.seed_y.tolist()))
        y = np.asarray([gold.get(int(i), -1) for i in idx], dtype=int)
        if self.mixture is None:
            from ..aggregation import MixtureOfLLMsAnnotator

            mixture = MixtureOfLLMsAnnotator()
        else:
            mixture = clone(self.mixture)
        mixture.fit(S, y)
        self.mixture_ = mixture
        pool_rows = np.asarray([i for i in idx if int(i) not in seed_set], dtype=int)
        if len(pool_rows) == 0:
            return pool_rows, np.zeros((0, self.n_classes))
        S_pool = np.stack([self.signals[i] for i in pool_rows])
        return pool_rows, full_proba(mixture, S_pool, self.n_classes)

    def _negative_mask(self, rows) -> np.ndarray:
        if self.nl_threshold is None or len(rows) == 0:
            return np.zeros((len(rows), self.n_classes), dtype=bool)
        from ..label_noise import negative_labels

        mean_probs = np.stack([self.signals[int(i)][:, PROBS] for i in rows]).mean(axis=1)
        return np.asarray(negative_labels(mean_probs, threshold=self.nl_threshold), bool)

    def _fit_classifier(self, pool_rows, pool_proba, round_: int) -> float:
        """Fit the learner on seed + annotated rows; return seconds."""
        t0 = time.perf_counter()
        prefix, final = _final_step(self.learner.estimator)
        C = self.n_classes
        seed_rows = self.seed_idx
        rows = np.concatenate([seed_rows, pool_rows]).astype(int)
        if self.soft_labels:
            y = np.zeros((len(rows), C))
            y[np.arange(len(seed_rows)), self.seed_y] = 1.0
            y[len(seed_rows):] = pool_proba
        else:
            y = np.concatenate([self.seed_y, pool_proba.argmax(axis=1)]).astype(int)
        w = np.ones(len(rows))
        if self.discrepancy_weight is not None:
            w[len(seed_rows):] = [self.weights.get(int(i), 1.0) for i in pool_rows]
        neg = np.zeros((len(rows), C), dtype=bool)
        if len(pool_rows) and self.nl_threshold is not None:
            neg[len(seed_rows):] = self._negative_mask(pool_rows)
            # never mark the training label itself as negative
            hard = (y.argmax(axis=1) if y.ndim == 2 else y)
            neg[np.arange(len(rows)), hard] = False
        kwargs = {}
        if _accepts(final, "sample_weight"):
            kwargs[prefix + "sample_weight"] = w
        if _accepts(final, "negative_mask"):
            kwargs[prefix + "negative_mask"] = neg
        own = final.get_params(deep=False)
        if ("classes" in own and own["classes"] is None and y.ndim == 1
                and len(np.unique(y)) < C):
            final.set_params(classes=np.arange(C))  # the training labels lack some classes
        if "nl_weight" in own and round_ > 0:
            schedule = _default_schedule if self.nl_weight is None else self.nl_weight
            final.set_params(nl_weight=_nl_weight(schedule, round_ - 1))
        self.learner.fit(take_rows(self.X, rows), y, **kwargs)
        self._fitted_here = True
        return time.perf_counter() - t0

    def _metrics(self) -> dict:
        out: dict = {}
        if self.X_val is not None and self.y_val is not None:
            pred = np.asarray(self.learner.predict(self.X_val))
            out["val_accuracy"] = float(accuracy_score(self.y_val, pred))
            out["val_macro_f1"] = float(f1_score(self.y_val, pred, average="macro",
                                                 labels=np.arange(self.n_classes),
                                                 zero_division=0))
        return out

    def _pool_candidates(self) -> np.ndarray:
        taken = set(self.annotated_idx) | set(self.seed_idx.tolist())
        return np.asarray([i for i in range(self.n_rows) if i not in taken], dtype=int)

    def _query(self, round_: int) -> tuple[list[int], float]:
        t0 = time.perf_counter()
        cand = self._pool_candidates()
        if len(cand) == 0:
            return [], 0.0
        n = self.batch_size
        if len(cand) < n:
            logger.warning("round %d: only %d pool rows left for a batch of %d; taking all",
                           round_, len(cand), n)
            return cand.tolist(), time.perf_counter() - t0
        strategy = get_strategy(self.learner.query_strategy)
        kwargs = {}
        params = inspect.signature(strategy).parameters
        if "random_state" in params:
            seq = np.random.SeedSequence([0 if self.random_state is None
                                          else int(self.random_state), round_])
            kwargs["random_state"] = int(seq.generate_state(1)[0])
        idx, _ = self.learner.query(take_rows(self.X, cand), n_instances=n, **kwargs)
        return cand[idx].tolist(), time.perf_counter() - t0

    # ------------------------------------------------------------------ public steps
    def start(self) -> dict:
        """Round 0: annotate the seed's texts (for the mixture) and fit on the gold seed."""
        if self.started:
            if not self._fitted_here:
                self._refit_from_state()
            return self.history[-1]
        t_ann = self._annotate(self.seed_idx, "annotating seed")
        t_fit = self._fit_classifier(np.zeros(0, int), np.zeros((0, self.n_classes)), 0)
        self.started = True
        record = {"round": 0, "n_labeled": int(len(self.seed_idx)), "n_annotated": 0,
                  "n_gold": int(len(self.seed_idx)), "llm_calls": self.llm_calls,
                  "annotation_s": t_ann, "mixture_s": 0.0, "fit_s": t_fit, "query_s": 0.0,
                  "queried": [], **self._metrics()}
        self.history.append(record)
        self.save()
        return record

    def _refit_from_state(self) -> dict:
        """After a resume: rebuild mixture and classifier from the saved state (no LLM)."""
        pool_rows, proba = (self._fit_mixture() if self.round_ > 0
                            else (np.zeros(0, int), np.zeros((0, self.n_classes))))
        self._fit_classifier(pool_rows, proba, self.round_)
        return self.history[-1]

    def step(self) -> dict | None:
        """Run one round; return its history record, or None when the pool is exhausted."""
        self.start()
        round_ = self.round_ + 1
        if self.pending is not None and int(self.pending["round"]) == round_:
            queried = [int(i) for i in self.pending["queried"]]
            t_query = float(self.pending.get("query_s", 0.0))
            logger.info("round %d: resuming a pending round of %d texts", round_, len(queried))
        else:
            queried, t_query = self._query(round_)
            if not queried:
                logger.info("round %d: the pool is exhausted", round_)
                return None
            self.pending = {"round": round_, "queried": queried, "query_s": t_query}
            self.save()
        calls_before = self.llm_calls
        t_ann = self._annotate(queried, f"round {round_}: annotating")
        # discrepancy weights and labels at annotation time, against the current classifier
        t0 = time.perf_counter()
        pool_rows, proba = self._fit_mixture()
        t_mix = time.perf_counter() - t0
        pos = {int(i): k for k, i in enumerate(pool_rows)}
        q_proba = proba[[pos[i] for i in queried]]
        # "round": every annotated row; "query": rows not weighed yet; both with current labels
        weigh = ([int(i) for i in pool_rows] if self.discrepancy_update == "round"
                 else [i for i in queried if i not in self.weights])
        if weigh and self.discrepancy_weight is not None:
            from ..label_noise import discrepancy_weights

            clf_proba = full_proba(self.learner, take_rows(self.X, weigh), self.n_classes)
            w = discrepancy_weights(clf_proba, proba[[pos[i] for i in weigh]].argmax(axis=1),
                                    weight=self.discrepancy_weight)
            self.weights.update({i: float(v) for i, v in zip(weigh, np.asarray(w))})
        for i, p in zip(queried, q_proba):
            self.labels_at_annotation.setdefault(i, p)
        if not self.relabel:
            proba = np.stack([self.labels_at_annotation.get(int(i), p)
                              for i, p in zip(pool_rows, proba)])
        t_fit = self._fit_classifier(pool_rows, proba, round_)
        self.round_ = round_
        self.pending = None
        record = {
            "round": round_,
            "n_labeled": int(len(self.seed_idx) + len(pool_rows)),
            "n_annotated": int(len(pool_rows)),
            "n_gold": int(len(self.seed_idx)),
            "llm_calls": self.llm_calls,
            "llm_calls_round": self.llm_calls - calls_before,
            "annotation_s": t_ann, "mixture_s": t_mix, "fit_s": t_fit, "query_s": t_query,
            "queried": queried,
            "n_downweighted": int(sum(self.weights.get(i, 1.0) < 1.0 for i in queried)),
            **self._metrics(),
        }
        if self.y_monitor is not None:  # reporting only, never used for a decision
            gold = self.y_monitor[pool_rows]
            record["mixture_label_accuracy"] = float((proba.argmax(1) == gold).mean())
        self.history.append(record)
        self.save()
        logger.info("round %d: %d labeled, %d LLM calls%s", round_, record["n_labeled"],
                    self.llm_calls, "".join(f", {k}={v:.3f}" for k, v in record.items()
                                            if k.startswith("val_")))
        return record

    def run(self, n_rounds: int) -> list[dict]:
        """Run until ``n_rounds`` rounds are done (counting rounds done before a resume)."""
        self.start()
        todo = range(self.round_, int(n_rounds))
        if self.show_progress:
            from tqdm.auto import tqdm

            todo = tqdm(todo, desc="MoLLIA rounds", unit="round")
        for _ in todo:
            if self.step() is None:
                break
        return self.history

    # ------------------------------------------------------------------ views
    @property
    def estimator(self):
        """The classifier being trained."""
        return self.learner.estimator

    def training_rows(self) -> np.ndarray:
        """Indices of the seed and annotated rows."""
        seed = set(self.seed_idx.tolist())
        return np.asarray(self.seed_idx.tolist()
                          + [i for i in self.annotated_idx if i not in seed], dtype=int)
