"""Cascade annotation: order from the gold rows, stopping at the threshold, partial signals
through the mixture, the cache paying only missing calls, and the loop with a cascade."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.utils import Bunch

from skmollal.active_learning import MoLLIALoop
from skmollal.aggregation import MixtureAggregator
from skmollal.annotators import RecordedAnnotator
from skmollal.annotators.cache import AnnotationCache
from skmollal.annotators.panel import LLMPanel, panel_annotators, panel_labels
from skmollal.cascade import CascadePanel, MaskedAggregator, asked_mask, join_masked
from skmollal.cascade.seed import cascade_order, choose_threshold, llm_accuracy, simulate_cascade
from skmollal.testing.signals import make_signals

LABELS = ["a", "b", "c"]


def recorded_panel(signals, y, names=None):
    """RecordedAnnotators replaying ``signals`` for texts ``t0 .. t{n-1}`` (they count calls)."""
    names = names or [f"m{j}" for j in range(signals.shape[1])]
    texts = [f"t{i}" for i in range(len(y))]
    rec = Bunch(texts=texts, target=np.asarray(y), target_names=LABELS[: signals.shape[3]],
                annotator_names=names, raw_answers=None, signals=signals)
    return [RecordedAnnotator(rec, name) for name in names], texts


def calls(annotators):
    return [a.calls for a in annotators]


def seed_labels(y, n_gold, rng=0):
    """``y`` with all but ``n_gold`` rows (stratified-ish, random) set to -1."""
    gold = np.random.default_rng(rng).choice(len(y), n_gold, replace=False)
    out = np.full(len(y), -1)
    out[gold] = np.asarray(y)[gold]
    return out


def fast_mixture():
    return MixtureAggregator(max_iter=1)


# ------------------------------------------------------------------------- order
def test_order_from_seed_gold_only():
    S, y = make_signals(n=200, n_llms=3, noise=(0.6, 0.05, 0.3), seed=1)
    y_seed = seed_labels(y, 40)
    acc = llm_accuracy(S, y_seed)
    assert acc.shape == (3,) and acc[1] > acc[2] > acc[0]
    assert cascade_order(S, y_seed) == [1, 2, 0]
    # the order reads only the gold rows: scrambling the unlabeled rows' signals changes nothing
    S2 = S.copy()
    S2[y_seed < 0] = S[y_seed < 0][:, ::-1]
    assert cascade_order(S2, y_seed) == [1, 2, 0]
    # ties keep panel order; a cost turns it into accuracy per unit of cost
    S3 = np.repeat(S[:, 1:2], 3, axis=1)
    assert cascade_order(S3, y_seed) == [0, 1, 2]
    assert cascade_order(S3, y_seed, cost=[3.0, 1.0, 2.0]) == [1, 2, 0]
    with pytest.raises(ValueError, match="positive"):
        cascade_order(S, y_seed, cost=[1.0, 0.0, 1.0])


def test_panel_order_from_fit_gold_and_given_order():
    S, y = make_signals(n=120, n_llms=3, noise=(0.6, 0.05, 0.3), seed=2)
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y, 40)
    panel = CascadePanel(annotators, mixture=fast_mixture()).fit(texts, y_seed)
    assert panel.order_ == [1, 2, 0]
    given = CascadePanel(annotators, order=["m2", "m0", "m1"],
                         mixture=fast_mixture()).fit(texts, y_seed)
    assert given.order_ == [2, 0, 1]
    with pytest.raises(ValueError, match="every LLM"):
        CascadePanel(annotators, order=["m2", "m0"]).fit(texts, y_seed)
    by_cost = CascadePanel(annotators, cost={"m0": 0.01, "m1": 1.0, "m2": 1.0},
                           mixture=fast_mixture()).fit(texts, y_seed)
    assert by_cost.order_[0] == 0
    with pytest.raises(ValueError, match="threshold"):
        CascadePanel(annotators, threshold=1.5).fit(texts, y_seed)


# ------------------------------------------------------------------------- stopping
def test_perfect_first_llm_needs_about_one_call_per_text():
    S, y = make_signals(n=300, n_llms=4, noise=(0.5, 0.6, 0.0, 0.5), seed=3)
    S[:, 2] = np.eye(3)[y][:, None, :]  # LLM 2 is perfect and sure: one-hot probs and votes
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y, 50)
    panel = CascadePanel(annotators, threshold=0.9, mixture=fast_mixture())
    panel.fit(texts[:200], y_seed[:200])
    assert panel.order_[0] == 2
    before = sum(calls(annotators))
    out = panel.cascade(texts[200:])
    assert sum(calls(annotators)) - before == out.n_asked.sum()
    assert out.n_asked.mean() < 1.2
    assert (out.proba.argmax(1) == y[200:]).mean() > 0.95


def test_stops_exactly_at_the_threshold():
    S, y = make_signals(n=240, n_llms=3, noise=(0.3, 0.3, 0.3), seed=4)
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y[:160], 60)
    panel = CascadePanel(annotators, threshold=0.85, mixture=fast_mixture())
    panel.fit(texts[:160], y_seed)
    out = panel.cascade(texts[160:])
    mask = asked_mask(out.signals)
    assert (mask.sum(1) == out.n_asked).all()
    order = panel.order_
    # the asked LLMs are a prefix of the order
    assert (mask[:, order].cumprod(1).sum(1) == out.n_asked).all()
    for i in range(len(texts) - 160):
        for k in range(out.n_asked[i]):
            sure = panel.prefix_models_[k].predict_proba(out.signals[i: i + 1]).max()
            if k < out.n_asked[i] - 1:
                assert sure < 0.85  # went on only while unsure
            elif k < 2:
                assert sure >= 0.85  # stopped as soon as sure
    assert 1 < out.n_asked.mean() < 3
    np.testing.assert_allclose(out.proba, panel.posterior(out.signals))
    # a threshold of 1 asks everyone; a lower one fewer
    strict = panel.set_params(threshold=1.0).cascade(texts[160:])
    assert strict.n_asked.mean() > out.n_asked.mean()
    loose = panel.set_params(threshold=0.5).cascade(texts[160:])
    assert loose.n_asked.mean() < out.n_asked.mean()


# ------------------------------------------------------------------------- auto threshold
def test_simulate_and_choose_threshold_on_known_posteriors():
    # prefix 1 is sure and right on rows 0-5, sure and wrong on rows 6-9; prefix 2 fixes them
    y = np.zeros(10, dtype=int)
    proba = np.zeros((10, 2, 2))
    proba[:6, 0] = [0.9, 0.1]
    proba[6:, 0] = [0.3, 0.7]
    proba[:, 1] = [0.95, 0.05]
    label, n_asked = simulate_cascade(proba, 0.8)
    np.testing.assert_array_equal(n_asked, [1] * 6 + [2] * 4)  # 0.7 < 0.8: went on
    np.testing.assert_array_equal(label, np.zeros(10))
    label, n_asked = simulate_cascade(proba, 0.6)
    np.testing.assert_array_equal(label[6:], [1] * 4)  # stopped, wrong
    assert (simulate_cascade(proba, 1.0)[1] == 2).all()  # the last prefix always answers
    # 0.6 is cheapest but 4 of 10 worse than the full panel; 0.8 is as good at 1.4 calls
    out = choose_threshold(proba, y, [1.0, 0.6, 0.8])
    assert out.threshold == 0.8
    assert out.calls == [2.0, 1.0, 1.4] and out.accuracy == [1.0, 0.6, 1.0]
    # the cheapest candidate wins when nothing beats it
    assert choose_threshold(proba[:6], y[:6], [1.0, 0.6, 0.8]).threshold == 0.6
    with pytest.raises(ValueError, match="thresholds"):
        choose_threshold(proba, y, [0.0, 0.5])


def test_auto_threshold_one_sure_llm_stops_after_one_call():
    S, y = make_signals(n=300, n_llms=4, noise=(0.5, 0.6, 0.0, 0.5), seed=3)
    S[:, 2] = np.eye(3)[y][:, None, :]  # LLM 2 is perfect and sure
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y[:200], 50)
    panel = CascadePanel(annotators, mixture=fast_mixture()).fit(texts[:200], y_seed)
    assert panel.threshold == "auto" and panel.order_[0] == 2
    cv = panel.threshold_cv_
    assert panel.threshold_ == cv.threshold and len(cv.accuracy) == len(cv.thresholds)
    out = panel.cascade(texts[200:])
    assert out.n_asked.mean() < 1.1
    assert (out.proba.argmax(1) == y[200:]).mean() > 0.95


def test_auto_threshold_noisy_llms_ask_more():
    S, y = make_signals(n=400, n_llms=4, noise=(0.4,), seed=12)
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y[:300], 80)
    panel = CascadePanel(annotators, mixture=fast_mixture()).fit(texts[:300], y_seed)
    cv = panel.threshold_cv_
    chosen = cv.thresholds.index(panel.threshold_)
    assert cv.calls[chosen] > 1.3  # one noisy LLM is not enough
    assert cv.accuracy[chosen] > cv.accuracy[int(np.argmin(cv.calls))] + 0.03
    out = panel.cascade(texts[300:])
    assert out.n_asked.mean() > 1.3
    one = S[300:, panel.order_[0], 1].argmax(1) == y[300:]
    assert (out.proba.argmax(1) == y[300:]).mean() > one.mean() + 0.05
    # a list of candidates: chosen among those; a number: no choice
    listed = CascadePanel(annotators, threshold=[0.7, 1.0], mixture=fast_mixture())
    assert listed.fit_signals(panel.signals_, y_seed).threshold_ in (0.7, 1.0)
    fixed = CascadePanel(annotators, threshold=0.7, mixture=fast_mixture())
    fixed.fit_signals(panel.signals_, y_seed)
    assert fixed.threshold_ == 0.7 and fixed.threshold_cv_ is None
    with pytest.raises(ValueError, match="threshold"):
        CascadePanel(annotators, threshold="sometimes").fit_signals(panel.signals_, y_seed)


def test_fit_asks_gold_rows_everything_and_cascades_the_rest():
    S, y = make_signals(n=200, n_llms=3, seed=5)
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y, 50)
    panel = CascadePanel(annotators, threshold=0.8, mixture=fast_mixture())
    signals = panel.fit_transform(texts, y_seed)
    mask = asked_mask(signals)
    assert mask[y_seed >= 0].all()
    assert mask[y_seed < 0].sum(1).min() >= 1 and not mask[y_seed < 0].all()
    assert sum(calls(annotators)) == mask.sum()
    np.testing.assert_array_equal(signals[mask], S[mask])


# ------------------------------------------------------------------------- masked mixture
def test_masked_aggregator_fits_each_pattern_on_what_was_asked():
    S, y = make_signals(n=300, n_llms=3, noise=(0.1, 0.3, 0.4), seed=6)
    y_seed = seed_labels(y, 60)
    partial = S.copy()
    partial[100:200, 2] = np.nan
    partial[200:, 1:] = np.nan
    partial[y_seed >= 0] = S[y_seed >= 0]  # the gold rows have every LLM
    agg = MaskedAggregator(fast_mixture()).fit(partial, y_seed)
    assert agg.patterns_ == [(0,), (0, 1), (0, 1, 2)]
    n_gold = int((y_seed >= 0).sum())
    # a pattern's model sees exactly the rows that have all its LLMs
    assert agg.n_rows_ == [300, 200 + int(((y_seed >= 0) & (np.arange(300) >= 200)).sum()),
                           100 + int(((y_seed >= 0) & (np.arange(300) >= 100)).sum())]
    assert agg.n_rows_[0] >= n_gold
    which = agg.pattern_index(partial)
    assert (which[:100][y_seed[:100] < 0] == 2).all()
    assert (which[200:][y_seed[200:] < 0] == 0).all()
    proba = agg.predict_proba(partial)
    np.testing.assert_allclose(proba.sum(1), 1.0)
    # rows with every LLM are fused exactly as a mixture fitted on the full rows
    full_rows = asked_mask(partial).all(1)
    ref = fast_mixture().fit(S[full_rows], y_seed[full_rows])
    np.testing.assert_allclose(proba[full_rows], ref.predict_proba(S[full_rows]), atol=1e-8)
    assert (proba.argmax(1) == y).mean() > 0.8


def test_masked_aggregator_errors():
    S, y = make_signals(n=60, n_llms=2, seed=7)
    y_seed = seed_labels(y, 20)
    bad = S.copy()
    bad[0, 1, 0, 0] = np.nan
    with pytest.raises(ValueError, match="partly NaN"):
        MaskedAggregator().fit(bad, y_seed)
    none = S.copy()
    none[3] = np.nan
    with pytest.raises(ValueError, match="no LLM answer"):
        MaskedAggregator().fit(none, y_seed)
    gold_partial = S.copy()
    gold_partial[y_seed >= 0, 1] = np.nan
    with pytest.raises(ValueError, match="gold labels"):
        MaskedAggregator(patterns=[(1,)]).fit(gold_partial, y_seed)
    agg = MaskedAggregator(fast_mixture(), patterns=[(0, 1)])
    with pytest.raises(ValueError, match="covers none"):
        agg.fit(S, y).predict_proba(gold_partial)


def test_join_masked_keeps_each_fit():
    S, y = make_signals(n=120, n_llms=3, seed=14)
    y_seed = seed_labels(y, 40)
    S[60:, 2] = np.nan
    one = MaskedAggregator(fast_mixture(), patterns=[[0, 1]]).fit(S, y_seed)
    two = MaskedAggregator(fast_mixture(), patterns=[[0, 1, 2]]).fit(S, y_seed)
    both = join_masked([one, two])
    assert both.patterns_ == [(0, 1), (0, 1, 2)] and both.n_rows_ == one.n_rows_ + two.n_rows_
    np.testing.assert_allclose(both.predict_proba(S[60:]), one.predict_proba(S[60:]))
    np.testing.assert_allclose(both.predict_proba(S[:60]), two.predict_proba(S[:60]))
    with pytest.raises(ValueError, match="at least one"):
        join_masked([])
    other = MaskedAggregator(fast_mixture(), patterns=[[0]]).fit(S[:, :2], y_seed)
    with pytest.raises(ValueError, match="numbers of LLMs"):
        join_masked([one, other])


# ------------------------------------------------------------------------- cache
def test_stricter_rerun_pays_only_the_missing_calls(tmp_path):
    S, y = make_signals(n=160, n_llms=3, noise=(0.3, 0.3, 0.3), seed=8)
    annotators, texts = recorded_panel(S, y)
    y_seed = seed_labels(y[:80], 40)
    cache = AnnotationCache(tmp_path / "cache.sqlite")
    llm_panel = LLMPanel(annotators, cache=cache, show_progress=False)
    loose = CascadePanel(llm_panel, threshold=0.6, mixture=fast_mixture())
    loose.fit(texts[:80], y_seed)
    first = loose.transform(texts[80:])
    paid = sum(calls(annotators))
    assert paid == asked_mask(np.concatenate([loose.signals_, first])).sum()
    strict = CascadePanel(llm_panel, threshold=0.95, mixture=fast_mixture())
    strict.fit_signals(loose.signals_, y_seed)  # the same gold, nothing asked
    assert sum(calls(annotators)) == paid
    second = strict.transform(texts[80:])
    had, need = asked_mask(first), asked_mask(second)
    assert need.sum() > had.sum()
    assert (need | had).sum() == need.sum()  # stricter asks a superset here
    assert sum(calls(annotators)) - paid == (need & ~had).sum()  # only the missing answers
    np.testing.assert_array_equal(second[had], first[had])


def test_cascade_wraps_panel_for_panel_helpers():
    S, y = make_signals(n=20, n_llms=2, seed=9)
    annotators, _ = recorded_panel(S, y)
    cascade = CascadePanel(LLMPanel(annotators, show_progress=False))
    assert panel_annotators(cascade) == annotators
    assert panel_labels(cascade) == LABELS
    assert cascade.annotator_names == ["m0", "m1"]


# ------------------------------------------------------------------------- the loop
def test_loop_with_a_cascade_pays_fewer_calls(tmp_path):
    S, y = make_signals(n=260, n_llms=3, noise=(0.1, 0.4, 0.5), seed=10)
    annotators, texts = recorded_panel(S, y)
    X = np.random.default_rng(0).normal(size=(len(y), 4)) + y[:, None]
    y_seed = np.full(len(y), -1)
    y_seed[:40] = y[:40]
    cascade = CascadePanel(annotators, threshold=0.8, mixture=fast_mixture())
    loop = MoLLIALoop(LogisticRegression(), cascade, X, y_seed, texts=texts,
                      mixture=fast_mixture(), batch_size=40, random_state=0,
                      output_dir=tmp_path / "run")
    loop.run(3)
    state = loop.state
    mask = asked_mask(state.signals[state.annotated_rows()])
    assert asked_mask(state.signals[:40]).all()  # the seed: every LLM
    assert loop.llm_calls == mask.sum() == sum(calls(annotators))
    assert loop.llm_calls < state.n_annotated * 3
    assert loop.history[-1]["llm_calls"] == loop.llm_calls
    assert isinstance(loop.mixture_, MaskedAggregator)
    # resuming with the same cascade pays nothing again
    paid = sum(calls(annotators))
    again = MoLLIALoop.resume(tmp_path / "run", LogisticRegression(), cascade, X, y_seed,
                              texts=texts, mixture=fast_mixture(), batch_size=40,
                              random_state=0)
    again.run(3)
    assert sum(calls(annotators)) == paid
    with pytest.raises(ValueError, match="cascade"):
        MoLLIALoop.resume(tmp_path / "run", LogisticRegression(),
                          CascadePanel(annotators, threshold=0.9), X, y_seed, texts=texts,
                          mixture=fast_mixture(), batch_size=40, random_state=0)


def test_loop_with_a_cascade_and_human_review():
    """A reviewed text the cascade asked only some LLMs about becomes gold for the mixture
    and the classifier; the cascade's order and prefix models still fit (every LLM only)."""
    S, y = make_signals(n=200, n_llms=3, noise=(0.1, 0.4, 0.5), seed=12)
    annotators, texts = recorded_panel(S, y)
    X = np.random.default_rng(0).normal(size=(len(y), 4)) + y[:, None]
    y_seed = np.full(len(y), -1)
    y_seed[:40] = y[:40]
    asked = []

    def oracle(texts_, rows, info):
        asked.extend(int(r) for r in rows)
        return y[np.asarray(rows)]

    cascade = CascadePanel(annotators, threshold=0.8, mixture=fast_mixture())
    loop = MoLLIALoop(LogisticRegression(), cascade, X, y_seed, texts=texts,
                      mixture=fast_mixture(), batch_size=40, random_state=0,
                      oracle=oracle, review_size=10)
    loop.run(3)
    state = loop.state
    partial = [r for r in asked if not asked_mask(state.signals[[r]]).all()]
    assert len(asked) == 30 and partial  # some reviewed texts were cascaded
    assert (state.partial_labels()[asked] == y[asked]).all()
    assert loop.history[-1]["n_gold"] == 40 + 30


