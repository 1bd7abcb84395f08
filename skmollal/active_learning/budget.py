"""The budget: stop before a round would spend more LLM calls, tokens, seconds or money.

:class:`Budget` is a stopping rule (see :mod:`skmollal.active_learning.stopping`): it reads
the cost records of the loop's history (``cost_total``, see
:mod:`skmollal.annotators.costs`) and what the next round would annotate.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..annotators.costs import parse_numbers, sum_cost_dicts

__all__ = ["Budget", "Upcoming", "spent"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Upcoming:
    """What the next round would annotate.

    Parameters
    ----------
    texts : int
        New texts the round would annotate.
    llms : int
        LLMs of the panel (each text is asked of every one).
    """

    texts: int
    llms: int

    @property
    def calls(self) -> int:
        """LLM calls of the round (an upper bound: the cache may serve some)."""
        return self.texts * self.llms




def spent(history: Sequence[dict]) -> dict:
    """The run's cost so far, summed over the annotators (a flat cost record).

    Parameters
    ----------
    history : list of dict
        The loop's history; each record's ``cost_total`` holds the cost up to that round
        per annotator.

    Returns
    -------
    dict
        :meth:`~skmollal.annotators.costs.AnnotatorCost.to_dict` keys: ``calls``,
        ``prompt_tokens``, ... (paid) and ``cached_*`` (what the cache served).
    """
    last = history[-1].get("cost_total", {}) if history else {}
    return sum_cost_dicts(last)


@dataclass(frozen=True)
class Budget:
    """Stop before a round would exceed a budget of LLM calls, tokens, seconds or money.

    Parameters
    ----------
    calls : int, optional
        LLM calls paid (texts x LLMs; answers served from the cache are free).
    tokens : int, optional
        Prompt plus completion tokens paid.
    seconds : float, optional
        Wall-clock seconds of annotation paid (the LLMs' time, not training).
    money : float, optional
        Money paid, at the loop's ``prices``.
    name : str, default="budget"
        The rule's name in ``stopped_by``.

    Notes
    -----
    The next round's calls are known before it runs (its texts times the panel size; the
    cache can only lower them), so a calls budget is never exceeded. Its tokens, seconds and
    money are estimated as the mean cost per call so far (cached answers counted at their
    original cost) times its calls: a round dearer than the mean can overshoot those
    budgets, by at most its own deviation from the mean (one round's variance). The gold
    seed's annotation (round 0) must be paid whatever the budget: a calls budget smaller
    than it is refused when the loop starts.

    Examples
    --------
    >>> from skmollal.active_learning.stopping import Upcoming
    >>> Budget(calls=100).check([{"cost_total": {"m": {"calls": 80}}}], Upcoming(10, 2))
    'calls: 80 spent + 20 for the next round would exceed the budget of 100'
    """

    calls: int | None = None
    tokens: int | None = None
    seconds: float | None = None
    money: float | None = None
    name: str = "budget"

    def __post_init__(self) -> None:
        limits = {k: getattr(self, k) for k in ("calls", "tokens", "seconds", "money")}
        if all(v is None for v in limits.values()):
            raise ValueError("Budget: give at least one of calls, tokens, seconds, money")
        for key, value in limits.items():
            if value is not None and (not isinstance(value, (int, float, np.number))
                                      or isinstance(value, bool) or not value >= 0):
                raise ValueError(f"Budget: {key} must be a number >= 0, got {value!r}")

    @classmethod
    def parse(cls, spec: str) -> "Budget":
        """A budget from ``"calls=2000,money=1.5"`` (the command line's ``--budget``).

        Raises
        ------
        ValueError
            On an unknown key or a value that is not a number.
        """
        values = parse_numbers(spec, ["calls", "tokens", "seconds", "money"], "budget")
        return cls(**{k: int(v) if k in ("calls", "tokens") else v for k, v in values.items()})

    def check(self, history: Sequence[dict], upcoming: Upcoming) -> str | None:
        """Why the ``upcoming`` round would exceed the budget, or None."""
        so_far = spent(history)
        if (self.calls is not None
                and so_far["calls"] + upcoming.calls > self.calls):
            return (f"calls: {so_far['calls']} spent + {upcoming.calls} for the next round "
                    f"would exceed the budget of {self.calls}")
        seen_calls = so_far["calls"] + so_far["cached_calls"]
        for key, limit, paid, total in (
                ("tokens", self.tokens, so_far["prompt_tokens"] + so_far["completion_tokens"],
                 so_far["prompt_tokens"] + so_far["completion_tokens"]
                 + so_far["cached_prompt_tokens"] + so_far["cached_completion_tokens"]),
                ("seconds", self.seconds, so_far["seconds"],
                 so_far["seconds"] + so_far["cached_seconds"]),
                ("money", self.money, so_far["money"],
                 so_far["money"] + so_far["cached_money"])):
            if limit is None:
                continue
            if key == "tokens" and seen_calls and not so_far["tokens_counted"]:
                logger.warning("budget: some annotators do not count tokens; the tokens "
                               "budget sees only those that do")
            estimate = total / seen_calls * upcoming.calls if seen_calls else 0.0
            if paid + estimate > limit:
                return (f"{key}: {paid:.6g} spent + about {estimate:.6g} for the next round "
                        f"would exceed the budget of {limit:.6g}")
        return None
