"""Full-label scoring, its fallback, and long texts of the HTTP annotator.

* The walk over each label's tokens (:class:`~skmollal.annotators.server_scoring.LabelScorer`)
  against a tiny causal LM's own next-token distributions gives the probabilities the
  local annotator scores, also for labels that share their first token (where the
  first-token reading splits the mass equally).
* Against the project's test server (no completions endpoint), ``label_scoring="auto"``
  falls back to the first answer token and logs why; ``"full"`` fails instead.
* A server that refuses a prompt longer than its context (a scripted responder speaking
  vLLM's error message): ``long_texts`` truncate / skip / error.
(The real llama.cpp server: tests/test_llamacpp_server.py.)
"""
from __future__ import annotations

import logging

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("httpx")

from tiny_models import teach, tiny_llama  # noqa: E402

from skmollal.annotators.local import TransformersAnnotator  # noqa: E402
from skmollal.annotators.openai import (  # noqa: E402
    AnnotationRequestError,
    OpenAICompatibleAnnotator,
)
from skmollal.annotators.server_scoring import LabelScorer  # noqa: E402
from skmollal.annotators.task import AnnotationTask  # noqa: E402
from skmollal.testing.server import OpenAITestServer  # noqa: E402

#: Labels whose names share their first word (and so, for most tokenizers, first token).
SHARED = ["a good film", "a bad film", "an ok film"]
PAIRS = [("great film", "a good film"), ("awful plot", "a bad film"), ("it was ok", "an ok film")]
TEXTS = ["great film", "awful plot", "it was ok", "a film"]
TASK = AnnotationTask(SHARED)


@pytest.fixture(scope="module")
def served():
    """A tiny llama taught the labels, its tokenizer, and the test server answering with it."""
    model, tok = tiny_llama(seed=1)
    teach(model, tok, TASK, PAIRS, steps=40)
    with OpenAITestServer(model, tok, model_name="tiny") as srv:
        yield model, tok, srv


@pytest.fixture(scope="module")
def tiny(served):
    return served[:2]


@pytest.fixture(scope="module")
def server(served):
    return served[2]


def _completions(model, tok, k=20):
    """``post(body)`` of a completions endpoint computed from ``model`` (as a server would:
    the prompt and what was read of the answer tokenized together)."""
    def post(body):
        ids = tok.encode(body["prompt"], add_special_tokens=False)
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0, -1]
                                         .float(), dim=-1)
        values, index = torch.topk(logprobs, k)
        top = {tok.decode([i]): v for v, i in zip(values.tolist(), index.tolist())}
        return {"choices": [{"text": "", "logprobs": {"top_logprobs": [top]}}],
                "usage": {"prompt_tokens": len(ids), "completion_tokens": 1}}
    return post


def _tv(p, q):
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def test_walk_scores_full_labels_as_the_local_annotator(tiny):
    model, tok = tiny
    local = TransformersAnnotator(model, TASK, tokenizer=tok, n_votes=1, temperature=0.0,
                                  random_state=0, show_progress=False)
    first_tokens = {tuple(tok.encode(label, add_special_tokens=False)[:1]) for label in SHARED}
    assert len(first_tokens) < len(SHARED)  # some labels do share their first token
    reference = local.annotate(TEXTS).probs
    scorer = LabelScorer("tiny", SHARED)
    post = _completions(model, tok, k=tok.vocab_size)  # every token listed: nothing missed
    for text, ref in zip(TEXTS, reference):
        probs, cost = scorer.score(post, {}, TASK.render_prompt(text, tok),
                                   TASK.answer_prefix(tok))
        assert _tv(probs, ref) < 1e-4, (text, probs, ref)
        assert cost.prompt_tokens > 0
    assert scorer.method == "completions"
    # a tokenizer whose chat template is not the server's: its prompt has another length
    wrong = LabelScorer("tiny", SHARED)
    prompt = TASK.render_prompt(TEXTS[0], tok)
    n_tokens = len(tok.encode(prompt, add_special_tokens=False))
    probs, _ = wrong.score(post, {}, prompt, TASK.answer_prefix(tok), chat_tokens=n_tokens + 9)
    assert probs is None and wrong.method == "first-token" and "chat template" in wrong.reason


