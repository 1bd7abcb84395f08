"""Tests of LLMPanel: stacking, joblib parallelism, the dask cluster path, caching."""
from __future__ import annotations

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

from skmollal.annotators.base import PROBS, VOTES
from skmollal.annotators.cache import AnnotationCache, CachedAnnotator
from skmollal.annotators.panel import LLMPanel
from skmollal.testing.fake import FakeAnnotator

LABELS = ["abbreviation", "entity", "human"]
TEXTS = [f"question {i}?" for i in range(17)]


def make_panel(**kw):
    kw.setdefault("show_progress", False)
    return LLMPanel([FakeAnnotator(LABELS, name=f"llm{j}", seed=j) for j in range(3)], **kw)


def reference_signals():
    out = np.zeros((len(TEXTS), 3, 2, len(LABELS)))
    for j in range(3):
        res = FakeAnnotator(LABELS, name=f"llm{j}", seed=j).annotate(TEXTS)
        out[:, j, PROBS], out[:, j, VOTES] = res.probs, res.votes
    return out


def test_transform_stacks_annotators_in_order():
    panel = make_panel()
    S = panel.fit(TEXTS).transform(TEXTS)
    assert S.shape == (len(TEXTS), 3, 2, len(LABELS))
    np.testing.assert_array_equal(S, reference_signals())
    assert panel.annotator_names == ["llm0", "llm1", "llm2"] == panel.annotator_names_
    assert panel.labels_ == LABELS == panel.labels
    results = panel.annotate(TEXTS)
    assert len(results) == 3 and all(len(r) == len(TEXTS) for r in results)
    assert results[1].raw_answers == FakeAnnotator(LABELS, name="llm1", seed=1).annotate(TEXTS).raw_answers


@pytest.mark.parametrize("n_jobs, batch_size, prefer", [
    (1, 4, "threads"), (2, None, "threads"), (2, 5, "threads"),
    pytest.param(2, 6, "processes", marks=pytest.mark.slow),  # loky start-up takes seconds
])
def test_parallel_and_batched_equal_sequential(n_jobs, batch_size, prefer):
    S = make_panel(n_jobs=n_jobs, batch_size=batch_size, prefer=prefer).transform(TEXTS)
    np.testing.assert_array_equal(S, reference_signals())


def test_sklearn_conventions():
    panel = make_panel(n_jobs=2)
    assert panel.get_params()["n_jobs"] == 2
    cloned = clone(panel)
    np.testing.assert_array_equal(cloned.transform(TEXTS), reference_signals())
    pipe = Pipeline([("panel", panel),
                     ("mean_probs", FunctionTransformer(lambda S: S[:, :, PROBS].mean(axis=1)))])
    out = pipe.fit_transform(TEXTS)
    np.testing.assert_allclose(out, reference_signals()[:, :, PROBS].mean(axis=1))
    assert panel.__sklearn_tags__().requires_fit is False


def test_progress_bar_runs(capsys):
    make_panel(show_progress=True, batch_size=5).transform(TEXTS)
    assert "LLM panel" in capsys.readouterr().err


def test_label_mismatch_is_a_clear_error():
    panel = LLMPanel([FakeAnnotator(LABELS, name="a"), FakeAnnotator(LABELS[::-1], name="b")])
    with pytest.raises(ValueError, match="'a' has .* but 'b' has"):
        panel.fit(TEXTS)
    with pytest.raises(ValueError, match="disagree on the labels"):
        panel.transform(TEXTS)


def test_bad_input():
    with pytest.raises(ValueError, match="no annotators"):
        LLMPanel([]).fit()
    with pytest.raises(TypeError, match="annotator 1 .*lacks name, labels, annotate"):
        LLMPanel([FakeAnnotator(LABELS), object()]).fit()
    with pytest.raises(ValueError, match="batch_size"):
        LLMPanel([FakeAnnotator(LABELS)], batch_size=0).fit()
    panel = make_panel()
    with pytest.raises(ValueError, match="empty"):
        panel.transform([])
    with pytest.raises(TypeError, match="text 2 is a NoneType"):
        panel.transform(["a", "b", None])


def test_annotator_failure_names_annotator_and_texts():
    panel = LLMPanel([FakeAnnotator(LABELS, name="ok"),
                      FakeAnnotator(LABELS, name="broken", fail_on_call=1)],
                     batch_size=5, show_progress=False)
    with pytest.raises(RuntimeError, match="simulated failure") as info:
        panel.transform(TEXTS)
    assert any("'broken' failed on texts 5..9" in note for note in info.value.__notes__)


def test_cache_is_used_and_shared(tmp_path):
    path = tmp_path / "panel.sqlite"
    fakes = [FakeAnnotator(LABELS, name=f"llm{j}", seed=j) for j in range(3)]
    panel = LLMPanel(fakes, cache=path, batch_size=4, show_progress=False)
    np.testing.assert_array_equal(panel.transform(TEXTS), reference_signals())
    assert AnnotationCache(path).count() == 3 * len(TEXTS)
    # a fresh panel (new annotator objects) re-reads everything from the cache
    fresh = [FakeAnnotator(LABELS, name=f"llm{j}", seed=j) for j in range(3)]
    again = LLMPanel(fresh, cache=AnnotationCache(path), show_progress=False).transform(TEXTS)
    np.testing.assert_array_equal(again, reference_signals())
    assert [f.n_texts for f in fresh] == [0, 0, 0]
    # already-wrapped annotators are not wrapped twice
    wrapped = CachedAnnotator(FakeAnnotator(LABELS), AnnotationCache(path))
    assert LLMPanel([wrapped], cache=path)._cached_annotators([wrapped])[0] is wrapped


@pytest.mark.slow  # starting two worker processes takes ~10 s
def test_dask_local_cluster_equals_local_run(tmp_path):
    distributed = pytest.importorskip("dask.distributed")
    local = make_panel(batch_size=5).transform(TEXTS)
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None,
        processes=True,
    )
    try:
        with distributed.Client(cluster) as client:
            with joblib.parallel_backend("dask"), distributed.get_task_stream(client) as ts:
                remote = make_panel(batch_size=5).transform(TEXTS)
                # with a cache shared through the file system, too
                cached = make_panel(batch_size=5, cache=tmp_path / "c.sqlite").transform(TEXTS)
            # the jobs really ran on the cluster's workers
            assert len(ts.data) >= 3 * 4  # 3 annotators x 4 batches
            assert {t["worker"] for t in ts.data} <= set(client.scheduler_info()["workers"])
    finally:
        cluster.close()
    np.testing.assert_array_equal(remote, local)
    np.testing.assert_array_equal(cached, local)
    assert AnnotationCache(tmp_path / "c.sqlite").count() == 3 * len(TEXTS)
