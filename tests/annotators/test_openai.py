"""OpenAICompatibleAnnotator against a real HTTP server on 127.0.0.1 serving a tiny model.

The server (skmollal.testing.server) runs in a thread on a free port; failure modes are
scripted per request: HTTP 500 / 429 / 400, malformed JSON, slow answers, dropped
connections, fewer choices than asked. A port with nothing listening gives "connection
refused".
"""
from __future__ import annotations

import socket
import threading
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")
httpx = pytest.importorskip("httpx")

from tiny_models import teach, tiny_llama  # noqa: E402

from skmollal.annotators.cache import AnnotationCache, CachedAnnotator  # noqa: E402
from skmollal.annotators.openai import (  # noqa: E402
    AnnotationRequestError,
    OpenAICompatibleAnnotator,
    label_token_probs,
)
from skmollal.annotators.panel import LLMPanel  # noqa: E402
from skmollal.annotators.parsing import vote_distribution  # noqa: E402
from skmollal.annotators.task import AnnotationTask  # noqa: E402
from skmollal.testing.server import OpenAITestServer  # noqa: E402

LABELS = ["positive", "negative", "neutral"]
PAIRS = [("great film", "positive"), ("awful plot", "negative"), ("it was ok", "neutral")]
TEXTS = ["great film", "awful plot", "it was ok", "a film", "loved it"]


@pytest.fixture(scope="module")
def task():
    return AnnotationTask(LABELS)


@pytest.fixture(scope="module")
def tiny(task):
    model, tok = tiny_llama(seed=0)
    teach(model, tok, task, PAIRS, steps=60)  # generations become real label names
    return model, tok


@pytest.fixture(scope="module")
def server(tiny):
    model, tok = tiny
    with OpenAITestServer(model, tok, model_name="tiny") as srv:
        yield srv


@pytest.fixture
def srv(server):
    """The shared server with a clean script and request log."""
    server.set_script([], default_action="ok")
    server.max_n = None
    yield server
    server.set_script([], default_action="ok")
    server.max_n = None


def make(server_or_url, task, **kw):
    url = server_or_url if isinstance(server_or_url, str) else server_or_url.base_url
    kw.setdefault("n_votes", 4)
    kw.setdefault("backoff", 0.01)
    kw.setdefault("timeout", 10)
    return OpenAICompatibleAnnotator(url, "tiny", task, **kw)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- pure parsing
def test_label_token_probs_prefixes_case_and_space():
    top = [
        {"token": " Pos", "logprob": np.log(0.4)},       # prefix of positive
        {"token": "NEGATIVE,", "logprob": np.log(0.2)},  # whole label + punctuation
        {"token": "ne", "logprob": np.log(0.2)},          # prefix of negative and neutral
        {"token": "The", "logprob": np.log(0.15)},        # not a label: ignored
        {"token": "  ", "logprob": np.log(0.05)},         # blank: ignored
    ]
    p = label_token_probs(top, LABELS)
    expected = np.array([0.4, 0.2 + 0.1, 0.1]) / 0.8
    np.testing.assert_allclose(p, expected)
    assert label_token_probs([{"token": "The", "logprob": -0.1}], LABELS) is None
    # "negatives" does not count as "negative" followed by punctuation
    assert label_token_probs([{"token": "negatives", "logprob": -0.1}], LABELS) is None


