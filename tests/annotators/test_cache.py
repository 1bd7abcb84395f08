"""Tests of the persistent annotation cache and CachedAnnotator."""
from __future__ import annotations

import multiprocessing as mp
import pickle
import sqlite3

import numpy as np
import pytest

from skmollal.annotators.base import AnnotationResult, Annotator
from skmollal.annotators.cache import (
    AnnotationCache,
    CachedAnnotator,
    cache_key,
    default_cache_path,
)
from skmollal.testing.fake import FakeAnnotator

LABELS = ["pos", "neg", "neutral"]
TEXTS = [f"text number {i}" for i in range(23)]


@pytest.fixture
def cache(tmp_path):
    c = AnnotationCache(tmp_path / "sub" / "ann.sqlite")
    yield c
    c.close()


def assert_same(a: AnnotationResult, b: AnnotationResult) -> None:
    np.testing.assert_array_equal(a.probs, b.probs)
    np.testing.assert_array_equal(a.votes, b.votes)
    np.testing.assert_array_equal(a.abstained, b.abstained)
    assert a.raw_answers == b.raw_answers


def test_default_path_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMOLLAL_CACHE", str(tmp_path / "c"))
    assert default_cache_path() == tmp_path / "c" / "annotations.sqlite"
    monkeypatch.delenv("SKMOLLAL_CACHE")
    assert default_cache_path().parts[-3:] == (".cache", "skmollal", "annotations.sqlite")


def test_key_depends_on_identity_and_text():
    assert cache_key("a", "x") == cache_key("a", "x")
    assert cache_key("a", "x") != cache_key("b", "x")
    assert cache_key("a", "x") != cache_key("a", "y")
    # no ambiguity from concatenation
    assert cache_key("ab", "c") != cache_key("a", "bc")


