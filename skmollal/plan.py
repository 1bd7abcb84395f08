"""What a run will cost before it pays for more than the seed: ``skmollal plan``.

After round 0 (every LLM has annotated the gold seed: paid once, and kept in the
annotation cache and the run's state), :func:`make_plan` predicts the rest of the run:

* **rounds and texts**: each round annotates ``batch`` texts of the pool not annotated yet
  (fewer once the pool runs out), until ``rounds`` rounds are done;
* **calls** per annotator: each round's texts, times the share of texts an LLM is asked
  about (1 without a cascade; with ``cascade``, the share of the gold rows whose cascade,
  simulated out of fold on them, reached that LLM), less the texts its cache already holds;
* **tokens, seconds and money** per call: the mean cost of that annotator's calls so far
  (the seed's), its prompt tokens moved by how much longer or shorter the pool's texts are
  than the seed's (counted with the annotator's tokenizer where it has one, else as
  characters / 4), its seconds in proportion to its prompt tokens; money at the run's
  prices;
* **budget**: the run's :class:`~skmollal.active_learning.Budget` is asked before every
  round, as the loop asks it, on the predicted spending (so a calls budget stops the plan
  where it stops the run; a tokens, seconds or money budget where the predicted costs say);
  other stopping rules (``--stop``) may end the run sooner, and are not predicted;
* **label accuracy** the gold seed supports: the run's mixture, cross-validated over the
  gold rows on their LLM signals (out of fold, with its 95 % Wilson interval), next to
  majority vote and each LLM alone on the same rows.

The functions that predict (:func:`per_call`, :func:`round_sizes`, :func:`simulate_rounds`,
:func:`seed_accuracy`, :func:`cascade_shares`) take numbers, not a loop; :func:`make_plan`
reads them off a started loop, and :func:`format_plan` prints the plan as a table.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from sklearn.base import clone
from sklearn.utils import Bunch

from .active_learning.budget import Budget
from .active_learning.cost_report import _cell
from .active_learning.stopping import Upcoming
from .aggregation.mixture import MixtureAggregator
from .annotators.costs import AnnotatorCost, CallCost, add_cost_dicts, sum_cost_dicts

__all__ = ["make_plan", "format_plan", "write_plan", "simulate_rounds", "seed_accuracy"]

#: Characters per token where an annotator has no tokenizer to count with.
CHARS_PER_TOKEN = 4


def per_call(record: Mapping[str, Any], length_ratio: float = 1.0) -> CallCost:
    """The mean cost of one call from an annotator's flat cost record (paid and cached).

    Parameters
    ----------
    record : dict
        :meth:`~skmollal.annotators.costs.AnnotatorCost.to_dict` of the calls so far.
    length_ratio : float, default=1.0
        Prompt tokens of a coming call over those of a past one (seconds scale with them).

    Returns
    -------
    CallCost
        One call (tokens and seconds may be fractional: means).
    """
    n = record.get("calls", 0) + record.get("cached_calls", 0)
    if not n:
        return CallCost(calls=1, tokens_counted=False)
    prompt = (record.get("prompt_tokens", 0) + record.get("cached_prompt_tokens", 0)) / n
    return CallCost(1, prompt * length_ratio,
                    (record.get("completion_tokens", 0)
                     + record.get("cached_completion_tokens", 0)) / n,
                    (record.get("seconds", 0.0) + record.get("cached_seconds", 0.0)) / n
                    * length_ratio, bool(record.get("tokens_counted", False)))


def round_sizes(n_candidates: int, batch: int, rounds_left: int) -> list[int]:
    """Texts each coming round annotates: ``batch`` until the pool runs out.

    Examples
    --------
    >>> round_sizes(120, 50, 4)
    [50, 50, 20]
    """
    sizes, left = [], int(n_candidates)
    for _ in range(max(0, int(rounds_left))):
        if left <= 0:
            break
        sizes.append(min(int(batch), left))
        left -= sizes[-1]
    return sizes


def _scaled(cost: CallCost, k: float) -> CallCost:
    calls = cost.calls * k
    return CallCost(int(calls) if float(calls).is_integer() else calls, cost.prompt_tokens * k,
                    cost.completion_tokens * k, cost.seconds * k, cost.tokens_counted)


def simulate_rounds(sizes: Sequence[int], rates: Mapping[str, CallCost],
                    shares: Mapping[str, float], cached: Mapping[str, float],
                    spent: Mapping[str, Mapping], prices: Mapping[str, Any] | None = None,
                    budget: Budget | None = None) -> Bunch:
    """The coming rounds' predicted cost per annotator, stopping where the budget would.

    Parameters
    ----------
    sizes : sequence of int
        Texts per coming round (:func:`round_sizes`).
    rates : dict of str to CallCost
        Each annotator's cost of one call (:func:`per_call`), by cost name.
    shares : dict of str to float
        Share of a round's texts each annotator is asked about (1 without a cascade).
    cached : dict of str to float
        Share of those its cache already holds (served, not paid).
    spent : dict of str to dict
        Each annotator's cost so far (flat records): where the budget starts from.
    prices : dict of str to Price, optional
        Each annotator's price (None or missing: no money).
    budget : Budget, optional
        The run's budget, asked before every round as the loop asks it.

    Returns
    -------
    Bunch
        ``rounds`` (per round: ``texts``, ``cost`` per annotator, ``total``),
        ``cost`` (per annotator, the coming rounds summed), ``total`` and ``stopped_by``
        (``{"before_round", "reason"}`` or None; ``before_round``: the first round not run,
        counted from the first coming one as 0).
    """
    prices = prices or {}
    so_far = {name: dict(spent.get(name, {})) for name in rates}
    coming = {name: AnnotatorCost().to_dict() for name in rates}
    rounds, stopped = [], None
    for r, texts in enumerate(sizes):
        reason = (budget.check([{"cost_total": so_far}], Upcoming(texts, len(rates)))
                  if budget is not None else None)
        if reason is not None:
            stopped = {"before_round": r, "reason": reason}
            break
        cost = {}
        for name, rate in rates.items():
            asked, hit = texts * shares.get(name, 1.0), cached.get(name, 0.0)
            cost[name] = AnnotatorCost(_scaled(rate, asked * (1 - hit)),
                                       _scaled(rate, asked * hit)).to_dict(prices.get(name))
            coming[name] = add_cost_dicts(coming[name], cost[name])
            so_far[name] = add_cost_dicts(so_far[name], cost[name])
        rounds.append({"texts": int(texts), "cost": cost, "total": sum_cost_dicts(cost)})
    return Bunch(rounds=rounds, cost=coming, total=sum_cost_dicts(coming), stopped_by=stopped)


def seed_accuracy(mixture: Any, S: np.ndarray, y: np.ndarray, cv: int = 5,
                  random_state: int = 0) -> Bunch:
    """The label accuracy the gold rows support: the mixture predicted out of fold.

    Parameters
    ----------
    mixture : aggregator
        The run's label fusion (cloned, unfitted, per fold).
    S : ndarray of shape (n_gold, n_llms, 2, n_classes)
        The gold rows' signals (every LLM).
    y : ndarray of shape (n_gold,)
        Their gold class indices.
    cv : int, default=5
        Folds.
    random_state : int, default=0
        Seed of the folds.

    Returns
    -------
    Bunch
        ``accuracy``, ``interval`` (95 % Wilson), ``n_gold`` (rows it rests on),
        ``majority_vote`` and ``llm_accuracy`` (each LLM alone, votes' argmax) on them.
    """
    from .cascade.seed import llm_accuracy
    from .aggregation.gold_cv import cross_val_gold_proba
    from .aggregation.report import wilson_interval

    S, y = np.asarray(S, dtype=float), np.asarray(y, dtype=int)
    rows, oof = cross_val_gold_proba(clone(mixture), S, y, cv=cv, random_state=random_state,
                                     n_classes=S.shape[3])
    hits = int((oof.argmax(axis=1) == y[rows]).sum())
    majority = float((S[:, :, 1].sum(axis=1).argmax(axis=1) == y).mean())
    return Bunch(accuracy=hits / len(rows) if len(rows) else float("nan"),
                 interval=list(wilson_interval(hits, len(rows))), n_gold=int(len(rows)),
                 majority_vote=majority, llm_accuracy=llm_accuracy(S, y).tolist())


def cascade_shares(proba: np.ndarray, order: Sequence[int], threshold: float) -> list[float]:
    """Share of texts a cascade asks each LLM, from the posteriors of every prefix.

    Parameters
    ----------
    proba : ndarray of shape (n_texts, n_llms, n_classes)
        Out-of-fold posterior of every prefix of ``order`` on the gold rows
        (:func:`~skmollal.cascade.seed.prefix_oof_proba`).
    order : sequence of int
        The order the LLMs are asked in.
    threshold : float
        The cascade's threshold.

    Returns
    -------
    list of float
        One share per LLM, in panel order (the first asked: 1.0).
    """
    from .cascade.seed import simulate_cascade

    _, n_asked = simulate_cascade(proba, threshold)
    shares = [0.0] * len(order)
    for k, j in enumerate(order):
        shares[int(j)] = float((n_asked > k).mean())
    return shares


def text_tokens(annotator: Any, texts: Sequence[str]) -> float:
    """Mean tokens of ``texts`` by the annotator's tokenizer (else characters / 4)."""
    inner = getattr(annotator, "annotator", annotator)  # a CachedAnnotator's
    tokenizer = getattr(inner, "tokenizer", None)
    if not texts:
        return 0.0
    if callable(getattr(tokenizer, "encode", None)):
        return float(np.mean([len(tokenizer.encode(t, add_special_tokens=False))
                              for t in texts]))
    return float(np.mean([math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]))


def cached_share(annotator: Any, texts: Sequence[str]) -> float:
    """Share of ``texts`` an annotator's cache already holds (0 without a cache)."""
    cache = getattr(annotator, "cache", None)
    if not texts or not callable(getattr(cache, "get", None)):
        return 0.0
    return len(cache.get(annotator.identity(), list(texts))) / len(texts)


# ------------------------------------------------------------------ a started loop
def _shares(loop: Any, names: list[str], S: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Share of texts each LLM is asked: 1, or a cascade's simulated on the gold rows."""
    from .cascade.seed import prefix_oof_proba
    from .cascade import is_cascade

    panel = loop.panel
    if not is_cascade(panel):
        return {name: 1.0 for name in names}
    panel.fit_signals(S, y)  # the order and threshold round 1 will use (no LLM call)
    fusion = MixtureAggregator() if panel.mixture is None else panel.mixture
    rows, proba = prefix_oof_proba(fusion, S, y, panel.order_)
    return dict(zip(names, cascade_shares(proba, panel.order_, panel.threshold_)))


def make_plan(loop: Any, texts: Sequence[str], rounds: int) -> Bunch:
    """The plan of a started loop (round 0 done) for ``rounds`` rounds in all.

    Parameters
    ----------
    loop : MoLLIALoop
        After :meth:`~skmollal.active_learning.MoLLIALoop.start` (or a resume).
    texts : sequence of str
        The loop's texts (one per row).
    rounds : int
        Rounds the run is asked for (as ``run(rounds)``: those done count).

    Returns
    -------
    Bunch
        ``rounds_done``, ``texts_left`` (pool texts not annotated), ``spent`` (per
        annotator so far), ``rates`` (one call's predicted cost per annotator), ``shares``,
        ``cached``, the :func:`simulate_rounds` result's ``rounds``, ``cost``, ``total``,
        ``stopped_by``, and ``accuracy`` (:func:`seed_accuracy`).
    """
    from .annotators.costs import cost_names, price_for
    from .annotators.panel import panel_annotators

    state = loop.state
    annotators = panel_annotators(loop.panel)
    names = cost_names(annotators)
    spent = {name: loop.cost.get(name, AnnotatorCost().to_dict()) for name in names}
    seen = [texts[i] for i in state.annotated_rows()]
    pool = [texts[i] for i in state.candidates()]
    rates, cached, prices = {}, {}, {}
    for name, annotator in zip(names, annotators):
        base = per_call(spent[name]).prompt_tokens
        extra = text_tokens(annotator, pool) - text_tokens(annotator, seen)
        rates[name] = per_call(spent[name], (base + extra) / base if base > 0 else 1.0)
        cached[name] = cached_share(annotator, pool)
        prices[name] = price_for(loop.prices, getattr(annotator, "name", ""))
    S, y = state.signals[state.seed_idx], state.seed_y
    shares = _shares(loop, names, S, y)
    sizes = round_sizes(len(pool), loop.batch_size, int(rounds) - state.round)
    sim = simulate_rounds(sizes, rates, shares, cached, spent, prices, loop.budget)
    if sim.stopped_by is not None:
        sim.stopped_by["before_round"] += state.round + 1  # the loop's numbering
    try:
        accuracy = seed_accuracy(MixtureAggregator() if loop.mixture is None else loop.mixture,
                                 S, y)
    except Exception as exc:  # noqa: BLE001 - e.g. a mixture that needs the texts' view
        accuracy = Bunch(accuracy=None, note=f"not estimated: {exc}")
    return Bunch(rounds_done=int(state.round), texts_left=len(pool), spent=spent,
                 rates={k: v.to_dict() for k, v in rates.items()}, shares=shares,
                 cached=cached, **sim, accuracy=accuracy)


_COLUMNS = (("calls", "calls"), ("cached", "cached_calls"), ("prompt tok", "prompt_tokens"),
            ("compl. tok", "completion_tokens"), ("LLM s", "seconds"), ("money", "money"))


def format_plan(plan: Mapping[str, Any]) -> str:
    """The plan as text: the coming rounds' cost per annotator, the budget, the accuracy.

    Parameters
    ----------
    plan : dict
        :func:`make_plan`'s result (or its JSON).

    Returns
    -------
    str
    """
    rows = [(name, {k: round(v) if k in ("calls", "cached_calls", "prompt_tokens",
                                           "completion_tokens") else v
                    for k, v in rec.items()}) for name, rec in plan["cost"].items()]
    total = sum_cost_dicts(dict(rows))
    width = max([10] + [len(n) for n, _ in rows]) + 1
    priced = total["money"] > 0
    columns = [c for c in _COLUMNS if priced or c[1] != "money"]
    n_texts = sum(r["texts"] for r in plan["rounds"])
    lines = [f"Plan: {len(plan['rounds'])} more round(s), {n_texts} of the {plan['texts_left']} "
             f"pool texts not annotated yet ({plan['rounds_done']} round(s) done; already "
             f"paid: {sum_cost_dicts(plan['spent'])['calls']} LLM calls)",
             f"{'annotator':<{width}}" + "".join(f"{h:>12}" for h, _ in columns)]
    for name, rec in rows + [("total", total)]:
        lines.append(f"{name:<{width}}" + "".join(_cell(rec, k, 12) for _, k in columns))
    stop = plan.get("stopped_by")
    if stop:
        lines.append(f"the budget stops the run before round {stop['before_round']}: "
                     f"{stop['reason']}")
    acc = plan["accuracy"]
    if acc.get("accuracy") is None:
        lines.append(f"label accuracy: {acc.get('note')}")
    else:
        low, high = acc["interval"]
        lines.append(f"label accuracy the gold seed supports (the mixture, out of fold on "
                     f"{acc['n_gold']} gold rows): {acc['accuracy']:.3f} [{low:.3f}, "
                     f"{high:.3f}]; majority vote {acc['majority_vote']:.3f}; each LLM "
                     + ", ".join(f"{a:.3f}" for a in acc["llm_accuracy"])
                     + (" (under 20 gold rows: a rough estimate)" if acc["n_gold"] < 20 else ""))
    lines.append("(tokens and seconds: the calls so far, per call, adjusted to the pool texts' "
                 "length; --stop rules may end the run sooner)")
    return "\n".join(lines)


def write_plan(loop: Any, texts: Sequence[str], rounds: int, folder: str | Path) -> dict:
    """Run round 0 of ``loop`` (if not done), plan the rest, write ``plan.json``.

    Parameters
    ----------
    loop : MoLLIALoop
        Not started, or resumed; released afterwards.
    texts : sequence of str
        Its texts.
    rounds : int
        Rounds the run is asked for.
    folder : str or path
        Where ``plan.json`` goes.

    Returns
    -------
    dict
        ``plan`` (the JSON record), ``plan_text`` (:func:`format_plan`, and where the JSON
        is) and ``files``.
    """
    try:
        loop.start()  # the gold seed: paid once, cached, kept in the state
        plan = make_plan(loop, texts, rounds)
    finally:
        loop.release()
    record = json.loads(json.dumps(plan, default=lambda v: v.item() if hasattr(v, "item")
                                   else list(v)))
    path = Path(folder) / "plan.json"
    path.write_text(json.dumps(record, indent=1))
    return {"plan": record, "plan_text": f"{format_plan(record)}\nplan (JSON): {path}",
            "files": {"plan": str(path)}}
