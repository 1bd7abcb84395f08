"""A label report a user can read after annotation: how good are the labels, and where not.

:func:`label_report` takes a fitted fusion (any aggregator; a
:class:`~skmollal.aggregation.TwoViewMixture` brings its own out-of-fold estimates, and a
meta-fusion's ``best_estimator_`` is read for its views) with the signals and gold rows it was
fitted on, and returns a :class:`~sklearn.utils.Bunch` with

* the estimated label accuracy with a 95 % Wilson interval, from the gold rows predicted
  out of fold (:mod:`~skmollal.aggregation.gold_cv`), never from rows the user did not label;
* each LLM's confusion matrix against the gold rows (its vote argmax), its gold accuracy and
  its *influence* in the fusion: the share of rows whose fused label changes when that LLM's
  signals are shuffled across rows (model-agnostic, needs no gold);
* the rows most likely mislabelled: unlabeled rows of lowest fused confidence, and whether
  the two views disagree on them (two-view fusions).

:func:`format_label_report` renders it as text; :func:`plot_label_report` draws it.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn.base import clone
from sklearn.metrics import confusion_matrix
from sklearn.utils import Bunch
from sklearn.utils.validation import check_is_fitted

from ..annotators.base import VOTES
from ..signals import check_signals
from .gold_cv import accepts_text, cross_val_gold_proba, encode_partial

__all__ = ["MIN_GOLD_ROWS", "few_gold_warning", "format_label_report", "label_report",
           "plot_label_report", "wilson_interval"]

#: Gold rows below which the report warns that its estimates cannot rank anything: with 20
#: rows a 95 % interval around an accuracy of 0.8 still spans about 0.58 to 0.92.
MIN_GOLD_ROWS = 20


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion (95 % for ``z=1.96``).

    Parameters
    ----------
    successes : int
        Right answers.
    n : int
        Trials; ``(0.0, 1.0)`` is returned when ``n == 0``.
    z : float, default=1.96
        Normal quantile of the interval.

    Returns
    -------
    (float, float)
        Lower and upper bound.
    """
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def _text_kwargs(fusion, X_text) -> dict:
    return {"X_text": X_text} if X_text is not None and accepts_text(fusion) else {}


def _influence(fusion, S: np.ndarray, labels: np.ndarray, X_text, rng) -> np.ndarray:
    """Share of rows whose fused label changes when one LLM's signals are shuffled."""
    out = np.zeros(S.shape[1])
    perm = rng.permutation(S.shape[0])
    for j in range(S.shape[1]):
        shuffled = S.copy()
        shuffled[:, j] = S[perm, j]
        out[j] = np.mean(fusion.predict(shuffled, **_text_kwargs(fusion, X_text)) != labels)
    return out


def label_report(fusion, S, y, X_text=None, *, annotator_names: Sequence[str] | None = None,
                 n_suspects: int = 20, cv: int = 5, random_state=0) -> Bunch:
    """Estimated label quality of a fitted fusion, per LLM and per row.

    Parameters
    ----------
    fusion : fitted classifier
        The fusion fitted on ``S`` and ``y`` (and ``X_text``). If it has no out-of-fold
        estimate of its own (``cv_rows_``, ``cv_proba_``), an unfitted clone is
        cross-validated over the gold rows.
    S : array-like of shape (n_texts, n_llms, 2, n_classes)
        Panel signals.
    y : array-like of shape (n_texts,)
        Gold class indices, ``-1`` for unlabeled rows.
    X_text : array-like of shape (n_texts, n_text_features), optional
        Texts' features, if the fusion was fitted with them.
    annotator_names : sequence of str, optional
        LLM names; default ``llm0, llm1, ...``.
    n_suspects : int, default=20
        How many likely mislabelled rows to list.
    cv : int, default=5
        Folds over the gold rows when the fusion has no estimate of its own.
    random_state : int, default=0
        Seed of the folds and of the shuffles that measure influence.

    Returns
    -------
    Bunch
        ``accuracy`` and ``accuracy_interval`` (95 % Wilson) estimated from ``n_cv`` gold
        rows predicted out of fold; ``n_gold``, the gold rows the LLMs' gold accuracies rest
        on; ``annotator_names``; ``llm_confusion`` (n_llms, C, C),
        rows = gold class, columns = the LLM's vote argmax; ``llm_gold_accuracy``;
        ``llm_influence``; ``view_weights`` (or None); ``labels`` and ``confidence`` of
        every row; ``suspects`` (unlabeled rows, least confident first),
        ``suspect_confidence`` and ``suspect_views_disagree`` (None without two views).
    """
    check_is_fitted(fusion)
    S = check_signals(S, name="S")
    n, n_llms, _, n_classes = S.shape
    enc = encode_partial(y, np.arange(n_classes))
    if hasattr(fusion, "cv_rows_") and hasattr(fusion, "cv_proba_"):
        rows, oof = fusion.cv_rows_, fusion.cv_proba_
    else:
        rows, oof = cross_val_gold_proba(clone(fusion), S, enc, cv=cv,
                                         random_state=random_state,
                                         X_text=X_text if accepts_text(fusion) else None,
                                         n_classes=n_classes)
    hits = int((oof.argmax(axis=1) == enc[rows]).sum()) if len(rows) else 0
    gold = enc >= 0
    said = S[:, :, VOTES].argmax(axis=2)  # (n, L)
    confusion = np.stack([
        confusion_matrix(enc[gold], said[gold, j], labels=np.arange(n_classes))
        for j in range(n_llms)
    ])
    proba = fusion.predict_proba(S, **_text_kwargs(fusion, X_text))
    labels = np.asarray(fusion.predict(S, **_text_kwargs(fusion, X_text)))
    confidence = proba.max(axis=1)
    unlabeled = np.flatnonzero(~gold)
    suspects = unlabeled[np.argsort(confidence[unlabeled], kind="stable")][:n_suspects]
    model = getattr(fusion, "best_estimator_", fusion)
    disagree = None
    if hasattr(model, "view_proba") and getattr(model, "text_estimator_", None) is not None:
        views = model.view_proba(S[suspects], X_text[suspects])
        disagree = views["signals"].argmax(axis=1) != views["text"].argmax(axis=1)
    rng = np.random.default_rng(random_state)
    names = list(annotator_names) if annotator_names is not None else [
        f"llm{j}" for j in range(n_llms)]
    if len(names) != n_llms:
        raise ValueError(f"annotator_names has {len(names)} names for {n_llms} LLMs")
    return Bunch(
        accuracy=hits / len(rows) if len(rows) else float("nan"),
        accuracy_interval=wilson_interval(hits, len(rows)),
        n_cv=int(len(rows)),
        n_gold=int(gold.sum()),
        annotator_names=names,
        llm_confusion=confusion,
        llm_gold_accuracy=np.trace(confusion, axis1=1, axis2=2) / max(int(gold.sum()), 1),
        llm_influence=_influence(fusion, S, labels, X_text, rng),
        view_weights=getattr(model, "view_weights_", None),
        labels=labels,
        confidence=confidence,
        suspects=suspects,
        suspect_confidence=confidence[suspects],
        suspect_views_disagree=disagree,
    )


