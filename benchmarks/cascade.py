"""Cascade annotation: held-out label accuracy against LLM calls per text.

For every task and seed, 20 % of the rows are held out (stratified); a gold seed of
``--n-gold`` rows is drawn from the rest, whose other rows are the unlabeled pool
(optionally subsampled to ``--pool-size`` rows). The LLMs are the recorded ones, replayed by
:class:`~skmollal.annotators.RecordedAnnotator`; every method annotates the seed with every
LLM (the recordings are replayed row by row). Then, judged on the held-out rows only:

* ``full_panel``: every LLM asked about every text, fused by
  :class:`~skmollal.aggregation.MixtureAggregator` fitted on seed + pool (5 calls per text);
* ``llm:NAME``: one LLM, its own answer (the majority of its sampled votes; 1 call);
* ``cascade@T``: :class:`~skmollal.cascade.CascadePanel` with threshold ``T``, fitted on seed
  + pool (which it annotates as a cascade: the order from the seed gold, the prefix
  models fitted on the rows really asked), then run on the held-out texts; its calls per
  text are counted on them. ``cascade@default`` is the panel's default threshold
  (``"auto"``: chosen per seed from the seed's gold rows, recorded as ``threshold``).

No method sees a held-out gold label; nothing is tuned on them. The pool columns report what
annotating the pool cost and how well its (transductive) labels match its hidden gold.

Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/cascade.py --seeds 5 --tasks trec imdb
"""
from __future__ import annotations

import argparse
import inspect
import json
import logging
import time
from pathlib import Path

import numpy as np
from joblib import Parallel, delayed
from sklearn.model_selection import train_test_split
from sklearn.utils import Bunch

from skmollal.aggregation import MixtureAggregator
from skmollal.annotators import RecordedAnnotator
from skmollal.annotators.panel import LLMPanel
from skmollal.cascade import CascadePanel, asked_mask
from skmollal.datasets import default_recordings_path, load_recordings

HERE = Path(__file__).resolve().parent
DEFAULT_THRESHOLD = inspect.signature(CascadePanel).parameters["threshold"].default


def threshold_arg(text):
    """A threshold on the command line: ``auto`` or a number."""
    return text if text == "auto" else float(text)


def split(y, seed, n_gold, pool_size):
    """(gold, unlabeled pool, test) row indices of one seed."""
    pool, test = train_test_split(np.arange(len(y)), test_size=0.2, random_state=seed,
                                  stratify=y)
    rng = np.random.default_rng(seed)
    gold = rng.choice(pool, size=n_gold, replace=False)
    rest = rng.permutation(np.setdiff1d(pool, gold))
    if pool_size is not None:
        rest = rest[:pool_size]
    return np.sort(gold), np.sort(rest), np.sort(test)


def by_row(rec, task):
    """The recordings with one key per row as its "text": IMDB's hold no texts, and TREC
    repeats some questions, so the annotators replay row by row."""
    return Bunch(**{**rec, "texts": [f"{task}:{i}" for i in range(len(rec.target))]})


def run_seed(rec, task, seed, args):
    """All methods on one split; one result row per method."""
    y = np.asarray(rec.target)
    texts = list(rec.texts)  # row keys (see by_row), one per recorded row
    gold, pool, test = split(y, seed, args.n_gold, args.pool_size)
    train = np.concatenate([gold, pool])
    y_train = np.concatenate([y[gold], np.full(len(pool), -1)])
    train_texts, test_texts = [texts[i] for i in train], [texts[i] for i in test]
    annotators = [RecordedAnnotator(rec, name) for name in rec.annotator_names]
    panel = LLMPanel(annotators, show_progress=False)
    L = len(annotators)
    rows = []

    def row(method, acc, calls, pool_acc=None, pool_calls=None, seconds=0.0, **extra):
        rows.append({"task": task, "seed": seed, "method": method, "accuracy": float(acc),
                     "calls_per_text": float(calls),
                     "pool_accuracy": None if pool_acc is None else float(pool_acc),
                     "pool_calls_per_text": None if pool_calls is None else float(pool_calls),
                     "seconds": float(seconds), **extra})

    t0 = time.perf_counter()
    S_train, S_test = panel.transform(train_texts), panel.transform(test_texts)
    full = MixtureAggregator().fit(S_train, y_train)
    unl = y_train < 0
    row("full_panel", (full.predict(S_test) == y[test]).mean(), L,
        (full.predict(S_train[unl]) == y[pool]).mean(), L, time.perf_counter() - t0)
    for j, name in enumerate(rec.annotator_names):
        votes = S_test[:, j, 1]
        row(f"llm:{name}", (votes.argmax(1) == y[test]).mean(), 1.0,
            (S_train[unl, j, 1].argmax(1) == y[pool]).mean(), 1.0)
    for threshold in args.thresholds:
        t0 = time.perf_counter()
        cascade = CascadePanel(annotators, threshold=threshold).fit(train_texts, y_train)
        out = cascade.cascade(test_texts)
        pool_proba = cascade.posterior(cascade.signals_[unl])
        label = "default" if threshold == DEFAULT_THRESHOLD else f"{threshold:g}"
        row(f"cascade@{label}", (out.proba.argmax(1) == y[test]).mean(), out.n_asked.mean(),
            (pool_proba.argmax(1) == y[pool]).mean(),
            asked_mask(cascade.signals_[unl]).sum(1).mean(), time.perf_counter() - t0,
            threshold=float(cascade.threshold_),
            order=[rec.annotator_names[j] for j in cascade.order_])
    logging.info("%s seed %d done", task, seed)
    return rows


