"""The experiment runner that the command line and the benchmarks share.

One experiment: load texts (a CSV of your own, the bundled demo set or recorded annotations),
split them into a gold seed, a pool and an optional held-out test set
(:func:`skmollal.own_data.split_labelled` for a CSV: seed and test only from its labelled
rows; :func:`split_rows` for the all-gold demo and recorded sets), build the annotator panel
from spec strings (:func:`skmollal.annotators.specs.build_panel`), the featurizer, the
classifier and the aggregator by name (:func:`make_featurizer`,
:func:`~skmollal.classifiers.make_classifier`, :func:`make_aggregator`), run the MoLLIA loop
(:func:`make_loop`), score it on the test set when there is one, and write what a user keeps
(:func:`run_experiment`: ``results.json``, ``learning_curve.png``, ``labels.csv``,
``model.joblib``). Everything that can be wrong with the settings or the input files is
checked by :func:`prepare_experiment` before any LLM is called, and raised as a
:class:`ConfigError`.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.utils import Bunch

from ._data_rows import naming_data_rows
from .active_learning.checkpoint import FolderLock
from .annotators.server_options import http_options
from .annotators.specs import build_panel
from .annotators.task import read_label_descriptions
from .demonstrations import configure_prompts
from .aggregation.registry import make_aggregator
from .classifiers import make_classifier, resolve_classifier
from .featurizers import make_featurizer
from .experiment_data import load_experiment_data, recordings_summary
from .own_data import load_csv, split_labelled, split_rows, training_labels
from .cascade import cascade_panel
from .settings import (AGGREGATORS, ALL_GOLD_SPLIT, FEATURIZERS, NO_TEST, RUN_DEFAULTS,
                       ConfigError, check_settings, complete_settings, loop_settings,
                       loop_stopping)

__all__ = [
    "AGGREGATORS", "FEATURIZERS", "RUN_DEFAULTS", "ConfigError", "check_settings", "load_csv",
    "load_experiment_data", "make_aggregator", "make_classifier", "make_featurizer",
    "make_loop", "prepare_experiment", "recordings_summary", "run_experiment", "split_rows",
    "training_labels",
]

logger = logging.getLogger(__name__)

#: History keys the stopping rules read (long lists; kept out of ``results.json``).
STOPPING_KEYS = ("stop_predictions", "pool_labels")


# --------------------------------------------------------------------------- factories
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
def _annotator_specs(specs: Sequence[str] | None, recordings: Any) -> list[str]:
    if specs:
        return list(specs)
    if recordings is None:
        raise ValueError("give --annotator specs (or --recordings with a recorded task)")
    return [f"recorded:{name}" for name in recordings.annotator_names]


def _split(cfg: dict, data: Bunch) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seed, pool, test) rows: from the labelled rows of a CSV, at random on all-gold data."""
    if cfg["data"]:
        return split_labelled(data.y, data.labels, cfg["seed_size"], cfg["test_size"],
                              cfg["pool_size"], cfg["seed"])
    sizes = {k: ALL_GOLD_SPLIT[k] if cfg[k] is None else cfg[k] for k in ALL_GOLD_SPLIT}
    seed, pool, test = split_rows(len(data.texts), sizes["seed_size"], sizes["test_size"],
                                  cfg["pool_size"], cfg["seed"])
    return seed, pool, test[data.y[test] >= 0]  # only rows with a gold label are scored


