"""Interrupts lose nothing and resume is exact (issue 12, section 3).

* Ctrl-C during a classifier's training stops the run (skorch would swallow it);
* a crash mid-round, then :meth:`MoLLIALoop.resume`, gives the same queries and the same
  final model as a run that was never interrupted.
"""
import json
import time

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from skorch.callbacks import Callback

from skmollal.active_learning import MoLLIALoop
from skmollal.annotators.base import AnnotationResult
from skmollal.annotators.panel import LLMPanel
from skmollal.negative_learning import NegativeLearningClassifier

from skmollal.testing.pool import MeanProbMixture, make_pool, counting_panel as panel, seed_y


class InterruptAt(Callback):
    """Raise KeyboardInterrupt (what Ctrl-C does) at the start of epoch ``epoch``."""

    def __init__(self, epoch=2):
        self.epoch = epoch

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) >= self.epoch:
            raise KeyboardInterrupt


def test_ctrl_c_during_training_is_raised_not_swallowed():
    X, _, y = make_pool(60)
    clf = NegativeLearningClassifier(max_epochs=20, random_state=0,
                                     callbacks=[("stop", InterruptAt(2))])
    with pytest.raises(KeyboardInterrupt):
        clf.fit(X.astype("float32"), y)
    assert len(clf.history) == 2  # it stopped there, and said so
    with pytest.raises(KeyboardInterrupt):
        clf.partial_fit(X.astype("float32"), y)


class InterruptingModule(torch.nn.Module):
    """A linear module whose forward raises KeyboardInterrupt on the ``after``-th training
    forward pass counted over all instances (the loop fits fresh clones)."""

    training_calls = 0

    def __init__(self, n_features, n_classes, after=2):
        super().__init__()
        self.lin = torch.nn.Linear(n_features, n_classes)
        self.after = after

    def forward(self, X):
        if self.training:
            type(self).training_calls += 1
            if type(self).training_calls == self.after:
                raise KeyboardInterrupt
        return self.lin(X)


def test_ctrl_c_in_the_loop_stops_it_and_resume_retrains_that_round(tmp_path):
    X, texts, y = make_pool()
    ys = seed_y(y)
    X = X.astype("float32")
    kw = dict(texts=texts, mixture=MeanProbMixture(), batch_size=10, random_state=0)
    # the module raises during round 1's training (the seed fit ends before that call)
    InterruptingModule.training_calls = 0
    clf = NegativeLearningClassifier(InterruptingModule, module__after=2, max_epochs=1,
                                     batch_size=1000, random_state=0)
    p = panel()
    with pytest.raises(KeyboardInterrupt):
        MoLLIALoop(clf, p, X, ys, output_dir=tmp_path, **kw).run(2)
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["round"] == 0 and state["pending"]["round"] == 1  # round 1 not recorded
    assert [a.calls for a in p] == [25, 25, 25]  # seed + round 1: paid for, and kept
    p2 = panel()
    hist = MoLLIALoop.resume(tmp_path, clf, p2, X, ys, **kw).run(2)  # won't raise again
    assert [h["round"] for h in hist] == [0, 1, 2]
    assert [a.calls for a in p2] == [10, 10, 10]  # only round 2 is new
    assert hist[1]["queried"] == state["pending"]["queried"]


class FailingOnce:
    """Wraps a fake annotator; raises once when it has annotated ``fail_after`` texts."""

    def __init__(self, inner, fail_after):
        self.inner, self.fail_after, self.failed = inner, fail_after, False
        self.name, self.labels = inner.name, inner.labels

    def identity(self):
        return self.inner.identity()

    def annotate(self, texts):
        if not self.failed and self.inner.calls + len(texts) > self.fail_after:
            self.failed = True
            raise RuntimeError("killed")
        return self.inner.annotate(texts)


