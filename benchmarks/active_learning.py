"""MoLLIA vs. its baselines on the recorded TREC annotators (the paper's comparison).

For every seed the TREC questions are split once (20 % held out for testing; a 50-question
gold seed drawn from the rest; the remainder is the pool). Every method then runs the same
active-learning loop (``skmollal.active_learning.MoLLIALoop``) on replayed LLM annotators
and differs only in where the labels of the queried questions come from:

============== =============================================================================
oracle         gold labels (what a human annotator would give)
llm:NAME       one recorded LLM's majority answer
best-single    the single LLM most accurate on the 50-question gold seed (no other gold)
majority       majority vote of all 50 answers (LLMs-V)
mean           summed probabilities (LLMs-L)
dawid-skene    Dawid-Skene over the five LLMs' answers
mollia         the mixture model with the loop's default noise handling (``MoLLIALoop``'s
               ``discrepancy`` / ``nl_threshold`` / ``nl_source`` defaults)
mollia-ref     the reference MoLLIA: mixture + discrepancy weights (0.5 on every
               disagreement with the classifier) + negative labels from the LLMs' mean
               probabilities
mollia-no-disc the reference without the discrepancy weights
mollia-no-nl   the reference without negative learning
mollia-rerate  the reference with discrepancy weights recomputed every round for every
               annotated row against the latest classifier (``discrepancy_update="round"``)
mixture-only   the mixture model's labels with neither weights nor negative learning
mixture+confident   mixture labels, down-weighted only where the classifier disagrees and
               is surer than the mixture (``discrepancy="confident"``), no NL
mixture+mixconf     mixture labels weighted by the mixture's posterior of the label
               (``discrepancy="mixture_confidence"``), no NL
mixture+nl-post     mixture labels + negative labels from the fused posterior
               (``nl_source="posterior"``), no weights
two-view       :class:`~skmollal.aggregation.TwoViewMixture` labels (signals + the
               embeddings, MLP only), with neither weights nor negative learning (pairs
               with ``mixture-only``)
selector       :class:`~skmollal.aggregation.FusionSelector` labels (two-view mixture,
               Dawid-Skene or best LLM by gold-row CV), as ``two-view``
anchored       :class:`~skmollal.aggregation.VoteAnchoredMixture` labels (the mixture and
               majority vote weighed by gold-row log loss), as ``mixture-only`` otherwise
mollia-soft    ``mollia`` trained on the mixture's posteriors instead of its argmax labels
               (``soft_labels=True``; the default ``"auto"`` does so for the MLP and the
               fine-tuned classifier)
mollia-hard    ``mollia`` trained on the argmax labels (``soft_labels=False``)
mollia-two-view ``mollia`` (the loop's defaults, soft labels where the classifier takes
               them) with :class:`~skmollal.aggregation.TwoViewMixture` labels: the
               mixture's posteriors temperature-scaled from the gold rows, plus the
               embeddings' text view with the MLP (the fine-tuned classifier reads texts)
============== =============================================================================

Methods from ``mixture-only`` on are not in the default list; name them with ``--methods``.
Each run's JSON record holds the loop settings it ran with (``settings``).

Gold labels beyond the seed never steer anything: accuracy on the held-out questions is
recorded per round for the learning curve only, and no checkpoint is chosen on it.

The full configuration of the issue (9 rounds of 50, 5 seeds, strategies random /
max-entropy / CoreSet, both classifiers) is the default of the arguments except for seeds;
run a reduced one with e.g.::

    python benchmarks/active_learning.py --seeds 0 1 2 --strategies random \\
        --methods oracle best-single majority mollia mollia-no-disc mollia-no-nl

Classifiers: ``mlp`` = NegativeLearningClassifier on frozen MiniLM embeddings (computed once
and cached), ``finetune`` = MiniLM fine-tuned end to end through the same loss.

Stopping rules (:mod:`skmollal.active_learning.stopping`) are replayed on every run's history
(no extra runs): where each rule of :data:`STOPPING` would have stopped the run, and the
held-out accuracy given up there against the last round (the learning curve's points, so not
with ``--final-only``). A second table and the JSON's ``stopping`` hold them.

``--train-once`` (with ``--final-only``, random queries and methods whose rounds never read
the classifier: no ``discrepancy`` or ``"mixture_confidence"``) runs the rounds with a
stand-in classifier and trains ``--classifier`` once on the last round's targets
(:meth:`~skmollal.active_learning.MoLLIALoop.refit`): the model a full run ends with, for the
cost of its last fit (what makes fine-tuning recipes affordable on a CPU).
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from skmollal.active_learning import area_under_curve, plot_learning_curve  # noqa: E402
from skmollal.active_learning.stopping import (  # noqa: E402
    KappaAverage, StableLabels, cohen_kappa, labels_changed, replay_stopping,
)
from skmollal.annotators.base import AnnotationResult  # noqa: E402
from skmollal.datasets import default_recordings_path  # noqa: E402
from skmollal.experiment import (  # noqa: E402
    make_aggregator, make_classifier, make_loop, split_rows, training_labels,
)

logger = logging.getLogger("benchmarks.active_learning")

METHODS = ["oracle", "best-single", "majority", "mean", "dawid-skene", "mollia", "mollia-ref",
           "mollia-no-disc", "mollia-no-nl", "mollia-rerate"]
#: the reference MoLLIA's noise handling (the paper's)
REFERENCE = {"discrepancy": "reference", "discrepancy_weight": 0.5,
             "discrepancy_update": "query", "nl_threshold": 0.001, "nl_source": "signals",
             "soft_labels": False}
#: no noise handling: the mixture's labels only
PLAIN = {**REFERENCE, "discrepancy": None, "nl_threshold": None}
#: MoLLIA and its ablations: loop settings (empty: the loop's defaults)
MOLLIA_VARIANTS = {
    "mollia": {},
    "mollia-ref": REFERENCE,
    "mollia-no-disc": {**REFERENCE, "discrepancy": None},
    "mollia-no-nl": {**REFERENCE, "nl_threshold": None},
    "mollia-rerate": {**REFERENCE, "discrepancy_update": "round"},
    "mixture-only": PLAIN,
    "mixture+confident": {**PLAIN, "discrepancy": "confident"},
    "mixture+mixconf": {**PLAIN, "discrepancy": "mixture_confidence"},
    "mixture+nl-post": {**PLAIN, "nl_threshold": 0.001, "nl_source": "posterior"},
    "two-view": PLAIN,
    "selector": PLAIN,
    "anchored": PLAIN,
    "mollia-soft": {"soft_labels": True},
    "mollia-hard": {"soft_labels": False},
    "mollia-two-view": {},
}
#: variants whose labels come from another fusion than the plain mixture
VARIANT_FUSION = {"two-view": "TwoViewMixture", "mollia-two-view": "TwoViewMixture",
                  "selector": "FusionSelector",
                  "anchored": "VoteAnchoredMixture"}
#: the loop settings a method row may set
NOISE_SETTINGS = tuple(REFERENCE)
#: stopping rules replayed on each run's history: name -> rule
STOPPING = {
    "kappa": KappaAverage(kappa=0.99, window=3),
    "kappa-0.9": KappaAverage(kappa=0.9, window=2),
    "labels": StableLabels(max_changed=0.01, window=2),
}
#: what the rules read: kept out of the JSON's histories (long lists)
RULE_INPUTS = ("stop_predictions", "pool_labels")
#: the papers' accuracies per task (the "paper" column; printed only for a task listed here)
PAPER = {"trec": {"oracle": 0.926, "mollia-ref": 0.907, "majority": 0.825,
                  "best-single": 0.849}}


class GoldAnnotator:
    """The oracle: answers with the gold label (one-hot probabilities and votes)."""

    def __init__(self, texts, target, labels):
        self.name, self.labels = "oracle", list(labels)
        self._gold = {}
        for t, y in zip(texts, target):
            self._gold.setdefault(t, int(y))
        self.calls = 0

    def identity(self):
        return "gold-oracle"

    def annotate(self, texts):
        self.calls += len(texts)
        onehot = np.eye(len(self.labels))[[self._gold[t] for t in texts]]
        return AnnotationResult(probs=onehot, votes=onehot)


class SingleAnswer(ClassifierMixin, BaseEstimator):
    """Labels of a one-annotator panel: the argmax of its vote shares (its majority answer).

    Used for the oracle and the single-LLM rows (nothing to fuse, nothing learned).
    """

    def fit(self, S, y=None):
        self.classes_ = np.arange(np.asarray(S).shape[-1])
        return self

    def predict_proba(self, S):
        votes = np.asarray(S)[:, 0, 1]
        return np.eye(votes.shape[1])[votes.argmax(axis=1)]


class StandIn(ClassifierMixin, BaseEstimator):
    """``--train-once``'s classifier for the rounds: uniform probabilities, any inputs (texts
    too), fitted in no time; nothing the run decides reads it."""

    def fit(self, X, y, sample_weight=None):
        y = np.asarray(y)
        self.classes_ = np.arange(y.shape[1]) if y.ndim == 2 else np.unique(y)
        return self

    def predict_proba(self, X):
        n = X.shape[0] if hasattr(X, "shape") else len(X)
        return np.full((n, len(self.classes_)), 1.0 / len(self.classes_))


def loop_defaults() -> dict:
    """The noise-handling defaults of :class:`~skmollal.active_learning.MoLLIALoop`."""
    import inspect

    from skmollal.active_learning import MoLLIALoop

    params = inspect.signature(MoLLIALoop).parameters
    return {name: params[name].default for name in NOISE_SETTINGS}


def method_setup(method: str, rec, annotator_names):
    """Return (panel, mixture, loop settings) of ``method``: the noise handling it runs with."""
    from skmollal import aggregation
    from skmollal.annotators.recorded import RecordedAnnotator

    def all_llms():
        return [RecordedAnnotator(rec, name) for name in annotator_names]

    if method == "oracle":
        return ([GoldAnnotator(rec.texts, rec.target, rec.target_names)], SingleAnswer(),
                PLAIN)
    if method.startswith("llm:"):
        return [RecordedAnnotator(rec, method[4:])], SingleAnswer(), PLAIN
    if method in MOLLIA_VARIANTS:
        mixture = (getattr(aggregation, VARIANT_FUSION[method])() if method in VARIANT_FUSION
                   else make_aggregator("mollia"))
        return all_llms(), mixture, {**loop_defaults(), **MOLLIA_VARIANTS[method]}
    if method in ("best-single", "majority", "mean", "dawid-skene"):
        return all_llms(), make_aggregator(method), PLAIN
    raise ValueError(f"unknown method {method!r}")


def embed_all(texts, cache_dir):
    from skmollal.featurizers import SentenceEmbedder

    t0 = time.perf_counter()
    E = np.asarray(SentenceEmbedder(cache_dir=cache_dir).fit_transform(list(texts)),
                   dtype=np.float32)
    logger.info("embedded %d texts in %.1f s", len(texts), time.perf_counter() - t0)
    return E


def run_one(args, rec, E, seed, strategy, method):
    from sklearn.metrics import accuracy_score, f1_score

    seed_idx, pool_idx, test_idx = split_rows(len(rec.target), args.seed_size, args.test_size,
                                              args.pool_size, seed)
    train, y = training_labels(rec.target, seed_idx, pool_idx)
    texts = [rec.texts[i] for i in train]
    test_texts = [rec.texts[i] for i in test_idx]
    if args.classifier == "finetune":
        X, X_test = texts, test_texts
    else:
        X, X_test = E[train], E[test_idx]
    panel, mixture, settings = method_setup(method, rec, rec.annotator_names)
    curve = not args.final_only
    if args.train_once:
        check_train_once(args, strategy, settings)
        estimator = StandIn()  # random queries and these settings never read it
    else:
        estimator = classifier(args, seed)
    loop = make_loop(
        estimator, panel, X, y, texts=texts,
        mixture=mixture, strategy=strategy, batch_size=args.batch, **settings,
        X_val=X_test if curve else None,
        y_val=rec.target[test_idx] if curve else None,
        y_monitor=rec.target[train], random_state=seed, show_progress=False,
    )
    t0 = time.perf_counter()
    history = loop.run(args.rounds)
    if args.train_once:
        loop.refit(classifier(args, seed))
    pred = loop.learner.predict(X_test)
    y_test = rec.target[test_idx]
    labels = np.arange(len(rec.target_names))
    out = {
        "seed": seed, "strategy": strategy, "method": method,
        "classifier": args.classifier,
        "test_accuracy": float(accuracy_score(y_test, pred)),
        "test_macro_f1": float(f1_score(y_test, pred, average="macro", labels=labels,
                                        zero_division=0)),
        "auc_accuracy": area_under_curve(history, "val_accuracy") if curve else float("nan"),
        "n_labeled": history[-1]["n_labeled"],
        # accuracy of the labels the classifier was trained on (annotated pool rows, last
        # round); gold is read only to report this, never to decide anything
        "label_accuracy": float(history[-1].get("mixture_label_accuracy", float("nan"))),
        # share of the negative labels (last round) that ruled out the true class
        "negative_label_hits": float(history[-1].get("negative_label_hits", float("nan"))),
        "settings": settings, "fusion": type(mixture).__name__,
        "classifier_params": classifier_params(args),
        "train_once": bool(args.train_once),
        "llm_calls": loop.llm_calls,
        "wall_s": time.perf_counter() - t0,
        "stopping": stopping_report(history, len(panel)) if curve else {},
        "history": [{k: v for k, v in h.items() if k != "queried" and k not in RULE_INPUTS}
                    for h in history],
    }
    for key in ("annotation_s", "mixture_s", "fit_s", "query_s"):
        out[f"mean_{key}"] = float(np.mean([h[key] for h in history[1:]])) if len(
            history) > 1 else 0.0
    if hasattr(loop.mixture_, "best_llm_"):  # BestSingleLLM: chosen on the gold seed only
        out["chosen_llm"] = rec.annotator_names[int(loop.mixture_.best_llm_)]
    return out


def classifier_params(args) -> dict:
    """The classifier settings a run changes from the estimator's defaults."""
    out = {} if args.max_epochs is None else {"max_epochs": args.max_epochs}
    if args.warmup is not None and args.classifier == "finetune":
        out["warmup"] = None if args.warmup == "none" else float(args.warmup)
    return out