def prepare_experiment(config: Mapping | Any) -> Bunch:
    """Everything before the first LLM call: settings, data, split and panel, all checked.

    Parameters
    ----------
    config : mapping or argparse.Namespace
        As for :func:`run_experiment`.

    Returns
    -------
    Bunch
        ``cfg`` (the settings, defaults filled in), ``out`` (the output folder), ``data``
        (:func:`load_experiment_data`), ``seed``, ``pool``, ``test`` (rows of the data),
        ``train`` (seed then pool rows), ``y_train`` (gold on the seed, -1 on the pool),
        ``panel`` (one annotator per column, live ones cached) and ``lock`` (the folder's, held).

    Raises
    ------
    ConfigError
        If a setting, the CSV, the recordings or an annotator spec is wrong (the message
        says which and what to do).
    FolderBusyError
        If another run is writing the output folder (nothing is built or asked then).
    """
    cfg = complete_settings(config)
    check_settings(cfg)
    out = Path(cfg["output"])
    lock = None
    try:
        recorded = any(str(spec).startswith("recorded:") for spec in cfg["annotator"] or [])
        data = load_experiment_data(cfg["task"], cfg["recordings"], cfg["data"], cfg["labels"],
                                    recorded)
        seed, pool, test = _split(cfg, data)
        train, y_train = training_labels(data.y, seed, pool)
        specs = _annotator_specs(cfg["annotator"], data.recordings)
        http = http_options(cfg)
        lock = FolderLock.acquire(out)  # one run per folder, before any model or LLM call
        panel = build_panel(specs, data.labels, data.recordings, cfg["task"], http=http,
                            cache_path=cfg["cache"] or out / "annotations.sqlite",
                            cache_invalid="refresh" if cfg["refresh_cache"] else "raise")
        configure_prompts(panel, cfg.get("examples"),  # seed demonstrations, class meanings
                          read_label_descriptions(cfg.get("label_descriptions"), data.labels))
    except BaseException as exc:
        if lock is not None:
            lock.release()
        if isinstance(exc, (ValueError, FileNotFoundError)) and not isinstance(exc, ConfigError):
            raise ConfigError(str(exc)) from exc
        raise
    return Bunch(cfg=cfg, out=out, data=data, seed=seed, pool=pool, test=test, train=train,
                 y_train=y_train, panel=panel, lock=lock)


def _features(cfg: dict, train_texts: list[str], test_texts: list[str], cache_dir: Path):
    """(featurizer, X_train, X_test, seconds); the texts themselves for ``finetune``."""
    if cfg["classifier"] == "finetune":
        return None, train_texts, test_texts, 0.0
    featurizer = make_featurizer(cfg["featurizer"], cache_dir=cache_dir)
    t0 = time.perf_counter()
    X_train = np.asarray(featurizer.fit_transform(train_texts), dtype=np.float32)
    X_test = (np.asarray(featurizer.transform(test_texts), dtype=np.float32) if test_texts
              else X_train[:0])
    return featurizer, X_train, X_test, time.perf_counter() - t0


def _answers_per_llm(loop: Any) -> np.ndarray:
    """Answers the loop's state holds per panel column (a cascade asks some LLMs less)."""
    if loop.state is None:
        return 0
    return np.isfinite(loop.state.signals[:, :, 0, 0]).sum(axis=0)


def _answer_counts(panel: Sequence[Any], loop: Any, earlier: int, earlier_per_llm=0) -> dict:
    """This invocation's answers: paid LLM calls, served without a call, replayed; and the
    answers kept from an earlier invocation's saved state."""
    from .annotators.cache import CachedAnnotator

    cached = np.array([isinstance(a, CachedAnnotator) for a in panel])
    per_llm = _answers_per_llm(loop) - earlier_per_llm  # new answers per panel column
    paid = sum(a.n_annotated_total_ for a in panel if isinstance(a, CachedAnnotator))
    return {"llm_calls_paid": paid, "llm_answers_cached": int(per_llm[cached].sum()) - paid,
            "llm_answers_saved": earlier,
            "llm_answers_recorded": int(per_llm[~cached].sum())}