def test_wal_mode_and_roundtrip_exact(cache, tmp_path):
    fake = FakeAnnotator(LABELS)
    res = fake.annotate(TEXTS[:5])
    cache.put(fake.identity(), TEXTS[:5], res)
    mode = sqlite3.connect(tmp_path / "sub" / "ann.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    got = cache.get(fake.identity(), ["unknown"] + TEXTS[:5])
    assert sorted(got) == [1, 2, 3, 4, 5]
    for i in range(5):
        np.testing.assert_array_equal(got[i + 1]["probs"], res.probs[i])  # bit-exact
        np.testing.assert_array_equal(got[i + 1]["votes"], res.votes[i])
        assert got[i + 1]["raw_answers"] == res.raw_answers[i]
    assert cache.count(fake.identity()) == 5 and cache.count("other") == 0
    assert len(cache) == 5
    assert cache.clear("other") == 0 and cache.clear(fake.identity()) == 5 and len(cache) == 0


def test_put_rejects_mismatched_rows(cache):
    res = FakeAnnotator(LABELS).annotate(TEXTS[:2])
    with pytest.raises(ValueError, match="3 texts but 2"):
        cache.put("x", TEXTS[:3], res)


def test_cached_annotator_is_an_annotator(cache):
    cached = CachedAnnotator(FakeAnnotator(LABELS, name="m1"), cache)
    assert isinstance(cached, Annotator)
    assert cached.name == "m1" and list(cached.labels) == LABELS
    assert cached.identity() == FakeAnnotator(LABELS, name="m1").identity()


def test_second_run_annotates_nothing_twice(cache):
    fake = FakeAnnotator(LABELS)
    cached = CachedAnnotator(fake, cache, batch_size=5)
    first = cached.annotate(TEXTS)
    assert fake.n_texts == len(TEXTS) and fake.n_calls == 5  # ceil(23 / 5) batches
    assert_same(first, FakeAnnotator(LABELS).annotate(TEXTS))
    second = cached.annotate(TEXTS)
    assert fake.n_texts == len(TEXTS) and fake.n_calls == 5
    assert cached.n_hits_ == len(TEXTS) and cached.n_annotated_ == 0
    assert_same(first, second)
    # a new process-like wrapper over a fresh annotator object also hits
    fresh = FakeAnnotator(LABELS)
    assert_same(CachedAnnotator(fresh, AnnotationCache(cache.path)).annotate(TEXTS[::-1]),
                FakeAnnotator(LABELS).annotate(TEXTS[::-1]))
    assert fresh.n_calls == 0
    # a partial overlap annotates only the new texts
    more = TEXTS[:3] + ["brand new"]
    cached.annotate(more)
    assert cached.n_annotated_ == 1 and cached.n_hits_ == 3


def test_duplicates_annotated_once(cache):
    fake = FakeAnnotator(LABELS)
    res = CachedAnnotator(fake, cache).annotate(["a", "b", "a", "a"])
    assert fake.n_texts == 2
    np.testing.assert_array_equal(res.probs[0], res.probs[2])
    assert len(res) == 4


def test_identity_change_misses(cache):
    CachedAnnotator(FakeAnnotator(LABELS, seed=0), cache).annotate(TEXTS[:4])
    other = FakeAnnotator(LABELS, seed=1)
    CachedAnnotator(other, cache).annotate(TEXTS[:4])
    assert other.n_texts == 4


def test_failure_on_later_batch_keeps_earlier_batches(cache):
    failing = FakeAnnotator(LABELS, fail_on_call=2)
    cached = CachedAnnotator(failing, cache, batch_size=4)
    with pytest.raises(RuntimeError, match="simulated failure") as info:
        cached.annotate(TEXTS)
    assert any("saved in the cache" in note for note in info.value.__notes__)
    assert cache.count(failing.identity()) == 8  # two finished batches were committed
    # resume: only the remaining texts are annotated
    resumed = FakeAnnotator(LABELS)
    result = CachedAnnotator(resumed, cache, batch_size=4).annotate(TEXTS)
    assert resumed.n_texts == len(TEXTS) - 8
    assert_same(result, FakeAnnotator(LABELS).annotate(TEXTS))


def test_bad_input(cache):
    cached = CachedAnnotator(FakeAnnotator(LABELS, name="m"), cache)
    with pytest.raises(ValueError, match="m .*empty"):
        cached.annotate([])
    with pytest.raises(TypeError, match="text 1 is a int"):
        cached.annotate(["a", 3])
    with pytest.raises(TypeError, match="not one str"):
        cached.annotate("abc")
    with pytest.raises(ValueError, match="batch_size"):
        CachedAnnotator(FakeAnnotator(LABELS), cache, batch_size=0)

    class NoIdentity:
        name, labels = "anon", LABELS

        def annotate(self, texts):  # pragma: no cover - never called
            raise AssertionError

    with pytest.raises(TypeError, match="anon.*identity"):
        CachedAnnotator(NoIdentity(), cache)


def test_pickles_as_path(cache):
    CachedAnnotator(FakeAnnotator(LABELS), cache).annotate(TEXTS[:3])
    clone = pickle.loads(pickle.dumps(CachedAnnotator(FakeAnnotator(LABELS), cache)))
    clone.annotate(TEXTS[:3])
    assert clone.annotator.n_texts == 0


def _worker(path, worker, n_texts, queue):
    fake = FakeAnnotator(LABELS)
    cached = CachedAnnotator(fake, AnnotationCache(path, timeout=30), batch_size=3)
    # every worker writes its own texts and a shared block, interleaved
    texts = [f"w{worker}-{i}" for i in range(n_texts)] + [f"shared-{i}" for i in range(n_texts)]
    res = cached.annotate(texts)
    queue.put((worker, fake.n_texts, res.probs.tolist()))


def test_two_processes_share_the_cache(tmp_path):
    path = tmp_path / "shared.sqlite"
    # fork is fast; the cache opens its connection per process id, so forking is safe
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(path, w, 30, queue)) for w in range(3)]
    for p in procs:
        p.start()
    outs = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    cache = AnnotationCache(path)
    assert cache.count() == 3 * 30 + 30  # every text exactly once
    ref = FakeAnnotator(LABELS)
    for worker, _, probs in outs:
        texts = [f"w{worker}-{i}" for i in range(30)] + [f"shared-{i}" for i in range(30)]
        np.testing.assert_array_equal(np.asarray(probs), ref.annotate(texts).probs)
    # a later run in this process is served entirely from the cache
    fake = FakeAnnotator(LABELS)
    CachedAnnotator(fake, cache).annotate([f"shared-{i}" for i in range(30)])
    assert fake.n_texts == 0


def test_a_write_interrupted_mid_transaction_does_not_block_the_next(tmp_path):
    """A Ctrl-C between BEGIN and COMMIT leaves the connection in a transaction: the next
    put rolls it back (nothing of it was committed) instead of failing."""
    cache = AnnotationCache(tmp_path / "c.sqlite")
    result = AnnotationResult(probs=[[0.9, 0.1]], votes=[[1.0, 0.0]])
    cache.put("fake", ["a"], result)
    conn = cache._connect()
    conn.execute("BEGIN IMMEDIATE")  # what an interrupted write leaves behind
    assert conn.in_transaction
    cache.put("fake", ["b"], result)
    assert not conn.in_transaction
    assert sorted(cache.get("fake", ["a", "b", "c"])) == [0, 1]