def method_key(method):
    """Table order: the full panel, single LLMs, cascades by threshold, the default last."""
    if method.startswith("cascade@"):
        t = method.split("@")[1]
        return (2, float("inf") if t == "default" else float(t), method)
    return (0 if method == "full_panel" else 1, 0.0, method)


def summarise(rows):
    groups, tasks = {}, list(dict.fromkeys(r["task"] for r in rows))
    for r in sorted(rows, key=lambda r: (tasks.index(r["task"]), method_key(r["method"]))):
        groups.setdefault((r["task"], r["method"]), []).append(r)
    out = []
    for (task, method), rs in groups.items():
        mean = {k: float(np.mean([r[k] for r in rs])) for k in
                ("accuracy", "calls_per_text", "pool_accuracy", "pool_calls_per_text")}
        extra = {"thresholds": [r["threshold"] for r in rs]} if "threshold" in rs[0] else {}
        out.append({"task": task, "method": method, "n_seeds": len(rs), **extra,
                    "accuracy_mean": mean["accuracy"],
                    "accuracy_std": float(np.std([r["accuracy"] for r in rs])),
                    "calls_per_text_mean": mean["calls_per_text"],
                    "pool_accuracy_mean": mean["pool_accuracy"],
                    "pool_calls_per_text_mean": mean["pool_calls_per_text"]})
    return out


def paired_differences(rows, task, method, reference):
    """Held-out accuracy of ``method`` minus that of ``reference``, seed by seed."""
    acc = {(r["method"], r["seed"]): r["accuracy"] for r in rows if r["task"] == task}
    return [acc[(method, s)] - acc[(reference, s)] for m, s in sorted(acc)
            if m == method and (reference, s) in acc]


