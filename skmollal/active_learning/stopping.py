"""When to stop: pluggable rules the loop evaluates after each round.

A stopping rule looks at the run's history (one record per round, see
:class:`~skmollal.active_learning.MoLLIALoop`) and at what the next round would annotate
(:class:`Upcoming`), and returns why the loop should stop before that round, or None.
:meth:`MoLLIALoop.run <skmollal.active_learning.MoLLIALoop.run>` asks its rules after round 0
and after every round, stops at the first that answers, and writes it into the last history
record as ``stopped_by``. The rules read only the history, so :func:`replay_stopping` tells
where a rule *would* have stopped a finished run, without running anything again.

The rules, after small-text's (``KappaAverage``, stabilising predictions):

* :class:`~skmollal.active_learning.Budget` (in :mod:`.budget`): stop before a round would
  spend more LLM calls, tokens, seconds or money than allowed;
* :class:`KappaAverage`: the classifier's predictions on a fixed sample of pool rows
  (``stop_predictions`` in each record) have stabilised: the mean Cohen's kappa between
  consecutive rounds over the last ``window`` rounds reaches ``kappa`` (Bloodgood and
  Vijay-Shanker's stabilising predictions);
* :class:`StableLabels`: the mixture's labels of the already annotated pool rows
  (``pool_labels``) have stopped changing: at most ``max_changed`` of them changed in each of
  the last ``window`` rounds.

Any object with ``name`` and ``check(history, upcoming)`` is a rule.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence, runtime_checkable

import numpy as np

from ..annotators.costs import parse_numbers
from .budget import Budget, Upcoming

__all__ = ["KappaAverage", "StableLabels", "StoppingRule", "Upcoming",
           "check_stopping", "cohen_kappa", "labels_changed", "replay_stopping",
           "stopping_rules", "stopping_sample", "make_stopping_rule", "STOP_SAMPLE_SIZE",
           "STOPPING_RULES"]

#: Pool rows whose classifier predictions each round records (``stop_predictions``).
STOP_SAMPLE_SIZE = 500


@runtime_checkable
class StoppingRule(Protocol):
    """Anything that decides, after a round, whether the loop stops before the next one."""

    name: str

    def check(self, history: Sequence[dict], upcoming: Upcoming) -> str | None:
        """Why the loop should stop before the ``upcoming`` round, or None to go on."""
        ...


# --------------------------------------------------------------------------- stabilising
def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa between two label vectors; 1.0 when they are identical.

    (Identical constant vectors have no chance-corrected agreement defined; they agree
    fully, so they count as 1.)

    Parameters
    ----------
    a, b : sequence of int
        Labels of the same rows.

    Returns
    -------
    float
    """
    a, b = np.asarray(a, dtype=int), np.asarray(b, dtype=int)
    if a.shape != b.shape:
        raise ValueError(f"cohen_kappa: {a.shape} vs {b.shape} labels")
    if len(a) == 0 or np.array_equal(a, b):
        return 1.0
    classes = np.union1d(a, b)
    pa = np.array([(a == c).mean() for c in classes])
    pb = np.array([(b == c).mean() for c in classes])
    expected = float(pa @ pb)
    observed = float((a == b).mean())
    return 1.0 if expected >= 1.0 else (observed - expected) / (1.0 - expected)


def stopping_sample(candidates: np.ndarray, size: int = STOP_SAMPLE_SIZE,
                    random_state: int | None = None) -> np.ndarray:
    """A fixed random sample of pool rows (sorted) on which predictions are compared.

    Parameters
    ----------
    candidates : ndarray of int
        The pool rows.
    size : int, default=STOP_SAMPLE_SIZE
        Rows drawn (all of them when there are fewer).
    random_state : int or None, default=None
        Seed of the draw.

    Returns
    -------
    ndarray of int
    """
    candidates = np.asarray(candidates, dtype=int)
    if len(candidates) <= size:
        return candidates
    rng = np.random.default_rng([0 if random_state is None else int(random_state), 5709])
    return np.sort(rng.choice(candidates, size=size, replace=False))


