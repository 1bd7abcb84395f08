"""Annotate texts with a local Hugging Face causal language model.

:class:`TransformersAnnotator` gives, for every text, ``probs``: the probability of each
class name's full token sequence as the answer (the shared prompt head prefilled once, a
batch's texts and label tokens packed into one pass after it:
:func:`~skmollal.annotators.packed_scoring.score_packed`), and ``votes``: ``n_votes``
answers drawn from ``probs`` (``vote_mode="sample"``,
:mod:`~skmollal.annotators.vote_sampling`) or real generations mapped to classes
(``vote_mode="generate"``, the faithful, slower path).

Collaborators: :mod:`~skmollal.annotators.transformers_model` (loading, identity),
:mod:`~skmollal.annotators.prompt_batches` (``long_texts``, batches),
:mod:`~skmollal.annotators.packed_scoring` (label scoring), ``generation``.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Sequence

import numpy as np

from .._validation import check_texts, warn_blank_texts
from .base import AnnotationResult
from .costs import row_costs
from .generation import generate_first_lines, line_tables, sampling_kwargs
from .kv_cache import PromptPrefix, common_prefix_length, full_attention_only, prefill_prefix
from .label_scoring import label_sequences, score_label_sequences
from .packed_scoring import label_scorer
from .parsing import vote_distribution
from .prompt_batches import (DEFAULT_MAX_PROMPT_TOKENS, batch_errors, fit_context,
                             length_batches, progress)
from .task import AnnotationTask
from .transformers_model import load_model_and_tokenizer, max_positions, model_label
from .transformers_params import check_params, identity_json
from .vote_sampling import answer_probs, sample_votes, sharpen, text_rngs
from .vote_sampling import base_seed as _base_seed
from .vote_sampling import text_seed as _text_seed

__all__ = ["TransformersAnnotator", "score_label_sequences", "sample_votes", "sharpen"]

logger = logging.getLogger(__name__)

#: Texts rendered into the prompt to find the tokens every prompt of a task starts with
#: (their first characters differ in kind, so no merge across the text's start survives).
_PROBE_TEXTS = ("A", "7", "?", "zq x", "(")


class TransformersAnnotator:
    """An LLM annotator backed by a local Hugging Face causal language model.

    Parameters
    ----------
    model : str or transformers.PreTrainedModel
        A model name / local path (loaded with ``AutoModelForCausalLM.from_pretrained`` on
        first use) or a loaded causal LM.
    task : AnnotationTask
        Labels, instruction and few-shot examples.
    n_votes : int, default=10
        Number of sampled answers per text (``k``).
    temperature : float, default=0.7
        Sampling temperature of the votes (``<= 0``: greedy).
    top_p : float, default=0.9
        Nucleus sampling mass of the votes.
    vote_mode : {"sample", "generate"}, default="sample"
        ``"sample"``: draw the votes from ``probs`` (with temperature and top-p applied to
        whole answers); no extra forward passes. ``"generate"``: ``n_votes`` real sampled
        generations per text parsed with :func:`~skmollal.annotators.parsing.parse_label`.
    batch_size : int, default=8
        Texts per forward pass.
    device : str or torch.device, optional
        Where to run the model: ``"auto"`` (CUDA when torch sees one, else MPS, else CPU)
        or a torch device name. Default: where a given model already is; for a model
        loaded by name, ``"auto"``.
    name : str, optional
        Annotator name (reports, cache keys); default ``"<model>/<task name>"``.
    random_state : int, numpy Generator or None, default=None
        Seed of the votes. With an int, each text's votes depend only on the seed and the
        text (not on batching or on the other texts).
    tokenizer : transformers tokenizer or str, optional
        Needed when ``model`` is an object; defaults to ``model`` when it is a name.
    max_new_tokens : int, optional
        Generation length in ``"generate"`` mode; default: longest label's token count + 3.
    case_variants : bool, default=True
        Also score ``label.lower()`` and ``label.capitalize()`` and add their mass to the
        class.
    model_kwargs : dict, optional
        Passed to ``from_pretrained`` of the model (and ``gguf_file`` also to the
        tokenizer's).
    show_progress : bool or None, default=None
        tqdm progress bar over batches (``None``: only on a terminal).
    long_texts : {"truncate", "skip", "error"}, default="truncate"
        A text whose prompt (with the longest answer) does not fit the model's context
        (``max_position_embeddings``): ``"truncate"`` cuts the text's end until it fits and
        logs a warning; ``"skip"`` leaves it unannotated (zero probabilities and votes: the
        annotator abstains) with a warning; ``"error"`` raises ``ValueError``. Warnings and
        errors name the text's index in the call and its start. Empty or whitespace-only
        texts are annotated (the model sees the instruction alone), with a warning.
    prefix_cache : {"shared", "batch", "off"}, default="shared"
        How label scoring reuses the prompt head every text shares (instruction, few-shot
        examples). ``"shared"``: prefilled once per annotator; each batch's texts and all
        their label tokens then run in one pass that attends to its KV cache as it is
        (for models with ``sdpa`` or ``eager`` attention and no sliding window; else the
        cache is copied into every batch), so each text pays only for its own tokens;
        ``"batch"``: the common head of each batch's prompts runs once per batch;
        ``"off"``: every prompt runs in full. All three give the same probabilities (up to
        float rounding, ~1e-6 in float32).
    max_prompt_tokens : int or None, default=2048
        The longest prompt (instruction, examples and text, in tokens) a text may give;
        a longer one is handled by ``long_texts``, as one over the model's context is. A
        label needs a text's gist, while a prompt's compute and memory grow with its length;
        None: the model's context is the only limit.

    Attributes
    ----------
    labels : tuple of str
        ``task.labels``.
    last_label_logprobs_ : ndarray of shape (n_texts, n_classes)
        Unnormalised ``log`` of each class's answer mass from the latest :meth:`annotate`
        (how much of the model's answer distribution the label set covers).

    Notes
    -----
    The model is loaded on first use, once, also when several threads (an
    :class:`~skmollal.annotators.panel.LLMPanel` job per batch) annotate at the same time.

    Pickling (joblib processes, dask workers) never carries the *loaded* model. A model
    given by name or path pickles as that name (a few kB unless ``tokenizer`` is an object),
    and the model and tokenizer are loaded again from it on first use after unpickling. A
    model given as an object is a parameter like any estimator's, so it is pickled with its
    weights (the pickle is the model's size) and unpickles ready to use; give a path to ship
    annotators cheaply.
    """

    def __init__(
        self,
        model: Any,
        task: AnnotationTask,
        n_votes: int = 10,
        temperature: float = 0.7,
        top_p: float = 0.9,
        vote_mode: str = "sample",
        batch_size: int = 8,
        device: Any = None,
        name: str | None = None,
        random_state: Any = None,
        tokenizer: Any = None,
        max_new_tokens: int | None = None,
        case_variants: bool = True,
        model_kwargs: dict | None = None,
        show_progress: bool | None = None,
        long_texts: str = "truncate",
        prefix_cache: str = "shared",
        max_prompt_tokens: int | None = DEFAULT_MAX_PROMPT_TOKENS,
    ) -> None:
        self.model = model
        self.task = task
        self.n_votes = n_votes
        self.temperature = temperature
        self.top_p = top_p
        self.vote_mode = vote_mode
        self.batch_size = batch_size
        self.device = device
        self.name = name
        self.random_state = random_state
        self.tokenizer = tokenizer
        self.max_new_tokens = max_new_tokens
        self.case_variants = case_variants
        self.model_kwargs = model_kwargs
        self.show_progress = show_progress
        self.long_texts = long_texts
        self.prefix_cache = prefix_cache
        self.max_prompt_tokens = max_prompt_tokens
        self._check_params()
        if self.name is None:
            self.name = f"{self._model_label()}/{task.name}"
        self._loaded: tuple | None = None
        self._load_lock = threading.Lock()
        self._prefix: PromptPrefix | None = None

    # -------------------------------------------------------------- parameters and loading
    @property
    def labels(self) -> tuple[str, ...]:
        return self.task.labels

    def _where(self) -> str:
        return f"TransformersAnnotator {self.name!r}" if self.name else "TransformersAnnotator"

    def _check_params(self) -> None:
        check_params(self, self._where())

    def _model_label(self) -> str:
        return model_label(self.model, self.model_kwargs)

    def _load(self) -> tuple:
        """(model, tokenizer, label sequences) – loaded and checked once, even by threads."""
        loaded = self._loaded
        if loaded is not None:
            return loaded
        with self._load_lock:  # LLMPanel runs jobs of one annotator in threads
            if self._loaded is None:
                self._loaded = self._load_model()
            return self._loaded

    def _load_model(self) -> tuple:
        model, tokenizer = load_model_and_tokenizer(self.model, self.tokenizer,
                                                    self.model_kwargs, self.device, self._where())
        return model, tokenizer, label_sequences(self.task, tokenizer, self.case_variants,
                                                 self._where())

    # -------------------------------------------------------------- identity
    def identity(self) -> str:
        """Stable description for cache keys: model, weights, tokenizer, task, parameters.

        A model given by name or path is identified by its files' content digests
        (:func:`~skmollal.annotators.pretrained.pretrained_files_digest`) without loading
        it, so a run whose annotations are all cached never loads the model; it is loaded
        only to hash its weights when its files are not on this machine. A model object is
        identified by its configuration and a digest of its weights.
        """
        return identity_json(self)

    # -------------------------------------------------------------- annotation
    def _encode_prompts(self, tokenizer: Any, texts: Sequence[str], offset: int) -> list[list[int]]:
        self.task.prepare(texts)  # per-text demonstrations chosen in one batch
        out = []
        for i, text in enumerate(texts):
            prompt = self.task.render_prompt(text, tokenizer)
            templated = bool(getattr(tokenizer, "chat_template", None))
            ids = list(tokenizer.encode(prompt, add_special_tokens=not templated))
            if not ids:
                raise ValueError(f"{self._where()}: text {offset + i} renders to an empty prompt")
            out.append(ids)
        return out

    def label_logprobs(self, texts: Sequence[str]) -> np.ndarray:
        """Unnormalised log answer mass of every class, shape (n_texts, n_classes)."""
        return self._label_logprobs(texts)[0]

    def _label_logprobs(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """:meth:`label_logprobs` and each text's prompt length in tokens."""
        texts = check_texts(texts, self._where())
        model, tokenizer, (seqs, owner) = self._load()
        pad = tokenizer.pad_token_id
        if pad is None:
            pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
        prompts, skipped, batches = self._prompt_batches(tokenizer, texts,
                                                         max(len(s) for s in seqs), "scoring")
        out = np.full((len(texts), len(self.labels)), -np.inf)  # skipped texts keep -inf
        score = self._scorer(model, tokenizer, seqs, pad)
        for idx in batches:
            with batch_errors(f"{self._where()}: scoring failed on a batch of texts", idx):
                scores = score([prompts[i] for i in idx])
            for c in range(len(self.labels)):
                out[idx, c] = np.logaddexp.reduce(scores[:, owner == c], axis=1)
        return out, [0 if i in skipped else len(p) for i, p in enumerate(prompts)]

    def _prompt_batches(self, tokenizer: Any, texts: Sequence[str], answer_len: int,
                        what: str) -> tuple[list[list[int]], list[int], Any]:
        """(prompts fitted to the context per ``long_texts``, skipped texts, batches of text
        indices by length: :mod:`~skmollal.annotators.prompt_batches`)."""
        encode = lambda rows, at: self._encode_prompts(tokenizer, rows, at)  # noqa: E731
        prompts, skipped = fit_context(encode, tokenizer, texts, encode(texts, 0), answer_len,
                                       max_positions(self._load()[0]), self.long_texts,
                                       self._where(), cap=self.max_prompt_tokens)
        batches = length_batches(prompts, skipped, self.batch_size)
        return prompts, skipped, progress(batches, f"{self.name}: {what}", self.show_progress)

    # -------------------------------------------------------------- shared prompt prefix
    def _scorer(self, model: Any, tokenizer: Any, seqs: list[list[int]], pad: int):
        """``prompts -> (B, S) label log-probabilities``, reusing heads per ``prefix_cache``."""
        prefix = self.shared_prefix(model, tokenizer) if self.prefix_cache == "shared" else None
        return label_scorer(model, seqs, pad, self.prefix_cache, prefix)

    def shared_prefix(self, model: Any = None, tokenizer: Any = None) -> PromptPrefix | None:
        """The prefilled head every prompt of the task starts with (``None``: too short, or a
        model with a sliding window).

        Found by rendering a few probe texts and taking their common leading tokens;
        prefilled on first use, once (also with threads), and kept until the annotator is
        pickled. A batch whose prompts start with only part of it (a text whose first
        characters merge with the template's last token) uses that part.
        """
        if self._prefix is None:
            if model is None or tokenizer is None:
                model, tokenizer, _ = self._load()
            with self._load_lock:
                if self._prefix is None:
                    probes = self._encode_prompts(tokenizer, _PROBE_TEXTS, 0)
                    n = min(common_prefix_length(probes), min(len(p) for p in probes) - 1)
                    n = n if full_attention_only(model) else 0  # sliding: no reuse
                    # an empty PromptPrefix marks "nothing worth sharing" (tried once)
                    self._prefix = (prefill_prefix(model, probes[0][:n]) if n >= 8
                                    else PromptPrefix((), None))
        return self._prefix if len(self._prefix) else None

    def annotate(self, texts: Sequence[str]) -> AnnotationResult:
        """Annotate ``texts``; one row per text, in order.

        Raises
        ------
        TypeError
            If ``texts`` is a single string or holds a non-string (the index is named).
        ValueError
            If ``texts`` is empty, a label tokenizes to nothing, or a prompt is too long.
        RuntimeError
            If the model fails on a batch (the text indices are named).

        Notes
        -----
        The result's ``costs`` count, per text, the prompt's tokens (as a server would bill
        them, although the shared instruction runs once per batch), in ``"generate"`` mode
        the generated answers' tokens (re-tokenised from the decoded first lines; over all
        ``n_votes`` samples, once for greedy decoding), and the seconds after the model is
        loaded (loading is paid once, not per call). Label continuations are not counted.
        """
        texts = check_texts(texts, self._where())
        warn_blank_texts(texts, self._where())
        self._load()  # once per annotator, not a cost of these texts' calls
        t0 = time.perf_counter()
        logmass, prompt_tokens = self._label_logprobs(texts)
        self.last_label_logprobs_ = logmass
        probs, answered = answer_probs(logmass)  # not answered: skipped (long_texts="skip")
        base = _base_seed(self.random_state)
        if self.vote_mode == "sample":
            votes = np.zeros_like(probs)
            if answered.any():
                votes[answered] = sample_votes(
                    sharpen(probs[answered], self.temperature, self.top_p), int(self.n_votes),
                    text_rngs(base, [t for t, ok in zip(texts, answered) if ok]))
            return AnnotationResult(probs=probs, votes=votes, raw_answers=[[] for _ in texts],
                                    costs=row_costs(len(texts), time.perf_counter() - t0,
                                                    prompt_tokens))
        answers = self.generate_answers(texts, base_seed=base)
        tokenizer = self._load()[1]
        generated = [sum(len(tokenizer.encode(a, add_special_tokens=False))
                         for a in (ans if self.temperature > 0 else ans[:1])) for ans in answers]
        votes = np.stack([vote_distribution(a, self.labels) for a in answers])
        return AnnotationResult(probs=probs, votes=votes, raw_answers=answers,
                                costs=row_costs(len(texts), time.perf_counter() - t0,
                                                prompt_tokens, generated))

    def generate_answers(self, texts: Sequence[str],
                         base_seed: int | None = None) -> list[list[str]]:
        """``n_votes`` sampled free-text answers per text (the ``"generate"`` path).

        ``batch_size`` texts per ``generate`` call (left-padded, the prompts prefilled once
        and their KV cache repeated ``n_votes`` times, starting from the shared prefix with
        ``prefix_cache="shared"``); each answer stops at its first line break after some
        text, at the end of sequence or after ``max_new_tokens``, and is that first line. A
        batch is seeded from ``base_seed`` and its texts: the same texts in the same batches
        give the same answers; with ``batch_size=1`` a text's answers do not depend on the
        other texts. Across batch layouts answers are equal in distribution, not bit for bit.
        """
        texts = check_texts(texts, self._where())
        model, tokenizer, (seqs, _) = self._load()
        if base_seed is None:
            base_seed = _base_seed(self.random_state)
        max_new = self.max_new_tokens or (max(len(s) for s in seqs) + 3)
        sample = self.temperature > 0
        n_return = int(self.n_votes) if sample else 1
        gen_kwargs = sampling_kwargs(tokenizer, float(self.temperature), float(self.top_p),
                                     n_return, max_new)
        prompts, _, batches = self._prompt_batches(tokenizer, texts, max_new, "generating")
        tables = line_tables(tokenizer, model)
        prefix = self.shared_prefix(model, tokenizer) if self.prefix_cache == "shared" else None
        answers: list[list[str]] = [[] for _ in texts]  # skipped texts keep no answers
        for idx in batches:
            seed = np.random.default_rng([base_seed, *(_text_seed(texts[i]) for i in idx)])
            with batch_errors(f"{self._where()}: generation failed on texts", idx):
                decoded = generate_first_lines(
                    model, tokenizer, [prompts[i] for i in idx], int(seed.integers(2**62)),
                    tables, prefix=prefix, **gen_kwargs
                )
            for row, i in enumerate(idx):
                mine = decoded[row * n_return: (row + 1) * n_return]
                answers[i] = mine if sample else mine * int(self.n_votes)
        return answers

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_loaded"] = None  # loaded again on first use where unpickled (a dask worker)
        state["_prefix"] = None  # a KV cache: prefilled again there
        state.pop("_load_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        state.setdefault("prefix_cache", "shared")  # pickled before the prefix cache existed
        state.setdefault("long_texts", "truncate")  # pickled before long_texts existed
        state.setdefault("max_prompt_tokens", DEFAULT_MAX_PROMPT_TOKENS)  # pickled before it
        state.setdefault("_prefix", None)
        self.__dict__.update(state)
        self._load_lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"TransformersAnnotator(name={self.name!r}, labels={list(self.labels)!r}, "
            f"n_votes={self.n_votes}, vote_mode={self.vote_mode!r})"
        )
