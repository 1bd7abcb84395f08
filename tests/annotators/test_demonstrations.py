"""Seed demonstrations: the selection functions, the prompts, the cache key, the loop's pool."""
import json

import numpy as np
import pytest

from skmollal.active_learning import MoLLIALoop
from skmollal.annotators.cache import AnnotationCache, CachedAnnotator
from skmollal.annotators.seed_pool import prompt_key_texts, share_seed_examples
from skmollal.demonstrations import (SeedDemonstrations, balanced_indices, configure_prompts,
                                     mmr_indices, nearest_indices, order_examples,
                                     parse_examples_spec)
from skmollal.annotators.task import AnnotationTask, read_label_descriptions
from skmollal.testing.fake import FakeAnnotator

from skmollal.testing.pool import LABELS, MeanProbMixture, SpyClassifier, make_pool, seed_y


class WordEmbedder:
    """Bag of words: texts sharing words are similar (no model)."""

    def __init__(self, dim=64):
        self.dim = dim
        self.calls = 0

    def transform(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, sum(map(ord, word)) % self.dim] += 1.0
        return out + 1e-3


class TaskAnnotator(FakeAnnotator):
    """A fake LLM with a task: records the demonstrations each text's prompt got."""

    def __init__(self, task, **kw):
        super().__init__(list(task.labels), **kw)
        self.task = task
        self.seen = {}

    def identity(self):
        return json.dumps([json.loads(super().identity()), json.loads(self.task.identity())])

    def annotate(self, texts):
        for t in texts:
            self.seen[t] = self.task.examples_for(t)
        return super().annotate(texts)


def selector(**kw):
    return SeedDemonstrations(embedder=WordEmbedder(), **kw)


# ----------------------------------------------------------------------- pure functions
def test_nearest_indices_rank_by_similarity_and_respect_allowed():
    sim = np.array([0.1, 0.9, 0.5, 0.7])
    assert nearest_indices(sim, 2).tolist() == [1, 3]
    assert nearest_indices(sim, 2, allowed=np.array([1, 0, 1, 1], bool)).tolist() == [3, 2]
    assert nearest_indices(sim, 10).tolist() == [1, 3, 2, 0]


def test_balanced_indices_cap_each_label():
    sim = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.05])
    labels = ["a", "a", "a", "a", "b", "c"]
    # 3 labels, k=3: at most one per label, however similar the a's are
    assert sorted(balanced_indices(sim, labels, 3).tolist()) == [0, 4, 5]
    # k=6 with only two non-a items: the caps (2 per label) leave room, the rest fill up
    assert sorted(balanced_indices(sim, labels, 6).tolist()) == [0, 1, 2, 3, 4, 5]


def test_mmr_avoids_near_duplicates_and_reduces_to_nearest():
    sim = np.array([0.9, 0.89, 0.5])
    pool_sim = np.array([[1.0, 0.99, 0.1], [0.99, 1.0, 0.1], [0.1, 0.1, 1.0]])
    assert mmr_indices(sim, pool_sim, 2, diversity=0.0).tolist() == [0, 1]
    assert mmr_indices(sim, pool_sim, 2, diversity=0.5).tolist() == [0, 2]
    with pytest.raises(ValueError, match="diversity"):
        mmr_indices(sim, pool_sim, 2, diversity=2.0)


def test_order_and_spec():
    assert order_examples([5, 3, 1], "nearest_last") == [1, 3, 5]
    assert order_examples([5, 3, 1], "nearest_first") == [5, 3, 1]
    assert parse_examples_spec("nearest:4") == ("nearest", 4)
    assert parse_examples_spec("mmr") == ("mmr", 8)
    for bad in ("closest:4", "nearest:0", "nearest:x"):
        with pytest.raises(ValueError, match="examples"):
            parse_examples_spec(bad)


