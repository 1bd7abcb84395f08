"""Human review at equal human labels: which rows should a person label?

For every seed the TREC questions are split as in ``benchmarks/active_learning.py`` (20 %
held out; a 50-question gold seed; the rest is the pool), and MoLLIA runs with the recorded
LLM panel, random query sampling and the MLP on frozen MiniLM embeddings, ``--rounds``
rounds of ``--batch``. The arms differ only in where ``--extra`` more human labels go:

================ ===========================================================================
none             no extra label (the reference MoLLIA run)
extra_seed       the extra gold rows in the seed from the start (a seed of 50 + extra)
random           ``review_size`` annotated rows per round at random (random extra gold)
least_confident  the annotated rows with the lowest fused confidence
panel_split      the annotated rows on which the LLMs split most
================ ===========================================================================

The person is simulated by the recorded gold label (``MoLLIALoop(oracle=...)``), and the
review arms ask ``extra / rounds`` rows per round. Reported per arm (means over seeds):

* ``test_accuracy``: the final classifier on the held-out questions;
* ``mixture_heldout_accuracy``: the final mixture applied to the held-out questions'
  recorded signals (rows it never saw);
* ``pool_accuracy_unreviewed``: the final mixture's labels of the annotated pool rows that
  the run did not send to review (each arm excludes its own reviewed rows, so the
  least-confident arm leaves out the hardest rows: biased upwards);
* ``pool_accuracy_common``: the same on the annotated rows no arm of that seed reviewed (and
  that every arm annotated): the fair pool comparison;
* ``train_label_accuracy``: the labels the classifier was trained on for the pool rows (a
  person's answer where there is one, else the mixture's).

Gold labels other than the seed and the simulated person's answers are read only to report.

Usage::

    PYTHONPATH=$PWD .venv/bin/python benchmarks/human_review.py --seeds 0 1 2 3 4
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np

from active_learning import REPO, embed_all, method_setup  # benchmarks/active_learning.py
from skmollal.active_learning.routing import full_proba
from skmollal.datasets import default_recordings_path
from skmollal.experiment import make_classifier, make_loop, split_rows, training_labels

logger = logging.getLogger("benchmarks.human_review")

ARMS = ["none", "extra_seed", "random", "least_confident", "panel_split"]
METRICS = ("test_accuracy", "mixture_heldout_accuracy", "pool_accuracy_unreviewed",
           "pool_accuracy_common", "train_label_accuracy")


class GoldPerson:
    """The simulated person: answers every row asked with its gold label."""

    def __init__(self, y):
        self.y = np.asarray(y)
        self.asked = 0

    def __call__(self, texts, rows, info):
        self.asked += len(rows)
        return self.y[rows]


def run_one(args, rec, E, seed, arm):
    """One MoLLIA run of ``arm``; the per-row facts the summary needs."""
    from sklearn.metrics import accuracy_score

    seed_size = args.seed_size + (args.extra if arm == "extra_seed" else 0)
    seed_idx, pool_idx, test_idx = split_rows(len(rec.target), seed_size, args.test_size,
                                              None, seed)
    train, y = training_labels(rec.target, seed_idx, pool_idx)
    gold = rec.target[train]
    # the paper's method: discrepancy weights and negative labels (what the results ran)
    panel, mixture, settings = method_setup("mollia-ref", rec, rec.annotator_names)
    review = {}
    if arm in ("random", "least_confident", "panel_split"):
        review = dict(oracle=GoldPerson(gold), review_size=args.extra // args.rounds,
                      review_strategy=arm)
    loop = make_loop(make_classifier("mlp", seed, None), panel, E[train], y,
                     texts=[rec.texts[i] for i in train], mixture=mixture, strategy="random",
                     batch_size=args.batch, **settings, random_state=seed, **review)
    t0 = time.perf_counter()
    loop.run(args.rounds)
    state, n_classes = loop.state, len(rec.target_names)
    pool_rows = state.pool_rows()
    fused = full_proba(loop.mixture_, state.signals[pool_rows], n_classes).argmax(axis=1)
    human = state.human_y[pool_rows]
    trained_on = np.where(human >= 0, human, fused)
    reviewed = state.review_round[pool_rows] >= 0
    heldout = full_proba(loop.mixture_, rec.signals[test_idx], n_classes).argmax(axis=1)
    y_test = rec.target[test_idx]
    return {
        "seed": seed, "arm": arm,
        "test_accuracy": float(accuracy_score(y_test, loop.learner.predict(E[test_idx]))),
        "mixture_heldout_accuracy": float((heldout == y_test).mean()),
        "pool_accuracy_unreviewed": float((fused == gold[pool_rows])[~reviewed].mean()),
        "train_label_accuracy": float((trained_on == gold[pool_rows]).mean()),
        "n_human_labels": int(loop.history[-1]["n_gold"]),
        "n_reviewed": int(reviewed.sum()),
        "llm_calls": loop.llm_calls,
        "wall_s": time.perf_counter() - t0,
        # per annotated pool row, as rows of the recordings (for the common-rows accuracy)
        "pool": [int(i) for i in train[pool_rows]],
        "pool_correct": [bool(c) for c in fused == gold[pool_rows]],
        "reviewed": [int(i) for i in train[pool_rows[reviewed]]],
    }


def add_common_accuracy(runs):
    """``pool_accuracy_common``: per seed, on the rows every arm annotated and none reviewed.

    Not for ``extra_seed``: its pool differs (the extra seed rows leave it), so random
    sampling queries other rows.
    """
    for seed in {r["seed"] for r in runs}:
        same = [r for r in runs if r["seed"] == seed and r["arm"] != "extra_seed"]
        common = set.intersection(*(set(r["pool"]) for r in same))
        common -= set().union(*(set(r["reviewed"]) for r in same))
        for r in same:
            ok = [c for i, c in zip(r["pool"], r["pool_correct"]) if i in common]
            r["pool_accuracy_common"] = float(np.mean(ok))
            r["n_common"] = len(ok)


#: arms the others are paired with: no extra label, and random extra gold
BASELINES = ("none", "random")


def summarise(runs, arms):
    """Mean and sd over seeds per arm, and paired differences against each of
    :data:`BASELINES` (``KEY_vs_BASE``: mean difference; ``KEY_wins_vs_BASE``: seeds better)."""
    rows = []
    for arm in arms:
        rs = [r for r in runs if r["arm"] == arm]
        if not rs:
            continue
        row = {"arm": arm, "n_seeds": len(rs),
               "n_human_labels": float(np.mean([r["n_human_labels"] for r in rs]))}
        for key in METRICS:
            vals = np.asarray([r[key] for r in rs if key in r])
            if not len(vals):
                continue
            row[key] = float(vals.mean())
            row[key + "_sd"] = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
            for name in BASELINES:
                base = {r["seed"]: r[key] for r in runs if r["arm"] == name and key in r}
                diff = np.asarray([r[key] - base[r["seed"]] for r in rs
                                   if key in r and r["seed"] in base])
                if len(diff) and arm != name:
                    row[f"{key}_vs_{name}"] = float(diff.mean())
                    row[f"{key}_wins_vs_{name}"] = int((diff > 0).sum())
        rows.append(row)
    return rows


def print_table(rows):
    head = (f"{'arm':<16} {'seeds':>5} {'gold':>5} {'test acc':>15} {'mixture held-out':>17} "
            f"{'pool unreviewed':>16} {'pool common':>15} {'train labels':>13}")
    print(head)
    print("-" * len(head))
    for r in rows:
        cells = [f"{r[k]:.4f}±{r[k + '_sd']:.4f}" if k in r else "-" for k in METRICS]
        print(f"{r['arm']:<16} {r['n_seeds']:>5} {r['n_human_labels']:>5.0f} {cells[0]:>15} "
              f"{cells[1]:>17} {cells[2]:>16} {cells[3]:>15} {cells[4]:>13}")
    for name in BASELINES:
        print(f"\npaired difference against {name!r} (mean over seeds; seeds better)")
        print(f"{'arm':<16} " + " ".join(f"{k[:24]:>26}" for k in METRICS))
        for r in rows:
            if r["arm"] == name:
                continue
            print(f"{r['arm']:<16} " + " ".join(
                f"{r[f'{k}_vs_{name}']:>+19.4f} ({r[f'{k}_wins_vs_{name}']}/{r['n_seeds']})"
                if f"{k}_vs_{name}" in r else f"{'-':>26}" for k in METRICS))


def resummarise(path: Path) -> None:
    """Recompute and print the summary of a finished run from its JSON (no run)."""
    data = json.loads(path.read_text())
    data["summary"] = summarise(data["runs"], data["config"]["arms"])
    path.write_text(json.dumps(data, indent=1))
    print_table(data["summary"])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--recordings", default=str(default_recordings_path()))
    p.add_argument("--task", default="trec")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", default=ARMS, choices=ARMS)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--batch", type=int, default=50)
    p.add_argument("--extra", type=int, default=50,
                   help="human labels beyond the seed (review arms: extra / rounds per round)")
    p.add_argument("--seed-size", type=int, default=50)
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--output", default=str(REPO / "benchmarks" / "results" /
                                           "human_review.json"))
    p.add_argument("--embed-cache", default=str(REPO / "benchmarks" / "results" / "embeddings"))
    p.add_argument("--summarise", metavar="JSON", default=None,
                   help="only recompute the summary of a finished run from its JSON")
    args = p.parse_args(argv)
    if args.summarise:
        return resummarise(Path(args.summarise))
    if args.extra % args.rounds:
        p.error("--extra must be a multiple of --rounds (the same rows per round)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("skmollal").setLevel(logging.WARNING)
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)  # more BLAS threads than free cores make the mixture's solver spin
    from skmollal.datasets import load_recordings

    rec = load_recordings(args.recordings, args.task)
    E = embed_all(rec.texts, args.embed_cache)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    runs = []
    for seed in args.seeds:
        for arm in args.arms:
            r = run_one(args, rec, E, seed, arm)
            runs.append(r)
            logger.info("seed %d %-16s test %.4f mixture held-out %.4f pool %.4f (%.0f s)",
                        seed, arm, r["test_accuracy"], r["mixture_heldout_accuracy"],
                        r["pool_accuracy_unreviewed"], r["wall_s"])
            out.write_text(json.dumps({"config": vars(args), "runs": runs}, indent=1))
    add_common_accuracy(runs)
    rows = summarise(runs, args.arms)
    config = {**vars(args), "review_size": args.extra // args.rounds}
    for r in runs:  # the per-row lists are only needed for the common-rows accuracy
        for key in ("pool", "pool_correct", "reviewed"):
            r.pop(key)
    out.write_text(json.dumps({"config": config, "machine": "2-core CPU shared with other "
                               "jobs, no GPU", "summary": rows, "runs": runs}, indent=1))
    print_table(rows)
    print(f"json: {out} (for the docs page: cp {out} docs/benchmarks/results/)")
    return rows


if __name__ == "__main__":
    main()
