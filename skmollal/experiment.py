"""The experiment runner that the command line and the benchmarks share.

One experiment: load texts (a CSV, the bundled demo set or recorded annotations), split them
into a gold seed, a pool and a held-out test set (:func:`split_rows`), build the annotator
panel from spec strings (:func:`skmollal.annotators.specs.build_panel`), the featurizer, the
classifier and the aggregator by name (:func:`make_featurizer`,
:func:`~skmollal.classifiers.make_classifier`, :func:`make_aggregator`), run the MoLLIA loop
(:func:`make_loop`) and score it on the test set (:func:`run_experiment`, which also writes
``results.json`` and ``learning_curve.png``).
"""
from __future__ import annotations

import csv
import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.utils import Bunch

from .annotators.specs import build_panel
from .classifiers import make_classifier
from .datasets import default_recordings_path

__all__ = [
    "AGGREGATORS", "FEATURIZERS", "RUN_DEFAULTS", "load_csv", "load_experiment_data",
    "make_aggregator", "make_classifier", "make_featurizer", "make_loop", "recordings_summary",
    "run_experiment", "split_rows", "training_labels",
]

logger = logging.getLogger(__name__)

#: aggregator name -> the ``skmollal`` estimator it builds (with default parameters)
AGGREGATORS = {
    "molam": "MixtureAggregator",
    "mollia": "MixtureAggregator",
    "majority": "MajorityVote",
    "mean": "MeanProbability",
    "best-single": "BestSingleLLM",
    "dawid-skene": "DawidSkene",
}

#: featurizer name -> what it is
FEATURIZERS = {
    "minilm": "frozen all-MiniLM-L6-v2 sentence embeddings (SentenceEmbedder)",
    "tfidf": "TF-IDF reduced to 64 dimensions by truncated SVD",
}

#: The settings of :func:`run_experiment` and their defaults (the command line's options).
RUN_DEFAULTS = {
    "task": "trec", "recordings": str(default_recordings_path()), "data": None,
    "labels": None, "annotator": None, "strategy": "random", "mixture": "molam",
    "rounds": 9, "batch": 50, "seed_size": 50, "pool_size": None, "test_size": 0.2,
    "seed": 0, "featurizer": "minilm", "classifier": "mlp", "max_epochs": None,
    "no_discrepancy": False, "discrepancy_update": "query", "no_negative_learning": False,
    "output": "skmollal-run", "no_progress": False,
    "cascade": None,  # a threshold: ask only the LLMs a text needs (CascadePanel)
}


# --------------------------------------------------------------------------- data
def split_rows(n: int, seed_size: int, test_size: float, pool_size: int | None = None,
               random_state: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random split of ``n`` rows into (seed, pool, test) index arrays.

    Parameters
    ----------
    n : int
        Number of rows.
    seed_size : int
        Gold rows drawn from the rows not held out.
    test_size : float
        Fraction of the rows held out, in (0, 1).
    pool_size : int, optional
        Subsample the pool (what remains) to this many rows.
    random_state : int, default=0
        Seed of the permutation.

    Returns
    -------
    seed, pool, test : ndarray of int
        Sorted, disjoint row indices.

    Raises
    ------
    ValueError
        If ``test_size`` is outside (0, 1) or ``seed_size`` leaves no pool.
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size}")
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)
    n_test = int(round(test_size * n))
    test, rest = perm[:n_test], perm[n_test:]
    if seed_size >= len(rest):
        raise ValueError(f"seed_size {seed_size} leaves no pool ({len(rest)} training rows)")
    seed, pool = rest[:seed_size], rest[seed_size:]
    if pool_size is not None:
        pool = pool[:pool_size]
    return np.sort(seed), np.sort(pool), np.sort(test)