@pytest.mark.parametrize("make_clf", [
    lambda: LogisticRegression(),
    lambda: NegativeLearningClassifier(max_epochs=3, random_state=0),
], ids=["logreg", "negative-learning"])
@pytest.mark.parametrize("strategy", ["random", "entropy"])
def test_resume_after_a_crash_mid_round_replays_the_same_run(tmp_path, make_clf, strategy):
    X, texts, y = make_pool()
    X = X.astype("float32")
    ys = seed_y(y)
    kw = dict(texts=texts, batch_size=10, annotate_chunk=4,  # the default mixture
              strategy=strategy, random_state=0)
    straight = MoLLIALoop(make_clf(), panel(), X, ys, **kw)
    straight.run(3)
    # crash mid-round 2: seed 15 + round 1 10 + 4 texts of round 2 are annotated
    crashing = [FailingOnce(a, 15 + 10 + 4) for a in panel()]
    with pytest.raises(RuntimeError, match="killed"):
        MoLLIALoop(make_clf(), crashing, X, ys, output_dir=tmp_path, **kw).run(3)
    resumed = MoLLIALoop.resume(tmp_path, make_clf(), panel(), X, ys, **kw)
    resumed.run(3)
    assert ([h["queried"] for h in resumed.history]
            == [h["queried"] for h in straight.history])
    np.testing.assert_array_equal(resumed.state.weights, straight.state.weights)
    np.testing.assert_allclose(resumed.estimator_.predict_proba(X),
                               straight.estimator_.predict_proba(X), rtol=1e-5, atol=1e-6)
    assert ([h["llm_calls_round"] for h in resumed.history[1:]]
            == [h["llm_calls_round"] for h in straight.history[1:]])


def test_a_crash_while_annotating_the_seed_resumes(tmp_path):
    X, texts, y = make_pool()
    ys = seed_y(y)
    kw = dict(texts=texts, mixture=MeanProbMixture(), batch_size=10, annotate_chunk=4,
              random_state=0)
    straight = MoLLIALoop(LogisticRegression(), panel(), X, ys, **kw)
    straight.run(2)
    crashing = [FailingOnce(a, 9) for a in panel()]
    with pytest.raises(RuntimeError, match="killed"):
        MoLLIALoop(LogisticRegression(), crashing, X, ys, output_dir=tmp_path, **kw).run(2)
    p = panel()
    resumed = MoLLIALoop.resume(tmp_path, LogisticRegression(), p, X, ys, **kw)
    resumed.run(2)
    assert [a.calls for a in p] == [15 + 20 - 8] * 3  # two chunks of the seed were kept
    assert ([h["queried"] for h in resumed.history]
            == [h["queried"] for h in straight.history])


class Paid:
    """A fake LLM that streams its answers, writing each to the bill before handing it over."""

    def __init__(self, inner, bill):
        self.inner, self.bill = inner, bill
        self.name, self.labels = inner.name, inner.labels

    def identity(self):
        return self.inner.identity()

    def iter_annotate(self, texts):
        for i, t in enumerate(texts):
            time.sleep(0.005)
            row = self.inner.annotate([t])
            with open(self.bill, "a") as fh:
                fh.write(f"{self.name}\t{t}\n")
            yield i, row

    def annotate(self, texts):
        rows = dict(self.iter_annotate(texts))
        return AnnotationResult.concatenate([rows[i] for i in range(len(texts))])


def _run_paid(bill, cache, out):
    X, texts, y = make_pool()
    llm_panel = LLMPanel([Paid(a, bill) for a in panel()], cache=cache, show_progress=False)
    MoLLIALoop.resume_or_start(out, LogisticRegression(), llm_panel, X, seed_y(y), texts=texts,
                               mixture=MeanProbMixture(), batch_size=10, annotate_chunk=8,
                               random_state=0).run(4)