def test_loop_labels_with_the_cascade_fits_once_per_round(tmp_path):
    S, y = make_signals(n=200, n_llms=3, noise=(0.1, 0.4, 0.5), seed=13)
    X = np.random.default_rng(0).normal(size=(len(y), 4)) + y[:, None]
    y_seed = np.full(len(y), -1)
    y_seed[:40] = y[:40]

    def run(name, share):
        annotators, texts = recorded_panel(S, y)
        cascade = CascadePanel(annotators, threshold=0.8, mixture=fast_mixture())
        fits = []
        fit_signals = cascade.fit_signals
        cascade.fit_signals = lambda *a: fits.append(1) or fit_signals(*a)
        if not share:
            cascade.fuses_like = lambda mixture: False
        loop = MoLLIALoop(LogisticRegression(), cascade, X, y_seed, texts=texts,
                          mixture=fast_mixture(), batch_size=40, random_state=0,
                          output_dir=tmp_path / name)
        loop.run(3)
        return loop, len(fits)

    shared, n_shared = run("shared", True)
    apart, n_apart = run("apart", False)
    assert n_shared == 3 + 1 and n_apart == 3  # one more than rounds, not two per round
    assert [h["pool_labels"] for h in shared.history] == [h["pool_labels"] for h in
                                                          apart.history]
    assert shared.llm_calls == apart.llm_calls
    assert shared.mixture_.patterns_ == [tuple(shared.panel.order_[:k]) for k in (1, 2, 3)]
    rows = shared.state.annotated_rows()
    np.testing.assert_allclose(shared.mixture_.predict_proba(shared.state.signals[rows]),
                               apart.mixture_.predict_proba(apart.state.signals[rows]))
    assert not CascadePanel(None, mixture=fast_mixture()).fuses_like(MixtureAggregator())
    assert CascadePanel(None).fuses_like(None) and CascadePanel(None).fuses_like(
        MixtureAggregator())


