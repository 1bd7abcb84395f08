"""Held-out accuracy of label fusion methods on recorded LLM panels.

For every task and seed: 20% of rows are held out for evaluation; each method gets 50 gold
labels drawn from the other 80% (the rest of the 80% is unlabeled, y = -1) and is judged on
the held-out rows only. No method sees held-out gold labels; nothing is tuned on them.

Two rows are references, not methods: ``ceiling:lr_all_gold`` / ``ceiling:hgb_all_gold`` fit
a logistic regression / gradient boosting on the gold labels of *every* pool row (about 4,400
TREC or 8,000 IMDB rows instead of 50), to show how far the signals themselves can go.
``vote_anchored`` is :class:`~skmollal.aggregation.VoteAnchoredMixture` (the mixture and
majority vote weighed by the gold rows' log loss); ``--methods`` runs a subset of the rows.

Every row records its fit seconds (one thread). ``ours`` is the default mixture (its own
solver and the gold-row guard), ``ours_unguarded`` the same with ``guard=False``, and
``ours_legacy`` the mixture as it was fitted before both (scikit-learn's L-BFGS on weighted
copies of the rows, cold every round, no guard: what an explicit ``LogisticRegression``
meta-learner still gets). ``speedup`` in the JSON gives, per task, the legacy mixture's
mean fit seconds over the new ones', measured in the same run; ``labels_differ_from_legacy``
counts the held-out rows (all seeds) whose label differs from the legacy fit's.

``--two-view`` runs the fusions of issue 15 instead, on the same splits, and writes
``mixture_accuracy_two_view.json``: ``FusionSelector`` (``default``: the fusion gold-row CV
picks among the two-view mixture, Dawid-Skene and the best single LLM), ``two_view``
(``TwoViewMixture``; MiniLM sentence embeddings as the text view where the recordings carry
texts, so on IMDB it is the calibrated mixture) and, read off the same fit, the mixture alone
(``ours``), Dawid-Skene and the best single LLM on the seed. It also prints the held-out
expected calibration error (ECE) of the mixture's raw probabilities and of the calibrated
ones. ``--n-iter K`` gives the two-view mixture ``K`` co-training rounds (default 0, one
step). Where there are texts, a reference row ``bound:text_share_on_heldout`` weighs the
same two views with the text-view share that scores best on the held-out rows themselves: it
reads held-out gold, so it is no method, only a bound on what any weighing of these two views
could reach. Embeddings are cached under ``benchmarks/results/embeddings``.

``--finetuned-text-view`` (tasks with texts) fits, on the same splits, the two-view mixture
whose text view is a fine-tuned MiniLM (:class:`~skmollal.finetune.TransformerTextClassifier`
on the raw texts, ``--text-epochs`` epochs, default 3) fitted once on the rows without gold
(``TwoViewMixture(text_fit="once")``), and writes ``mixture_accuracy_two_view_finetuned.json``:
rows ``two_view_finetuned``, ``two_view_once`` (the embedding text view, also fitted once: what
``"once"`` itself costs) and the bound ``bound:finetuned_text_share_on_heldout``. About 10
minutes of one CPU core per TREC seed; seconds on a GPU.

Usage::

    .venv/bin/python benchmarks/mixture_accuracy.py --seeds 5 --tasks trec imdb
    .venv/bin/python benchmarks/mixture_accuracy.py --methods majority_vote ours vote_anchored
    .venv/bin/python benchmarks/mixture_accuracy.py --two-view --seeds 5 --jobs 5
    .venv/bin/python benchmarks/mixture_accuracy.py --finetuned-text-view --tasks trec
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

from skmollal.aggregation import (
    BestSingleLLM, DawidSkene, FusionSelector, MajorityVote, MeanProbability,
    MixtureAggregator, TwoViewMixture, VoteAnchoredMixture, expected_calibration_error,
    fit_view_weights,
)
from skmollal.aggregation.selection import default_candidates
from skmollal.aggregation.calibration import combine_views, safe_log
from skmollal.datasets import default_recordings_path, load_recordings

HERE = Path(__file__).resolve().parent
DEFAULT_RECORDINGS = default_recordings_path()


class ReferenceMoLAM:
    """Reference-style MoLAM: one XGBoost ``binary:logistic`` per class on flat signals,
    self-training at 0.9, no gold-based model selection."""

    def __init__(self, threshold=0.9, max_iter=10, seed=0):
        self.threshold, self.max_iter, self.seed = threshold, max_iter, seed

    def _proba(self, X):
        p = np.column_stack([
            m.predict_proba(X)[:, 1] if m is not None else np.zeros(len(X)) for m in self.models
        ])
        return p

    def fit(self, S, y):
        from xgboost import XGBClassifier  # optional extra, imported lazily

        X = S.reshape(len(S), -1)
        self.C = S.shape[3]
        y = y.copy()
        for _ in range(self.max_iter + 1):
            known = y >= 0
            self.models = []
            for c in range(self.C):
                t = (y[known] == c).astype(int)
                if t.min() == t.max():
                    self.models.append(None)
                    continue
                m = XGBClassifier(objective="binary:logistic", n_estimators=100, max_depth=3,
                                  random_state=self.seed, n_jobs=1, verbosity=0)
                self.models.append(m.fit(X[known], t))
            if known.all():
                break
            p = self._proba(X[~known])
            conf = p.max(axis=1) >= self.threshold
            if not conf.any():
                break
            y[np.flatnonzero(~known)[conf]] = p[conf].argmax(axis=1)
        return self

    def predict(self, S):
        return self._proba(S.reshape(len(S), -1)).argmax(axis=1)


REFERENCES = ("ceiling:lr_all_gold", "ceiling:hgb_all_gold", "bound:text_share_on_heldout",
              "bound:finetuned_text_share_on_heldout")

#: text-view shares (``w_t / w_s``) the held-out bound tries
BOUND_SHARES = np.linspace(0.0, 3.0, 61)


def text_share_bound(views: dict, y_test: np.ndarray) -> np.ndarray:
    """Not a method: the two views' fusion with the text view's share that scores best on
    the held-out rows themselves (``softmax(log p_signals + r log p_text)`` over
    :data:`BOUND_SHARES`). It reads held-out gold, so it only bounds what any weighing of
    these two views can reach; the probabilities of the best share are returned."""
    log_s, log_t = safe_log(views["signals"]), safe_log(views["text"])
    accs = [np.mean((log_s + r * log_t).argmax(axis=1) == y_test) for r in BOUND_SHARES]
    return combine_views([log_s, log_t], [1.0, BOUND_SHARES[int(np.argmax(accs))]])


def supervised_ceiling(estimator=None):
    """Not a fusion method: our mixture model, no self-training, fitted on the gold label of
    *every* pool row (``run_task`` gives it those). Its held-out accuracy bounds what the
    meta-learner (default: ours, same features) can reach from these signals."""
    return MixtureAggregator(estimator=estimator, pseudo_labels="hard", init=None,
                                  max_iter=0)


def legacy_mixture():
    """The mixture as it was fitted before its own solver and guard: scikit-learn's L-BFGS
    on ``n_classes`` weighted copies of every row, every round from a cold start (what an
    explicit ``LogisticRegression`` meta-learner still gets), no guard."""
    return MixtureAggregator(estimator=LogisticRegression(C=0.1, max_iter=5000))


def methods(names, seed):
    out = {f"llm:{n}": None for n in names}
    out.update({
        "majority_vote": MajorityVote(),
        "mean_probability": MeanProbability(),
        "best_single_llm": BestSingleLLM(),
        "dawid_skene": DawidSkene(),
        "reference_molam_xgb": ReferenceMoLAM(seed=seed),
        "ours": MixtureAggregator(),
        "ours_unguarded": MixtureAggregator(guard=False),
        "ours_legacy": legacy_mixture(),
        "vote_anchored": VoteAnchoredMixture(),
        "ceiling:lr_all_gold": supervised_ceiling(),
        "ceiling:hgb_all_gold": supervised_ceiling(HistGradientBoostingClassifier(
            random_state=seed)),
    })
    return out


def split(y, seed, n_gold):
    """Held-out rows (20 %, stratified) and the pool's labels: ``n_gold`` gold, rest -1."""
    idx = np.arange(len(y))
    pool, test = train_test_split(idx, test_size=0.2, random_state=seed, stratify=y)
    rng = np.random.default_rng(seed)
    gold = rng.choice(pool, size=n_gold, replace=False)
    y_pool = np.full(len(pool), -1)
    pos = {r: i for i, r in enumerate(pool)}
    for g in gold:
        y_pool[pos[g]] = y[g]
    return pool, test, y_pool