def _check_window(rule: Any) -> None:
    if not isinstance(rule.window, (int, np.integer)) or rule.window < 1:
        raise ValueError(f"{type(rule).__name__}: window must be a positive int, got "
                         f"{rule.window!r}")


def _check_between(rule: Any, field: str, low: float, high: float, why: str) -> None:
    """A threshold outside ``[low, high]`` never (or always) fires: refuse it, saying why."""
    value = getattr(rule, field)
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, bool)
    if not number or not low <= value <= high:
        raise ValueError(f"stopping rule {rule.name}: {field} must be a number in "
                         f"[{low:g}, {high:g}] ({why}); got {value!r}")


@dataclass(frozen=True)
class KappaAverage:
    """Stop when the classifier's predictions on a fixed pool sample have stabilised.

    Parameters
    ----------
    kappa : float, default=0.99
        Threshold on the mean Cohen's kappa between consecutive rounds' predictions, in
        [-1, 1].
    window : int, default=3
        Rounds averaged (the last ``window`` kappas, so ``window + 1`` rounds of predictions).
    name : str, default="kappa"
        The rule's name in ``stopped_by``.
    """

    kappa: float = 0.99
    window: int = 3
    name: str = "kappa"

    def __post_init__(self) -> None:
        _check_window(self)
        _check_between(self, "kappa", -1, 1, "Cohen's kappa is at most 1")

    def check(self, history: Sequence[dict], upcoming: Upcoming) -> str | None:
        """Why the predictions count as stable, or None."""
        preds = [rec.get("stop_predictions") for rec in history]
        if len(preds) < self.window + 1 or any(p is None for p in preds[-self.window - 1:]):
            return None
        recent = preds[-self.window - 1:]
        kappas = [cohen_kappa(a, b) for a, b in zip(recent[:-1], recent[1:])]
        mean = float(np.mean(kappas))
        if mean >= self.kappa:
            return (f"mean kappa {mean:.4f} of the predictions between the last "
                    f"{self.window} rounds reached {self.kappa}")
        return None


def labels_changed(previous: Sequence[int], current: Sequence[int]) -> float | None:
    """Share of the rows labeled in ``previous`` whose label differs in ``current``.

    Parameters
    ----------
    previous : sequence of int
        Labels of the annotated rows after the previous round, in annotation order.
    current : sequence of int
        Labels after this round: the same rows first, then the newly annotated ones.

    Returns
    -------
    float or None
        None when ``previous`` is empty.
    """
    previous = np.asarray(previous, dtype=int)
    if len(previous) == 0:
        return None
    return float((np.asarray(current, dtype=int)[: len(previous)] != previous).mean())


@dataclass(frozen=True)
class StableLabels:
    """Stop when the mixture's labels of the annotated pool rows stop changing.

    Parameters
    ----------
    max_changed : float, default=0.01
        Largest share of already annotated rows whose label may change in a round, in
        [0, 1].
    window : int, default=2
        Consecutive rounds that must each stay within ``max_changed``.
    name : str, default="labels"
        The rule's name in ``stopped_by``.
    """

    max_changed: float = 0.01
    window: int = 2
    name: str = "labels"

    def __post_init__(self) -> None:
        _check_window(self)
        _check_between(self, "max_changed", 0, 1, "a share of the annotated rows")

    def check(self, history: Sequence[dict], upcoming: Upcoming) -> str | None:
        """Why the labels count as stable, or None."""
        labels = [rec.get("pool_labels") for rec in history]
        changes = [labels_changed(a, b) for a, b in zip(labels[:-1], labels[1:])
                   if a is not None and b is not None]
        changes = [c for c in changes if c is not None]
        recent = changes[-self.window:]
        if len(recent) == self.window and max(recent) <= self.max_changed:
            return (f"at most {max(recent):.2%} of the annotated rows changed label in each "
                    f"of the last {self.window} rounds (limit {self.max_changed:.2%})")
        return None


#: rule name -> rule class (the command line's ``--stop NAME``)
STOPPING_RULES = {"kappa": KappaAverage, "labels": StableLabels}