def classifier(args, seed):
    """A fresh ``--classifier`` with the run's settings (:func:`classifier_params`)."""
    est = make_classifier(args.classifier, seed)
    params = classifier_params(args)
    return est.set_params(**params) if params else est


def check_train_once(args, strategy: str, settings: dict) -> None:
    """``--train-once`` only where the rounds never read the classifier."""
    if not args.final_only:
        raise ValueError("--train-once needs --final-only (no learning curve: the rounds "
                         "train a stand-in)")
    if strategy != "random" or settings.get("discrepancy") not in (None,
                                                                  "mixture_confidence"):
        raise ValueError("--train-once needs random queries and no classifier-based "
                         f"discrepancy; got {strategy!r} and {settings.get('discrepancy')!r}")


def stopping_report(history, n_llms):
    """Where each rule of :data:`STOPPING` would have stopped the run, and what it gave up.

    ``accuracy_given_up`` is the held-out accuracy of the last round minus that of the
    stopping round (positive: stopping cost accuracy); ``calls_saved`` the share of the
    run's LLM calls the stop would have saved. ``final_kappa`` and ``final_labels_changed``
    are what the rules saw in the last round: the kappa between the last two rounds'
    predictions, and the share of annotated rows whose label changed in it.
    """
    last, before = history[-1], history[-2]
    final = {"final_kappa": cohen_kappa(before["stop_predictions"], last["stop_predictions"]),
             "final_labels_changed": labels_changed(before["pool_labels"],
                                                    last["pool_labels"])}
    out = {}
    for name, rule in STOPPING.items():
        stop = replay_stopping(rule, history, n_llms)
        at = next(h for h in history if h["round"] == stop["round"])
        out[name] = {
            "round": stop["round"], "n_labeled": stop["n_labeled"], "stopped": stop["stopped"],
            "val_accuracy": at["val_accuracy"],
            "accuracy_given_up": last["val_accuracy"] - at["val_accuracy"],
            "calls_saved": 1.0 - at["llm_calls"] / last["llm_calls"], **final,
        }
    return out