# --------------------------------------------------------------------------- real server
def test_probs_and_votes_from_real_server(srv, task, tiny):
    ann = make(srv, task, n_votes=5)
    res = ann.annotate(TEXTS)
    assert res.probs.shape == res.votes.shape == (len(TEXTS), 3)
    # probabilities: brute force from the served model's first-token distribution
    model, tok = tiny
    for i, text in enumerate(TEXTS):
        logprobs = srv.first_token_logprobs(task.render_messages(text))
        values, ids = torch.topk(logprobs, 20)
        top = [{"token": tok.decode([j]), "logprob": v} for v, j in zip(values.tolist(), ids.tolist())]
        np.testing.assert_allclose(res.probs[i], label_token_probs(top, LABELS), atol=1e-5)
    # the taught model answers its training label most
    assert res.probs[0].argmax() == 0
    # votes: k real answers per text, parsed
    assert all(len(a) == 5 for a in res.raw_answers)
    for i in range(len(TEXTS)):
        np.testing.assert_array_equal(res.votes[i], vote_distribution(res.raw_answers[i], LABELS))
    assert res.votes[0, 0] == 1.0 and res.votes[1, 1] == 1.0 and res.votes[2, 2] == 1.0
    # one request per text, asking n=5, logprobs and top_logprobs=20
    assert len(srv.requests) == len(TEXTS) == ann.n_requests_
    body = srv.requests[0]
    assert body["n"] == 5 and body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["model"] == "tiny" and body["messages"][-1]["role"] == "user"


def test_fewer_choices_than_asked_makes_more_requests(srv, task):
    srv.max_n = 2  # like llama.cpp, which returns fewer choices than n
    res = make(srv, task, n_votes=5).annotate(TEXTS[:2])
    assert [len(a) for a in res.raw_answers] == [5, 5]
    assert len(srv.requests) == 2 * 3  # 2 + 2 + 1 choices per text
    assert sorted(r["n"] for r in srv.requests) == [1, 1, 3, 3, 5, 5]


def test_500_then_ok_is_retried(srv, task):
    srv.set_script(["500", "503", "429"])
    ann = make(srv, task, max_retries=3, max_concurrency=1)
    res = ann.annotate(TEXTS[:2])
    assert len(res) == 2 and ann.n_requests_ == 2 + 3
    np.testing.assert_array_equal(res.votes[0], [1, 0, 0])


def test_always_500_names_annotator_and_index(srv, task):
    srv.set_script(["ok"], default_action="500")
    ann = make(srv, task, max_retries=2, max_concurrency=1, name="srv-llm")
    with pytest.raises(AnnotationRequestError, match=r"srv-llm: text 1 failed after 3 request\(s\).*HTTP 500") as info:
        ann.annotate(TEXTS[:3])
    assert info.value.index == 1 and info.value.attempts == 3 and info.value.annotator == "srv-llm"
    assert len(srv.requests) == 1 + 3  # text 2 was never sent


def test_other_4xx_is_not_retried(srv, task):
    srv.set_script(["400"])
    ann = make(srv, task, max_retries=3)
    with pytest.raises(AnnotationRequestError, match=r"text 0 failed after 1 request.*HTTP 400 \(not retried\)"):
        ann.annotate(TEXTS[:1])
    assert len(srv.requests) == 1


def test_malformed_json(srv, task):
    srv.set_script(["malformed"])
    res = make(srv, task, max_retries=1).annotate(TEXTS[:1])  # retried, then fine
    assert len(srv.requests) == 2 and len(res) == 1
    srv.set_script([], default_action="malformed")
    with pytest.raises(AnnotationRequestError, match="text 0 .*malformed JSON"):
        make(srv, task, max_retries=1).annotate(TEXTS[:1])


def test_slow_response_times_out(srv, task):
    srv.set_script(["slow:1.0"])
    start = time.monotonic()
    with pytest.raises(AnnotationRequestError, match="text 0 .*timed out after 0.2 s"):
        make(srv, task, timeout=0.2, max_retries=0).annotate(TEXTS[:1])
    assert time.monotonic() - start < 0.9
    srv.set_script(["slow:1.0"])  # a retry after the timeout succeeds
    res = make(srv, task, timeout=0.2, max_retries=1).annotate(TEXTS[:1])
    assert len(res) == 1 and len(srv.requests) == 2


def test_dropped_connection_is_retried(srv, task):
    srv.set_script(["drop"])
    res = make(srv, task, max_retries=1).annotate(TEXTS[:1])
    assert len(res) == 1 and len(srv.requests) == 2