def embeddings(bunch):
    """MiniLM embeddings of the texts (cached on disk), or None without texts."""
    if bunch.texts is None:
        return None
    from skmollal.featurizers import SentenceEmbedder

    emb = SentenceEmbedder(cache_dir=HERE / "results" / "embeddings", show_progress_bar=False)
    return emb.fit_transform(bunch.texts).astype(float)


def run_two_view_seed(S, y, E, task, seed, n_gold, n_iter=0):
    """The issue-15 fusions on one split; one FusionSelector fit gives every row."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        pool, test, y_pool = split(y, seed, n_gold)
        t0 = time.perf_counter()
        text = {} if E is None else {"X_text": E[pool]}
        cands = [("two_view", TwoViewMixture(n_iter=n_iter)), *default_candidates()[1:]]
        sel = FusionSelector(candidates=cands).fit(S[pool], y_pool, **text)
        seconds = time.perf_counter() - t0
        test_text = {} if E is None else {"X_text": E[test]}
        tv = sel.candidates_["two_view"]
        probas = {
            "default": sel.predict_proba(S[test], **test_text),
            "two_view": tv.predict_proba(S[test], **test_text),
            "ours": tv.mixture_.predict_proba(S[test]),
            "ours_calibrated": combine_views(  # the signal view alone, temperature-scaled
                [safe_log(tv.mixture_.predict_proba(S[test]))],
                fit_view_weights(tv.cv_view_log_proba_[:1], y_pool[tv.cv_rows_])),
            "dawid_skene": sel.candidates_["dawid_skene"].predict_proba(S[test]),
            "best_single_llm": sel.candidates_["best_single_llm"].predict_proba(S[test]),
        }
        if E is not None:
            probas["bound:text_share_on_heldout"] = text_share_bound(
                tv.view_proba(S[test], **test_text), y[test])
        rows = [fusion_row(
            task, seed, name, y[test], proba, seconds,
            chosen=sel.chosen_ if name == "default" else None,
            cv_correct=({k: v.astype(int).tolist() for k, v in sel.cv_correct_.items()}
                        if name == "default" else None),
            view_weights=tv.view_weights_.tolist() if name == "two_view" else None)
            for name, proba in probas.items()]
    return rows


def fusion_row(task, seed, name, y_test, proba, seconds, **extra) -> dict:
    """One result row: held-out accuracy, macro-F1 and ECE of ``proba``."""
    pred = proba.argmax(axis=1)
    return {"task": task, "seed": seed, "method": name, "reference": name in REFERENCES,
            "accuracy": float(accuracy_score(y_test, pred)),
            "macro_f1": float(f1_score(y_test, pred, average="macro")),
            "ece": expected_calibration_error(y_test, proba), "seconds": seconds, **extra}


def run_finetuned_view_seed(S, y, E, texts, task, seed, n_gold, epochs=3):
    """``--finetuned-text-view`` on one split: the text view fitted once, as embeddings
    (logistic regression) and as a fine-tuned MiniLM on the raw texts."""
    from threadpoolctl import threadpool_limits

    from skmollal.finetune import TransformerTextClassifier

    n_classes = S.shape[-1]
    pool, test, y_pool = split(y, seed, n_gold)
    rows = []
    with threadpool_limits(limits=1):
        variants = {
            "two_view_once": (TwoViewMixture(text_fit="once"), E),
            "two_view_finetuned": (TwoViewMixture(text_fit="once", text_estimator=(
                TransformerTextClassifier(max_epochs=epochs, random_state=seed,
                                          classes=np.arange(n_classes)))), texts),
        }
        for name, (model, X_text) in variants.items():
            t0 = time.perf_counter()
            model.fit(S[pool], y_pool, X_text=X_text[pool])
            seconds = time.perf_counter() - t0
            views = model.view_proba(S[test], X_text=X_text[test])
            rows.append(fusion_row(task, seed, name, y[test], model.predict_proba(
                S[test], X_text=X_text[test]), seconds,
                view_weights=model.view_weights_.tolist(),
                text_view_accuracy=float(np.mean(views["text"].argmax(1) == y[test]))))
            print(f"{task} seed {seed} {name}: {rows[-1]['accuracy']:.4f} "
                  f"({seconds:.0f} s)", flush=True)
            if name == "two_view_finetuned":  # the bound of these same two views
                rows.append(fusion_row(task, seed, "bound:finetuned_text_share_on_heldout",
                                       y[test], text_share_bound(views, y[test]), seconds))
    return rows


def run_finetuned_view(bunch, task, seeds, n_gold, epochs=3):
    if bunch.texts is None:
        print(f"{task}: the recordings carry no texts; no fine-tuned text view")
        return []
    E, texts = embeddings(bunch), np.asarray(bunch.texts, dtype=object)
    return [r for seed in range(seeds) for r in run_finetuned_view_seed(
        bunch.signals, bunch.target, E, texts, task, seed, n_gold, epochs)]


def run_two_view(bunch, task, seeds, n_gold, jobs=1, n_iter=0):
    from joblib import Parallel, delayed

    E = embeddings(bunch)
    runs = Parallel(n_jobs=jobs)(
        delayed(run_two_view_seed)(bunch.signals, bunch.target, E, task, seed, n_gold, n_iter)
        for seed in range(seeds)
    )
    return [r for rs in runs for r in rs]


def run_task(bunch, task, seeds, n_gold, only=None):
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # fit seconds of one thread
        return _run_task(bunch, task, seeds, n_gold, only)


def _run_task(bunch, task, seeds, n_gold, only=None):
    S, y = bunch.signals, bunch.target
    rows = []
    for seed in range(seeds):
        preds = {}
        pool, test, y_pool = split(y, seed, n_gold)
        for name, method in methods(bunch.annotator_names, seed).items():
            if only and name not in only:
                continue
            t0 = time.perf_counter()
            if method is None:  # single LLM: its vote argmax
                j = bunch.annotator_names.index(name.split(":", 1)[1])
                pred = S[test, j, 1].argmax(axis=1)
            else:  # the references read every pool gold label: bounds, not methods
                method.fit(S[pool], y[pool] if name in REFERENCES else y_pool)
                pred = method.predict(S[test])
            rows.append({
                "task": task, "seed": seed, "method": name, "reference": name in REFERENCES,
                "accuracy": float(accuracy_score(y[test], pred)),
                "macro_f1": float(f1_score(y[test], pred, average="macro")),
                "seconds": time.perf_counter() - t0,
                **({"guard": method.guard_.choice} if getattr(method, "guard_", None) else {}),
            })
            preds[name] = pred
        for r in rows[-len(preds):]:  # held-out labels that differ from the legacy fit's
            if "ours_legacy" in preds and r["method"].startswith("ours"):
                r["labels_differ_from_legacy"] = int(np.sum(preds[r["method"]]
                                                            != preds["ours_legacy"]))
    return rows


def speedups(summary) -> list[dict]:
    """Per task: mean fit seconds of the legacy mixture over those of each new one."""
    by = {(s["task"], s["method"]): s for s in summary}
    return [{"task": t, "method": m, "seconds_mean": by[t, m]["seconds_mean"],
             "legacy_seconds_mean": by[t, "ours_legacy"]["seconds_mean"],
             "speedup": by[t, "ours_legacy"]["seconds_mean"] / by[t, m]["seconds_mean"]}
            for (t, m) in by if m in ("ours", "ours_unguarded") and (t, "ours_legacy") in by]


def summarise(rows):
    table = {}
    for r in rows:
        table.setdefault((r["task"], r["method"]), []).append(r)
    return [
        {"task": t, "method": m, "reference": m in REFERENCES,
         "accuracy_mean": float(np.mean([r["accuracy"] for r in rs])),
         "accuracy_std": float(np.std([r["accuracy"] for r in rs])),
         "macro_f1_mean": float(np.mean([r["macro_f1"] for r in rs])),
         "seconds_mean": float(np.mean([r["seconds"] for r in rs])),
         **({"labels_differ_from_legacy": int(sum(r["labels_differ_from_legacy"] for r in rs))}
            if "labels_differ_from_legacy" in rs[0] else {}),
         **({"guard": sorted({r["guard"] for r in rs})} if "guard" in rs[0] else {}),
         **({"ece_mean": float(np.mean([r["ece"] for r in rs]))} if "ece" in rs[0] else {}),
         **({"chosen": sorted({r["chosen"] for r in rs})} if rs[0].get("chosen") else {}),
         "n_seeds": len(rs)}
        for (t, m), rs in table.items()
    ]


def plot(summary, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = sorted({s["task"] for s in summary})
    fig, axes = plt.subplots(1, len(tasks), figsize=(6 * len(tasks), 4.5), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        ss = [s for s in summary if s["task"] == task]
        ax.barh([s["method"] for s in ss], [s["accuracy_mean"] for s in ss],
                xerr=[s["accuracy_std"] for s in ss],
                color=["tab:red" if s["method"] == "ours"
                       else "tab:gray" if s["reference"] else "tab:blue" for s in ss])
        lo = min(s["accuracy_mean"] for s in ss)
        ax.set_xlim(max(0.0, lo - 0.05), 1.0)
        ax.set_title(f"{task}: held-out accuracy")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--tasks", nargs="+", default=["trec", "imdb"])
    ap.add_argument("--recordings", default=str(DEFAULT_RECORDINGS))
    ap.add_argument("--n-gold", type=int, default=50)
    ap.add_argument("--two-view", action="store_true",
                    help="run the issue-15 fusions (FusionSelector, TwoViewMixture)")
    ap.add_argument("--jobs", type=int, default=1, help="seeds in parallel (--two-view)")
    ap.add_argument("--finetuned-text-view", action="store_true",
                    help="the two-view mixture with a fine-tuned MiniLM text view")
    ap.add_argument("--text-epochs", type=int, default=3,
                    help="epochs of the fine-tuned text view (--finetuned-text-view)")
    ap.add_argument("--n-iter", type=int, default=0,
                    help="co-training rounds of the two-view mixture (--two-view)")
    ap.add_argument("--methods", nargs="+", default=None,
                    help="run only these methods (names as in the table; not --two-view)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    name = ("mixture_accuracy_two_view_finetuned.json" if args.finetuned_text_view else
            "mixture_accuracy_two_view.json" if args.two_view else "mixture_accuracy.json")
    args.out = args.out or str(HERE / "results" / name)
    rows = []
    for task in args.tasks:
        bunch = load_recordings(args.recordings, task)
        if args.finetuned_text_view:
            rows += run_finetuned_view(bunch, task, args.seeds, args.n_gold, args.text_epochs)
        elif args.two_view:
            rows += run_two_view(bunch, task, args.seeds, args.n_gold, args.jobs, args.n_iter)
        else:
            rows += run_task(bunch, task, args.seeds, args.n_gold, args.methods)
    summary = summarise(rows)
    print(f"{'task':6} {'method':22} {'acc mean':>9} {'acc std':>8} {'macroF1':>8} {'ECE':>6}")
    for s in summary:
        ece = f"{s['ece_mean']:6.4f}" if "ece_mean" in s else ""
        print(f"{s['task']:6} {s['method']:22} {s['accuracy_mean']:9.4f} "
              f"{s['accuracy_std']:8.4f} {s['macro_f1_mean']:8.4f} {ece} "
              f"{' '.join(s.get('chosen', []))}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {"args": vars(args), "summary": summary, "speedup": speedups(summary),
              "runs": rows}
    for sp in result["speedup"]:
        print(f"{sp['task']:6} {sp['method']:22} fit {sp['seconds_mean']:.2f} s, legacy "
              f"{sp['legacy_seconds_mean']:.2f} s: {sp['speedup']:.1f}x")
    out.write_text(json.dumps(result, indent=1))
    png = out.with_suffix(".png")
    plot(summary, png)
    print(f"wrote {out} and {png}")


if __name__ == "__main__":
    main()
