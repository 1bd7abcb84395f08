"""``skmollal demo`` over several seeds: held-out accuracy per round, beside majority vote.

Runs the live demo's settings (the CLI's ``DEMO_DEFAULTS``: the embedded SmolLM2 panel on
the 180 demo questions, a 24-question gold seed, 20 % held out, 3 rounds of 16, seed
demonstrations, the two-view mixture) once per ``--seeds`` value, with the loop on the
panel's majority vote beside it (the same texts and cached answers, the same classifier).
Options override single settings, e.g. ``--examples none`` for the panel's fixed prompts.
Each seed's run folder keeps its annotation cache, so a re-run pays for no LLM call.

Usage::

    python benchmarks/live_demo.py                      # seeds 0 1 2
    python benchmarks/live_demo.py --seeds 0 --examples none --mixture molam   # before
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from live_prompts import run_record, write_record  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    from skmollal.cli import DEMO_DEFAULTS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--examples", default="nearest:4", help="a spec, or none")
    parser.add_argument("--mixture", default="two-view")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=REPO / "benchmarks" / "results" / "live_demo")
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "live_demo.json")
    args = parser.parse_args(argv)

    import torch

    from skmollal.experiment import run_experiment

    torch.set_num_threads(args.threads)
    examples = None if args.examples == "none" else args.examples
    tag = f"{args.examples.replace(':', '')}-{args.mixture}"
    rows = []
    for seed in args.seeds:
        settings = {**DEMO_DEFAULTS, "annotator": ["smollm2"], "seed": seed,
                    "examples": examples, "mixture": args.mixture, "rounds": args.rounds,
                    "no_progress": True, "output": str(args.work / f"{tag}-seed{seed}")}
        t0 = time.perf_counter()
        res = run_experiment(settings)
        majority = res["majority_vote"]
        row = {"seed": seed, "test_accuracy": res["test_accuracy"],
               "majority_test_accuracy": majority["test_accuracy"],
               "gain_vs_majority": res["test_accuracy"] - majority["test_accuracy"],
               "per_round": [h.get("val_accuracy") for h in res["history"]],
               "majority_per_round": [h["val_accuracy"] for h in majority["history"]],
               "label_accuracy": [h.get("mixture_label_accuracy") for h in res["history"][1:]],
               "llm_calls_paid": res["llm_calls_paid"],
               "majority_llm_calls_paid": majority["llm_calls_paid"],
               "n_test": res["n_test"], "wall_s": time.perf_counter() - t0}
        rows.append(row)
        print(f"seed {seed}: test {row['test_accuracy']:.3f} (rounds "
              f"{', '.join(f'{a:.3f}' for a in row['per_round'])}), majority vote "
              f"{row['majority_test_accuracy']:.3f}, {row['wall_s']:.0f} s", flush=True)
    acc = np.array([r["test_accuracy"] for r in rows])
    maj = np.array([r["majority_test_accuracy"] for r in rows])
    per_round = np.array([r["per_round"] for r in rows], dtype=float)
    summary = [{"examples": args.examples, "mixture": args.mixture,
                "seeds": len(rows), "test_accuracy_mean": float(acc.mean()),
                "test_accuracy_min": float(acc.min()),
                "majority_test_accuracy_mean": float(maj.mean()),
                "gain_vs_majority_mean": float((acc - maj).mean()),
                "round0_accuracy_mean": float(per_round[:, 0].mean()),
                "wall_s_mean": float(np.mean([r["wall_s"] for r in rows]))}]
    results = {**run_record(args, args.threads, "shared with other jobs: wall times are "
                                                 "upper bounds"), "rows": rows,
               "summary": summary}
    return write_record(args.out, results)


if __name__ == "__main__":
    main()
