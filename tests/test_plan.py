"""``skmollal plan``: the calls, tokens, seconds and money a run will pay, before it pays.

The plan's predicted calls are checked against the calls a run then pays: with recorded
annotators (replays count as calls) and with a live HTTP annotator whose requests the
project's test server counts, with and without a budget.
"""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from skmollal import cli
from skmollal.active_learning.budget import Budget
from skmollal.annotators.costs import CallCost, Price
from skmollal.plan import cascade_shares, per_call, round_sizes, simulate_rounds


# ------------------------------------------------------------------------ pure functions
def test_round_sizes_stop_at_the_rounds_or_the_pool():
    assert round_sizes(120, 50, 4) == [50, 50, 20]
    assert round_sizes(500, 50, 3) == [50, 50, 50]
    assert round_sizes(0, 50, 3) == [] == round_sizes(10, 5, 0)


def test_per_call_is_the_mean_of_paid_and_cached_calls():
    record = {"calls": 3, "cached_calls": 1, "prompt_tokens": 300, "cached_prompt_tokens": 100,
              "completion_tokens": 8, "seconds": 4.0, "cached_seconds": 0.0,
              "tokens_counted": True}
    rate = per_call(record)
    assert (rate.prompt_tokens, rate.completion_tokens, rate.seconds) == (100, 2, 1.0)
    longer = per_call(record, length_ratio=1.5)  # seconds follow the prompt tokens
    assert (longer.prompt_tokens, longer.seconds) == (150, 1.5)


def test_simulated_rounds_stop_where_the_budget_stops_the_loop():
    rates = {"a": CallCost(1, 10, 1, 0.5), "b": CallCost(1, 20, 1, 0.5)}
    spent = {"a": {"calls": 10, "prompt_tokens": 100}, "b": {"calls": 10, "prompt_tokens": 200}}
    sim = simulate_rounds([10, 10, 10], rates, {"a": 1.0, "b": 1.0}, {}, spent,
                          budget=Budget(calls=55))
    # 20 spent; +20 = 40 fits, +20 more = 60 would exceed 55
    assert [r["total"]["calls"] for r in sim.rounds] == [20]
    assert sim.stopped_by["before_round"] == 1
    assert "exceed the budget of 55" in sim.stopped_by["reason"]
    priced = simulate_rounds([10, 10], rates, {"a": 1.0, "b": 0.5}, {"b": 0.5}, spent,
                             prices={"a": Price(per_call=1.0), "b": Price(per_call=2.0)})
    assert priced.cost["a"]["calls"] == 20 and priced.cost["a"]["money"] == 20.0
    assert priced.cost["b"]["calls"] == 5 and priced.cost["b"]["cached_calls"] == 5
    assert priced.total["money"] == 30.0 and priced.stopped_by is None


def test_cascade_shares_follow_the_simulated_stops():
    sure, unsure = [0.9, 0.1], [0.6, 0.4]
    proba = np.array([[sure, sure], [unsure, sure], [unsure, unsure], [sure, unsure]])
    # order: LLM 1 first; texts 1 and 2 are unsure after it and go on to LLM 0
    assert cascade_shares(proba, [1, 0], 0.8) == [0.5, 1.0]


# ------------------------------------------------------------------------ through the CLI
def _paid_after_seed(results: dict) -> dict:
    """Calls each annotator paid in rounds >= 1 (replays of recordings count as calls)."""
    out: dict = {}
    for h in results["history"][1:]:
        for name, rec in h["cost"].items():
            out[name] = out.get(name, 0) + rec["calls"]
    return out


def _plan_then_run(argv, tmp_path, capsys):
    assert cli.main(["plan", *argv]) == 0
    printed = capsys.readouterr().out
    plan = json.loads((tmp_path / "run" / "plan.json").read_text())
    assert "annotator" in printed and "label accuracy the gold seed supports" in printed
    assert cli.main(["run", *argv]) == 0
    capsys.readouterr()
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    return plan, results


def test_plan_predicts_the_calls_a_recorded_run_pays(recordings_dir, tmp_path, capsys):
    argv = ["--recordings", str(recordings_dir), "--task", "trec", "--rounds", "4",
            "--batch", "30", "--pool-size", "100", "--seed-size", "40", "--featurizer",
            "tfidf", "--classifier", "logreg", "--output", str(tmp_path / "run"),
            "--no-progress", "--budget", "calls=560", "--price", "per_call=0.01"]
    plan, results = _plan_then_run(argv, tmp_path, capsys)
    predicted = {name: rec["calls"] for name, rec in plan["cost"].items()}
    assert predicted == _paid_after_seed(results) and sum(predicted.values()) > 0
    # 200 for the seed, 150 a round: the budget of 560 stops the run after two rounds
    assert len(plan["rounds"]) == len(results["history"]) - 1 == 2
    assert plan["stopped_by"]["reason"] == results["stopped_by"]["reason"]
    assert plan["stopped_by"]["before_round"] == results["stopped_by"]["round"] + 1
    assert math.isclose(plan["total"]["money"], 0.01 * sum(predicted.values()))
    acc = plan["accuracy"]
    assert acc["n_gold"] == 40 and acc["interval"][0] <= acc["accuracy"] <= acc["interval"][1]


def _respond(body):
    """A server that answers 'numeric', its usage growing with the prompt's length."""
    chars = sum(len(m["content"]) for m in body["messages"])
    n = int(body.get("n", 1))
    return {"choices": [{"index": i, "message": {"content": "numeric"}} for i in range(n)],
            "usage": {"prompt_tokens": 20 + chars // 4, "completion_tokens": 2 * n}}


def test_plan_predicts_the_requests_a_live_run_pays(tmp_path, capsys):
    pytest.importorskip("httpx")
    from skmollal.testing.server import OpenAITestServer

    with OpenAITestServer(responder=_respond) as srv:
        argv = ["--task", "demo", "--annotator", f"{srv.base_url}#m", "--rounds", "3",
                "--batch", "20", "--seed-size", "16", "--featurizer", "tfidf",
                "--classifier", "logreg", "--mixture", "majority",
                "--output", str(tmp_path / "run"), "--no-progress",
                "--price", "per_prompt_token=0.001"]
        assert cli.main(["plan", *argv]) == 0
        capsys.readouterr()
        seed_requests = len(srv.requests)
        plan = json.loads((tmp_path / "run" / "plan.json").read_text())
        money = plan["spent"]["m"]["money"] + 1.5 * plan["rounds"][0]["total"]["money"]
        budget = ["--budget", f"money={money:.6f}"]
        plan, results = _plan_then_run(argv + budget, tmp_path, capsys)
    assert seed_requests == 16 == len(srv.requests) - sum(_paid_after_seed(results).values())
    assert plan["cost"]["m"]["calls"] == len(srv.requests) - seed_requests == 20
    assert plan["stopped_by"] is not None and results["stopped_by"]["rule"] == "budget"
    paid = sum(h["cost"]["m"]["prompt_tokens"] for h in results["history"][1:])
    assert plan["cost"]["m"]["prompt_tokens"] == pytest.approx(paid, rel=0.1)