def test_server_down_connection_refused(task):
    ann = make(f"http://127.0.0.1:{free_port()}/v1", task, max_retries=1, name="down")
    with pytest.raises(AnnotationRequestError, match="down: text 0 failed after 2 request.*connection failed"):
        ann.annotate(["x"])


def test_api_key_header_and_extra_body(srv, task):
    make(srv, task, api_key="sk-test", extra_body={"seed": 7}).annotate(TEXTS[:1])
    assert srv.request_headers[0]["Authorization"] == "Bearer sk-test"
    assert srv.requests[0]["seed"] == 7


def test_concurrency_is_bounded_and_used(task):
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    def responder(body):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.1)
        with lock:
            state["now"] -= 1
        text = body["messages"][-1]["content"]
        return {"choices": [{"index": c, "message": {"role": "assistant", "content": text},
                             "logprobs": {"content": [{"token": text, "logprob": -0.1,
                                                       "top_logprobs": [{"token": text, "logprob": -0.1}]}]}}
                            for c in range(body["n"])]}

    with OpenAITestServer(responder=responder) as server:
        texts = ["positive", "negative", "neutral", "positive", "negative", "neutral"]
        res = make(server, task, max_concurrency=2, n_votes=3).annotate(texts)
    assert state["peak"] == 2
    np.testing.assert_array_equal(res.probs, np.eye(3)[[0, 1, 2, 0, 1, 2]])
    np.testing.assert_array_equal(res.votes, np.eye(3)[[0, 1, 2, 0, 1, 2]])


def test_no_logprobs_gives_uniform_probs(task):
    def responder(body):
        return {"choices": [{"index": c, "message": {"role": "assistant", "content": "negative"}}
                            for c in range(body["n"])]}

    with OpenAITestServer(responder=responder) as server:
        ann = make(server, task)
        res = ann.annotate(["a", "b"])
    np.testing.assert_allclose(res.probs, 1 / 3)
    np.testing.assert_array_equal(res.votes, [[0, 1, 0], [0, 1, 0]])
    assert ann.n_uniform_ == 2


def test_identity_and_bad_input(task):
    base = make("http://127.0.0.1:1/v1", task)
    same = make("http://127.0.0.1:1/v1/", task, api_key="secret", max_concurrency=9)
    assert base.identity() == same.identity() and "secret" not in same.identity()
    for other in (make("http://127.0.0.1:2/v1", task), make("http://127.0.0.1:1/v1", task, temperature=0.1),
                  make("http://127.0.0.1:1/v1", task, n_votes=5),
                  make("http://127.0.0.1:1/v1", AnnotationTask(LABELS, instruction="Label it: {labels}")),
                  OpenAICompatibleAnnotator("http://127.0.0.1:1/v1", "other", task)):
        assert other.identity() != base.identity()
    assert base.name == "tiny" and base.labels == tuple(LABELS)
    with pytest.raises(ValueError, match="empty"):
        base.annotate([])
    with pytest.raises(TypeError, match="text 1 is a bytes"):
        base.annotate(["ok", b"no"])
    with pytest.raises(ValueError, match="base_url"):
        OpenAICompatibleAnnotator("localhost:8000", "m", task)
    with pytest.raises(ValueError, match="n_votes"):
        OpenAICompatibleAnnotator("http://x/v1", "m", task, n_votes=0)
    with pytest.raises(TypeError, match="AnnotationTask"):
        OpenAICompatibleAnnotator("http://x/v1", "m", ["a", "b"])


