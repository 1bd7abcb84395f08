"""Live SmolLM2-135M: the panel's fixed few-shot prompt against demonstrations from the seed.

For a question set, a gold seed is drawn at random; every other question is annotated by
the embedded SmolLM2 model (``TransformersAnnotator``, label probabilities, argmax) with

* ``fixed``: the panel's few-shot-12 prompt (twelve hand-written questions, the same for
  every text, prefilled once as a shared KV prefix);
* ``nearest`` / ``balanced`` / ``mmr``: the TREC user template with ``k`` demonstrations
  chosen per text from the seed (``SeedDemonstrations``, MiniLM cosine, nearest last,
  each example's text as ``Question: ...``); ``k = 0`` is the same template with none;
* ``knn-vote``: no LLM, the majority label of the 5 seed questions nearest the text.

Accuracy is against gold on the questions outside the seed; ``texts_per_s`` is timed in the
same process, one thread, after a warm-up text (the model loaded, the shared prefix
prefilled), and ``speed_vs_fixed`` is its ratio to the fixed prompt's in the same run.

Usage::

    python benchmarks/live_prompts.py                       # TREC sample + demo questions
    python benchmarks/live_prompts.py --trec-n 40 --ks 0 4 --selectors nearest   # quick
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from smollm2_accuracy import DEFAULT_TREC, load_trec_sample  # noqa: E402

#: User message of each demonstration's text (the text to label keeps the full template).
EXAMPLE_TEMPLATE = "Question: {text}"


def run_record(args, threads: int, note: str) -> dict:
    """The header of a result file: the command, the machine and every argument."""
    return {"command": f"python benchmarks/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:]),
            "machine": {"cpus": os.cpu_count(), "threads": threads, "gpu": None,
                        "platform": platform.machine(), "note": note},
            "config": {k: (str(v) if isinstance(v, Path) else v)
                       for k, v in vars(args).items()}}


def write_record(path: Path, results: dict) -> dict:
    """Write ``results`` as JSON to ``path`` (folders made), say so, return them."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return results


def question_sets(args) -> dict[str, tuple[list[str], np.ndarray, list[str], np.ndarray]]:
    """name -> (seed texts, seed y, evaluated texts, evaluated y)."""
    from skmollal.demo import load_demo

    sets = {}
    if args.trec_n > 0 and args.trec.exists():
        texts, y = load_trec_sample(args.trec, args.seed_n + args.trec_n, args.seed)
        sets[f"trec{args.trec_n}"] = (texts[:args.seed_n], y[:args.seed_n],
                                      texts[args.seed_n:], y[args.seed_n:])
    if args.demo_seed_n > 0:
        demo = load_demo()
        order = np.random.default_rng(args.seed).permutation(len(demo.texts))
        seed, rest = order[:args.demo_seed_n], order[args.demo_seed_n:]
        sets["demo"] = ([demo.texts[i] for i in seed], demo.target[seed],
                        [demo.texts[i] for i in rest], demo.target[rest])
    return sets


def prompt_configs(args) -> list[tuple[str, str | None, int]]:
    """(prompt, selector, k) rows to run per set."""
    rows = [("fixed few-shot-12", None, 12)]
    rows += [("seed demonstrations", "nearest", k) for k in args.ks]
    rows += [("seed demonstrations", s, args.selector_k) for s in args.selectors
             if s != "nearest" or args.selector_k not in args.ks]
    return rows


def make_task(selector: str | None, k: int, seed_texts, seed_labels):
    from skmollal.demonstrations import SeedDemonstrations
    from skmollal.annotators.smollm2 import ANSWER_LEAD, _panel_tasks
    from skmollal.annotators.task import TREC_LABELS, TREC_QUESTION_TEMPLATE, AnnotationTask

    if selector is None:
        return _panel_tasks(TREC_LABELS)[3]  # few-shot-12
    demos = None
    if k > 0:
        demos = SeedDemonstrations(k=k, selector=selector)
        demos.set_pool(seed_texts, seed_labels)
    return AnnotationTask(TREC_LABELS, "", (), name=f"{selector}-{k}",
                          text_template=TREC_QUESTION_TEMPLATE, answer_lead=ANSWER_LEAD,
                          demonstrations=demos, example_template=EXAMPLE_TEMPLATE)