def make_stopping_rule(spec: str) -> Any:
    """A rule from ``NAME`` or ``NAME:PARAM=X[,PARAM=Y]`` (e.g. ``kappa:kappa=0.98,window=2``).

    Parameters
    ----------
    spec : str
        A name of :data:`STOPPING_RULES`, optionally with parameters of its class.

    Returns
    -------
    KappaAverage or StableLabels

    Raises
    ------
    ValueError
        If the name or a parameter is unknown (the message lists the names).
    """
    name, _, params = str(spec).partition(":")
    if name not in STOPPING_RULES:
        raise ValueError(f"unknown stopping rule {name!r}; choose one of "
                         f"{sorted(STOPPING_RULES)} (the budget is --budget)")
    rule = STOPPING_RULES[name]
    known = [f for f in rule.__dataclass_fields__ if f != "name"]
    kwargs = parse_numbers(params, known, f"stopping rule {name}")
    return rule(**{k: int(v) if k == "window" else v for k, v in kwargs.items()})


# --------------------------------------------------------------------------- evaluation
def stopping_rules(budget: Budget | None, stopping: Any = None, priced: bool = True
                   ) -> list[Any]:
    """The loop's rules in the order it asks them: the budget, then ``stopping``.

    Parameters
    ----------
    budget : Budget or None
        The loop's budget.
    stopping : rule, list of rules or None
        Its other rules.
    priced : bool, default=True
        Whether any annotator has a price (a money budget needs one).

    Returns
    -------
    list of stopping rules

    Raises
    ------
    TypeError
        If ``budget`` is not a :class:`Budget` or a rule has no ``check``.
    ValueError
        If the budget is in money but no price is known (``priced`` False).
    """
    rules = [] if stopping is None else (
        list(stopping) if isinstance(stopping, (list, tuple)) else [stopping])
    if budget is not None:
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a Budget, got {type(budget).__name__}")
        if budget.money is not None and not priced:
            raise ValueError("a money budget needs prices= (a Price per call, token or "
                             "second)")
        rules.insert(0, budget)
    for rule in rules:
        if not callable(getattr(rule, "check", None)):
            raise TypeError(f"stopping rule {rule!r} has no check(history, upcoming)")
    return rules



def check_stopping(rules: Sequence[Any], history: Sequence[dict],
                   upcoming: Upcoming) -> dict | None:
    """The first rule that stops the loop before the ``upcoming`` round.

    Parameters
    ----------
    rules : list of stopping rules
        Asked in order.
    history : list of dict
        The run's history so far.
    upcoming : Upcoming
        What the next round would annotate.

    Returns
    -------
    dict or None
        ``{"rule": name, "reason": why, "round": last round done}``, or None to go on.
    """
    for rule in rules:
        reason = rule.check(history, upcoming)
        if reason:
            return {"rule": str(getattr(rule, "name", type(rule).__name__)),
                    "reason": str(reason),
                    "round": int(history[-1]["round"]) if history else -1}
    return None


def replay_stopping(rule: Any, history: Sequence[dict], n_llms: int) -> dict:
    """Where ``rule`` would have stopped a finished run, from its history alone.

    Parameters
    ----------
    rule : stopping rule
        E.g. :class:`KappaAverage`, :class:`StableLabels` or a :class:`Budget`.
    history : list of dict
        A run's history (each record with what the rule reads).
    n_llms : int
        Panel size (the next round's calls are its new texts times this).

    Returns
    -------
    dict
        ``round`` (the last round the run would have done), ``n_labeled`` at it, ``stopped``
        (False when the rule never fired and the run went to its end) and ``reason``.
    """
    if not history:
        raise ValueError("replay_stopping: the history is empty")
    for r in range(len(history) - 1):
        nxt = history[r + 1]["n_annotated"] - history[r]["n_annotated"]
        reason = rule.check(history[: r + 1], Upcoming(int(nxt), int(n_llms)))
        if reason:
            return {"round": int(history[r]["round"]), "n_labeled": history[r]["n_labeled"],
                    "stopped": True, "reason": reason}
    last = history[-1]
    return {"round": int(last["round"]), "n_labeled": last["n_labeled"], "stopped": False,
            "reason": None}