def test_cache_and_panel_with_server(srv, task, tmp_path):
    cache = AnnotationCache(tmp_path / "c.sqlite")
    a = make(srv, task, name="a", temperature=0.0)
    b = make(srv, task, name="b", temperature=0.0, n_votes=3)
    panel = LLMPanel([a, b], n_jobs=2, cache=cache, show_progress=False)
    first = panel.transform(TEXTS)
    assert first.shape == (len(TEXTS), 2, 2, 3)
    sent = len(srv.requests)
    assert sent == 2 * len(TEXTS)
    again = panel.transform(TEXTS)  # all from the cache: no request
    assert len(srv.requests) == sent
    np.testing.assert_array_equal(first, again)
    one = CachedAnnotator(make(srv, task, name="a", temperature=0.0), cache).annotate(TEXTS + ["new"])
    assert len(srv.requests) == sent + 1 and len(one) == len(TEXTS) + 1


def test_failure_keeps_paid_answers_and_cache_saves_them(srv, task, tmp_path):
    srv.set_script(["ok", "ok"], default_action="500")
    ann = make(srv, task, max_retries=1, max_concurrency=1)
    with pytest.raises(AnnotationRequestError, match="text 2 failed") as info:
        ann.annotate(TEXTS[:4])
    assert info.value.completed == [0, 1] and len(info.value.partial) == 2
    assert len(srv.requests) == 2 + 2  # text 3 was never sent
    # through the cache: the two finished texts of the failed batch are committed
    cache = AnnotationCache(tmp_path / "c.sqlite")
    srv.set_script(["ok", "ok"], default_action="500")
    cached = CachedAnnotator(make(srv, task, max_retries=1, max_concurrency=1), cache, batch_size=10)
    with pytest.raises(AnnotationRequestError) as info:
        cached.annotate(TEXTS[:4])
    assert any("2 finished texts of the batch are saved" in n for n in info.value.__notes__)
    assert cache.count() == 2
    srv.set_script([], default_action="ok")  # the server recovers: only texts 2 and 3 are sent
    res = cached.annotate(TEXTS[:4])
    assert len(srv.requests) == 2 and len(res) == 4 and cached.n_hits_ == 2


def test_unexpected_answer_shape_is_wrapped_with_index(task):
    def responder(body):
        return {"choices": [{"message": {"content": "positive"}, "logprobs": {"content": ["?"]}}]}

    with OpenAITestServer(responder=responder) as server:
        with pytest.raises(AnnotationRequestError, match="tiny: text 0 failed: AttributeError"):
            make(server, task, n_votes=1).annotate(["a"])


# ------------------------------------------------------------- fault modes of issue 12
def test_trickling_server_fails_at_the_deadline(srv, task):
    srv.set_script(["trickle:0.5"])  # one byte every 0.5 s: never a per-read timeout
    start = time.monotonic()
    with pytest.raises(AnnotationRequestError, match="text 0 .*1.5 s deadline"):
        make(srv, task, timeout=1.5, max_retries=0).annotate(TEXTS[:1])
    assert time.monotonic() - start < 1.5 + 0.5 + 0.5  # the deadline, plus one byte's gap


def test_huge_logprob_is_refused_and_never_cached(srv, task, tmp_path):
    cache = AnnotationCache(tmp_path / "c.sqlite")
    srv.set_script(["ok", "logprob:800"])
    ann = make(srv, task, max_retries=0, max_concurrency=1, name="broken")
    with pytest.raises(AnnotationRequestError, match="broken: text 1 failed.*logprob of 800"):
        CachedAnnotator(ann, cache).annotate(TEXTS[:3])
    assert cache.count() == 1  # text 0's answer is kept; text 1's is not cached
    assert len(srv.requests) == 2  # text 2 was never sent
    srv.set_script(["logprob:nan"])
    with pytest.raises(AnnotationRequestError, match="logprob of nan"):
        make(srv, task, max_retries=0).annotate(TEXTS[:1])
    with pytest.raises(ValueError, match="logprob of 800"):
        label_token_probs([{"token": "positive", "logprob": 800.0}], LABELS)


