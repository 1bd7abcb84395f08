"""What a run's LLM calls cost, per round and per annotator, from its history.

Every history record of :class:`~skmollal.active_learning.MoLLIALoop` carries ``cost`` (the
round's cost per annotator) and ``cost_total`` (since the start), as flat records of
:meth:`~skmollal.annotators.costs.AnnotatorCost.to_dict`. These helpers sum and print them.
"""
from __future__ import annotations

from typing import Sequence

from ..annotators.costs import sum_cost_dicts

__all__ = ["round_costs", "annotator_costs", "format_costs"]

_COLUMNS = (("calls", "calls"), ("cached", "cached_calls"), ("prompt tok", "prompt_tokens"),
            ("compl. tok", "completion_tokens"), ("LLM s", "seconds"), ("money", "money"),
            ("saved", "cached_money"))


def round_costs(history: Sequence[dict]) -> list[dict]:
    """Each round's cost summed over the annotators, with its ``round`` number.

    Parameters
    ----------
    history : list of dict
        A loop's history.

    Returns
    -------
    list of dict
    """
    return [{"round": rec["round"], **sum_cost_dicts(rec.get("cost", {}))} for rec in history]


def annotator_costs(history: Sequence[dict]) -> dict[str, dict]:
    """Each annotator's cost over the whole run (the last record's ``cost_total``).

    Parameters
    ----------
    history : list of dict
        A loop's history.

    Returns
    -------
    dict of str to dict
    """
    return dict(history[-1].get("cost_total", {})) if history else {}


def _cell(rec: dict, key: str, width: int) -> str:
    value = rec.get(key, 0)
    if key in ("prompt_tokens", "completion_tokens") and not rec.get("tokens_counted", True):
        text = "-" if not value else f"{value}*"  # not counted, or a lower bound
    elif key == "seconds":
        text = f"{value:.2f}"
    elif key in ("money", "cached_money"):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return f"{text:>{width}}"


def format_costs(history: Sequence[dict]) -> str:
    """Two text tables: the cost of every round, and of every annotator over the run.

    Columns: paid ``calls``, ``cached`` calls (served from the cache: not paid), prompt and
    completion tokens, LLM wall seconds and, when prices were given, ``money`` paid and the
    money the cache ``saved``. Tokens that an annotator does not count (recorded or fake
    ones) show as ``-`` (or ``N*``, a lower bound, when only some annotators count them).

    Parameters
    ----------
    history : list of dict
        A loop's history.

    Returns
    -------
    str
    """
    if not history or "cost_total" not in history[-1]:
        return "no cost recorded"
    per_round = round_costs(history)
    per_annotator = annotator_costs(history)
    priced = any(r["money"] or r["cached_money"] for r in per_round)
    columns = [c for c in _COLUMNS if priced or c[1] not in ("money", "cached_money")]
    width = max([10] + [len(n) for n in per_annotator]) + 1

    def table(title: str, rows: list[tuple[str, dict]]) -> list[str]:
        head = f"{title:<{width}}" + "".join(f"{label:>12}" for label, _ in columns)
        return [head] + [f"{name:<{width}}" + "".join(_cell(rec, key, 12) for _, key in columns)
                         for name, rec in rows]

    lines = table("round", [(str(r["round"]), r) for r in per_round]
                  + [("total", sum_cost_dicts(per_round))])
    lines += [""] + table("annotator", list(per_annotator.items()))
    if any(not r.get("tokens_counted", True) for r in per_annotator.values()):
        lines.append("(-: tokens not counted by that annotator, e.g. recorded answers; "
                     "N*: counted by only some annotators)")
    return "\n".join(lines)
