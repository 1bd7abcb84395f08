"""Cost accounting: per-call costs of every backend, the cache's saving, the loop's records,
the command line's tables, and budgets that stop the loop before they are exceeded."""
from __future__ import annotations

import json
import re
from collections import defaultdict

import numpy as np
import pytest

from skmollal import cli
from skmollal.active_learning import Budget, MoLLIALoop
from skmollal.active_learning.cost_report import format_costs, round_costs
from skmollal.active_learning.budget import Upcoming, spent
from skmollal.annotators import specs
from skmollal.annotators.base import AnnotationResult
from skmollal.annotators.cache import AnnotationCache, CachedAnnotator
from skmollal.annotators.costs import (AnnotatorCost, CallCost, Price, parse_prices,
                                       price_for, sum_cost_dicts)
from skmollal.annotators.panel import LLMPanel, annotate_with_costs

from test_cli import _write_csv
from skmollal.testing.pool import LABELS, CountingAnnotator, MeanProbMixture, SpyClassifier, seed_y


class TokenAnnotator(CountingAnnotator):
    """A counting fake that reports tokens: one prompt token per word, 2 completion tokens."""

    def identity(self):
        return f"tokens:{self.name}"

    def annotate(self, texts):
        result = super().annotate(texts)
        result.costs = [CallCost(1, len(t.split()), 2, 0.01) for t in texts]
        return result


# --------------------------------------------------------------------------- records
def test_call_cost_sums_prices_and_dicts():
    a = CallCost(2, 30, 4, 1.5)
    b = CallCost(1, 0, 0, 0.5, tokens_counted=False)
    assert a + b == CallCost(3, 30, 4, 2.0, tokens_counted=False)
    assert (a + b).total_tokens == 34
    price = Price(per_call=0.1, per_prompt_token=0.01, per_completion_token=0.02, per_second=1)
    assert a.money(price) == pytest.approx(0.2 + 0.3 + 0.08 + 1.5)
    assert a.money(None) == 0.0
    assert CallCost.from_dict(a.to_dict()) == a
    assert CallCost.from_dict(None) == CallCost(calls=1, tokens_counted=False)
    cost = AnnotatorCost.from_rows([a, b, a], from_cache=[False, True, False])
    assert cost.paid == a + a and cost.cached == b and cost.total == a + a + b
    record = cost.to_dict(price)
    assert record["calls"] == 4 and record["cached_calls"] == 1
    assert record["money"] == pytest.approx(2 * a.money(price))
    assert record["cached_money"] == pytest.approx(b.money(price))
    assert not record["tokens_counted"]
    total = sum_cost_dicts({"x": record, "y": record})
    assert total["calls"] == 8 and total["cached_seconds"] == pytest.approx(1.0)


def test_prices_parse_and_lookup():
    assert Price.parse("per_token=2e-6") == Price(per_prompt_token=2e-6, per_completion_token=2e-6)
    prices = parse_prices(["per_call=0.5", "smollm2-135m/p0:per_second=0.001"])
    assert price_for(prices, "other") == Price(per_call=0.5)
    assert price_for(prices, "smollm2-135m/p0") == Price(per_second=0.001)
    assert price_for({"a": "per_call=1"}, "a") == Price(per_call=1.0)
    assert price_for({"a": {"per_call": 2}}, "b") is None
    for bad in ("per_cal=1", "per_call=x", "per_call=-1", ""):
        with pytest.raises(ValueError):
            Price.parse(bad)


def test_annotation_result_checks_and_concatenates_costs():
    p = np.full((2, 3), 1 / 3)
    with pytest.raises(ValueError, match="one CallCost per text"):
        AnnotationResult(p, p, costs=[CallCost(1)])
    r1 = AnnotationResult(p, p, costs=[CallCost(1, 5), CallCost(1, 6)])
    r2 = AnnotationResult(p, p, costs=[CallCost(1, 7), CallCost(1, 8)], from_cache=[True, False])
    joined = AnnotationResult.concatenate([r1, r2])
    assert joined.cost.paid == CallCost(3, 19) and joined.cost.cached == CallCost(1, 7)
    assert AnnotationResult.concatenate([r1, AnnotationResult(p, p)]).cost is None


