"""What an LLM annotator is asked: the label names, an instruction and few-shot examples.

An :class:`AnnotationTask` renders the prompt for one text, either as chat messages
(:meth:`AnnotationTask.render_messages`, for chat servers and chat templates) or as one
prompt string (:meth:`AnnotationTask.render_prompt`, through the tokenizer's chat template
when it has one, else a plain ``Text: ... / Answer:`` layout). Its :meth:`identity` is a
stable description that caches key annotations on: it changes whenever the labels, the
instruction or the examples change.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Mapping, Sequence

from .label_descriptions import check_descriptions, read_label_descriptions

__all__ = ["AnnotationTask", "DEFAULT_INSTRUCTION", "TREC_LABELS", "TREC_QUESTION_TEMPLATE",
           "label_variants", "read_label_descriptions"]

#: Default instruction. ``{labels}`` is replaced by the comma-separated label names.
DEFAULT_INSTRUCTION = (
    "Classify the text into exactly one of these categories: {labels}. "
    "Answer with the category name only."
)

#: The six coarse TREC question classes, in the class order of the recordings.
TREC_LABELS = ("abbreviation", "entity", "description", "human", "location", "numeric")

#: User-message template for TREC questions: the question, then what to choose from.
TREC_QUESTION_TEMPLATE = (
    "Question: {text}\nWhat kind of answer does this question ask for? "
    "Choose one of: {labels}."
)

#: Bumped when the rendering below changes, so cached annotations of old prompts miss.
_RENDER_VERSION = 2


class AnnotationTask:
    """A text classification task as posed to an LLM.

    Parameters
    ----------
    labels : sequence of str
        The class names, in class order. At least two distinct, non-empty strings. The model
        is asked to answer with one of them, and label scoring scores exactly these strings.
    instruction : str, optional
        The instruction. ``{labels}`` inside it is replaced by ``", ".join(labels)``.
        Defaults to :data:`DEFAULT_INSTRUCTION`.
    examples : sequence of (str, str), default=()
        Few-shot examples as ``(text, label)`` pairs; each label must be one of ``labels``.
        They are rendered as earlier user/assistant turns.
    name : str, optional
        A short name for reports; defaults to ``"task"``.
    text_template : str, default="{text}"
        The user message for a text (and for each example's text): ``{text}`` is replaced
        by the text, ``{labels}`` by the comma-separated labels.
    answer_lead : str, default=""
        Words the answer starts with, written into the prompt (``"Category:"``); the model
        continues with the label. Few-shot answers are written the same way.
    demonstrations : SeedDemonstrations, optional
        Chooses more examples per text from the gold seed
        (:class:`~skmollal.demonstrations.SeedDemonstrations`); they follow
        ``examples`` (:meth:`examples_for`).
    label_descriptions : mapping of str to str, optional
        What each class name means, written into the instruction (one line per described
        label); every key must be one of ``labels``.
    example_template : str, optional
        How a demonstration's text is written (must hold ``{text}``); default: as the text
        itself is (``text_template``).

    Raises
    ------
    TypeError, ValueError
        On labels that are not distinct non-empty strings, a non-string instruction, or
        malformed examples.

    Examples
    --------
    >>> task = AnnotationTask(["positive", "negative"], examples=[("Great film!", "positive")])
    >>> [m["role"] for m in task.render_messages("Dull.")]
    ['system', 'user', 'assistant', 'user']
    """

    def __init__(
        self,
        labels: Sequence[str],
        instruction: str | None = None,
        examples: Sequence[tuple[str, str]] = (),
        name: str | None = None,
        text_template: str = "{text}",
        answer_lead: str = "",
        demonstrations: Any = None,
        label_descriptions: Mapping[str, str] | None = None,
        example_template: str | None = None,
    ) -> None:
        if isinstance(labels, str):
            raise TypeError("AnnotationTask: labels must be a sequence of str, not one str")
        labels = tuple(labels)
        for i, label in enumerate(labels):
            if not isinstance(label, str):
                raise TypeError(
                    f"AnnotationTask: label {i} must be a str, got {type(label).__name__}"
                )
            if not label.strip():
                raise ValueError(f"AnnotationTask: label {i} is empty")
        if len(labels) < 2:
            raise ValueError(f"AnnotationTask: needs at least two labels, got {len(labels)}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"AnnotationTask: labels must be distinct, got {list(labels)}")
        if instruction is not None and not isinstance(instruction, str):
            raise TypeError(
                f"AnnotationTask: instruction must be a str, got {type(instruction).__name__}"
            )
        checked = []
        for i, example in enumerate(examples):
            try:
                text, label = example
            except (TypeError, ValueError):
                raise ValueError(
                    f"AnnotationTask: example {i} must be a (text, label) pair, got {example!r}"
                ) from None
            if not isinstance(text, str):
                raise TypeError(f"AnnotationTask: example {i} text must be a str")
            if label not in labels:
                raise ValueError(
                    f"AnnotationTask: example {i} label {label!r} is not one of {list(labels)}"
                )
            checked.append((text, label))
        if not isinstance(text_template, str) or "{text}" not in text_template:
            raise ValueError("AnnotationTask: text_template must be a str containing {text}")
        if not isinstance(answer_lead, str):
            raise TypeError("AnnotationTask: answer_lead must be a str")
        if example_template is not None and (not isinstance(example_template, str)
                                             or "{text}" not in example_template):
            raise ValueError("AnnotationTask: example_template must be a str containing {text}")
        self.example_template = example_template
        self.labels = labels
        self.text_template = text_template
        self.answer_lead = answer_lead
        self.instruction = instruction
        self.examples = tuple(checked)
        self.name = name if name is not None else "task"
        if demonstrations is not None and not callable(
                getattr(demonstrations, "examples_for", None)):
            raise TypeError("AnnotationTask: demonstrations must be a SeedDemonstrations "
                            f"(with examples_for(text)), got {type(demonstrations).__name__}")
        self.demonstrations = demonstrations
        self.label_descriptions = check_descriptions(label_descriptions, labels)

    # ------------------------------------------------------------------ rendering
    @property
    def instruction_text(self) -> str:
        """The instruction with ``{labels}`` filled in."""
        template = DEFAULT_INSTRUCTION if self.instruction is None else self.instruction
        text = template.replace("{labels}", ", ".join(self.labels))
        if self.label_descriptions:
            lines = "\n".join(f"- {label}: {self.label_descriptions[label]}"
                              for label in self.labels if label in self.label_descriptions)
            text = f"{text}\n\nThe categories:\n{lines}" if text else f"The categories:\n{lines}"
        return text

    def prepare(self, texts: Sequence[str]) -> None:
        """Choose the demonstrations of ``texts`` in one batch (nothing without them)."""
        if self.demonstrations is not None:
            self.demonstrations.prepare(texts)

    def examples_for(self, text: str) -> tuple[tuple[str, str], ...]:
        """The few-shot examples of ``text``'s prompt: ``examples``, then its demonstrations."""
        if self.demonstrations is None:
            return self.examples
        return self.examples + tuple(self.demonstrations.examples_for(text))

    def replace(self, **changes: Any) -> "AnnotationTask":
        """A copy of the task with some parameters changed (``demonstrations=...``)."""
        params = dict(labels=self.labels, instruction=self.instruction,
                      examples=self.examples, name=self.name,
                      text_template=self.text_template, answer_lead=self.answer_lead,
                      demonstrations=self.demonstrations,
                      label_descriptions=self.label_descriptions,
                      example_template=self.example_template)
        unknown = sorted(set(changes) - set(params))
        if unknown:
            raise TypeError(f"AnnotationTask.replace: unknown parameters {unknown}")
        return AnnotationTask(**{**params, **changes})

    def render_messages(self, text: str) -> list[dict[str, str]]:
        """Chat messages asking for the label of ``text``.

        A system message with the instruction (none when it is ``""``), one user/assistant
        pair per few-shot example (the assistant answering ``answer_lead`` + label), then the
        user message for ``text`` (:meth:`render_text`). ``answer_lead`` itself is not a
        message: chat servers see it in the examples only.

        Raises
        ------
        TypeError
            If ``text`` is not a str.
        """
        if not isinstance(text, str):
            raise TypeError(
                f"AnnotationTask {self.name!r}: text must be a str, got {type(text).__name__}"
            )
        instruction = self.instruction_text
        messages = [{"role": "system", "content": instruction}] if instruction else []
        for example_text, label in self.examples_for(text):
            messages.append({"role": "user",
                             "content": self.render_text(example_text, example=True)})
            messages.append({"role": "assistant", "content": self._answer(label, chat=True)})
        messages.append({"role": "user", "content": self.render_text(text)})
        return messages

    def render_text(self, text: str, example: bool = False) -> str:
        """The user message for ``text`` (``text_template`` filled in; ``example_template``
        for a few-shot example's text when there is one)."""
        template = self.text_template
        if example and self.example_template is not None:
            template = self.example_template
        return template.replace("{labels}", ", ".join(self.labels)).replace(
            "{text}", text
        )

    def _answer(self, label: str, chat: bool = True) -> str:
        """A complete answer naming ``label``: the lead, a separator if needed, the label."""
        if not self.answer_lead:
            return label
        return self.answer_lead + _separator(self.answer_lead) + label

    def render_prompt(self, text: str, tokenizer: Any = None) -> str:
        """The full prompt string for ``text``, ending where the answer starts.

        With a tokenizer that has a chat template, the messages of :meth:`render_messages`
        go through ``tokenizer.apply_chat_template(..., add_generation_prompt=True)`` (a
        template that rejects the system role gets the instruction prepended to the first
        user turn instead). Otherwise a plain layout::

            <instruction>

            Text: <example>
            Answer: <label>

            Text: <text>
            Answer:

        ``answer_lead`` is appended in both layouts; the answer continues the prompt as
        :meth:`answer_prefix` + label.
        """
        messages = self.render_messages(text)
        if _has_chat_template(tokenizer):
            try:
                prompt = tokenizer.apply_chat_template(
                    messages, tokenize=False, add_generation_prompt=True
                )
            except Exception:  # noqa: BLE001 - e.g. "System role not supported"
                merged = _merge_system(messages)
                prompt = tokenizer.apply_chat_template(
                    merged, tokenize=False, add_generation_prompt=True
                )
            return prompt + self.answer_lead
        parts = [self.instruction_text, ""] if self.instruction_text else []
        for example_text, label in self.examples_for(text):
            parts += [f"Text: {self.render_text(example_text, example=True)}",
                      f"Answer: {self._answer(label, chat=True)}", ""]
        lead = self.answer_lead.rstrip()
        parts += [f"Text: {self.render_text(text)}", f"Answer: {lead}" if lead else "Answer:"]
        return "\n".join(parts)

    def answer_prefix(self, tokenizer: Any = None) -> str:
        """What separates the prompt from the label in an answer.

        ``""`` after a chat template (the assistant turn starts fresh), ``" "`` after the
        plain layout's ``Answer:``; after an ``answer_lead`` that does not end in white
        space, ``" "``.
        """
        if self.answer_lead:
            lead = self.answer_lead if _has_chat_template(tokenizer) else self.answer_lead.rstrip()
            return _separator(lead)
        return "" if _has_chat_template(tokenizer) else " "

    # ------------------------------------------------------------------ identity
    def to_dict(self) -> dict[str, Any]:
        """The task's parameters as plain JSON-able data."""
        return {
            "name": self.name,
            "labels": list(self.labels),
            "instruction": self.instruction_text,
            "examples": [list(e) for e in self.examples],
            "text_template": self.text_template,
            "answer_lead": self.answer_lead,
            "render_version": _RENDER_VERSION,
            # only when set, so tasks without them keep their identity (and cache keys)
            **({"demonstrations": self.demonstrations.to_dict()}
               if self.demonstrations is not None else {}),
            **({"label_descriptions": dict(self.label_descriptions)}
               if self.label_descriptions else {}),
            **({"example_template": self.example_template}
               if self.example_template is not None else {}),
        }

    def identity(self) -> str:
        """Stable description of the task (canonical JSON), for cache keys.

        Equal for tasks that render the same prompts; different when labels, instruction,
        examples or name differ. With ``demonstrations``, it describes the selector, not
        its pool: the examples a text gets belong to that text's cache key
        (:func:`~skmollal.annotators.seed_pool.prompt_key_texts`).
        """
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=True)

    def fingerprint(self) -> str:
        """Short SHA-256 hex digest of :meth:`identity`."""
        return hashlib.sha256(self.identity().encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        return (
            f"AnnotationTask(labels={list(self.labels)!r}, name={self.name!r}, "
            f"n_examples={len(self.examples)})"
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AnnotationTask) and other.identity() == self.identity()

    def __hash__(self) -> int:
        return hash(self.identity())


def _separator(lead: str) -> str:
    return "" if not lead or lead[-1].isspace() else " "


def _has_chat_template(tokenizer: Any) -> bool:
    return tokenizer is not None and bool(getattr(tokenizer, "chat_template", None))


def _merge_system(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Fold a leading system message into the first user message."""
    if not messages or messages[0]["role"] != "system":
        return messages
    system, rest = messages[0]["content"], [dict(m) for m in messages[1:]]
    rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


def label_variants(label: str) -> list[str]:
    """Surface forms of one label that count as naming it: as given, lower, Capitalised.

    Examples
    --------
    >>> label_variants("human being")
    ['human being', 'Human being']
    """
    forms = [label, label.lower(), label[:1].upper() + label[1:].lower()]
    return list(dict.fromkeys(forms))
