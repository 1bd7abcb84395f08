"""AnnotationTask: validation, message/prompt rendering, identity."""
from __future__ import annotations

import json

import pytest

from skmollal.annotators.task import DEFAULT_INSTRUCTION, TREC_LABELS, AnnotationTask
from tiny_models import CHATML_TEMPLATE, tiny_tokenizer


def test_messages_layout_with_examples():
    task = AnnotationTask(["pos", "neg"], examples=[("good", "pos"), ("bad", "neg")])
    msgs = task.render_messages("meh")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[0]["content"] == DEFAULT_INSTRUCTION.replace("{labels}", "pos, neg")
    assert msgs[1:5] == [
        {"role": "user", "content": "good"},
        {"role": "assistant", "content": "pos"},
        {"role": "user", "content": "bad"},
        {"role": "assistant", "content": "neg"},
    ]
    assert msgs[-1] == {"role": "user", "content": "meh"}


def test_instruction_placeholder_and_literal_braces():
    task = AnnotationTask(["a", "b"], instruction="Pick {labels}. JSON like {x} is kept.")
    assert task.instruction_text == "Pick a, b. JSON like {x} is kept."


def test_render_prompt_uses_chat_template():
    tok = tiny_tokenizer(chat_template=True)
    task = AnnotationTask(TREC_LABELS, examples=[("What does NASA stand for?", "abbreviation")])
    prompt = task.render_prompt("Who wrote Hamlet?", tok)
    expected = tok.apply_chat_template(
        task.render_messages("Who wrote Hamlet?"), tokenize=False, add_generation_prompt=True
    )
    assert prompt == expected
    assert prompt.endswith("<|im_start|>user\nWho wrote Hamlet?<|im_end|>\n<|im_start|>assistant\n")
    assert "<|im_start|>assistant\nabbreviation<|im_end|>" in prompt
    assert task.answer_prefix(tok) == ""


def test_render_prompt_plain_layout_without_template():
    task = AnnotationTask(["yes", "no"], instruction="Is it a fruit?", examples=[("apple", "yes")])
    for tok in (None, tiny_tokenizer(chat_template=False)):
        prompt = task.render_prompt("stone", tok)
        assert prompt == "Is it a fruit?\n\nText: apple\nAnswer: yes\n\nText: stone\nAnswer:"
        assert task.answer_prefix(tok) == " "


def test_template_without_system_role_gets_instruction_in_user_turn():
    tok = tiny_tokenizer(chat_template=True)
    tok.chat_template = (
        "{% for m in messages %}{% if m['role'] == 'system' %}"
        "{{ raise_exception('System role not supported') }}{% endif %}"
        "[{{ m['role'] }}]{{ m['content'] }}{% endfor %}"
        "{% if add_generation_prompt %}[assistant]{% endif %}"
    )
    task = AnnotationTask(["a", "b"], instruction="Choose.")
    assert task.render_prompt("x", tok) == "[user]Choose.\n\nx[assistant]"
    tok.chat_template = CHATML_TEMPLATE


def test_identity_is_stable_and_sensitive():
    a = AnnotationTask(TREC_LABELS, name="t")
    b = AnnotationTask(list(TREC_LABELS), name="t")
    assert a.identity() == b.identity() and a == b and hash(a) == hash(b)
    assert json.loads(a.identity())["labels"] == list(TREC_LABELS)
    variants = [
        AnnotationTask(TREC_LABELS[::-1], name="t"),
        AnnotationTask(TREC_LABELS, instruction="Other {labels}", name="t"),
        AnnotationTask(TREC_LABELS, examples=[("q", "human")], name="t"),
        AnnotationTask(TREC_LABELS, name="u"),
    ]
    ids = {v.identity() for v in variants} | {a.identity()}
    assert len(ids) == 5
    assert len(a.fingerprint()) == 16


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"labels": "abc"}, TypeError, "not one str"),
        ({"labels": ["a"]}, ValueError, "at least two"),
        ({"labels": ["a", "a"]}, ValueError, "distinct"),
        ({"labels": ["a", " "]}, ValueError, "label 1 is empty"),
        ({"labels": ["a", 3]}, TypeError, "label 1"),
        ({"labels": ["a", "b"], "instruction": 5}, TypeError, "instruction"),
        ({"labels": ["a", "b"], "examples": [("x", "c")]}, ValueError, "example 0 label"),
        ({"labels": ["a", "b"], "examples": ["xyz"]}, ValueError, "example 0"),
        ({"labels": ["a", "b"], "examples": [(1, "a")]}, TypeError, "example 0 text"),
    ],
)
def test_bad_task_definitions(kwargs, error, match):
    with pytest.raises(error, match=match):
        AnnotationTask(**kwargs)


def test_non_string_text_is_rejected():
    with pytest.raises(TypeError, match="text must be a str"):
        AnnotationTask(["a", "b"], name="mine").render_messages(None)


def test_text_template_and_answer_lead():
    task = AnnotationTask(["yes", "no"], instruction="", examples=[("apple", "yes")],
                          text_template="Is {text} a fruit? Options: {labels}.",
                          answer_lead="Answer:")
    msgs = task.render_messages("stone")
    assert msgs[0] == {"role": "user", "content": "Is apple a fruit? Options: yes, no."}
    assert msgs[1] == {"role": "assistant", "content": "Answer: yes"}
    tok = tiny_tokenizer(chat_template=True)
    prompt = task.render_prompt("stone", tok)
    assert prompt.endswith("<|im_start|>assistant\nAnswer:")
    assert task.answer_prefix(tok) == " "
    plain = task.render_prompt("stone", None)
    assert plain == (
        "Text: Is apple a fruit? Options: yes, no.\nAnswer: Answer: yes\n\n"
        "Text: Is stone a fruit? Options: yes, no.\nAnswer: Answer:"
    )
    assert task.answer_prefix(None) == " "
    spaced = AnnotationTask(["yes", "no"], answer_lead="It is ")
    assert spaced.answer_prefix(tok) == ""
    assert spaced.identity() != AnnotationTask(["yes", "no"]).identity()
    with pytest.raises(ValueError, match="text_template"):
        AnnotationTask(["yes", "no"], text_template="no placeholder")