# --------------------------------------------------------------------------- the cache
def test_cache_replay_reports_the_original_cost_as_saved(tmp_path):
    cache = AnnotationCache(tmp_path / "a.sqlite")
    inner = TokenAnnotator("t")
    cached = CachedAnnotator(inner, cache)
    texts = ["one alpha", "two words beta", "one alpha"]  # a repeat: annotated once
    first = cached.annotate(texts).cost
    assert inner.calls == 2
    assert first.paid == CallCost(2, 5, 4, first.paid.seconds)
    assert first.cached == CallCost(1, 2, 2, first.cached.seconds)  # the repeat
    again = CachedAnnotator(TokenAnnotator("t"), cache).annotate(texts + ["new gamma"]).cost
    assert again.paid.calls == 1 and again.paid.prompt_tokens == 2
    # the cached texts report what they cost when they were paid for
    assert again.cached.calls == 3 and again.cached.prompt_tokens == 7
    assert again.cached.completion_tokens == 6
    assert again.cached.seconds == pytest.approx(0.03)


def test_cache_entries_without_cost_count_one_unknown_call(tmp_path):
    cache = AnnotationCache(tmp_path / "a.sqlite")
    p = np.array([[0.9, 0.05, 0.05]])
    cache.put(TokenAnnotator("t").identity(), ["old alpha"], AnnotationResult(p, p))
    cost = CachedAnnotator(TokenAnnotator("t"), cache).annotate(["old alpha"]).cost
    assert cost.paid.calls == 0 and cost.cached == CallCost(1, tokens_counted=False)


def test_panel_bills_annotators_without_costs_one_call_per_text():
    panel = [CountingAnnotator("a"), TokenAnnotator("b")]
    texts = ["x alpha", "y z beta", "w gamma"]
    for who in (panel, LLMPanel(panel, show_progress=False, batch_size=2)):
        signals, costs = annotate_with_costs(who, texts)
        assert signals.shape == (3, 2, 2, 3)
        assert costs[0].paid.calls == 3 and not costs[0].paid.tokens_counted
        assert costs[1].paid == CallCost(3, 7, 6, costs[1].paid.seconds)


# --------------------------------------------------------------------------- the loop
def make_loop(panel, ys, X, texts, **kw):
    kw.setdefault("batch_size", 10)
    return MoLLIALoop(SpyClassifier(), panel, X, ys, texts=texts, mixture=MeanProbMixture(),
                      random_state=0, **kw)


def test_loop_history_counts_calls_and_tokens_per_annotator(pool, tmp_path):
    X, texts, y = pool
    ys = seed_y(y)
    panel = [CountingAnnotator("a"), TokenAnnotator("b", seed=1)]
    loop = make_loop(panel, ys, X, texts, prices={"b": Price(per_prompt_token=0.5)})
    hist = loop.run(3)
    for ann in panel:
        assert loop.cost[ann.name]["calls"] == ann.calls == 15 + 3 * 10
        assert [h["cost"][ann.name]["calls"] for h in hist] == [15, 10, 10, 10]
    b_tokens = sum(len(t.split()) for t in panel[1].seen)
    assert loop.cost["b"]["prompt_tokens"] == b_tokens and loop.cost["b"]["tokens_counted"]
    assert loop.cost["b"]["money"] == pytest.approx(0.5 * b_tokens)
    assert loop.cost["a"]["money"] == 0 and not loop.cost["a"]["tokens_counted"]
    assert [r["calls"] for r in round_costs(hist)] == [30, 20, 20, 20]
    assert spent(hist)["calls"] == 90 == loop.llm_calls
    table = format_costs(hist)
    assert re.search(r"^b\s+45\s+0\s+" + str(b_tokens), table, re.M)
    assert re.search(r"^a\s+45\s+0\s+-\s+-", table, re.M)


def test_interrupted_round_keeps_the_cost_of_its_paid_chunks(pool, tmp_path):
    X, texts, y = pool
    ys = seed_y(y)
    broken = [CountingAnnotator("a", fail_after=15 + 8), CountingAnnotator("b", seed=1)]
    loop = make_loop(broken, ys, X, texts, output_dir=tmp_path, annotate_chunk=4)
    with pytest.raises(RuntimeError, match="server went away"):
        loop.run(1)
    fresh = [CountingAnnotator("a"), CountingAnnotator("b", seed=1)]
    resumed = MoLLIALoop.resume(tmp_path, SpyClassifier(), fresh, X, ys, texts=texts,
                                mixture=MeanProbMixture(), batch_size=10, random_state=0,
                                annotate_chunk=4)
    hist = resumed.run(1)
    assert [a.calls for a in fresh] == [2, 2]  # two chunks of 4 were paid before the failure
    assert hist[-1]["cost"]["a"]["calls"] == hist[-1]["cost"]["b"]["calls"] == 10


