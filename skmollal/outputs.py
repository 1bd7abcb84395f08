"""What a run leaves a user: the labels paid for, and the trained model.

* :func:`labels_table` / :func:`write_table`: one row per annotated text with its fused
  label, the label's confidence, each LLM's answer and whether the row was a gold seed row
  (``labels.csv``, plus ``labels.parquet`` when pandas and pyarrow are installed);
* :func:`write_label_report`: how good those labels are (the mixture's
  :func:`~skmollal.aggregation.label_report`: estimated accuracy from the gold rows, each
  LLM's confusion matrix and influence, the rows most likely mislabelled), as text,
  ``label_report.json`` and ``label_report.png``;
* :class:`SavedModel`: the fitted featurizer and classifier with the class names, saved with
  joblib (``model.joblib``); :func:`predict_csv` applies one to the texts of a CSV
  (``skmollal predict``).
"""
from __future__ import annotations

import csv
import json
import logging
import math
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .active_learning.review import panel_answers
from .active_learning.labelling import text_view
from .active_learning.routing import full_proba
from .aggregation.report import few_gold_warning, format_label_report, plot_label_report
from .own_data import load_csv

__all__ = ["SavedModel", "label_report_record", "labels_table", "llm_answers", "predict_csv",
           "write_label_report", "write_run_labels", "write_table"]

logger = logging.getLogger(__name__)


def llm_answers(signals: np.ndarray, labels: Sequence[str]) -> list[list[str]]:
    """Each LLM's answer per text: the argmax of its votes (of its probabilities without votes).

    Parameters
    ----------
    signals : ndarray of shape (n_texts, n_llms, 2, n_classes)
        Probabilities ``[..., 0, :]`` and vote shares ``[..., 1, :]``.
    labels : sequence of str
        Class names.

    Returns
    -------
    list of list of str
        ``answers[i][j]``: LLM ``j``'s answer on text ``i`` (``""`` where it gave none).
    """
    return [[labels[a] if a >= 0 else "" for a in row] for row in panel_answers(signals)]


def labels_table(rows: Sequence[int], texts: Sequence[str], proba: np.ndarray,
                 signals: np.ndarray, labels: Sequence[str], llm_names: Sequence[str],
                 gold: np.ndarray, ids: Sequence[str] | None = None) -> list[dict]:
    """The labels of a run, one record per annotated text.

    Parameters
    ----------
    rows : sequence of int
        Each text's row in the data (0-based).
    texts : sequence of str
    proba : ndarray of shape (n_texts, n_classes)
        Fused label distribution (one-hot on gold rows).
    signals : ndarray of shape (n_texts, n_llms, 2, n_classes)
    labels, llm_names : sequence of str
        Class names and the panel's annotator names.
    gold : ndarray of bool
        Whether the row's label is a gold seed label.
    ids : sequence of str, optional
        The user's row ids (the CSV's ``id`` column).

    Returns
    -------
    list of dict
        Keys ``row``, (``id``), ``text``, ``label``, ``confidence``, ``gold`` and one
        ``llm:NAME`` per annotator, in that order.
    """
    proba = np.asarray(proba, dtype=float)
    answers = llm_answers(signals, labels)
    table = []
    for k, row in enumerate(rows):
        record: dict[str, Any] = {"row": int(row)}
        if ids is not None:
            record["id"] = ids[row]
        record.update(text=texts[k], label=labels[int(proba[k].argmax())],
                      confidence=round(float(proba[k].max()), 4), gold=bool(gold[k]))
        record.update({f"llm:{name}": answer for name, answer in zip(llm_names, answers[k])})
        table.append(record)
    return table


def write_table(records: list[dict], path: str | Path) -> list[Path]:
    """Write records as a UTF-8 CSV, and as Parquet next to it when pandas + pyarrow exist.

    Parameters
    ----------
    records : list of dict
        One dict per row, all with the keys of the first (the columns, in order).
    path : str or path
        The CSV file; the Parquet file takes its name with the suffix ``.parquet``.

    Returns
    -------
    list of Path
        The files written.
    """
    path = Path(path)
    fields = list(records[0]) if records else ["row", "text", "label"]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(records)
    written = [path]
    try:
        import pandas as pd
        import pyarrow  # noqa: F401  (pandas writes Parquet with it)
    except ImportError:
        return written
    parquet = path.with_suffix(".parquet")
    pd.DataFrame.from_records(records, columns=fields).to_parquet(parquet, index=False)
    return written + [parquet]


