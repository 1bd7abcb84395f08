"""Learning from real LLM label noise on TREC: plain CE vs discrepancy weights vs negative learning.

Features are frozen all-MiniLM-L6-v2 sentence embeddings (cached on disk after the first run).
Training labels are the LLM panel's majority vote (argmax of the summed vote shares of the five
recorded LLMs), i.e. real annotation noise; the gold labels are used only to score the held-out
rows (and for the ``gold`` upper-bound row).

Variants (same network, same hyper-parameters, fixed before looking at any result):

* ``ce``: cross-entropy on the majority-vote labels;
* ``disc``: + annotation-discrepancy weights: each training row gets weight 0.5 when a classifier
  trained on the *other* folds (plain CE on majority-vote labels, cross-fitted, so no row is
  predicted by a model that saw its own noisy label) disagrees with its majority-vote label;
* ``nl``: + negative learning on classes whose mean LLM probability is <= 0.001;
* ``both``: discrepancy weights and negative learning;
* ``gold``: cross-entropy on the gold labels (upper bound).

For each seed, 20% of the questions are held out (random split, seeded) and every variant is
scored on them. Prints a table and writes JSON (``--out``).

Quick run::

    python benchmarks/noisy_labels.py --seeds 0 --max-epochs 5 --max-rows 1500

Full run::

    python benchmarks/noisy_labels.py
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]

from skmollal.datasets import default_recordings_path  # noqa: E402

DEFAULT_RECORDINGS = default_recordings_path()
RESULTS = REPO / "benchmarks" / "results"
VARIANTS = ("ce", "disc", "nl", "both", "gold")

logger = logging.getLogger("noisy_labels")


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--recordings", type=Path, default=DEFAULT_RECORDINGS,
                    help="folder with trec_<llm>.json (default: %(default)s)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--test-size", type=float, default=0.2)
    ap.add_argument("--max-rows", type=int, default=None,
                    help="use a random subset of this many questions (quick runs)")
    ap.add_argument("--train-sizes", nargs="+", default=["500", "all"],
                    help="training-set sizes: random subsets of the 80%% training split "
                         "('all' = the whole split; 500 is the paper's labelling budget)")
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--hidden-units", type=int, nargs="*", default=[256])
    ap.add_argument("--nl-weight", type=float, default=0.4,
                    help="negative-learning weight (the schedule's round-0 value)")
    ap.add_argument("--discrepancy-weight", type=float, default=0.5)
    ap.add_argument("--threshold", type=float, default=0.001,
                    help="negative label when the mean LLM probability is <= this")
    ap.add_argument("--cv-folds", type=int, default=5,
                    help="folds for the cross-fitted predictions behind discrepancy weights")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    ap.add_argument("--cache-dir", type=Path, default=RESULTS / "embedding_cache",
                    help="on-disk embedding cache (default: %(default)s)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, default=RESULTS / "noisy_labels.json")
    return ap.parse_args(argv)


def make_classifier(args, seed: int):
    from skmollal.negative_learning import NegativeLearningClassifier

    return NegativeLearningClassifier(
        max_epochs=args.max_epochs, lr=args.lr, batch_size=args.batch_size,
        module__hidden_units=tuple(args.hidden_units), nl_weight=args.nl_weight,
        device=args.device, random_state=seed,
    )


def cross_fitted_proba(args, X, y, seed: int, n_classes: int) -> np.ndarray:
    """Out-of-fold class probabilities of plain-CE models trained on the noisy labels."""
    from sklearn.model_selection import StratifiedKFold

    proba = np.zeros((len(y), n_classes))
    folds = StratifiedKFold(args.cv_folds, shuffle=True, random_state=seed)
    for k, (fit_rows, out_rows) in enumerate(folds.split(X, y)):
        clf = make_classifier(args, seed * 100 + k)
        clf.set_params(classes=np.arange(n_classes))
        clf.fit(X[fit_rows], y[fit_rows])
        proba[out_rows] = clf.predict_proba(X[out_rows])
    return proba


def run_one(args, X, gold, majority, neg_mask, train, test, seed, n_classes, size) -> dict:
    """Train every variant on rows ``train`` (noisy labels), score on ``test`` (gold)."""
    from sklearn.metrics import accuracy_score, f1_score

    from skmollal.label_noise import discrepancy_weights

    Xtr, Xte = X[train], X[test]
    y_noisy, y_gold, m_tr = majority[train], gold[train], neg_mask[train]
    weights = None
    info = {"seed": seed, "train_size": size, "n_train": int(len(train)),
            "n_test": int(len(test)), "train_label_noise": float(np.mean(y_noisy != y_gold))}
    if {"disc", "both"} & set(args.variants):
        t = time.perf_counter()
        oof = cross_fitted_proba(args, Xtr, y_noisy, seed, n_classes)
        weights = discrepancy_weights(oof, y_noisy, weight=args.discrepancy_weight)
        down = weights < 1
        info.update({
            "crossfit_seconds": time.perf_counter() - t,
            "downweighted_fraction": float(down.mean()),
            # diagnostics only (gold never feeds back into training):
            "noise_rate_downweighted": float(np.mean(y_noisy[down] != y_gold[down]))
            if down.any() else None,
            "noise_rate_kept": float(np.mean(y_noisy[~down] != y_gold[~down])),
        })
    results = {}
    for variant in args.variants:
        t = time.perf_counter()
        clf = make_classifier(args, seed)
        clf.set_params(classes=np.arange(n_classes))
        if variant == "gold":
            clf.fit(Xtr, y_gold)
        else:
            clf.fit(
                Xtr, y_noisy,
                sample_weight=weights if variant in ("disc", "both") else None,
                negative_mask=m_tr if variant in ("nl", "both") else None,
            )
        pred = clf.predict(Xte)
        if variant == "ce":  # how much room is there for negative learning at all?
            m_te = neg_mask[test]
            wrong = pred != gold[test]
            info["ce_train_mean_p_on_negatives"] = float(clf.predict_proba(Xtr)[m_tr].mean())
            info["ce_test_errors"] = int(wrong.sum())
            info["ce_test_errors_on_a_negative_label"] = int(m_te[wrong, pred[wrong]].sum())
        results[variant] = {
            "accuracy": float(accuracy_score(gold[test], pred)),
            "macro_f1": float(f1_score(gold[test], pred, average="macro")),
            "fit_seconds": time.perf_counter() - t,
        }
        logger.info("seed %d n_train %s %-5s acc %.4f", seed, size, variant,
                    results[variant]["accuracy"])
    info["results"] = results
    return info


def run(args) -> dict:
    import torch
    from sklearn.model_selection import train_test_split

    from skmollal.datasets import load_recordings
    from skmollal.featurizers import SentenceEmbedder
    from skmollal.label_noise import negative_labels

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    data = load_recordings(args.recordings, "trec")
    texts, gold, signals = list(data.texts), np.asarray(data.target), data.signals
    n_all = len(texts)
    rows = np.arange(n_all)
    if args.max_rows is not None and args.max_rows < n_all:
        rows = np.sort(np.random.default_rng(12345).choice(n_all, args.max_rows, replace=False))
    texts = [texts[i] for i in rows]
    gold, signals = gold[rows], signals[rows]
    n_classes = signals.shape[-1]

    t_emb = time.perf_counter()
    X = SentenceEmbedder(cache_dir=args.cache_dir).fit_transform(texts)
    t_emb = time.perf_counter() - t_emb

    majority = signals[:, :, 1].sum(axis=1).argmax(axis=1)  # summed vote shares
    mean_probs = signals[:, :, 0].mean(axis=1)
    neg_mask = negative_labels(mean_probs, threshold=args.threshold)
    label_stats = {
        "n_rows": int(len(rows)),
        "majority_vote_accuracy": float(np.mean(majority == gold)),
        "rows_with_negative_labels": int(neg_mask.any(axis=1).sum()),
        "negative_labels_per_row": float(neg_mask.sum(axis=1).mean()),
        "negative_label_precision": float(1 - neg_mask[np.arange(len(gold)), gold].sum()
                                          / max(neg_mask.sum(), 1)),
        "majority_label_in_negatives": int(neg_mask[np.arange(len(gold)), majority].sum()),
    }

    sizes = [None if str(size).lower() == "all" else int(size) for size in args.train_sizes]
    per_seed = []
    for seed in args.seeds:
        train_all, test = train_test_split(np.arange(len(gold)), test_size=args.test_size,
                                           random_state=seed, stratify=gold)
        for size in sizes:
            train = train_all
            if size is not None and size < len(train_all):
                rng = np.random.default_rng(seed)
                train = np.sort(rng.choice(train_all, size, replace=False))
            per_seed.append(run_one(args, X, gold, majority, neg_mask, train, test, seed,
                                    n_classes, "all" if size is None else str(size)))

    summary: dict[str, dict] = {}
    for size in dict.fromkeys(s["train_size"] for s in per_seed):
        runs = [s for s in per_seed if s["train_size"] == size]
        summary[size] = {}
        for variant in args.variants:
            accs = np.array([s["results"][variant]["accuracy"] for s in runs])
            f1s = np.array([s["results"][variant]["macro_f1"] for s in runs])
            row = {
                "accuracy_mean": float(accs.mean()), "accuracy_std": float(accs.std(ddof=0)),
                "macro_f1_mean": float(f1s.mean()), "macro_f1_std": float(f1s.std(ddof=0)),
                "accuracy_per_seed": accs.tolist(),
            }
            if variant != "ce" and "ce" in args.variants:
                ce = np.array([s["results"]["ce"]["accuracy"] for s in runs])
                row["wins_vs_ce"] = int(np.sum(accs > ce))
                row["ties_vs_ce"] = int(np.sum(accs == ce))
                row["mean_gain_vs_ce"] = float(np.mean(accs - ce))
            summary[size][variant] = row
    return {
        "benchmark": "noisy_labels",
        "task": "trec",
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "label_stats": label_stats,
        "embedding_seconds": t_emb,
        "total_seconds": time.perf_counter() - t0,
        "summary": summary,
        "per_seed": per_seed,
        "environment": {"python": platform.python_version(), "torch": torch.__version__,
                        "torch_threads": torch.get_num_threads()},
    }


def format_table(result: dict) -> str:
    seeds = sorted({s["seed"] for s in result["per_seed"]})
    lines = [
        f"TREC, MiniLM embeddings + MLP; trained on the LLM majority vote (label accuracy "
        f"{result['label_stats']['majority_vote_accuracy']:.3f}); held-out gold accuracy, "
        f"seeds {seeds}",
        f"{'n_train':<8}{'variant':<8}{'accuracy':>18}{'macro-F1':>18}  {'vs ce':>12}"
        f"   per-seed accuracy",
    ]
    for size, rows in result["summary"].items():
        for variant, s in rows.items():
            per = " ".join(f"{a:.4f}" for a in s["accuracy_per_seed"])
            gain = (f"{s['mean_gain_vs_ce']:+.4f} {s['wins_vs_ce']}/{len(seeds)}"
                    if "mean_gain_vs_ce" in s else "")
            lines.append(
                f"{size:<8}{variant:<8}{s['accuracy_mean']:>11.4f} ± {s['accuracy_std']:.4f}"
                f"{s['macro_f1_mean']:>11.4f} ± {s['macro_f1_std']:.4f}  {gain:>12}   {per}"
            )
    return "\n".join(lines)


def main(argv=None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    args = parse_args(argv)
    result = run(args)
    print(format_table(result))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
