"""Bad annotator output is refused before it is cached (issue 12, section 4)."""
from __future__ import annotations

import json
import sqlite3

import numpy as np
import pytest

from skmollal.aggregation import MajorityVote, MixtureAggregator
from skmollal.annotators.base import AnnotationResult, check_annotation_values
from skmollal.annotators.cache import AnnotationCache, CacheCorruptedError, CachedAnnotator
from skmollal.signals import check_signals
from skmollal.testing import make_signals
from skmollal.testing.fake import FakeAnnotator

LABELS = ["pos", "neg", "neutral"]
TEXTS = [f"text number {i}" for i in range(12)]
GOOD = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])


@pytest.mark.parametrize("kind", ["probs", "votes"])
@pytest.mark.parametrize("value", [np.nan, np.inf, -0.3, 5.0])
def test_annotation_result_refuses_invalid_values(kind, value):
    bad = GOOD.copy()
    bad[1, 2] = value
    arrays = {"probs": GOOD, "votes": GOOD, kind: bad}
    with pytest.raises(ValueError, match=f"{kind} hold .* row 1"):
        AnnotationResult(**arrays)


def test_vote_rows_may_abstain_but_not_sum_past_one():
    AnnotationResult(GOOD, np.array([[0.5, 0.2, 0.0], [0.0, 0.0, 0.0]]))  # abstentions
    AnnotationResult(np.array([[0.9, 0.8, 0.7]]), np.array([[1.0, 0.0, 0.0]]))  # scored apart
    with pytest.raises(ValueError, match="votes .*summing to more than 1.*row 0"):
        AnnotationResult(GOOD[:1], np.array([[0.6, 0.6, 0.0]]))
    check_annotation_values(GOOD, GOOD + 1e-6)  # float rounding passes


class Broken(FakeAnnotator):
    """A fake LLM whose second text comes back NaN."""

    def annotate(self, texts):
        good = super().annotate(texts)
        probs = good.probs.copy()
        probs[1 % len(texts)] = np.nan
        return AnnotationResult(probs, good.votes)  # refused here, on creation


def test_invalid_answers_are_never_cached(tmp_path):
    cache = AnnotationCache(tmp_path / "c.sqlite")
    with pytest.raises(ValueError, match="probs hold NaN"):
        CachedAnnotator(Broken(LABELS), cache).annotate(TEXTS[:3])
    assert cache.count() == 0
    # put itself refuses, whatever object carries the values
    res = FakeAnnotator(LABELS).annotate(TEXTS[:2])
    res.probs[0, 0] = -1.0  # changed after creation
    with pytest.raises(ValueError, match="AnnotationCache.put: probs"):
        cache.put("x", TEXTS[:2], res)
    assert cache.count() == 0


def _poison(path, value):
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE annotations SET value = ?", (value,))


@pytest.mark.parametrize("value", [
    '{"probs": [0.5, 0.5',  # truncated JSON
    json.dumps({"probs": [float("nan"), 0.5, 0.5], "votes": [1, 0, 0], "raw_answers": [],
                "abstained": False}),
    json.dumps({"probs": [800.0, 0.0, 0.0], "votes": [1, 0, 0], "raw_answers": [],
                "abstained": False}),
    json.dumps({"votes": [1, 0, 0]}),
], ids=["bad-json", "nan", "huge", "fields"])
def test_poisoned_rows_name_the_file_and_the_fix(tmp_path, value):
    path = tmp_path / "c.sqlite"
    fake = FakeAnnotator(LABELS)
    CachedAnnotator(fake, AnnotationCache(path)).annotate(TEXTS[:4])
    _poison(path, value)
    with pytest.raises(CacheCorruptedError, match=r"c\.sqlite.*delete.*--refresh-cache"):
        CachedAnnotator(FakeAnnotator(LABELS), AnnotationCache(path)).annotate(TEXTS[:4])
    # refresh: the bad rows are annotated again and overwritten
    again = FakeAnnotator(LABELS)
    result = CachedAnnotator(again, AnnotationCache(path, invalid="refresh")).annotate(TEXTS[:4])
    assert again.n_texts == 4
    np.testing.assert_array_equal(result.probs, FakeAnnotator(LABELS).annotate(TEXTS[:4]).probs)
    CachedAnnotator(FakeAnnotator(LABELS), AnnotationCache(path)).annotate(TEXTS[:4])  # healed


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_cache_file_names_the_file_and_the_fix(tmp_path, damage):
    path = tmp_path / "c.sqlite"
    cache = AnnotationCache(path)
    CachedAnnotator(FakeAnnotator(LABELS), cache, batch_size=2).annotate(
        [f"{t} " * 200 for t in TEXTS])
    cache.close()
    with sqlite3.connect(path) as conn:  # fold the WAL into the file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = path.read_bytes()
    path.write_bytes(b"this is not a database" * 100 if damage == "garbage"
                     else data[: len(data) // 2])
    with pytest.raises(CacheCorruptedError, match=r"c\.sqlite.*delete.*--refresh-cache"):
        CachedAnnotator(FakeAnnotator(LABELS), AnnotationCache(path)).annotate(
            [f"{t} " * 200 for t in TEXTS])
    fresh = FakeAnnotator(LABELS)
    CachedAnnotator(fresh, AnnotationCache(path, invalid="refresh")).annotate(TEXTS[:3])
    assert fresh.n_texts == 3
    assert (tmp_path / "c.sqlite.corrupt").exists()


def test_signals_with_negative_values_or_overfull_vote_rows_are_refused():
    S, y = make_signals(n=60, seed=0)
    y_part = np.where(np.arange(len(y)) < 20, y, -1)
    negative = S.copy()
    negative[5, 1, 1] = -negative[5, 1, 1]
    overfull = S.copy()
    overfull[7, 0, 1] = 0.9
    for bad, match in ((negative, r"row \(5, 1\)"), (overfull, r"summing .* row \(7, 0\)")):
        with pytest.raises(ValueError, match=match):
            check_signals(bad, name="S")
        with pytest.raises(ValueError, match=match):
            MajorityVote().fit(bad, y_part)
        with pytest.raises(ValueError, match=match):
            MixtureAggregator().fit(bad, y_part)


def test_real_recordings_pass(recordings_dir):
    from skmollal.datasets import load_recordings

    for task in ("trec", "imdb"):
        check_signals(load_recordings(recordings_dir, task).signals)