def few_gold_warning(report: Bunch, minimum: int = MIN_GOLD_ROWS) -> str | None:
    """What a report resting on fewer than ``minimum`` gold rows cannot tell, or None.

    Parameters
    ----------
    report : Bunch
        From :func:`label_report`.
    minimum : int, default=MIN_GOLD_ROWS

    Returns
    -------
    str or None
    """
    n = min(int(report.n_cv), int(report.get("n_gold", report.n_cv)))
    if n >= minimum:
        return None
    return (f"these estimates rest on {n} gold row(s), fewer than {minimum}: too few to rank "
            "the LLMs or the fused labels (see the width of the interval); label more "
            "rows for the seed before comparing them")


def format_label_report(report: Bunch, class_names: Sequence[str] | None = None,
                        row_names: Sequence[str] | None = None) -> str:
    """The report as plain text (a few lines per LLM, then the suspect rows).

    Parameters
    ----------
    report : Bunch
        What :func:`label_report` returned.
    class_names : sequence of str, optional
        Name of each class index; default the indices.
    row_names : sequence or mapping of str, optional
        How to show each row of the report, by its index (e.g. the data row and its
        text; a mapping needs only the suspects); default the index.

    Returns
    -------
    str
    """
    lo, hi = report.accuracy_interval
    lines = [
        f"estimated label accuracy {report.accuracy:.3f} "
        f"(95% interval {lo:.3f}-{hi:.3f}, {report.n_cv} gold rows out of fold)",
    ]
    warning = few_gold_warning(report)
    if warning:
        lines.append(f"warning: {warning}")
    if report.view_weights is not None:
        lines.append("view weights " + ", ".join(f"{w:.2f}" for w in report.view_weights))
    width = max([20] + [len(str(name)) for name in report.annotator_names])
    lines.append(f"{'LLM':{width}} {'gold acc':>8} {'influence':>9}   (gold acc on "
                 f"{report.n_gold} gold rows)")
    for name, acc, infl in zip(report.annotator_names, report.llm_gold_accuracy,
                               report.llm_influence):
        lines.append(f"{name:{width}} {acc:8.3f} {infl:9.3f}")
    lines.append(f"{len(report.suspects)} rows most likely mislabelled (row: label, confidence"
                 + (", views disagree)" if report.suspect_views_disagree is not None else ")"))
    for k, row in enumerate(report.suspects):
        extra = ""
        if report.suspect_views_disagree is not None:
            extra = " *" if report.suspect_views_disagree[k] else ""
        label = report.labels[row] if class_names is None else class_names[report.labels[row]]
        name = row if row_names is None else row_names[row]
        lines.append(f"  {name}: {label} {report.suspect_confidence[k]:.2f}{extra}")
    return "\n".join(lines)


def plot_label_report(report: Bunch, fig=None):
    """Draw the report: per-LLM gold accuracy and influence, and the confidence histogram.

    Parameters
    ----------
    report : Bunch
        From :func:`label_report`.
    fig : matplotlib Figure, optional
        Figure to draw into; a new one by default.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    if fig is None:
        fig = plt.figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2)
    pos = np.arange(len(report.annotator_names))
    ax1.barh(pos - 0.2, report.llm_gold_accuracy, height=0.4, label="accuracy on gold rows")
    ax1.barh(pos + 0.2, report.llm_influence, height=0.4, label="influence on fused labels")
    ax1.axvline(report.accuracy, color="k", ls="--", label="fused (estimated)")
    ax1.set_yticks(pos, report.annotator_names)
    ax1.set_xlim(0, 1)
    ax1.legend(loc="lower right", fontsize="small")
    ax1.set_title("LLMs")
    ax2.hist(report.confidence, bins=20, range=(0, 1), color="tab:gray")
    lo, hi = report.accuracy_interval
    ax2.axvspan(lo, hi, color="tab:green", alpha=0.2, label="estimated accuracy (95%)")
    ax2.set_xlabel("fused confidence")
    ax2.set_ylabel("rows")
    ax2.legend(loc="upper left", fontsize="small")
    ax2.set_title("label confidence")
    fig.tight_layout()
    return fig