# --------------------------------------------------------------------------- budgets
def test_budget_in_calls_stops_before_it_is_exceeded(pool):
    X, texts, y = pool
    ys = seed_y(y)
    panel = [CountingAnnotator("a"), CountingAnnotator("b", seed=1)]
    loop = make_loop(panel, ys, X, texts, budget=Budget(calls=105))
    hist = loop.run(10)
    paid = sum(a.calls for a in panel)
    # seed 15 x 2, then 20 per round: 30, 50, 70, 90; one more round would make 110
    assert paid == 90 <= 105 and paid + 20 > 105
    assert hist[-1]["round"] == 3 and hist[-1]["stopped_by"]["rule"] == "budget"
    assert loop.stopped_by_["reason"].startswith("calls: 90 spent + 20")
    # exactly at the budget is allowed
    exact = [CountingAnnotator("a"), CountingAnnotator("b", seed=1)]
    make_loop(exact, ys, X, texts, budget=Budget(calls=110)).run(10)
    assert sum(a.calls for a in exact) == 110


def test_budget_in_tokens_and_money_uses_the_mean_per_call(pool):
    X, texts, y = pool
    ys = seed_y(y)
    panel = [TokenAnnotator("a")]
    loop = make_loop(panel, ys, X, texts, budget=Budget(money=80.0),
                     prices=Price(per_completion_token=1.0))
    loop.run(10)
    # 2 completion tokens per call at 1.0: 30 for the seed, 20 per round
    assert panel[0].calls == 35 and loop.stopped_by_["rule"] == "budget"
    tokens = [TokenAnnotator("a")]
    budget = Budget(tokens=260)
    loop = make_loop(tokens, ys, X, texts, budget=budget)
    hist = loop.run(10)
    used = spent(hist)["prompt_tokens"] + spent(hist)["completion_tokens"]
    assert used <= 260
    assert budget.check(hist, Upcoming(10, 1)) is not None


def test_budget_refuses_a_seed_it_cannot_pay_and_money_without_prices(pool):
    X, texts, y = pool
    ys = seed_y(y)
    with pytest.raises(ValueError, match="cannot pay for annotating the gold seed"):
        make_loop([CountingAnnotator("a")], ys, X, texts, budget=Budget(calls=10)).run(2)
    with pytest.raises(ValueError, match="money budget needs prices"):
        make_loop([CountingAnnotator("a")], ys, X, texts, budget=Budget(money=1)).run(2)
    with pytest.raises(ValueError, match="at least one"):
        Budget()
    with pytest.raises(ValueError, match="not KEY=NUMBER"):
        Budget.parse("cals=3")
    assert Budget.parse("calls=100,seconds=2.5") == Budget(calls=100, seconds=2.5)


def test_classifier_takes_budget_and_reports_cost(pool):
    from skmollal.active_learning import MoLLIAClassifier
    from sklearn.preprocessing import FunctionTransformer

    X, texts, y = pool
    ys = seed_y(y)
    panel = [CountingAnnotator("a")]
    clf = MoLLIAClassifier(panel, featurizer=FunctionTransformer(lambda t: X[:len(t)]),
                           estimator=SpyClassifier(), mixture=MeanProbMixture(),
                           n_rounds=9, batch_size=10, budget=Budget(calls=40), random_state=0)
    clf.fit(texts, ys)
    assert panel[0].calls == 35 and clf.cost_["a"]["calls"] == 35
    assert clf.stopped_by_["rule"] == "budget"