# ----------------------------------------------------------------------- the selector
def test_selector_picks_similar_seed_texts_never_the_text_itself():
    d = selector(k=2)
    pool = ["the cat sat", "a cat ran", "stock prices fell", "prices rose today"]
    d.set_pool(pool, ["pet", "pet", "money", "money"])
    chosen = d.examples_for("the cat sat")
    assert len(chosen) == 2
    assert "the cat sat" not in [t for t, _ in chosen]  # never itself
    assert chosen[-1] == ("a cat ran", "pet")  # the nearest last
    assert {lab for _, lab in d.examples_for("prices of stock")} == {"money"}


def test_selector_forgets_choices_when_the_pool_changes():
    d = selector(k=1)
    d.set_pool(["red apple"], ["fruit"])
    assert d.examples_for("green apple") == (("red apple", "fruit"),)
    d.set_pool(["green apple pie", "red apple"], ["food", "fruit"])
    assert d.examples_for("green apple") == (("green apple pie", "food"),)
    assert SeedDemonstrations(k=2).examples_for("anything") == ()  # no pool yet


def test_task_renders_each_texts_demonstrations_and_label_descriptions():
    d = selector(k=1)
    task = AnnotationTask(["pet", "money"], examples=[("fixed one", "pet")], demonstrations=d,
                          label_descriptions={"pet": "an animal kept at home"})
    d.set_pool(["a cat ran", "prices fell"], ["pet", "money"])
    msgs = task.render_messages("prices rose")
    assert [m["content"] for m in msgs[1:5]] == ["fixed one", "pet", "prices fell", "money"]
    assert "pet: an animal kept at home" in msgs[0]["content"]
    assert "prices fell" in task.render_prompt("prices rose")
    plain = AnnotationTask(["pet", "money"], examples=[("fixed one", "pet")])
    assert "demonstrations" not in plain.to_dict()  # old identities unchanged
    assert task.identity() != plain.identity()
    with pytest.raises(ValueError, match="unknown labels"):
        AnnotationTask(["pet", "money"], label_descriptions={"cat": "x"})


def test_read_label_descriptions(tmp_path):
    lines = tmp_path / "d.txt"
    lines.write_text("# meanings\npet: an animal\n\nmoney:  prices, pay \n")
    assert read_label_descriptions(lines, ["pet", "money"]) == {"pet": "an animal",
                                                                 "money": "prices, pay"}
    js = tmp_path / "d.json"
    js.write_text(json.dumps({"pet": "an animal"}))
    assert read_label_descriptions(js, ["pet", "money"]) == {"pet": "an animal"}
    bad = tmp_path / "bad.txt"
    bad.write_text("pet an animal\n")
    with pytest.raises(ValueError, match="line 1"):
        read_label_descriptions(bad, ["pet", "money"])
    with pytest.raises(FileNotFoundError):
        read_label_descriptions(tmp_path / "none.txt", ["pet"])


# ----------------------------------------------------------------------- the cache key
def test_cache_key_holds_the_chosen_examples(tmp_path):
    d = selector(k=1)
    inner = TaskAnnotator(AnnotationTask(["pet", "money"], demonstrations=d))
    cached = CachedAnnotator(inner, AnnotationCache(tmp_path / "a.sqlite"))
    d.set_pool(["a cat ran", "prices fell"], ["pet", "money"])
    cached.annotate(["my cat sat"])
    assert cached.n_annotated_ == 1
    # a new pool row that changes nothing for this text: the cached answer is served
    d.set_pool(["a cat ran", "prices fell", "stock prices"], ["pet", "money", "money"])
    cached.annotate(["my cat sat"])
    assert (cached.n_hits_, cached.n_annotated_) == (1, 0)
    # a pool row that becomes its demonstration: annotated again
    d.set_pool(["my cat sat down", "prices fell"], ["pet", "money"])
    cached.annotate(["my cat sat"])
    assert cached.n_annotated_ == 1
    keys = prompt_key_texts(inner, ["my cat sat"])
    assert "my cat sat down" in keys[0]
    plain = FakeAnnotator(["pet", "money"])
    assert prompt_key_texts(plain, ["my cat sat"]) == ["my cat sat"]