def knn_vote(seed_texts, seed_y, texts, n_classes: int, k: int = 5) -> np.ndarray:
    """Majority label of the ``k`` seed texts nearest each text (MiniLM cosine)."""
    from skmollal.featurizers import SentenceEmbedder

    emb = SentenceEmbedder(show_progress_bar=False)
    A, B = emb.transform(seed_texts), emb.transform(texts)
    A /= np.linalg.norm(A, axis=1, keepdims=True)
    B /= np.linalg.norm(B, axis=1, keepdims=True)
    near = np.argsort(-(B @ A.T), axis=1)[:, :k]
    votes = np.zeros((len(texts), n_classes))
    for i, row in enumerate(near):
        for rank, j in enumerate(row):
            votes[i, seed_y[j]] += 1 + 1e-3 * (k - rank)  # ties: the nearer wins
    return votes.argmax(1)


def run_prompt(task, texts, y, batch_size: int) -> dict:
    from skmollal.annotators.smollm2 import smollm2_annotator

    annotator = smollm2_annotator(task, device="cpu", n_votes=1, batch_size=batch_size,
                                  show_progress=False)
    task.prepare(texts)  # demonstrations chosen (MiniLM) before the clock starts
    annotator.annotate(texts[:1])  # warm-up: the shared prefix is prefilled
    t0 = time.perf_counter()
    result = annotator.annotate(texts)
    secs = time.perf_counter() - t0
    tokens = [c.prompt_tokens for c in result.costs]
    return {"accuracy": float((result.probs.argmax(1) == y).mean()),
            "texts_per_s": len(texts) / secs, "prompt_tokens": float(np.mean(tokens))}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trec", type=Path, default=DEFAULT_TREC)
    parser.add_argument("--trec-n", type=int, default=150, help="TREC questions evaluated")
    parser.add_argument("--seed-n", type=int, default=50, help="TREC gold seed size")
    parser.add_argument("--demo-seed-n", type=int, default=24,
                        help="demo-question seed (the rest evaluated; 0: no demo set)")
    parser.add_argument("--ks", type=int, nargs="+", default=[0, 2, 4, 8, 12])
    parser.add_argument("--selectors", nargs="*", default=["balanced", "mmr"],
                        help="other selectors, run at --selector-k")
    parser.add_argument("--selector-k", type=int, default=4)
    parser.add_argument("--target", default="nearest:4",
                        help="the row checked against +10 points at >= half the fixed speed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--out", type=Path,
                        default=REPO / "benchmarks" / "results" / "live_prompts.json")
    args = parser.parse_args(argv)

    import torch
    from threadpoolctl import threadpool_limits

    from skmollal.annotators.smollm2 import load_smollm2
    from skmollal.annotators.task import TREC_LABELS

    torch.set_num_threads(args.threads)
    results = {**run_record(args, args.threads, "shared with other jobs: texts/s compare "
                                                 "within one run"), "rows": [], "summary": []}
    with threadpool_limits(args.threads):
        load_smollm2("cpu")
        for set_name, (seed_t, seed_y, texts, y) in question_sets(args).items():
            seed_labels = [TREC_LABELS[i] for i in seed_y]
            rows = []
            for prompt, selector, k in prompt_configs(args):
                task = make_task(selector, k, seed_t, seed_labels)
                row = {"set": set_name, "n": len(texts), "n_seed": len(seed_t),
                       "prompt": prompt, "selector": selector or "fixed", "k": k,
                       **run_prompt(task, texts, y, args.batch_size)}
                rows.append(row)
                print(f"{set_name:<8} {row['selector']:<9} k={k:<3} acc {row['accuracy']:.3f} "
                      f"{row['texts_per_s']:.2f} texts/s {row['prompt_tokens']:.0f} tokens",
                      flush=True)
            fixed = rows[0]
            for row in rows:
                row["gain_vs_fixed"] = row["accuracy"] - fixed["accuracy"]
                row["speed_vs_fixed"] = row["texts_per_s"] / fixed["texts_per_s"]
            vote = knn_vote(seed_t, seed_y, texts, len(TREC_LABELS))
            rows.append({"set": set_name, "n": len(texts), "n_seed": len(seed_t),
                         "prompt": "no LLM: majority of the 5 nearest seed texts",
                         "selector": "knn-vote", "k": 5,
                         "accuracy": float((vote == y).mean()),
                         "gain_vs_fixed": float((vote == y).mean()) - fixed["accuracy"]})
            results["rows"] += rows
            target = next(r for r in rows if f"{r['selector']}:{r['k']}" == args.target)
            results["summary"].append({
                "set": set_name, "fixed_accuracy": fixed["accuracy"], "examples": args.target,
                "accuracy": target["accuracy"], "gain": target["gain_vs_fixed"],
                "speed_vs_fixed": target["speed_vs_fixed"],
                "meets_target": bool(target["gain_vs_fixed"] >= 0.10
                                     and target["speed_vs_fixed"] >= 0.5)})
    return write_record(args.out, results)


if __name__ == "__main__":
    main()