# --------------------------------------------------------------------------- command line
def _printed_annotator_rows(out: str) -> dict[str, list[str]]:
    """The rows of the printed per-annotator cost table, by annotator name."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("annotator "))
    rows = {}
    for line in lines[start + 1:]:
        if not line.strip() or line.startswith(("(", "stopped")) or line.split()[0][-1] == ":":
            break
        name, *cells = line.split()
        rows[name] = cells
    return rows


def test_cli_prints_costs_and_stops_at_the_budget(tmp_path, monkeypatch, capsys):
    pytest.importorskip("skmollal.aggregation")
    made = []

    def fake(spec, labels, recordings=None, task_name=None):
        made.append(TokenAnnotator(spec, noise=0.2, seed=len(made)))
        return made[-1]

    monkeypatch.setattr(specs, "build_annotator", fake)
    data = tmp_path / "data.csv"
    _write_csv(data)
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "x", "--annotator", "y",
            "--mixture", "majority", "--featurizer", "tfidf", "--classifier", "logreg",
            "--rounds", "5", "--batch", "10", "--seed-size", "12", "--output", str(out),
            "--no-progress", "--budget", "calls=70", "--price", "x:per_call=0.5"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    res = json.loads((out / "results.json").read_text())
    # seed 12 x 2 = 24, then 20 per round: 44, 64; a third round would make 84 > 70
    assert [h["n_labeled"] for h in res["history"]] == [12, 22, 32]
    assert res["stopped_by"]["rule"] == "budget" and "stopped after round 2 by budget" in printed
    rows = _printed_annotator_rows(printed)
    for ann in made:
        calls, cached, prompt, completion, seconds, money, saved = rows[ann.name]
        assert int(calls) == ann.calls == res["cost"][ann.name]["calls"] == 32
        assert int(prompt) == sum(len(t.split()) for t in ann.seen)
        assert int(completion) == 2 * ann.calls and float(seconds) >= 0
    assert float(rows["x"][5]) == pytest.approx(16.0) and float(rows["y"][5]) == 0
    assert res["cost_total"]["calls"] == 64
    assert "stop_predictions" not in res["history"][-1] and "cost" in res["history"][-1]


@pytest.mark.parametrize("option, message", [
    (["--budget", "cals=5"], "not KEY=NUMBER"), (["--budget", "money=1"], "needs --price"),
    (["--price", "per_cal=1"], "not KEY=NUMBER"), (["--stop", "patience"], "unknown stopping"),
])
def test_cli_refuses_bad_budget_price_or_rule_before_any_call(tmp_path, monkeypatch, capsys,
                                                              option, message):
    made = []
    monkeypatch.setattr(specs, "build_annotator",
                        lambda spec, *a, **k: made.append(TokenAnnotator(spec)) or made[-1])
    data = tmp_path / "data.csv"
    _write_csv(data)
    argv = ["run", "--data", str(data), "--annotator", "x", "--output", str(tmp_path / "o"),
            "--no-progress", *option]
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err and not made


@pytest.mark.recordings
def test_cli_recorded_run_prints_counted_calls(recordings_dir, tmp_path, monkeypatch, capsys):
    pytest.importorskip("skmollal.aggregation")
    from skmollal import experiment

    made = []
    build = experiment.build_panel

    def spy(*args, **kwargs):
        made.extend(build(*args, **kwargs))
        return list(made)

    monkeypatch.setattr(experiment, "build_panel", spy)
    out = tmp_path / "rec"
    argv = ["run", "--recordings", str(recordings_dir), "--task", "trec",
            "--mixture", "majority", "--featurizer", "tfidf", "--classifier", "logreg",
            "--rounds", "2", "--batch", "20", "--pool-size", "100", "--output", str(out),
            "--no-progress"]
    assert cli.main(argv) == 0
    rows = _printed_annotator_rows(capsys.readouterr().out)
    assert sorted(rows) == ["gemma", "llama", "mistral", "qwen", "yi"]
    for ann in made:
        calls, cached, prompt, completion, seconds = rows[ann.name]
        assert int(calls) == ann.calls == 50 + 2 * 20
        assert (prompt, completion) == ("-", "-")  # recordings hold no token counts
        assert float(seconds) >= 0


# --------------------------------------------------------------------------- live models
@pytest.fixture
def counted_transformers(monkeypatch):
    """Count calls and prompt tokens of every TransformersAnnotator independently."""
    from skmollal.annotators.local import TransformersAnnotator

    counts = defaultdict(lambda: {"calls": 0, "prompt_tokens": 0})
    original = TransformersAnnotator.annotate

    def counting(self, texts):
        _, tok, _ = self._load()
        for text in texts:
            prompt = self.task.render_prompt(text, tok)
            ids = tok(prompt, add_special_tokens=not getattr(tok, "chat_template", None))
            counts[self.name]["calls"] += 1
            counts[self.name]["prompt_tokens"] += len(ids["input_ids"])
        return original(self, texts)

    monkeypatch.setattr(TransformersAnnotator, "annotate", counting)
    return counts


def _check_printed_against(counts, printed):
    rows = _printed_annotator_rows(printed)
    assert counts and sorted(rows) == sorted(counts)
    for name, count in counts.items():
        calls, cached, prompt, completion, seconds = rows[name]
        assert int(calls) == count["calls"] and int(prompt) == count["prompt_tokens"]
        assert int(cached) == 0 and int(completion) == 0 and float(seconds) > 0


def test_cli_live_tiny_model_prints_counted_tokens(tmp_path, monkeypatch, capsys,
                                                   counted_transformers):
    pytest.importorskip("skmollal.aggregation")
    from tiny_models import tiny_llama

    from skmollal.annotators.local import TransformersAnnotator
    from skmollal.annotators.task import AnnotationTask

    model, tok = tiny_llama(seed=0)

    def tiny(spec, labels, recordings=None, task_name=None):
        return TransformersAnnotator(model, AnnotationTask(list(labels)), tokenizer=tok,
                                     name=spec, n_votes=4, random_state=0)

    monkeypatch.setattr(specs, "build_annotator", tiny)
    data = tmp_path / "data.csv"
    _write_csv(data)
    argv = ["run", "--data", str(data), "--annotator", "tiny", "--mixture", "majority",
            "--featurizer", "tfidf", "--classifier", "logreg", "--rounds", "1",
            "--batch", "5", "--seed-size", "6", "--output", str(tmp_path / "o"),
            "--no-progress"]
    assert cli.main(argv) == 0
    _check_printed_against(counted_transformers, capsys.readouterr().out)
    assert counted_transformers["tiny"]["calls"] == 11


def test_transformers_generate_mode_counts_generated_tokens():
    from tiny_models import tiny_llama

    from skmollal.annotators.local import TransformersAnnotator
    from skmollal.annotators.task import AnnotationTask

    model, tok = tiny_llama(seed=0)
    ann = TransformersAnnotator(model, AnnotationTask(LABELS), tokenizer=tok, n_votes=3,
                                vote_mode="generate", max_new_tokens=4, random_state=0)
    result = ann.annotate(["first text", "second one"])
    cost = result.cost.paid
    assert cost.calls == 2 and cost.tokens_counted
    # the tokens of the answers returned, re-tokenised
    answers = [a for row in result.raw_answers for a in row]
    assert len(answers) == 2 * 3
    assert cost.completion_tokens == sum(len(tok.encode(a, add_special_tokens=False))
                                         for a in answers)


def test_openai_annotator_reads_the_servers_usage(tmp_path):
    pytest.importorskip("httpx")
    from skmollal.annotators.openai import OpenAICompatibleAnnotator
    from skmollal.annotators.task import AnnotationTask
    from skmollal.testing.server import OpenAITestServer

    most = {"n": 10}

    def respond(body):
        n = min(int(body.get("n", 1)), most["n"])
        return {"choices": [{"index": i, "message": {"content": "alpha"}} for i in range(n)],
                "usage": {"prompt_tokens": 11, "completion_tokens": 3 * n}}

    with OpenAITestServer(responder=respond) as srv:
        ann = OpenAICompatibleAnnotator(srv.base_url, "m", AnnotationTask(LABELS), n_votes=2,
                                        top_logprobs=0, backoff=0.01)
        cost = ann.annotate(["a", "b", "c"]).cost.paid
        assert cost == CallCost(3, 33, 18, cost.seconds) and cost.seconds > 0
        most["n"] = 1  # one choice per request: two requests per text, usage summed
        cost = ann.annotate(["a"]).cost.paid
        assert (cost.calls, cost.prompt_tokens, cost.completion_tokens) == (1, 22, 6)
        # streamed through the cache (iter_annotate): each row keeps its usage, and a
        # replay reports it as saved
        cache = AnnotationCache(tmp_path / "a.sqlite")
        first = CachedAnnotator(ann, cache).annotate(["x", "y"]).cost
        assert (first.paid.calls, first.paid.prompt_tokens, first.paid.completion_tokens) == (
            2, 44, 12)
        again = CachedAnnotator(ann, cache).annotate(["y", "x"]).cost
        assert again.paid.calls == 0
        assert (again.cached.calls, again.cached.prompt_tokens) == (2, 44)


@pytest.mark.slow
def test_live_demo_runs_and_prints_counted_tokens(tmp_path, capsys, counted_transformers):
    """``skmollal demo`` end to end on the embedded SmolLM2 panel, shrunk to one round (the
    suite's one live-demo run): it writes its results and prints what it really paid."""
    import json

    pytest.importorskip("skmollal.aggregation")
    from skmollal.annotators.smollm2 import smollm2_gguf_path

    try:
        smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    argv = ["demo", "--rounds", "1", "--batch", "4", "--seed-size", "8", "--test-size", "0.1",
            "--output", str(tmp_path / "demo"), "--no-progress"]
    assert cli.main(argv) == 0
    _check_printed_against(counted_transformers, capsys.readouterr().out)
    assert all(c["calls"] == 12 for c in counted_transformers.values())
    res = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert res["panel"] and all(name.startswith("smollm2") for name in res["panel"])
    assert res["history"][-1]["n_labeled"] == 12 and res["n_test"] == 18


@pytest.fixture
def pool():
    from skmollal.testing.pool import make_pool

    return make_pool()