def test_configure_prompts_shares_one_selector(tmp_path):
    a = TaskAnnotator(AnnotationTask(["pet", "money"]), name="a")
    b = CachedAnnotator(TaskAnnotator(AnnotationTask(["pet", "money"]), name="b"),
                        AnnotationCache(tmp_path / "c.sqlite"))
    before = b.identity()
    configure_prompts([a, b], "balanced:3", {"pet": "an animal"})
    assert a.task.demonstrations is b.annotator.task.demonstrations
    assert a.task.demonstrations.selector == "balanced" and a.task.demonstrations.k == 3
    assert b.identity() != before  # the memoised identity follows the new task
    assert share_seed_examples([a, b], ["x", "y", "z"], [0, -1, 1], ["pet", "money"]) == 2
    assert a.task.demonstrations.pool_texts == ("x", "z")


# ----------------------------------------------------------------------- the loop
def test_llm_annotated_rows_never_become_examples():
    X, texts, y = make_pool(n=80)
    y_seed = seed_y(y, n_seed=12)
    d = selector(k=3)
    fake = TaskAnnotator(AnnotationTask(LABELS), name="llm")
    configure_prompts([fake], d)
    asked = []

    def oracle(batch, rows, info):  # a person answering with the hidden gold
        asked.extend(int(r) for r in rows)
        return y[np.asarray(rows)]

    loop = MoLLIALoop(SpyClassifier(), [fake], X, y_seed, texts=texts,
                      mixture=MeanProbMixture(), batch_size=10, random_state=0,
                      oracle=oracle, review_size=2)
    loop.run(3)
    gold = {texts[i] for i in np.flatnonzero(y_seed >= 0)}
    reviewed = {texts[r] for r in asked}
    assert reviewed  # the review happened, and its rows joined the pool
    pool = set(fake.task.demonstrations.pool_texts)
    assert gold < pool <= gold | reviewed
    annotated_only = set(fake.seen) - gold - reviewed
    used = {t for examples in fake.seen.values() for t, _ in examples}
    assert used and not used & annotated_only
    assert all(t not in {e for e, _ in ex} for t, ex in fake.seen.items())  # never itself


# ----------------------------------------------------------------------- live (slow)
@pytest.mark.slow
def test_live_smollm2_with_seed_demonstrations(tmp_path):
    from skmollal.annotators import smollm2
    from skmollal.demo import demo_task, load_demo

    try:
        smollm2.smollm2_gguf_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    demo = load_demo()
    seed, texts = list(range(0, 180, 15)), [demo.texts[i] for i in (7, 40, 95, 130, 170)]
    d = SeedDemonstrations(k=2)
    d.set_pool([demo.texts[i] for i in seed], [demo.target_names[demo.target[i]] for i in seed])
    task = demo_task(demonstrations=d, example_template="Question: {text}")

    def member(batch_size):
        return smollm2.smollm2_annotator(task, device="cpu", batch_size=batch_size,
                                         random_state=0, show_progress=False)

    batched = member(4)
    cached = CachedAnnotator(batched, AnnotationCache(tmp_path / "a.sqlite"))
    first = cached.annotate(texts)
    # prompts that differ per text, batched with left padding: the same as one at a time
    alone = member(1).annotate(texts)
    np.testing.assert_allclose(first.probs, alone.probs, atol=1e-4)
    tok = batched._load()[1]
    for text in texts:
        prompt = task.render_prompt(text, tok)
        assert all(f"Question: {t}" in prompt for t, _ in d.examples_for(text))
    again = cached.annotate(texts)
    assert cached.n_hits_ == len(texts)
    np.testing.assert_allclose(again.probs, first.probs)