def verdict(summary, rows):
    """The issue's bar, per task: the default cascade vs the full panel; and the default
    against each fixed threshold (paired over the seeds)."""
    out = {}
    for task in sorted({s["task"] for s in summary}):
        by = {s["method"]: s for s in summary if s["task"] == task}
        if "cascade@default" not in by:
            continue
        full, casc = by["full_panel"], by["cascade@default"]
        diffs = paired_differences(rows, task, "cascade@default", "full_panel")
        versus = {}
        for method in by:
            if method.startswith("cascade@") and method != "cascade@default":
                d = paired_differences(rows, task, "cascade@default", method)
                versus[method] = {"mean": float(np.mean(d)), "sd": float(np.std(d, ddof=1))}
        out[task] = {
            "accuracy_difference_mean": float(np.mean(diffs)),
            "accuracy_difference_sd": float(np.std(diffs, ddof=1)) if len(diffs) > 1 else 0.0,
            "default_minus_fixed": versus,
            "seeds_cascade_at_least_full": int(sum(d >= 0 for d in diffs)),
            "call_ratio": casc["calls_per_text_mean"] / full["calls_per_text_mean"],
            "bar_met": bool(casc["accuracy_mean"] >= full["accuracy_mean"]
                            and casc["calls_per_text_mean"] <= full["calls_per_text_mean"] / 2),
        }
    return out


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({s["task"] for s in summary})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ss = [s for s in summary if s["task"] == task]
        single = [s for s in ss if s["method"].startswith("llm:")]
        casc = sorted([s for s in ss if s["method"].startswith("cascade@")
                       and s["method"] != "cascade@default"],
                      key=lambda s: s["calls_per_text_mean"])
        default = [s for s in ss if s["method"] == "cascade@default"]
        full = [s for s in ss if s["method"] == "full_panel"]
        ax.scatter([s["calls_per_text_mean"] for s in single],
                   [s["accuracy_mean"] for s in single], color="tab:gray", label="single LLM")
        for s in single:
            ax.annotate(s["method"][4:], (s["calls_per_text_mean"], s["accuracy_mean"]),
                        textcoords="offset points", xytext=(4, -10), fontsize=8)
        ax.plot([s["calls_per_text_mean"] for s in casc], [s["accuracy_mean"] for s in casc],
                "o-", color="tab:red", label="cascade (thresholds)")
        for s in casc:
            ax.annotate(s["method"].split("@")[1], (s["calls_per_text_mean"],
                                                    s["accuracy_mean"]),
                        textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.errorbar([s["calls_per_text_mean"] for s in default],
                    [s["accuracy_mean"] for s in default],
                    yerr=[s["accuracy_std"] for s in default], fmt="*", markersize=12,
                    color="tab:green", label=f"cascade default ({DEFAULT_THRESHOLD})")
        ax.errorbar([s["calls_per_text_mean"] for s in full], [s["accuracy_mean"] for s in full],
                    yerr=[s["accuracy_std"] for s in full], fmt="s", color="tab:blue",
                    label="full panel (mixture)")
        ax.set_xlabel("LLM calls per held-out text")
        ax.set_ylabel("held-out label accuracy")
        ax.set_title(f"{task}: cost-accuracy frontier")
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", nargs="+", default=["trec", "imdb"])
    ap.add_argument("--recordings", default=str(default_recordings_path()))
    ap.add_argument("--n-gold", type=int, default=50)
    ap.add_argument("--pool-size", type=int, default=None,
                    help="subsample the unlabeled pool to this many rows")
    ap.add_argument("--thresholds", type=threshold_arg, nargs="+",
                    default=[0.6, 0.7, 0.8, 0.9, 0.95, DEFAULT_THRESHOLD],
                    help="numbers in (0, 1] or 'auto'")
    ap.add_argument("--jobs", type=int, default=1, help="seeds run in parallel (joblib)")
    ap.add_argument("--out", default=str(HERE / "results" / "cascade.json"))
    ap.add_argument("--add-to", default=None, metavar="RESULTS",
                    help="a results file of this script whose runs are kept, except those this "
                         "run redoes (same task, seed and method)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    recs = {task: by_row(load_recordings(args.recordings, task), task) for task in args.tasks}
    jobs = [(task, seed) for task in args.tasks for seed in range(args.seeds)]
    done = Parallel(n_jobs=args.jobs)(delayed(run_seed)(recs[task], task, seed, args)
                                      for task, seed in jobs)
    rows = [r for part in done for r in part]
    previous = None
    if args.add_to:  # keep the runs of an earlier results file that this run does not redo
        previous = json.loads(Path(args.add_to).read_text())
        redone = {(r["task"], r["seed"], r["method"]) for r in rows}
        rows = [r for r in previous["runs"]
                if (r["task"], r["seed"], r["method"]) not in redone] + rows
    summary = summarise(rows)
    print(f"{'task':6} {'method':18} {'accuracy':>15} {'calls/text':>10} "
          f"{'pool acc':>9} {'pool calls':>10}")
    for s in summary:
        print(f"{s['task']:6} {s['method']:18} {s['accuracy_mean']:8.4f} ± "
              f"{s['accuracy_std']:.3f} {s['calls_per_text_mean']:10.2f} "
              f"{s['pool_accuracy_mean']:9.4f} {s['pool_calls_per_text_mean']:10.2f}")
    bar = verdict(summary, rows)
    for task, v in bar.items():
        print(f"{task}: default cascade - full panel accuracy {v['accuracy_difference_mean']:+.4f}"
              f" ± {v['accuracy_difference_sd']:.4f} (cascade >= full on "
              f"{v['seeds_cascade_at_least_full']} seeds), calls {v['call_ratio']:.2f} of the "
              f"full panel's; bar met: {v['bar_met']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "default_threshold": DEFAULT_THRESHOLD,
                               "added_to_args": previous and previous["args"],
                               "summary": summary, "verdict": bar, "runs": rows}, indent=1))
    png = out.with_suffix(".png")
    plot(summary, png)
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