def training_labels(y_gold: np.ndarray, seed: np.ndarray,
                    pool: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Training rows (seed, then pool) and their labels: gold on the seed, -1 on the pool.

    Raises
    ------
    ValueError
        If a seed row has no gold label (-1).
    """
    rows = np.concatenate([seed, pool])
    y = np.full(len(rows), -1)
    y[: len(seed)] = np.asarray(y_gold)[seed]
    if (y[: len(seed)] < 0).any():
        raise ValueError("some seed rows have no gold label")
    return rows, y


def load_csv(path: str | Path, labels: str | Sequence[str] | None = None) -> Bunch:
    """Texts and (optional) gold labels of a CSV with ``text`` and ``label`` columns.

    Parameters
    ----------
    path : str or path
        The CSV file.
    labels : str or sequence of str, optional
        Class names (a comma-separated string or a list); default: the sorted distinct
        labels of the file.

    Returns
    -------
    Bunch
        ``texts``, ``y`` (class index, -1 where a row's label is empty or not a class) and
        ``labels``.
    """
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "text" not in rows[0]:
        raise ValueError(f"{path}: need a CSV with a 'text' column (and 'label')")
    if isinstance(labels, str):
        labels = labels.split(",")
    labels = list(labels) if labels else sorted({r["label"] for r in rows if r.get("label")})
    y = np.asarray([labels.index(r["label"]) if r.get("label") in labels else -1
                    for r in rows])
    return Bunch(texts=[r["text"] for r in rows], y=y, labels=labels)


def load_experiment_data(task: str = "trec", recordings: str | Path | None = None,
                         data: str | Path | None = None,
                         labels: str | Sequence[str] | None = None) -> Bunch:
    """The texts of an experiment: a CSV (``data``), the demo set or a recorded task.

    Parameters
    ----------
    task : str, default="trec"
        ``"demo"`` for the bundled demo questions, else a recorded task of ``recordings``
        (ignored with ``data``).
    recordings : str or path, optional
        Folder of recorded LLM annotations (default: :func:`default_recordings_path`).
    data : str or path, optional
        A CSV, read by :func:`load_csv`.
    labels : str or sequence of str, optional
        Class names of the CSV.

    Returns
    -------
    Bunch
        ``texts`` (list of str), ``y`` (gold class index, -1 where unknown), ``labels``
        and ``recordings`` (the recordings Bunch, or None for a CSV or the demo set).
    """
    if data:
        return Bunch(**load_csv(data, labels), recordings=None)
    if task == "demo":
        from .demo import load_demo

        demo = load_demo()
        return Bunch(texts=list(demo.texts), y=np.asarray(demo.target),
                     labels=list(demo.target_names), recordings=None)
    from .datasets import load_recordings

    rec = load_recordings(default_recordings_path() if recordings is None else recordings,
                          task)
    if rec.texts is None:
        raise ValueError(f"the {task!r} recordings hold no texts; the loop needs texts")
    return Bunch(texts=list(rec.texts), y=np.asarray(rec.target),
                 labels=list(rec.target_names), recordings=rec)


def recordings_summary(path: str | Path, task: str) -> str:
    """Per-LLM and majority-vote accuracy of recorded annotations, as a text table."""
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


# --------------------------------------------------------------------------- factories
def make_featurizer(name: str, cache_dir: str | Path | None = None) -> Any:
    """The text featurizer ``name`` (see :data:`FEATURIZERS`), unfitted.

    Parameters
    ----------
    name : {"minilm", "tfidf"}
        Which featurizer.
    cache_dir : str or path, optional
        On-disk embedding cache of ``minilm``.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the names.
    """
    if name == "minilm":
        from .featurizers import SentenceEmbedder

        return SentenceEmbedder(cache_dir=cache_dir)
    if name == "tfidf":
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline

        return make_pipeline(TfidfVectorizer(sublinear_tf=True), TruncatedSVD(64, random_state=0))
    raise ValueError(f"unknown featurizer {name!r}; choose one of {sorted(FEATURIZERS)}")


def make_aggregator(name: str) -> Any:
    """The aggregator (mixture model or baseline) ``name``, with default parameters.

    Parameters
    ----------
    name : str
        A key of :data:`AGGREGATORS`: ``molam`` / ``mollia`` (the mixture model),
        ``majority``, ``mean``, ``best-single`` or ``dawid-skene``.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the names.
    """
    if name not in AGGREGATORS:
        raise ValueError(f"unknown aggregator {name!r}; choose one of {sorted(AGGREGATORS)}")
    from . import aggregation

    return getattr(aggregation, AGGREGATORS[name])()


def make_loop(estimator: Any, panel: Any, X: Any, y: np.ndarray, *,
              output_dir: str | Path | None = None, **params: Any) -> Any:
    """The MoLLIA loop: the one place the runner and the benchmarks build (or resume) one.

    Parameters
    ----------
    estimator, panel, X, y
        As for :class:`~skmollal.active_learning.MoLLIALoop`.
    output_dir : str or path, optional
        Where the loop saves its state after every round; a folder that already holds the
        state of the same run is resumed (:meth:`MoLLIALoop.resume_or_start`).
    **params
        Other :class:`~skmollal.active_learning.MoLLIALoop` parameters.

    Returns
    -------
    MoLLIALoop
    """
    from .active_learning import MoLLIALoop

    return MoLLIALoop.resume_or_start(output_dir, estimator, panel, X, y, **params)


# --------------------------------------------------------------------------- the run
def _settings(config: Mapping | Any) -> dict:
    """``config`` (a mapping or an ``argparse.Namespace``) completed with :data:`RUN_DEFAULTS`."""
    given = dict(config) if isinstance(config, Mapping) else dict(vars(config))
    given.pop("func", None)
    return {**given, **{k: v for k, v in RUN_DEFAULTS.items() if k not in given}}


def _annotator_specs(specs: Sequence[str] | None, recordings: Any) -> list[str]:
    if specs:
        return list(specs)
    if recordings is None:
        raise ValueError("give --annotator specs (or --recordings with a recorded task)")
    return [f"recorded:{name}" for name in recordings.annotator_names]


def _features(cfg: dict, train_texts: list[str], test_texts: list[str], cache_dir: Path):
    """(X_train, X_test, seconds): the texts themselves for ``finetune``, else features."""
    if cfg["classifier"] == "finetune":
        return train_texts, test_texts, 0.0
    featurizer = make_featurizer(cfg["featurizer"], cache_dir=cache_dir)
    t0 = time.perf_counter()
    X_train = np.asarray(featurizer.fit_transform(train_texts), dtype=np.float32)
    X_test = np.asarray(featurizer.transform(test_texts), dtype=np.float32)
    return X_train, X_test, time.perf_counter() - t0


def run_experiment(config: Mapping | Any) -> dict:
    """Run one experiment: the MoLLIA loop on a seed / pool split, scored on a test split.

    Parameters
    ----------
    config : mapping or argparse.Namespace
        Settings named as the keys of :data:`RUN_DEFAULTS` (the command line's options);
        missing ones take their default. ``annotator`` lists spec strings
        (:data:`~skmollal.annotators.specs.SPEC_FORMS`); without it, every LLM of the
        recorded task. Test rows without a gold label are not scored.

    Returns
    -------
    dict
        ``config``, ``labels``, ``panel`` (annotator names), ``n_seed``, ``n_pool``,
        ``n_test``, ``test_accuracy``, ``test_macro_f1``, ``auc_accuracy``, ``llm_calls``,
        ``embed_s``, ``total_s`` and ``history`` (per round; ``queried`` as rows of the
        data). Also written to ``<output>/results.json``, with ``learning_curve.png``;
        ``<output>/state`` holds the loop's state (a re-run with more rounds resumes) and
        ``<output>/annotations.sqlite`` the live annotators' answers.
    """
    from sklearn.metrics import accuracy_score, f1_score

    from .active_learning import area_under_curve, plot_learning_curve

    t_start = time.perf_counter()
    cfg = _settings(config)
    out = Path(cfg["output"])
    out.mkdir(parents=True, exist_ok=True)
    data = load_experiment_data(cfg["task"], cfg["recordings"], cfg["data"], cfg["labels"])
    specs = _annotator_specs(cfg["annotator"], data.recordings)
    seed, pool, test = split_rows(len(data.texts), cfg["seed_size"], cfg["test_size"],
                                  cfg["pool_size"], cfg["seed"])
    train, y_train = training_labels(data.y, seed, pool)
    test = test[data.y[test] >= 0]  # only rows with a gold label are scored
    panel = build_panel(specs, data.labels, data.recordings, cfg["task"],
                        cache_path=out / "annotations.sqlite")
    names = [getattr(a, "name", type(a).__name__) for a in panel]
    logger.info("panel: %s", names)
    if cfg["cascade"] is not None:  # ask the LLMs one at a time, only as many as a text needs
        from .cascade import CascadePanel

        panel = CascadePanel(panel, threshold=cfg["cascade"],
                             aggregator=make_aggregator(cfg["mixture"]))
    train_texts = [data.texts[i] for i in train]
    X_train, X_test, embed_s = _features(cfg, train_texts, [data.texts[i] for i in test],
                                         out / "embeddings")
    y_test = data.y[test]
    loop = make_loop(
        make_classifier(cfg["classifier"], cfg["seed"], cfg["max_epochs"]), panel, X_train,
        y_train, texts=train_texts, mixture=make_aggregator(cfg["mixture"]),
        strategy=cfg["strategy"], batch_size=cfg["batch"],
        discrepancy_weight=None if cfg["no_discrepancy"] else 0.5,
        discrepancy_update=cfg["discrepancy_update"],
        nl_threshold=None if cfg["no_negative_learning"] else 0.001,
        X_val=X_test, y_val=y_test, output_dir=out / "state", random_state=cfg["seed"],
        show_progress=not cfg["no_progress"],
    )
    history = loop.run(cfg["rounds"])
    pred = loop.learner.predict(X_test)
    results = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.items()},
        "labels": data.labels,
        "panel": names,
        "n_seed": int(len(seed)), "n_pool": int(len(pool)), "n_test": int(len(test)),
        "test_accuracy": float(accuracy_score(y_test, pred)),
        "test_macro_f1": float(f1_score(y_test, pred, average="macro",
                                        labels=np.arange(len(data.labels)), zero_division=0)),
        "auc_accuracy": area_under_curve(history) if history and "val_accuracy" in
        history[-1] else None,
        "llm_calls": loop.llm_calls,
        "embed_s": embed_s,
        "total_s": time.perf_counter() - t_start,
        "history": [{**h, "queried": [int(train[i]) for i in h["queried"]]} for h in history],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    try:
        plot_learning_curve({f"{cfg['mixture']} / {cfg['strategy']}": history},
                            path=out / "learning_curve.png",
                            title=f"{cfg['task']}: test accuracy per round")
    except Exception as exc:  # noqa: BLE001 - the plot is a convenience
        logger.warning("could not draw the learning curve: %s", exc)
    return results