def summarise_stopping(runs):
    """Rows of the stopping table: per (classifier, strategy, method, rule), means over seeds."""
    groups = {}
    for r in runs:
        for rule, stop in r.get("stopping", {}).items():
            groups.setdefault((r["classifier"], r["strategy"], r["method"], rule), []).append(
                stop)
    rows = []
    for (clf, strategy, method, rule), stops in groups.items():
        row = {"classifier": clf, "strategy": strategy, "method": method, "rule": rule,
               "n_seeds": len(stops), "stopped": sum(s["stopped"] for s in stops)}
        for key in ("round", "n_labeled", "val_accuracy", "accuracy_given_up", "calls_saved",
                    "final_kappa", "final_labels_changed"):
            vals = np.asarray([s[key] for s in stops], dtype=float)
            row[key] = float(vals.mean())
            row[key + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        rows.append(row)
    return rows


def print_stopping_table(rows):
    """Print where each stopping rule would have stopped (means over seeds)."""
    if not rows:
        return
    head = (f"{'strategy':<10} {'method':<16} {'rule':<10} {'fired':>6} {'round':>6} "
            f"{'labels':>7} {'acc':>6} {'given up':>15} {'calls saved':>12} "
            f"{'last kappa':>10} {'last changed':>12}")
    print("\nstopping rules replayed on each run (accuracy given up = last round - stop)")
    print(head)
    print("-" * len(head))
    for r in rows:
        print(f"{r['strategy']:<10} {r['method']:<16} {r['rule']:<10} "
              f"{r['stopped']:>3}/{r['n_seeds']:<2} {r['round']:>6.1f} {r['n_labeled']:>7.0f} "
              f"{r['val_accuracy']:>6.3f} {r['accuracy_given_up']:>+7.3f}±"
              f"{r['accuracy_given_up_sd']:.3f} {r['calls_saved']:>11.0%} "
              f"{r['final_kappa']:>10.3f} {r['final_labels_changed']:>12.2%}")


def run_one_limited(args, rec, E, seed, strategy, method):
    """:func:`run_one` with torch and BLAS limited to ``args.threads`` (also in workers)."""
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(args.threads)
    with threadpool_limits(args.threads):
        return run_one(args, rec, E, seed, strategy, method)


def summarise(runs):
    """Rows of the table: mean and sd over seeds per (classifier, strategy, method)."""
    groups = {}
    for r in runs:
        groups.setdefault((r["classifier"], r["strategy"], r["method"]), []).append(r)
    rows = []
    for (clf, strategy, method), rs in groups.items():
        row = {"classifier": clf, "strategy": strategy, "method": method, "n_seeds": len(rs)}
        for key in ("test_accuracy", "test_macro_f1", "auc_accuracy", "label_accuracy",
                    "negative_label_hits", "mean_annotation_s",
                    "mean_mixture_s", "mean_fit_s", "mean_query_s"):
            vals = np.asarray([r.get(key, np.nan) for r in rs], dtype=float)
            row[key] = float(vals.mean())
            row[key + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
        row["final_labeled"] = rs[0]["n_labeled"]
        row["settings"] = rs[0].get("settings")
        rows.append(row)
    add_paired_differences(rows, runs)
    return rows


#: rows every method is compared with, seed by seed (``summary[i]["vs_<base>"]``)
PAIRED_BASES = ("mixture-only", "majority")


def add_paired_differences(rows, runs) -> None:
    """Add to each summary row its test accuracy minus each base's of :data:`PAIRED_BASES`,
    paired on the seeds both ran: ``vs_<base>`` (mean), ``vs_<base>_up`` (seeds above the
    base) and ``vs_<base>_seeds`` (seeds compared)."""
    acc = {(r["classifier"], r["strategy"], r["method"], r["seed"]): r["test_accuracy"]
           for r in runs}
    for row in rows:
        for base in PAIRED_BASES:
            diffs = [acc[(c, st, m, seed)] - acc[(c, st, base, seed)]
                     for (c, st, m, seed) in acc
                     if (c, st, m) == (row["classifier"], row["strategy"], row["method"])
                     and (c, st, base, seed) in acc]
            if diffs:
                row[f"vs_{base}"] = float(np.mean(diffs))
                row[f"vs_{base}_up"] = int(sum(d > 0 for d in diffs))
                row[f"vs_{base}_seeds"] = len(diffs)


def _paper_cell(paper: dict | None, method: str) -> str:
    """The "paper" column's cell (empty without anchors for ``method``; none without ``paper``)."""
    if paper is None:
        return ""
    value = paper.get(method)
    return f" {'' if value is None else f'{value:.3f}':>6}"


def print_table(rows, paper: dict | None = None):
    """Print the summary rows; with ``paper`` (method -> accuracy), a "paper" column too."""
    paper_head = "" if paper is None else f" {'paper':>6}"
    head = (f"{'classifier':<10} {'strategy':<10} {'method':<18} {'acc':>13} {'macro-F1':>13} "
            f"{'AUC':>7} {'labels':>6} {'NL hit':>6}{paper_head} "
            f"{'s/round ann|mix|fit|query':>28}")
    print(head)
    print("-" * len(head))
    for r in rows:
        anchor = _paper_cell(paper, r["method"])
        print(f"{r['classifier']:<10} {r['strategy']:<10} {r['method']:<18} "
              f"{r['test_accuracy']:.3f}±{r['test_accuracy_sd']:.3f} "
              f"{r['test_macro_f1']:.3f}±{r['test_macro_f1_sd']:.3f} "
              f"{r['auc_accuracy']:>7.3f} {r['label_accuracy']:>6.3f} "
              f"{r['negative_label_hits']:>6.3f}{anchor} "
              f"{r['mean_annotation_s']:>6.2f}|{r['mean_mixture_s']:.2f}|"
              f"{r['mean_fit_s']:.2f}|{r['mean_query_s']:.2f}")


def plot_runs(runs, args, path: Path) -> None:
    """Learning curves, one panel per strategy, one curve (mean ± sd over seeds) per method."""
    if args.final_only:
        logger.info("--final-only: no learning curves to plot")
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        strategies = list(dict.fromkeys(r["strategy"] for r in runs))
        fig, axes = plt.subplots(1, len(strategies), figsize=(6 * len(strategies), 4),
                                 squeeze=False)
        for ax, strategy in zip(axes[0], strategies):
            curves = {}
            for r in runs:
                if r["strategy"] == strategy:
                    curves.setdefault(r["method"], []).append(r["history"])
            plot_learning_curve(curves, ax=ax, title=f"{args.task} / {strategy} / "
                                f"{args.classifier}")
        fig.tight_layout()
        fig.savefig(path, dpi=120)
        print(f"plot: {path}")
    except Exception as exc:  # noqa: BLE001
        logger.warning("plot failed: %s", exc)


def replot(json_path: Path, plot: str | None) -> None:
    """Redraw the figure of a finished run from its JSON (no run, same code)."""
    data = json.loads(Path(json_path).read_text())
    args = argparse.Namespace(**data["config"])
    plot_runs(data["runs"], args, Path(plot) if plot else Path(json_path).with_suffix(".png"))


def merge(json_paths, out_path: Path, methods=None) -> list[dict]:
    """One JSON from the runs of several invocations (e.g. seeds or methods run apart), or
    the finished runs of one that is still going; ``methods``: keep only those.

    ``config`` is rebuilt from the runs (:func:`result_merge.config_from_runs`: their
    seeds, strategies and methods, and the invocations that would make them where they are
    not one grid); ``merged_from`` keeps every path and config. A run held by two files
    must be the same in both, and the files must agree on every other setting.
    """
    from result_merge import merge_files

    data = merge_files(json_paths, out_path, methods, lambda runs: {
        "summary": summarise(runs), "stopping": summarise_stopping(runs)})
    print_table(data["summary"])
    print(f"json: {out_path}")
    return data["summary"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recordings", default=str(default_recordings_path()))
    p.add_argument("--task", default="trec")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--strategies", nargs="+", default=["random", "entropy", "coreset"])
    p.add_argument("--methods", nargs="+", default=None,
                   help="default: oracle, each single LLM, and " + ", ".join(METHODS[1:]))
    p.add_argument("--classifier", choices=["mlp", "logreg", "finetune"], default="mlp")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--rounds", type=int, default=9)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--seed-size", type=int, default=50)
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--pool-size", type=int, default=None)
    p.add_argument("--output", default=str(REPO / "benchmarks" / "results" /
                                           "active_learning.json"))
    p.add_argument("--plot", default=None, help="PNG path (default: next to --output)")
    p.add_argument("--embed-cache", default=str(REPO / "benchmarks" / "results" / "embeddings"))
    p.add_argument("--threads", type=int, default=1,
                   help="torch and BLAS threads (more BLAS threads than free cores makes "
                        "the mixture's solver spin rather than speed up)")
    p.add_argument("--replot", metavar="JSON", default=None,
                   help="only redraw the figure of a finished run from its JSON")
    p.add_argument("--jobs", type=int, default=1,
                   help="runs in parallel processes (each with --threads threads)")
    p.add_argument("--final-only", action="store_true",
                   help="evaluate on the test split only after the last round (no learning "
                        "curve; saves a test-set pass per round, e.g. when fine-tuning)")
    p.add_argument("--warmup", default=None,
                   help="fine-tuning: warm-up share of the learning-rate schedule, or 'none' "
                        "for a constant rate (default: the classifier's)")
    p.add_argument("--train-once", action="store_true",
                   help="with --final-only and random queries: rounds with a stand-in "
                        "classifier, then --classifier trained once on the final targets "
                        "(the same final model; see the module docstring)")
    p.add_argument("--merge", metavar="JSON", nargs="+", default=None,
                   help="only merge the runs of finished JSONs into --output (no run; "
                        "with --methods, only those methods' runs)")
    args = p.parse_args(argv)
    if args.merge:
        return merge(args.merge, Path(args.output), args.methods)
    if args.replot:
        return replot(Path(args.replot), args.plot)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("skmollal").setLevel(logging.WARNING)
    import torch

    torch.set_num_threads(args.threads)  # the embedding pass; each run sets its own limits
    from skmollal.datasets import load_recordings

    rec = load_recordings(args.recordings, args.task)
    methods = args.methods or (["oracle"] + [f"llm:{n}" for n in rec.annotator_names]
                               + METHODS[1:])
    E = None if args.classifier == "finetune" else embed_all(rec.texts, args.embed_cache)
    out_path = Path(args.output)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    from joblib import Parallel, delayed

    jobs = [(seed, strategy, method) for seed in args.seeds for strategy in args.strategies
            for method in methods]
    runs = []
    # one process per job, each with --threads threads; results arrive in job order and
    # the JSON is rewritten after each, so an interrupted run keeps what it finished
    results = Parallel(n_jobs=args.jobs, return_as="generator")(
        delayed(run_one_limited)(args, rec, E, *job) for job in jobs)
    for r in results:
        runs.append(r)
        logger.info("seed %d %-8s %-15s acc %.3f f1 %.3f auc %.3f (%.0f s)", r["seed"],
                    r["strategy"], r["method"], r["test_accuracy"], r["test_macro_f1"],
                    r["auc_accuracy"], r["wall_s"])
        rows = summarise(runs)
        out_path.write_text(json.dumps({"config": vars(args), "summary": rows,
                                        "stopping": summarise_stopping(runs),
                                        "runs": runs}, indent=1))
    rows = summarise(runs)
    print_table(rows, PAPER.get(args.task))
    print_stopping_table(summarise_stopping(runs))
    plot_runs(runs, args, Path(args.plot) if args.plot else out_path.with_suffix(".png"))
    print(f"json: {out_path}")
    return rows


if __name__ == "__main__":
    main()