# ------------------------------------------------------------------------- CLI, classifier
def test_cli_cascade_counts_only_the_calls_made(tmp_path, monkeypatch):
    from skmollal import cli
    from skmollal.annotators import specs

    from test_cli import _write_csv
    from skmollal.testing.pool import CountingAnnotator

    made = []

    def fake(spec, labels, recordings=None, task_name=None):
        made.append(CountingAnnotator(spec, noise={"x": 0.0, "y": 0.3, "z": 0.3}[spec],
                                      seed=len(made)))
        return made[-1]

    monkeypatch.setattr(specs, "build_annotator", fake)
    data = tmp_path / "data.csv"
    _write_csv(data)
    out = tmp_path / "out"
    argv = ["run", "--data", str(data), "--annotator", "y", "--annotator", "x",
            "--annotator", "z", "--mixture", "majority", "--featurizer", "tfidf",
            "--classifier", "logreg", "--rounds", "2", "--batch", "10", "--seed-size", "12",
            "--output", str(out), "--no-progress", "--cascade", "0.9"]
    assert cli.main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["cascade"] == 0.9
    assert res["llm_calls"] == sum(a.calls for a in made)
    # the seed (12) asks all 3; the 20 queried texts mostly only the perfect "x"
    assert 12 * 3 + 20 <= res["llm_calls"] < 12 * 3 + 20 * 2
    assert made[1].calls == 32
    assert (res["llm_calls_paid"] + res["llm_answers_cached"] + res["llm_answers_recorded"]
            == res["llm_calls"])