def test_random_sigkills_pay_at_most_the_answers_in_flight(tmp_path):
    """SIGKILL at random moments, resume each time: every answer is paid for once, except
    at most the one in flight per kill, and the run ends as an uninterrupted one does."""
    import multiprocessing

    bill, cache, out = tmp_path / "bill.tsv", tmp_path / "c.sqlite", tmp_path / "run"
    fork = multiprocessing.get_context("fork")
    rng = np.random.default_rng(0)
    kills = 0
    for attempt in range(20):
        child = fork.Process(target=_run_paid, args=(bill, cache, out))
        child.start()
        if attempt < 6:
            child.join(timeout=rng.uniform(0.05, 0.4))
            if child.is_alive():
                child.kill()  # SIGKILL
                child.join()
                kills += 1
                continue
        child.join(timeout=120)
        assert child.exitcode == 0
        break
    assert kills >= 3
    lines = bill.read_text().splitlines()
    paid_twice = len(lines) - len(set(lines))
    assert len(set(lines)) == (15 + 40) * 3  # seed + 4 rounds of 10, three LLMs
    assert paid_twice <= kills  # one answer in flight at a time here
    X, texts, y = make_pool()
    straight = MoLLIALoop(LogisticRegression(), panel(), X, seed_y(y), texts=texts,
                          mixture=MeanProbMixture(), batch_size=10, annotate_chunk=8,
                          random_state=0)
    straight.run(4)
    saved = json.loads((out / "state.json").read_text())["history"]
    assert [h["queried"] for h in saved] == [h["queried"] for h in straight.history]


class Blocking:
    """A fake LLM whose every call blocks a while (a slow model); counts its calls."""

    def __init__(self, inner, seconds=0.05):
        self.inner, self.seconds = inner, seconds
        self.name, self.labels = inner.name, inner.labels
        self.calls = 0

    def identity(self):
        return self.inner.identity()

    def annotate(self, texts):
        self.calls += 1
        time.sleep(self.seconds)
        return self.inner.annotate(texts)


def interrupting_bar(after):
    """A stand-in for tqdm that raises KeyboardInterrupt (Ctrl-C) while drawing the bar after
    ``after`` finished jobs, i.e. outside joblib's own wait for results."""

    def bar(outputs, **kwargs):
        for k, result in enumerate(outputs):
            if k == after:
                raise KeyboardInterrupt
            yield result

    return bar


def test_ctrl_c_while_the_panel_annotates_cancels_the_jobs_not_started(tmp_path, monkeypatch):
    import tqdm.auto

    from skmollal.annotators.cache import AnnotationCache

    _, texts, _ = make_pool()
    texts = texts[:40]
    cache = AnnotationCache(tmp_path / "c.sqlite")
    llms = [Blocking(a) for a in panel()[:2]]
    monkeypatch.setattr(tqdm.auto, "tqdm", interrupting_bar(after=3))
    llm_panel = LLMPanel(llms, n_jobs=2, batch_size=2, cache=cache, show_progress=True)
    with pytest.raises(KeyboardInterrupt) as interrupted:
        llm_panel.transform(texts)  # 40 jobs: 2 LLMs x 20 batches of 2 texts
    # the traceback stays alive (as a notebook keeps the last one), and with it joblib's
    # generator: jobs left pending would keep calling the LLMs meanwhile
    time.sleep(0.5)
    calls = sum(a.calls for a in llms)
    assert interrupted.traceback
    # the jobs returned, and at most those joblib had dispatched ahead (pre_dispatch is
    # 2 * n_jobs) plus one being dispatched: not the 40 of the batch (24 before the fix)
    assert 3 <= calls <= 3 + 2 * 2 + 1
    # every answer an LLM gave (all the jobs that ran, returned or not) is in the cache
    assert cache.count() == 2 * calls
    monkeypatch.undo()
    again = [Blocking(a, seconds=0) for a in panel()[:2]]
    LLMPanel(again, n_jobs=2, batch_size=2, cache=cache, show_progress=False).transform(texts)
    assert sum(a.calls for a in again) == 40 - calls  # the rerun pays only for the rest