def test_fallback_on_a_server_without_completions_logs_why(server, tiny, caplog):
    _, tok = tiny
    plain = OpenAICompatibleAnnotator(server.base_url, "tiny", TASK, n_votes=2,
                                      label_scoring="first-token")
    expected = plain.annotate(TEXTS).probs
    auto = OpenAICompatibleAnnotator(server.base_url, "tiny", TASK, n_votes=2, tokenizer=tok)
    with caplog.at_level(logging.WARNING, logger="skmollal.annotators.server_scoring"):
        res = auto.annotate(TEXTS)
    assert auto.scoring_method_ == "first-token"
    warned = [r.getMessage() for r in caplog.records
              if "cannot score full labels" in r.getMessage()]
    assert len(warned) == 1 and "404" in warned[0], warned  # once, with the server's answer
    np.testing.assert_allclose(res.probs, expected, atol=1e-6)
    # without a tokenizer, the reason is that there is nothing to render the prompt with
    bare = OpenAICompatibleAnnotator(server.base_url, "tiny", TASK, n_votes=1)
    bare.annotate(TEXTS[:1])
    assert bare.scoring_method_ == "first-token" and "tokenizer" in bare._scorer.reason


def test_full_scoring_that_the_server_cannot_do_is_an_error(server, tiny):
    ann = OpenAICompatibleAnnotator(server.base_url, "tiny", TASK, n_votes=1,
                                    tokenizer=tiny[1], label_scoring="full")
    with pytest.raises(AnnotationRequestError, match="label_scoring='full'.*404"):
        ann.annotate(TEXTS[:2])
    with pytest.raises(ValueError, match="label_scoring must be one of"):
        OpenAICompatibleAnnotator(server.base_url, "tiny", TASK, label_scoring="exact")


def test_spec_names_the_tokenizer_of_the_chat_template():
    from skmollal.annotators.smollm2 import smollm2_gguf_path
    from skmollal.annotators.specs import build_annotator

    try:
        smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    ann = build_annotator("http://127.0.0.1:8080/v1#smollm2?tokenizer=smollm2", SHARED)
    assert (ann.model, ann.base_url) == ("smollm2", "http://127.0.0.1:8080/v1")
    prompt = ann.tokenizer.apply_chat_template(TASK.render_messages("x"),
                                               tokenize=False)
    assert "<|im_start|>" in prompt  # SmolLM2's chat template
    plain = build_annotator("http://127.0.0.1:8080/v1#smollm2", SHARED)
    assert plain.tokenizer is None and plain.identity() != ann.identity()


# --------------------------------------------------------------------------- long texts
N_CTX = 300


def _bounded(body):
    """A server with a context of N_CTX 'tokens' (characters) that says so as vLLM does."""
    n_prompt = sum(len(m["content"]) for m in body["messages"])
    if n_prompt + body["max_tokens"] > N_CTX:
        return 400, {"error": {"message": (
            f"This model's maximum context length is {N_CTX} tokens. However, you requested "
            f"{n_prompt + body['max_tokens']} tokens ({n_prompt} in the messages, "
            f"{body['max_tokens']} in the completion). Please reduce the length.")}}
    top = [{"token": "a", "logprob": -0.1}]
    choice = {"message": {"role": "assistant", "content": "a good film"},
              "logprobs": {"content": [{"token": "a", "logprob": -0.1, "top_logprobs": top}]}}
    return {"choices": [choice] * body["n"],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": 3}}


@pytest.fixture(scope="module")
def bounded():
    with OpenAITestServer(responder=_bounded) as srv:
        yield srv


def _ann(srv, **kw):
    return OpenAICompatibleAnnotator(srv.base_url, "m", TASK, n_votes=1, max_retries=0,
                                     **kw)


def test_long_text_is_truncated_to_the_servers_context(bounded, caplog):
    long = "word " * 200
    with caplog.at_level(logging.WARNING, logger="skmollal.annotators.openai"):
        res = _ann(bounded).annotate(["short", long])
    assert res.votes[1].sum() == 1.0  # answered
    sent = bounded.requests[-1]["messages"][-1]["content"]
    kept = sent[sent.index("word"):]
    assert long.startswith(kept) and 0 < len(kept) < len(long)
    assert any("text 1" in r.getMessage() and "cut" in r.getMessage() for r in caplog.records)


def test_long_text_skipped_or_refused(bounded):
    long = "word " * 200
    res = _ann(bounded, long_texts="skip").annotate(["short", long])
    assert res.votes[0].sum() == 1.0
    assert res.probs[1].sum() == 0 and res.votes[1].sum() == 0  # abstains
    with pytest.raises(AnnotationRequestError, match=r"text 1 .*context of 300 tokens"
                                                     r".*long_texts='truncate'"):
        _ann(bounded, long_texts="error").annotate(["short", long])
    with pytest.raises(ValueError, match="long_texts must be one of"):
        _ann(bounded, long_texts="cut")