def write_run_labels(loop: Any, data_rows: np.ndarray, y: np.ndarray, data: Any,
                     llm_names: Sequence[str], path: str | Path) -> Path:
    """Write the labels of a MoLLIA loop's seed and annotated rows (:func:`labels_table`).

    Parameters
    ----------
    loop : MoLLIALoop
        After :meth:`~skmollal.active_learning.MoLLIALoop.run`.
    data_rows : ndarray of int
        The data row of each of the loop's rows.
    y : ndarray of int
        The loop's labels: gold on the seed, -1 elsewhere. Rows a person answered in a
        review are gold too (their answer).
    data : Bunch
        ``texts``, ``labels`` and optionally ``ids`` of the data rows.
    llm_names : sequence of str
        The panel's annotator names.
    path : str or path
        The CSV to write (with Parquet next to it, see :func:`write_table`).

    Returns
    -------
    Path
        The CSV written.
    """
    rows = loop.training_rows()
    n_classes = len(data.labels)
    y = np.where(np.asarray(y) >= 0, y, loop.state.partial_labels())  # + a person's answers
    gold = y[rows] >= 0
    proba = np.zeros((len(rows), n_classes))
    proba[gold, y[rows[gold]]] = 1.0
    if (~gold).any() and loop.mixture_ is not None:
        proba[~gold] = full_proba(loop.mixture_, loop.signals[rows[~gold]], n_classes,
                                  **text_view(loop.X, loop.mixture_, rows[~gold]))
    data_rows = np.asarray(data_rows)[rows]
    table = labels_table(data_rows, [data.texts[i] for i in data_rows], proba,
                         loop.signals[rows], data.labels, llm_names, gold,
                         ids=data.get("ids"))
    return write_table(table, path)[0]


def _number(x: float) -> float | None:
    """A float for JSON: None for NaN (no gold rows to estimate from)."""
    return None if x is None or math.isnan(x) else round(float(x), 4)


def label_report_record(report: Any, labels: Sequence[str], data_rows: np.ndarray,
                        texts: Sequence[str], ids: Sequence[str] | None = None) -> dict:
    """A label report as JSON-able data, rows and classes named as in the user's data.

    Parameters
    ----------
    report : Bunch
        From :meth:`~skmollal.active_learning.MoLLIALoop.label_report` (or
        :func:`~skmollal.aggregation.label_report`).
    labels : sequence of str
        Class names.
    data_rows : ndarray of int
        The data row of each row of the report.
    texts : sequence of str
        The texts of the data (indexed by data row).
    ids : sequence of str, optional
        The user's row ids (the CSV's ``id`` column), indexed by data row.

    Returns
    -------
    dict
        ``accuracy`` and ``accuracy_interval`` (95 %, from ``n_cv`` gold rows predicted
        out of fold; None without gold rows), ``n_gold`` (the gold rows of the LLMs'
        accuracies), ``warning`` (when those rows are too few to rank anything, else None),
        ``classes``, ``annotators`` (per LLM:
        ``name``, ``gold_accuracy``, ``influence`` and ``confusion``: rows = gold class,
        columns = the LLM's answer, in the order of ``classes``), ``view_weights`` and
        ``suspects`` (least confident first: ``row``, (``id``), ``text``, ``label``,
        ``confidence``, (``views_disagree``)).
    """
    suspects = []
    for k, row in enumerate(report.suspects):
        data_row = int(data_rows[row])
        record: dict[str, Any] = {"row": data_row}
        if ids is not None:
            record["id"] = ids[data_row]
        record.update(text=texts[data_row], label=labels[int(report.labels[row])],
                      confidence=_number(report.suspect_confidence[k]))
        if report.suspect_views_disagree is not None:
            record["views_disagree"] = bool(report.suspect_views_disagree[k])
        suspects.append(record)
    weights = report.view_weights
    return {
        "accuracy": _number(report.accuracy),
        "accuracy_interval": [_number(b) for b in report.accuracy_interval],
        "n_cv": int(report.n_cv),
        "n_gold": int(report.n_gold),
        "warning": few_gold_warning(report),
        "classes": list(labels),
        "annotators": [
            {"name": name, "gold_accuracy": _number(acc), "influence": _number(infl),
             "confusion": np.asarray(conf).astype(int).tolist()}
            for name, acc, infl, conf in zip(report.annotator_names, report.llm_gold_accuracy,
                                             report.llm_influence, report.llm_confusion)
        ],
        "view_weights": None if weights is None else [_number(w) for w in weights],
        "suspects": suspects,
    }