def _score(y_test: np.ndarray, pred: np.ndarray, n_classes: int) -> dict:
    from sklearn.metrics import accuracy_score, f1_score

    if len(y_test) == 0:
        return {"test_accuracy": None, "test_macro_f1": None, "test_note": NO_TEST}
    return {"test_accuracy": float(accuracy_score(y_test, pred)),
            "test_macro_f1": float(f1_score(y_test, pred, average="macro",
                                            labels=np.arange(n_classes), zero_division=0))}


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
        ``n_test``, ``classifier`` (the one trained; ``auto`` resolved) and
        ``classifier_cv`` (for ``auto``: each candidate's gold-row CV accuracy), ``test_accuracy`` and ``test_macro_f1`` (None, with ``test_note``,
        when no labelled row is held out), ``auc_accuracy``, ``llm_calls`` (answers the run
        used: texts x LLMs), ``llm_calls_paid`` (LLM calls made by this invocation),
        ``llm_answers_cached`` (answers the annotation cache served, repeated texts
        included),
        ``llm_answers_saved`` (kept in the state of an earlier invocation),
        ``llm_answers_recorded`` (replayed recordings), ``cost`` (per annotator: paid calls,
        tokens, LLM seconds, money, and what the cache served; see
        :mod:`skmollal.annotators.costs`), ``cost_total`` (summed), ``stopped_by`` (the
        stopping rule that ended the run, or None), ``label_report`` (the label report as
        text, or None), ``notes`` (warnings about the CSV's labels or the rounds run),
        ``embed_s``, ``total_s``, ``files`` and ``history`` (per round, with its ``cost``;
        ``queried`` as rows of the data). Also written to ``<output>/results.json``, with
        ``learning_curve.png``, ``labels.csv`` (one row per seed or annotated text, see
        :func:`~skmollal.outputs.labels_table`), ``label_report.json`` and
        ``label_report.png`` (:func:`~skmollal.outputs.write_label_report`) and
        ``model.joblib`` (a :class:`~skmollal.outputs.SavedModel`); ``<output>/state`` holds
        the loop's state (a re-run with more rounds resumes) and
        ``<output>/annotations.sqlite`` the live annotators' answers. With ``review`` N,
        each round writes N texts to ``<output>/review.csv`` for a person to label
        (:class:`~skmollal.active_learning.CsvReviewOracle`) and pauses: the same call
        again reads the labels and continues.

    Raises
    ------
    ConfigError
        Before any LLM call, if a setting or an input is wrong (see
        :func:`prepare_experiment`).
    ReviewPending
        With ``review``: when ``review.csv`` waits for a person's labels (the state is
        saved; call again once they are filled in).
    """
    t_start = time.perf_counter()
    prep = prepare_experiment(config)
    with prep.lock, naming_data_rows(prep.data, prep.train, "skmollal run"):
        return _run(prep, t_start)


def _run(prep: Bunch, t_start: float) -> dict:
    """:func:`run_experiment` after :func:`prepare_experiment` (which holds the folder)."""
    import joblib

    from .active_learning import area_under_curve, plot_learning_curve
    from .annotators.costs import sum_cost_dicts
    from .outputs import SavedModel, write_label_report, write_run_labels

    cfg, out, data, panel = prep.cfg, prep.out, prep.data, prep.panel
    names = [getattr(a, "name", type(a).__name__) for a in panel]
    logger.info("panel: %s", names)
    annotators = panel
    panel = cascade_panel(panel, cfg["cascade"], make_aggregator(cfg["mixture"]))
    train_texts = [data.texts[i] for i in prep.train]
    featurizer, X_train, X_test, embed_s = _features(
        cfg, train_texts, [data.texts[i] for i in prep.test], out / "embeddings")
    y_test = data.y[prep.test]
    has_test = len(prep.test) > 0
    clf, clf_cv = resolve_classifier(cfg["classifier"], X_train, prep.y_train, cfg["seed"],
                                     cfg["max_epochs"])  # "auto": chosen on the gold seed
    review = {}
    if cfg["review"]:  # a person labels N texts per round through review.csv
        from .active_learning.review_csv import CsvReviewOracle

        review = dict(oracle=CsvReviewOracle(out / "review.csv", row_ids=prep.train),
                      review_size=cfg["review"], review_strategy=cfg["review_strategy"])
    loop_params = dict(
        texts=train_texts, strategy=cfg["strategy"],
        **{k: v for k, v in loop_settings(cfg).items() if not k.startswith("review")},
        X_val=X_test if has_test else None, y_val=y_test if has_test else None,
        random_state=cfg["seed"], show_progress=not cfg["no_progress"],
        **loop_stopping(cfg))
    loop = make_loop(make_classifier(clf, cfg["seed"], cfg["max_epochs"]), panel, X_train,
                     prep.y_train, mixture=make_aggregator(cfg["mixture"]),
                     output_dir=out / "state", **loop_params, **review)
    if cfg.get("plan_only"):  # round 0 only, then what the rest would cost (skmollal plan)
        from .plan import write_plan

        return write_plan(loop, train_texts, cfg["rounds"], out)
    earlier = loop.llm_calls if loop.state is not None else 0
    earlier_per_llm = _answers_per_llm(loop)
    history = loop.run(cfg["rounds"])
    done = loop.state.round  # a resumed folder may hold more rounds than asked for
    notes = [f"{out} holds {done} rounds, more than --rounds {cfg['rounds']}: nothing was "
             f"run; the results, labels and model are those of its {done} rounds"
             ] if done > cfg["rounds"] else []
    for note in notes:
        logger.warning("%s", note)
    notes = list(data.get("notes", [])) + notes  # with the CSV's, warned when it was read
    pred = loop.learner.predict(X_test) if has_test else None
    files = {"results": out / "results.json", "model": out / "model.joblib",
             "labels": write_run_labels(loop, prep.train, prep.y_train, data, names,
                                        out / "labels.csv")}
    try:  # a reading aid; none (no finished round, a cascade panel) is only a warning
        report_text, report_files = write_label_report(loop, prep.train, data, out)
    except Exception as exc:  # noqa: BLE001
        logger.warning("no label report: %s", exc)
        report_text, report_files = None, {}
    files.update(report_files)
    if has_test:
        files["learning_curve"] = out / "learning_curve.png"
    joblib.dump(SavedModel(featurizer, loop.estimator_, data.labels), files["model"])
    results = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in cfg.items()},
        "labels": data.labels,
        "panel": names,
        "n_seed": int(len(prep.seed)), "n_pool": int(len(prep.pool)),
        "n_test": int(len(prep.test)), "classifier": clf, "classifier_cv": clf_cv,
        **_score(y_test, pred, len(data.labels)),
        "auc_accuracy": area_under_curve(history) if history and "val_accuracy" in
        history[-1] else None,
        "llm_calls": loop.llm_calls,
        **_answer_counts(annotators, loop, earlier, earlier_per_llm),
        "cost": loop.cost,
        "cost_total": sum_cost_dicts(loop.cost),
        "stopped_by": loop.stopped_by_,
        "label_report": report_text,
        "notes": notes,
        "embed_s": embed_s,
        "total_s": time.perf_counter() - t_start,
        "files": {k: str(v) for k, v in files.items()},
        # what the stopping rules read stays in the loop's state (state/state.json)
        "history": [{**{k: v for k, v in h.items() if k not in STOPPING_KEYS},
                     "queried": [int(prep.train[i]) for i in h["queried"]]} for h in history],
    }
    if cfg.get("compare_majority") and has_test and not review:
        from .comparison import majority_vote_run

        results["majority_vote"] = majority_vote_run(
            make_loop, make_classifier(clf, cfg["seed"], cfg["max_epochs"]), panel, X_train,
            prep.y_train, X_test, y_test, out / "state-majority", loop_params,
            cfg["rounds"])
    files["results"].write_text(json.dumps(results, indent=1))
    if not has_test:
        return results
    try:
        plot_learning_curve({f"{cfg['mixture']} / {cfg['strategy']}": history},
                            path=files["learning_curve"],
                            title=f"{cfg['task']}: test accuracy per round")
    except Exception as exc:  # noqa: BLE001 - the plot is a convenience
        logger.warning("could not draw the learning curve: %s", exc)
    return results
