"""Learning-curve helpers for the per-round history (a list of dicts)."""
from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["history_to_frame", "area_under_curve", "plot_learning_curve"]


def history_to_frame(history: Sequence[dict]):
    """The history as a pandas DataFrame (one row per round; the ``queried`` lists dropped).

    Parameters
    ----------
    history : list of dict
        Per-round records (e.g. ``MoLLIALoop.history``).

    Returns
    -------
    pandas.DataFrame
    """
    import pandas as pd

    return pd.DataFrame([{k: v for k, v in rec.items() if k != "queried"} for rec in history])


def area_under_curve(history: Sequence[dict], metric: str = "val_accuracy",
                     x: str = "n_labeled") -> float:
    """Normalised area under the learning curve (trapezoids over ``x``; mean height).

    Returns the metric's average over the labeled-count range, so it is comparable across
    runs with the same budget. With a single point it is that point's value.

    Parameters
    ----------
    history : list of dict
        Per-round records.
    metric : str, default="val_accuracy"
        Key of the curve's height.
    x : str, default="n_labeled"
        Key of the curve's abscissa.

    Returns
    -------
    float
    """
    pts = [(rec[x], rec[metric]) for rec in history if metric in rec]
    if not pts:
        raise ValueError(f"no round of the history has {metric!r}")
    xs, ys = np.asarray(pts, dtype=float).T
    if len(xs) == 1 or xs[-1] == xs[0]:
        return float(ys.mean())
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1]) / 2) / (xs[-1] - xs[0]))


def plot_learning_curve(histories, metric: str = "val_accuracy", x: str = "n_labeled",
                        ax=None, path=None, title: str | None = None):
    """Plot one learning curve per history.

    Parameters
    ----------
    histories : list of dict, or dict mapping a label to such a list
        One run's history, or several runs by name. Runs given as a list of histories under
        one name (e.g. seeds) are drawn as mean ± standard deviation.
    metric, x : str
        Keys of the history records for the y and x axes.
    ax : matplotlib Axes, optional
    path : str or path, optional
        Save the figure there (PNG by extension).
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib Axes
    """
    import matplotlib

    if ax is None:
        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(6, 4))
    if not isinstance(histories, dict):
        histories = {metric: histories}
    # more curves than the default 10-colour cycle: 20 colours, then dashed lines
    palette = matplotlib.colormaps["tab20" if len(histories) > 10 else "tab10"].colors
    for i, (label, runs) in enumerate(histories.items()):
        if runs and isinstance(runs[0], dict):
            runs = [runs]
        curves = []
        for run in runs:
            pts = [(rec[x], rec[metric]) for rec in run if metric in rec]
            curves.append(pts)
        if not curves or not curves[0]:
            continue
        length = min(len(c) for c in curves)
        xs = np.asarray([p[0] for p in curves[0][:length]], dtype=float)
        ys = np.asarray([[p[1] for p in c[:length]] for c in curves], dtype=float)
        mean = ys.mean(axis=0)
        color = palette[i % len(palette)]
        ax.plot(xs, mean, marker="o", markersize=3, label=label, color=color,
                linestyle="-" if i < len(palette) else "--")
        if len(curves) > 1:
            sd = ys.std(axis=0)
            ax.fill_between(xs, mean - sd, mean + sd, alpha=0.12, color=color)
    ax.set_xlabel(x.replace("_", " "))
    ax.set_ylabel(metric.replace("_", " "))
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if path is not None:
        ax.figure.tight_layout()
        ax.figure.savefig(path, dpi=120)
    return ax
