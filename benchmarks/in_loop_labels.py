"""Label accuracy of fusions fitted the way the loop fits them: on the rows annotated so far.

In :class:`~skmollal.active_learning.MoLLIALoop` the mixture sees only the gold seed and the
rows annotated so far, not the whole pool. With random sampling which rows those are does not
depend on the classifier, so the labels' accuracy can be measured without training one: for
every task, seed and panel (all five LLMs, and three-LLM panels), 50 gold rows and the first
``n`` rows of a random order of the pool are fused, and the fused labels of those ``n`` rows
are scored against gold (read only to score). Fusions:

* ``mixture``: :class:`~skmollal.aggregation.MixtureAggregator` (the loop's default);
* ``majority``, ``dawid_skene``: majority vote and Dawid-Skene on the same rows;
* ``selector``: :class:`~skmollal.experimental.FusionSelector` choosing among the mixture,
  Dawid-Skene and majority vote by gold-row CV (one-SE rule);
* ``blend``: the argmax of the mixture's posterior plus majority vote's vote shares (a shrink
  of the mixture toward majority vote);
* ``anchored``: :class:`~skmollal.experimental.VoteAnchoredMixture`, the mixture and majority
  vote's smoothed vote shares weighed as two views by the gold rows' out-of-fold log loss.

Each fusion's labels are compared with majority vote's on the same rows, row by row: the
summary counts the cases below majority vote, the worst difference, and the cases below it
by more than sampling noise (an exact McNemar test on the rows where the two disagree,
two-sided p < 0.05).

Usage::

    .venv/bin/python benchmarks/in_loop_labels.py --tasks imdb trec --seeds 0 1 2
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from skmollal import aggregation as A  # noqa: E402
from skmollal import experimental  # noqa: E402
from skmollal.datasets import default_recordings_path, load_recordings  # noqa: E402
from skmollal.experiment import split_rows  # noqa: E402

FUSIONS = ("mixture", "majority", "dawid_skene", "selector", "blend", "anchored")


def task_signals(recordings: str, task: str):
    """Signals (n, L, 2, C) of every row of ``task`` and its gold labels."""
    rec = load_recordings(recordings, task)
    if getattr(rec, "signals", None) is not None:
        return rec.signals, rec.target
    from skmollal.annotators.panel import annotate_signals
    from skmollal.annotators.recorded import RecordedAnnotator

    panel = [RecordedAnnotator(rec, name) for name in rec.annotator_names]
    return annotate_signals(panel, list(rec.texts)), rec.target


def fused_accuracy(S_fit, y_fit, S_rows, gold) -> dict:
    """Accuracy on ``S_rows`` of each fusion of :data:`FUSIONS` fitted on ``S_fit``."""
    selector = experimental.FusionSelector(candidates=[("mixture", A.MixtureAggregator()),
                                                       ("dawid_skene", A.DawidSkene()),
                                                       ("majority", A.MajorityVote())])
    proba = {}
    for name, fusion in (("mixture", A.MixtureAggregator()), ("majority", A.MajorityVote()),
                         ("dawid_skene", A.DawidSkene()), ("selector", selector)):
        proba[name] = fusion.fit(S_fit, y_fit).predict_proba(S_rows)
    proba["blend"] = proba["mixture"] + proba["majority"]
    anchored = experimental.VoteAnchoredMixture().fit(S_fit, y_fit)
    proba["anchored"] = anchored.predict_proba(S_rows)
    right = {name: p.argmax(axis=1) == gold for name, p in proba.items()}
    out = {name: float(r.mean()) for name, r in right.items()}
    for name, r in right.items():  # rows only it / only majority vote got right
        out[f"{name}_discordant"] = [int((r & ~right["majority"]).sum()),
                                     int((~r & right["majority"]).sum())]
    out["chosen"] = selector.chosen_
    out["anchored_weights"] = anchored.view_weights_.round(4).tolist()
    return out


def mcnemar_p(wins: int, losses: int) -> float:
    """Two-sided exact McNemar p-value of ``wins`` against ``losses`` discordant rows."""
    from scipy.stats import binomtest

    return float(binomtest(wins, wins + losses).pvalue) if wins + losses else 1.0


def run(recordings: str, task: str, seeds, sizes, seed_size: int) -> list[dict]:
    S_all, target = task_signals(recordings, task)
    n_llms = S_all.shape[1]
    panels = [tuple(range(n_llms))] + list(itertools.combinations(range(n_llms), 3))
    records = []
    for seed in seeds:
        seed_idx, pool_idx, _ = split_rows(len(target), seed_size, 0.2, None, seed)
        order = np.random.default_rng(seed).permutation(pool_idx)
        y_seed = target[seed_idx]
        for panel in panels:
            for n in sizes:
                rows = order[:n]
                fit_rows = np.concatenate([seed_idx, rows])
                y_fit = np.concatenate([y_seed, np.full(n, -1)])
                acc = fused_accuracy(S_all[fit_rows][:, panel], y_fit, S_all[rows][:, panel],
                                     target[rows])
                records.append({"task": task, "seed": seed, "panel": list(panel), "n": n,
                                **acc})
                print(json.dumps(records[-1]), flush=True)
    return records


def summarise(records) -> list[dict]:
    """Per (task, panel size, n): mean accuracy of each fusion, how often (and by how much
    at worst) it fell below majority vote, and how often significantly (McNemar)."""
    groups = {}
    for r in records:
        groups.setdefault((r["task"], len(r["panel"]), r["n"]), []).append(r)
    rows = []
    for (task, size, n), rs in sorted(groups.items()):
        row = {"task": task, "n_llms": size, "n_annotated": n, "n_cases": len(rs)}
        for name in FUSIONS:
            diff = np.array([r[name] - r["majority"] for r in rs])
            row[name] = float(np.mean([r[name] for r in rs]))
            row[f"{name}_below_majority"] = int((diff < 0).sum())
            row[f"{name}_worst_vs_majority"] = float(diff.min())
            row[f"{name}_significantly_below"] = int(sum(
                d < 0 and mcnemar_p(*r[f"{name}_discordant"]) < 0.05
                for d, r in zip(diff, rs) if f"{name}_discordant" in r))
        rows.append(row)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recordings", default=str(default_recordings_path()))
    p.add_argument("--tasks", nargs="+", default=["imdb", "trec"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--sizes", type=int, nargs="+", default=[100, 450],
                   help="annotated rows (the loop's rounds x batch)")
    p.add_argument("--seed-size", type=int, default=50)
    p.add_argument("--output", default=str(REPO / "benchmarks" / "results" /
                                           "in_loop_labels.json"))
    args = p.parse_args(argv)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        records = [r for task in args.tasks
                   for r in run(args.recordings, task, args.seeds, args.sizes, args.seed_size)]
    rows = summarise(records)
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"config": vars(args), "summary": rows,
                                             "records": records}, indent=1))
    for r in rows:
        print(r["task"], r["n_llms"], r["n_annotated"], r["n_cases"],
              " ".join(f"{f}={r[f]:.3f} (below {r[f + '_below_majority']}, worst "
                       f"{r[f + '_worst_vs_majority']:+.3f})" for f in FUSIONS))
    print(f"json: {args.output}")
    return rows


if __name__ == "__main__":
    main()
