"""Packed label scoring after a prefilled prefix equals scoring every prompt + label alone."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import MistralConfig, MistralForCausalLM

from skmollal.annotators.kv_cache import PromptPrefix, prefill_prefix
from skmollal.annotators.local import TransformersAnnotator
from skmollal.annotators.packed_scoring import label_tree, pack_rows, packable, score_packed
from skmollal.annotators.smollm2 import _panel_tasks
from skmollal.annotators.task import TREC_LABELS, AnnotationTask
from tiny_models import brute_force_logprob, tiny_gpt2, tiny_llama, tiny_tokenizer

TEXTS = [  # prompts of several lengths, one text empty
    "Where is Mount Everest?",
    "Ok",
    "When did the war end, and who signed the treaty that ended it?",
    "",
    "What does NASA stand for?",
]
HEAD = "Classify the text into exactly one of these categories. Text:"
FEW_SHOT = [("Who wrote Hamlet?", "human"), ("How many legs does a spider have?", "numeric")]


def brute_force(model, prompts, labels):
    return np.array([[brute_force_logprob(model, p, s) for s in labels] for p in prompts])


@pytest.fixture(params=["llama", "gpt2", "llama-eager"])
def model_and_tokenizer(request):
    model, tok = (tiny_gpt2 if request.param == "gpt2" else tiny_llama)()
    if request.param.endswith("eager"):
        model.set_attn_implementation("eager")
    return model.double(), tok


def _labels(tok):
    """TREC labels in two cases: several lengths, some sharing their first tokens."""
    labels = [tok.encode(" " + label) for label in TREC_LABELS]
    labels += [tok.encode(" " + label.capitalize()) for label in TREC_LABELS] + [[5]]
    tree = label_tree(labels)
    assert len({len(s) for s in labels}) >= 3
    assert len(tree.tokens) < sum(len(s) - 1 for s in labels), "no shared label starts"
    return labels


# ------------------------------------------------------------------------- the label tree
def test_label_tree_reads_every_label_back():
    labels = [[5], [6, 7, 8], [6, 9], [6, 7], [10, 11]]
    tree = label_tree(labels)
    assert len(tree.tokens) == 3  # 6, 6-7, 10: each shared start fed once
    for seq, picks in zip(labels, tree.picks):
        assert [token for _, token in picks] == seq
        nodes = [node for node, _ in picks]
        assert nodes[0] == -1  # the first token is read off the prompt's last position
        for before, node in zip(seq, nodes[1:]):  # then each node is the token before
            assert tree.tokens[node] == before
        assert all(tree.parents[b] == a for a, b in zip(nodes[1:], nodes[2:]))
    assert [tree.depths[u] for u in range(3)] == [0, 1, 0]
    with pytest.raises(ValueError, match="non-empty"):
        label_tree([[1], []])


def test_pack_rows_keeps_order_and_budget():
    assert pack_rows([3, 3, 3, 5, 1], budget=6) == [[0, 1], [2], [3, 4]]
    assert pack_rows([9, 2], budget=4) == [[0], [1]]  # an item over budget sits alone
    rows = pack_rows(list(range(1, 20)), budget=25)
    assert [i for row in rows for i in row] == list(range(19))


# ------------------------------------------------------------------------- exactness
@pytest.mark.parametrize("row_tokens", [None, 1, 30])
def test_packed_scores_equal_brute_force(model_and_tokenizer, row_tokens):
    """One pass (or several rows of one pass), all labels: each score as if alone."""
    model, tok = model_and_tokenizer
    head = tok.encode(HEAD)
    prefix = prefill_prefix(model, head)
    assert packable(model, prefix)
    labels = _labels(tok)
    prompts = [head + (tok.encode(t) or [7]) for t in TEXTS] + [head + [11]]
    got = score_packed(model, prompts, labels, prefix, row_tokens=row_tokens)
    assert got.shape == (len(prompts), len(labels))
    want = brute_force(model, prompts, labels)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)  # eager: float32 softmax


def test_prompts_sharing_part_of_the_prefix_use_that_part(model_and_tokenizer):
    model, tok = model_and_tokenizer
    head = tok.encode(HEAD)
    prefix = prefill_prefix(model, head)
    keys = [layer.keys.clone() for layer in prefix.cache.layers]
    labels = _labels(tok)
    prompts = [head + tok.encode(" Who?"), head[:-3] + [9, 9, 4]]  # the last merged away
    got = score_packed(model, prompts, labels, prefix)
    want = brute_force(model, prompts, labels)
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)  # eager: float32 softmax
    for before, layer in zip(keys, prefix.cache.layers):  # the prefix is left unchanged
        assert layer.keys.shape == before.shape
        torch.testing.assert_close(layer.keys, before, rtol=0, atol=0)
    with pytest.raises(ValueError, match="do not start with the prefix"):
        score_packed(model, [[head[0] + 1] + head], labels, prefix)


def test_float32_packed_scores_are_close(model_and_tokenizer):
    model, tok = model_and_tokenizer
    model = model.float()
    head = tok.encode(HEAD)
    labels = _labels(tok)
    prompts = [head + (tok.encode(t) or [7]) for t in TEXTS]
    got = score_packed(model, prompts, labels, prefill_prefix(model, head))
    np.testing.assert_allclose(got, brute_force(model, prompts, labels), atol=1e-4, rtol=0)


# ------------------------------------------------------------------------- the annotator
@pytest.mark.parametrize("batch_size", [1, 3, 8])
def test_annotator_shared_path_equals_the_plain_path(model_and_tokenizer, batch_size):
    model, tok = model_and_tokenizer
    model = model.float()
    task = AnnotationTask(TREC_LABELS, examples=FEW_SHOT)
    texts = TEXTS + ["(odd start", "7 days", "?"]
    kwargs = dict(tokenizer=tok, batch_size=batch_size, random_state=0)
    shared = TransformersAnnotator(model, task, **kwargs)
    assert packable(model, shared.shared_prefix())  # the packed path is the one tested
    off = TransformersAnnotator(model, task, prefix_cache="off", **kwargs)
    plain = off.annotate(texts)
    got = shared.annotate(texts)
    np.testing.assert_allclose(got.probs, plain.probs, atol=1e-5, rtol=0)
    np.testing.assert_allclose(shared.last_label_logprobs_, off.last_label_logprobs_,
                               atol=1e-4, rtol=0)


def test_sliding_window_model_reuses_no_prompt_head():
    """A sliding window's cache keeps its last tokens only: no head is reused, no packing."""
    tok = tiny_tokenizer(chat_template=True)
    config = MistralConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                           sliding_window=16, max_position_embeddings=512,
                           pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    model = MistralForCausalLM(config).double().eval()
    task = AnnotationTask(TREC_LABELS, examples=FEW_SHOT)
    kwargs = dict(tokenizer=tok, batch_size=3, random_state=0)
    shared = TransformersAnnotator(model, task, **kwargs)
    assert shared.shared_prefix() is None
    plain = TransformersAnnotator(model, task, prefix_cache="off", **kwargs).annotate(TEXTS)
    for annotator in (shared, TransformersAnnotator(model, task, prefix_cache="batch", **kwargs)):
        np.testing.assert_allclose(annotator.annotate(TEXTS).probs, plain.probs, atol=1e-9,
                                   rtol=0)


def test_nothing_to_pack_without_a_prefilled_prefix():
    model, _ = tiny_llama()
    assert not packable(model, None)
    assert not packable(model, PromptPrefix((), None))


# ------------------------------------------------------------------------- the real model
@pytest.mark.slow
def test_smollm2_few_shot_12_shared_path_equals_the_plain_path():
    from skmollal.annotators import smollm2
    from skmollal.demo import load_demo

    try:
        smollm2.smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    model, tok = smollm2.load_smollm2()
    task = {t.name: t for t in _panel_tasks(TREC_LABELS)}["few-shot-12"]
    texts = load_demo().texts[::45]  # four questions
    kwargs = dict(tokenizer=tok, batch_size=4, random_state=0, show_progress=False)
    shared = TransformersAnnotator(model, task, **kwargs)
    assert packable(model, shared.shared_prefix()) and len(shared.shared_prefix()) > 600
    plain = TransformersAnnotator(model, task, prefix_cache="off", **kwargs)
    np.testing.assert_allclose(shared.annotate(texts).probs, plain.annotate(texts).probs,
                               atol=1e-4, rtol=0)