def test_classifier_cascade_parameter():
    from sklearn.feature_extraction.text import TfidfVectorizer

    from skmollal.active_learning import MoLLIAClassifier

    S, y = make_signals(n=150, n_llms=3, noise=(0.05, 0.4, 0.5), seed=11)
    annotators, texts = recorded_panel(S, y)
    y_seed = np.full(len(y), -1)
    y_seed[:30] = y[:30]
    clf = MoLLIAClassifier(annotators, featurizer=TfidfVectorizer(analyzer="char"),
                           estimator=LogisticRegression(), mixture=fast_mixture(),
                           n_rounds=2, batch_size=30,
                           nl_threshold=None, random_state=0, cascade=0.8)
    clf.fit(texts, y_seed)
    assert clf.n_llm_calls_ == sum(calls(annotators)) < 90 * 3
    assert clf.get_params()["cascade"] == 0.8


def test_cli_cascade_auto_is_a_threshold():
    from skmollal import cli
    from skmollal.settings import ConfigError, check_settings, complete_settings

    args = cli.build_parser().parse_args(["run", "--annotator", "recorded:yi", "--cascade",
                                          "auto"])
    assert args.cascade == "auto"
    assert cli.build_parser().parse_args(["run", "--cascade", "0.7"]).cascade == 0.7
    check_settings(complete_settings({"cascade": "auto", "annotator": ["recorded:yi"]}))
    for bad in ("sometimes", 0.0, True):
        with pytest.raises(ConfigError, match="--cascade"):
            check_settings(complete_settings({"cascade": bad, "annotator": ["recorded:yi"]}))