def test_ctrl_c_cancels_the_batch_and_keeps_every_answer(srv, task, tmp_path):
    texts = [f"text {i}" for i in range(12)]
    srv.set_script(["ok", "ok", "interrupt"])  # Ctrl-C while the third text is in flight
    ann = make(srv, task, max_concurrency=2, n_votes=1)
    with pytest.raises(KeyboardInterrupt) as info:
        ann.annotate(texts)
    sent = len(srv.requests)
    assert sent <= 4  # not the 12 of the batch: nothing is sent after Ctrl-C
    assert len(info.value.completed) >= 3 and len(info.value.partial) == len(info.value.completed)
    # through the cache: every answer received is committed, as it arrived
    cache = AnnotationCache(tmp_path / "c.sqlite")
    srv.set_script(["ok", "ok", "interrupt"])
    cached = CachedAnnotator(make(srv, task, max_concurrency=2, n_votes=1), cache, batch_size=12)
    with pytest.raises(KeyboardInterrupt):
        cached.annotate(texts)
    kept = cache.count()
    assert kept >= 3 and kept == len(srv.requests)  # every answer paid for is in the cache
    srv.set_script([])
    cached.annotate(texts)
    assert len(srv.requests) == len(texts) - kept  # none paid twice


def test_ctrl_c_while_committing_an_answer_keeps_it_and_the_ones_in_flight(srv, task, tmp_path):
    cache = AnnotationCache(tmp_path / "c.sqlite")
    real_put, calls = cache.put, []

    def put(*args):
        calls.append(args)
        if len(calls) == 1:
            raise KeyboardInterrupt  # Ctrl-C lands while the first answer is committed
        real_put(*args)

    cache.put = put
    cached = CachedAnnotator(make(srv, task, max_concurrency=2, n_votes=1), cache, batch_size=6)
    with pytest.raises(KeyboardInterrupt):
        cached.annotate([f"text {i}" for i in range(6)])
    assert len(srv.requests) <= 4
    assert cache.count() == len(srv.requests)  # every answer received is committed


def test_each_answer_is_committed_as_it_arrives(srv, task, tmp_path):
    """A SIGKILL loses at most the requests in flight: answers are in the cache at once."""
    cache = AnnotationCache(tmp_path / "c.sqlite")
    seen = []

    ann = make(srv, task, max_concurrency=1, n_votes=1)
    original = ann.iter_annotate

    def spy(texts):
        for i, row in original(texts):
            seen.append(cache.count())  # committed rows when the next one arrives
            yield i, row

    ann.iter_annotate = spy
    CachedAnnotator(ann, cache, batch_size=5).annotate(TEXTS)
    assert seen == [0, 1, 2, 3, 4] and cache.count() == 5


@pytest.mark.slow
def test_real_smollm2_behind_the_server():
    """The embedded SmolLM2 (real tokenizer, real chat template) served over HTTP."""
    pytest.importorskip("gguf")
    from skmollal.annotators import smollm2
    from skmollal.demo import demo_task, load_demo

    try:
        model, tok = smollm2.load_smollm2()
    except (ImportError, FileNotFoundError, OSError) as exc:  # the wheel is not installed
        pytest.skip(f"SmolLM2 not available: {exc}")
    task = demo_task()
    texts = list(load_demo().texts[:2])
    with OpenAITestServer(model, tok, model_name="smollm2", max_new_tokens=4) as server:
        ann = OpenAICompatibleAnnotator(server.base_url, "smollm2", task, n_votes=2,
                                        max_tokens=4, timeout=300, max_retries=0)
        res = ann.annotate(texts)
        for i, text in enumerate(texts):
            logprobs = server.first_token_logprobs(task.render_messages(text))
            values, ids = torch.topk(logprobs, 20)
            top = [{"token": tok.decode([j]), "logprob": v}
                   for v, j in zip(values.tolist(), ids.tolist())]
            expected = label_token_probs(top, task.labels)
            if expected is None:
                expected = np.full(len(task.labels), 1 / len(task.labels))
            np.testing.assert_allclose(res.probs[i], expected, atol=1e-5)
    np.testing.assert_allclose(res.probs.sum(axis=1), 1.0)
    assert [len(a) for a in res.raw_answers] == [2, 2]