def write_label_report(loop: Any, data_rows: np.ndarray, data: Any,
                       folder: str | Path) -> tuple[str, dict[str, Path]]:
    """Write the label report of a loop's mixture: ``label_report.json`` (and ``.png``).

    Parameters
    ----------
    loop : MoLLIALoop
        After at least one round of :meth:`~skmollal.active_learning.MoLLIALoop.run`.
    data_rows : ndarray of int
        The data row of each of the loop's rows.
    data : Bunch
        ``texts``, ``labels`` and optionally ``ids`` of the data rows.
    folder : str or path
        Where the files go.

    Returns
    -------
    (str, dict of str to Path)
        The report as text (:func:`~skmollal.aggregation.format_label_report`, rows shown
        as data rows with their text), and the files written: ``label_report`` (JSON,
        :func:`label_report_record`) and ``report_plot`` (PNG, only when matplotlib
        is installed).

    Raises
    ------
    ValueError
        If the loop has no report (see :meth:`~skmollal.active_learning.MoLLIALoop.label_report`).
    """
    report = loop.label_report()
    rows = np.asarray(data_rows)[report.rows]
    names = {int(r): f"row {rows[r]} {data.texts[rows[r]][:60]!r}" for r in report.suspects}
    text = format_label_report(report, class_names=data.labels, row_names=names)
    folder = Path(folder)
    files = {"label_report": folder / "label_report.json"}
    record = label_report_record(report, data.labels, rows, data.texts, ids=data.get("ids"))
    files["label_report"].write_text(json.dumps(record, indent=1, ensure_ascii=False),
                                     encoding="utf-8")
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return text, files
    fig = plot_label_report(report, fig=Figure(figsize=(10, 4)))
    files["report_plot"] = folder / "label_report.png"
    fig.savefig(files["report_plot"], dpi=100)
    return text, files


class SavedModel:
    """A trained text classifier with its featurizer and class names, to save with joblib.

    Parameters
    ----------
    featurizer : transformer or None
        Texts -> features (fitted); None when the classifier takes texts itself.
    classifier : classifier
        Fitted; predicts class indices.
    labels : sequence of str
        Class names, in class order.

    Examples
    --------
    Apply the model a run saved (``skmollal predict`` does this on a CSV)::

        import joblib
        model = joblib.load("skmollal-run/model.joblib")
        model.predict(["a new text", "another one"])  # -> class names

    Only load model files you trust: joblib files can run code when loaded.
    """

    def __init__(self, featurizer: Any, classifier: Any, labels: Sequence[str]) -> None:
        self.featurizer = featurizer
        self.classifier = classifier
        self.labels = list(labels)

    def _features(self, texts: Sequence[str]) -> Any:
        texts = list(texts)
        if self.featurizer is None:
            return texts
        return np.asarray(self.featurizer.transform(texts), dtype=np.float32)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Class probabilities ``(n_texts, n_classes)``."""
        return full_proba(self.classifier, self._features(texts), len(self.labels))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Class names of ``texts``."""
        return np.asarray(self.labels, dtype=object)[self.predict_proba(texts).argmax(axis=1)]

    def __repr__(self) -> str:
        return (f"SavedModel(featurizer={type(self.featurizer).__name__}, "
                f"classifier={type(self.classifier).__name__}, labels={self.labels})")


def predict_csv(model: SavedModel | str | Path, data: str | Path,
                output: str | Path) -> list[dict]:
    """Label the texts of a CSV with a saved model; write the predictions as a CSV.

    Parameters
    ----------
    model : SavedModel or path
        A model, or the ``model.joblib`` a run wrote.
    data : str or path
        CSV with a ``text`` column (and optionally ``id``; a ``label`` column is ignored).
    output : str or path
        Where the predictions go: ``row``, (``id``), ``text``, ``label``, ``confidence``
        and one ``p:LABEL`` probability column per class.

    Returns
    -------
    list of dict
        The records written.

    Raises
    ------
    ValueError
        If ``model`` is a file joblib cannot read, or one that holds no
        :class:`SavedModel` (say ``results.json``).
    """
    if not isinstance(model, SavedModel):
        import joblib

        path = model
        try:
            model = joblib.load(path)
        except Exception as exc:  # noqa: BLE001 - whatever joblib makes of a foreign file
            raise ValueError(f"{path} is not a model file (joblib cannot read it: "
                             f"{type(exc).__name__}); give the model.joblib that "
                             "'skmollal run' wrote in its --output folder") from exc
        if not isinstance(model, SavedModel):
            raise ValueError(f"{path} holds a {type(model).__name__}, not the model.joblib "
                             "of a skmollal run")
    table = load_csv(data, need_labels=False)
    proba = model.predict_proba(table.texts)
    records = []
    for row, text in enumerate(table.texts):
        record: dict[str, Any] = {"row": row}
        if table.ids is not None:
            record["id"] = table.ids[row]
        record.update(text=text, label=model.labels[int(proba[row].argmax())],
                      confidence=round(float(proba[row].max()), 4))
        record.update({f"p:{name}": round(float(p), 4) for name, p in zip(model.labels,
                                                                            proba[row])})
        records.append(record)
    write_table(records, output)
    return records
