"""Annotate texts with a local Hugging Face causal language model.

:class:`TransformersAnnotator` gives, for every text,

* ``probs``: the probability of each class name's *full* token sequence as the model's
  answer, normalised over the label set. The prompt head every text shares (instruction,
  few-shot examples) is prefilled once per annotator
  (:func:`~skmollal.annotators.kv_cache.prefill_prefix`) and its KV cache copied into every batch, so each text pays only for its own tokens; one prefill per
  batch of texts (left-padded) follows it; the first label token is read off its last
  logits, and the prompt's KV cache is then repeated over the labels of two or more tokens,
  whose remaining tokens run in one batched pass (:func:`score_label_sequences`). Several
  surface forms of a label (``human``/``Human``) add up to the class's mass.
* ``votes``: ``vote_mode="sample"`` draws ``n_votes`` answers from ``probs`` with the
  temperature and top-p applied at the level of whole answers (no extra forward passes);
  ``vote_mode="generate"`` samples ``n_votes`` real generations per text (a batch of texts
  per ``generate`` call, each answer's first line, at most ``max_new_tokens`` tokens) and
  maps them to classes with :func:`~skmollal.annotators.parsing.parse_label` (the
  faithful, slower path).

(Over 400 lines: one backend; the pure scoring functions at the top are tested on their own,
the annotator batches, seeds and identifies around them.)
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from typing import Any, Sequence

import numpy as np

from .._validation import check_texts, resolve_device, warn_blank_texts
from .base import AnnotationResult
from .costs import row_costs
from .generation import generate_first_lines, line_tables
from .kv_cache import (
    PromptPrefix,
    common_prefix_length,
    forward_cache_kwarg,
    output_cache,
    prefill_prefix,
    shared_head,
)
from .parsing import vote_distribution
from .pretrained import load_pretrained_model, load_pretrained_tokenizer, pretrained_files_digest
from .task import AnnotationTask, label_variants

__all__ = [
    "TransformersAnnotator",
    "score_label_sequences",
    "sample_votes",
    "sharpen",
]

logger = logging.getLogger(__name__)

VOTE_MODES = ("sample", "generate")
#: What :class:`TransformersAnnotator` does with a text whose prompt exceeds the context.
LONG_TEXT_MODES = ("truncate", "skip", "error")
#: Default ``max_prompt_tokens`` of :class:`TransformersAnnotator`: a page of text.
DEFAULT_MAX_PROMPT_TOKENS = 2048
PREFIX_CACHE_MODES = ("shared", "batch", "off")

#: Texts rendered into the prompt to find the tokens every prompt of a task starts with
#: (their first characters differ in kind, so no merge across the text's start survives).
_PROBE_TEXTS = ("A", "7", "?", "zq x", "(")


# ----------------------------------------------------------------------------- pure helpers
def sharpen(probs: np.ndarray, temperature: float = 1.0, top_p: float = 1.0) -> np.ndarray:
    """Apply temperature and nucleus (top-p) truncation to class distributions.

    Parameters
    ----------
    probs : ndarray of shape (n, C) or (C,)
        Class distributions (rows sum to 1).
    temperature : float, default=1.0
        ``p ** (1 / temperature)``, renormalised; ``<= 0`` puts all mass on the argmax.
    top_p : float, default=1.0
        Keep the smallest set of most probable classes whose mass reaches ``top_p`` (at least
        one class), renormalise.

    Returns
    -------
    ndarray of the shape of ``probs``
    """
    p = np.atleast_2d(np.asarray(probs, dtype=float))
    if temperature <= 0:
        out = np.zeros_like(p)
        out[np.arange(len(p)), p.argmax(axis=1)] = 1.0
    else:
        logp = np.log(np.clip(p, 1e-300, None)) / temperature
        logp -= logp.max(axis=1, keepdims=True)
        out = np.exp(logp) * (p > 0)
        out /= out.sum(axis=1, keepdims=True)
    if top_p < 1.0:
        order = np.argsort(-out, axis=1, kind="stable")
        sorted_p = np.take_along_axis(out, order, axis=1)
        before = np.cumsum(sorted_p, axis=1) - sorted_p  # mass of strictly better classes
        keep_sorted = before < top_p
        keep_sorted[:, 0] = True
        keep = np.zeros_like(keep_sorted)
        np.put_along_axis(keep, order, keep_sorted, axis=1)
        out = out * keep
        out /= out.sum(axis=1, keepdims=True)
    return out.reshape(np.shape(probs))


def sample_votes(
    probs: np.ndarray, n_votes: int, rngs: Sequence[np.random.Generator]
) -> np.ndarray:
    """Vote shares of ``n_votes`` answers drawn per row of ``probs`` (one generator per row)."""
    probs = np.asarray(probs, dtype=float)
    counts = np.stack([rng.multinomial(n_votes, row / row.sum()) for rng, row in zip(rngs, probs)])
    return counts / float(n_votes)


def score_label_sequences(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    label_ids: Sequence[Sequence[int]],
    pad_token_id: int = 0,
    min_shared_prefix: int | None = 8,
    prefix: PromptPrefix | None = None,
) -> np.ndarray:
    """Log-probability of each label token sequence as the continuation of each prompt.

    One forward pass over the left-padded prompts fills the KV cache; the cache is repeated
    ``len(label_ids)`` times along the batch and all label sequences (right-padded) run in a
    second forward pass that reuses it. Position ids follow the real (unpadded) tokens, so the
    result equals scoring every ``prompt + label`` on its own.

    Parameters
    ----------
    model : transformers causal LM
    prompt_ids : sequence of sequence of int
        Token ids of each prompt (B prompts, any lengths >= 1).
    label_ids : sequence of sequence of int
        Token ids of each candidate answer (S sequences, any lengths >= 1).
    pad_token_id : int, default=0
        Id written into padded slots (they are masked out).
    min_shared_prefix : int or None, default=8
        When all prompts start with at least this many identical tokens (the instruction
        and few-shot examples), that prefix is run once and its cache repeated over the
        prompts; the rest of each prompt follows it (padding then sits in the middle,
        masked, with positions counting real tokens only). ``None``: every prompt runs in
        full.
    prefix : PromptPrefix, optional
        A head already prefilled once per task
        (:func:`~skmollal.annotators.kv_cache.prefill_prefix`). Its KV cache, cut
        to the tokens every prompt starts with (at least ``min_shared_prefix``), is copied
        and repeated over the prompts instead of running any shared head again; the prefix
        itself is left unchanged.

    Returns
    -------
    ndarray of shape (B, S), float64
        ``log p(label_s | prompt_b)``, summed over the label's tokens.
    """
    import torch

    if not prompt_ids or not label_ids:
        raise ValueError("score_label_sequences: needs at least one prompt and one label")
    if any(len(p) == 0 for p in prompt_ids) or any(len(s) == 0 for s in label_ids):
        raise ValueError("score_label_sequences: prompts and labels must be non-empty")
    device = next(model.parameters()).device
    n_prompts = len(prompt_ids)
    prompt_ids = [list(p) for p in prompt_ids]
    plen = torch.tensor([len(p) for p in prompt_ids], device=device)
    cache_kw = forward_cache_kwarg(model)
    lab_len = [len(s) for s in label_ids]
    first = torch.as_tensor([s[0] for s in label_ids], device=device)
    with torch.inference_mode():
        # Tokens every prompt starts with (instruction, few-shot examples) run once, not B
        # times (or not at all, prefilled); each prompt keeps one token of its own at least.
        shared, head_cache = shared_head(model, prompt_ids, min_shared_prefix, prefix)
        cache_arg = {cache_kw: head_cache} if shared else {}
        tails = [p[shared:] for p in prompt_ids]
        width = max(len(t) for t in tails)
        ids = torch.full((n_prompts, width), pad_token_id, dtype=torch.long, device=device)
        mask = torch.zeros((n_prompts, shared + width), dtype=torch.long, device=device)
        mask[:, :shared] = 1
        for i, tail in enumerate(tails):  # left-pad the tails (middle padding when shared)
            ids[i, width - len(tail):] = torch.as_tensor(tail, device=device)
            mask[i, shared + width - len(tail):] = 1
        positions = (mask.cumsum(dim=1) - 1).clamp(min=0)[:, shared:]
        out = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
            **cache_arg,
        )
        total = _log_softmax_at(out.logits[:, -1, :], first[None, :].expand(n_prompts, -1))
        # Only labels of two or more tokens need the second pass; their rows reuse the
        # prompt's cache, repeated once per such label.
        multi = [s for s, n in enumerate(lab_len) if n > 1]
        if multi:
            n_multi = len(multi)
            rest = max(lab_len[s] for s in multi) - 1
            cache = output_cache(out)
            cache.batch_repeat_interleave(n_multi)
            cont = torch.full((n_multi, rest), pad_token_id, dtype=torch.long, device=device)
            cont_mask = torch.zeros((n_multi, rest), dtype=torch.long, device=device)
            targets = torch.zeros((n_multi, rest), dtype=torch.long, device=device)
            for row, s in enumerate(multi):
                seq = list(label_ids[s])
                cont[row, : len(seq) - 1] = torch.as_tensor(seq[:-1], device=device)
                cont_mask[row, : len(seq) - 1] = 1
                targets[row, : len(seq) - 1] = torch.as_tensor(seq[1:], device=device)
            cont = cont.repeat(n_prompts, 1)  # row b * n_multi + row
            full_mask = torch.cat(
                [mask.repeat_interleave(n_multi, dim=0), torch.ones_like(cont)], dim=1
            )
            cont_pos = plen.repeat_interleave(n_multi)[:, None] + torch.arange(
                rest, device=device
            )
            out2 = model(
                input_ids=cont,
                attention_mask=full_mask,
                position_ids=cont_pos,
                use_cache=True,
                **{cache_kw: cache},
            )
            picked = _log_softmax_at(out2.logits, targets.repeat(n_prompts, 1)[..., None])[..., 0]
            picked = picked * cont_mask.repeat(n_prompts, 1)
            total[:, multi] += picked.sum(dim=1).view(n_prompts, n_multi)
    return total.cpu().numpy()


def _log_softmax_at(logits: Any, index: Any) -> Any:
    """``log_softmax(logits).gather(-1, index)`` in float64, without a float64 vocab copy.

    ``index`` has the dimensions of ``logits`` (last one: which entries to pick).
    """
    import torch

    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    return (logits.gather(-1, index) - lse).double()


def _text_seed(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")


def _base_seed(random_state: Any) -> int:
    """An int seed from ``random_state`` (int, None, Generator or RandomState)."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy % (2**63))
    if isinstance(random_state, (int, np.integer)):
        return int(random_state)
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**63))
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(2**31))
    raise TypeError(f"random_state must be None, an int or a numpy generator, got {random_state!r}")


def _weights_fingerprint(model: Any, max_elements: int = 4096) -> str:
    """Cheap digest of the weights: name, shape and a strided sample of every tensor."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        step = max(1, flat.numel() // max_elements)
        digest.update(name.encode())
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(flat[::step].float().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


# ----------------------------------------------------------------------------- the annotator
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
        Texts per prefill.
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
        examples). ``"shared"``: prefilled once per annotator, its KV cache copied into
        every batch, so each text pays only for its own tokens; ``"batch"``: the common head
        of each batch's prompts runs once per batch; ``"off"``: every prompt runs in full.
        All three give the same probabilities (up to float rounding, ~1e-6 in float32).
    max_prompt_tokens : int or None, default=2048
        The longest prompt (instruction, examples and text, in tokens) a text may give;
        a longer one is handled by ``long_texts``, as one over the model's context is. A
        label needs a text's gist, while a prompt's compute and memory grow with its length
        (a batch of context-long prompts can take minutes and gigabytes on a small model);
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
        where = self._where()
        if not isinstance(self.task, AnnotationTask):
            raise TypeError(f"{where}: task must be an AnnotationTask, got {type(self.task).__name__}")
        if not isinstance(self.n_votes, (int, np.integer)) or self.n_votes < 1:
            raise ValueError(f"{where}: n_votes must be a positive int, got {self.n_votes!r}")
        if not 0 < float(self.top_p) <= 1:
            raise ValueError(f"{where}: top_p must be in (0, 1], got {self.top_p!r}")
        if self.long_texts not in LONG_TEXT_MODES:
            raise ValueError(
                f"{where}: long_texts must be one of {LONG_TEXT_MODES}, got {self.long_texts!r}"
            )
        cap = self.max_prompt_tokens
        if cap is not None and (not isinstance(cap, (int, np.integer)) or cap < 1):
            raise ValueError(f"{where}: max_prompt_tokens must be a positive int or None, "
                             f"got {cap!r}")
        if self.vote_mode not in VOTE_MODES:
            raise ValueError(f"{where}: vote_mode must be one of {VOTE_MODES}, got {self.vote_mode!r}")
        if self.prefix_cache not in PREFIX_CACHE_MODES:
            raise ValueError(f"{where}: prefix_cache must be one of {PREFIX_CACHE_MODES}, got {self.prefix_cache!r}")
        if not isinstance(self.batch_size, (int, np.integer)) or self.batch_size < 1:
            raise ValueError(f"{where}: batch_size must be a positive int, got {self.batch_size!r}")
        if self.max_new_tokens is not None and self.max_new_tokens < 1:
            raise ValueError(f"{where}: max_new_tokens must be >= 1, got {self.max_new_tokens!r}")
        if not isinstance(self.model, str) and not hasattr(self.model, "forward"):
            raise TypeError(f"{where}: model must be a name/path or a causal LM, got {type(self.model).__name__}")

    def _model_label(self) -> str:
        if isinstance(self.model, str):
            path = self.model
        else:
            path = getattr(self.model, "name_or_path", "") or type(self.model).__name__
        gguf = (self.model_kwargs or {}).get("gguf_file")
        label = str(path).rstrip("/").split("/")[-1] or type(self.model).__name__
        return f"{label}:{gguf}" if gguf else label

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
        import torch

        where = self._where()
        kwargs = dict(self.model_kwargs or {})
        model = self.model
        if isinstance(model, str):
            # one copy per process: panel members on the same model share it
            device = resolve_device("auto" if self.device is None else self.device, where)
            model = load_pretrained_model(model, kwargs, device)
        elif self.device is not None:
            model = model.to(resolve_device(self.device, where))
        model.eval()
        tokenizer = self.tokenizer
        if tokenizer is None and isinstance(self.model, str):
            try:
                tokenizer = load_pretrained_tokenizer(self.model, kwargs)
            except Exception as exc:  # noqa: BLE001
                raise ValueError(f"{where}: no usable tokenizer for {self.model!r}: {exc}") from exc
        elif isinstance(tokenizer, str):
            tokenizer = load_pretrained_tokenizer(tokenizer)
        if tokenizer is None or not callable(getattr(tokenizer, "encode", None)):
            raise ValueError(
                f"{where}: the model has no usable tokenizer; pass tokenizer= "
                "(a transformers tokenizer) with a model object"
            )
        return model, tokenizer, self._label_sequences(tokenizer)

    def _label_sequences(self, tokenizer: Any) -> tuple[list[list[int]], np.ndarray]:
        """Token ids of every scored surface form and the class index of each."""
        prefix = self.task.answer_prefix(tokenizer)
        seqs: list[list[int]] = []
        owner: list[int] = []
        for c, label in enumerate(self.labels):
            forms = label_variants(label) if self.case_variants else [label]
            for form in forms:
                ids = list(tokenizer.encode(prefix + form, add_special_tokens=False))
                if not ids or all(i == tokenizer.unk_token_id for i in ids if i is not None):
                    if form == label:
                        raise ValueError(
                            f"{self._where()}: label {c} ({label!r}) tokenizes to no usable "
                            "tokens"
                        )
                    continue
                if ids not in seqs:
                    seqs.append(ids)
                    owner.append(c)
        return seqs, np.asarray(owner)

    # -------------------------------------------------------------- identity
    def identity(self) -> str:
        """Stable description for cache keys: model, weights, tokenizer, task, parameters.

        A model given by name or path is identified by its files' content digests
        (:func:`~skmollal.annotators.pretrained.pretrained_files_digest`) without loading
        it, so a run whose annotations are all cached never loads the model; it is loaded
        only to hash its weights when its files are not on this machine. A model object is
        identified by its configuration and a digest of its weights.
        """
        desc = {
            "backend": "transformers",
            "model": self._model_label(),
            **self._model_identity(),
            "task": json.loads(self.task.identity()),
            "params": {
                "n_votes": int(self.n_votes),
                "temperature": float(self.temperature),
                "top_p": float(self.top_p),
                "vote_mode": self.vote_mode,
                "max_new_tokens": self.max_new_tokens,
                "case_variants": bool(self.case_variants),
                **({"long_texts": "skip"} if self.long_texts == "skip" else {}),
                **({"max_prompt_tokens": self.max_prompt_tokens}
                   if self.max_prompt_tokens != DEFAULT_MAX_PROMPT_TOKENS else {}),
                "random_state": self.random_state
                if isinstance(self.random_state, (int, type(None)))
                else repr(self.random_state),
            },
        }
        return json.dumps(desc, sort_keys=True)

    def _model_identity(self) -> dict:
        """The model and tokenizer part of :meth:`identity` (loads only what it must)."""
        files = (pretrained_files_digest(self.model, self.model_kwargs)
                 if isinstance(self.model, str) else None)
        if files is None:
            model, tokenizer, _ = self._load()
            return {**_loaded_model_identity(self, model), "tokenizer": _describe_tokenizer(tokenizer)}
        tokenizer = self.tokenizer
        if tokenizer is None:
            tok_desc: Any = "model files"
        elif not isinstance(tokenizer, str):
            tok_desc = _describe_tokenizer(tokenizer)
        else:
            tok_desc = pretrained_files_digest(tokenizer) or _describe_tokenizer(self._load()[1])
        return {"files": files, "tokenizer": tok_desc}

    # -------------------------------------------------------------- annotation
    def _encode_prompts(self, tokenizer: Any, texts: Sequence[str], offset: int) -> list[list[int]]:
        out = []
        for i, text in enumerate(texts):
            prompt = self.task.render_prompt(text, tokenizer)
            ids = list(tokenizer.encode(prompt, add_special_tokens=not _has_template(tokenizer)))
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
        prompts = self._encode_prompts(tokenizer, texts, 0)
        prompts, skipped = self._fit_context(tokenizer, texts, prompts,
                                             max(len(s) for s in seqs))
        # Batch prompts of similar length together (less padding); results do not depend
        # on the batching, and rows go back to the input order. Skipped texts keep -inf.
        order = np.argsort([len(p) for p in prompts], kind="stable")
        order = order[~np.isin(order, skipped)]
        out = np.full((len(texts), len(self.labels)), -np.inf)
        reuse = self._reuse_kwargs(model, tokenizer)
        for start in self._batches(len(order), "scoring"):
            idx = order[start: start + self.batch_size]
            try:
                scores = score_label_sequences(
                    model, [prompts[i] for i in idx], seqs, pad_token_id=pad, **reuse
                )
            except Exception as exc:
                raise RuntimeError(
                    f"{self._where()}: scoring failed on a batch of texts "
                    f"{sorted(int(i) for i in idx)}: {exc}"
                ) from exc
            for c in range(len(self.labels)):
                out[idx, c] = np.logaddexp.reduce(scores[:, owner == c], axis=1)
        return out, [0 if i in skipped else len(p) for i, p in enumerate(prompts)]

    def _fit_context(self, tokenizer: Any, texts: Sequence[str], prompts: list[list[int]],
                     answer_len: int, offset: int = 0) -> tuple[list[list[int]], list[int]]:
        """Make every prompt fit the model's context with ``answer_len`` tokens after it.

        Applies ``long_texts``: returns the (possibly truncated) prompts and the indices of
        the texts to skip. Warnings and errors name the text (``offset`` + its index).
        """
        max_len, cap = _max_positions(self._load()[0]), self.max_prompt_tokens
        capped = cap is not None and (max_len is None or cap + answer_len < max_len)
        room = cap if capped else None if max_len is None else max_len - answer_len
        too_long = [i for i, p in enumerate(prompts) if room is not None and len(p) > room]
        if not too_long:
            return prompts, []
        first = too_long[0]
        limit = (f"the cap of max_prompt_tokens={cap} (the compute and memory of a prompt "
                 f"grow with its length; None: the model's context of {max_len})" if capped
                 else f"the model's context of {max_len} tokens")
        what = (f"{len(too_long)} text(s) give prompts longer than {limit} (first: text "
                f"{offset + first}, {len(prompts[first])} tokens with the instruction, "
                f"{texts[first][:40]!r}...)")
        if self.long_texts == "error":
            exc = ValueError(f"{self._where()}: {what}; long_texts='truncate' cuts such texts "
                             "to fit, 'skip' leaves them unannotated")
            exc.text_index = offset + first
            raise exc
        if self.long_texts == "skip":
            logger.warning("%s: %s; they are skipped (no answer: zero probabilities and "
                           "votes)", self._where(), what)
            return prompts, too_long
        prompts = list(prompts)
        for i in too_long:
            prompts[i] = self._truncated_prompt(tokenizer, texts[i], room, offset + i)
        logger.warning("%s: %s; their ends are cut to fit", self._where(), what)
        return prompts, []

    def _truncated_prompt(self, tokenizer: Any, text: str, room: int, index: int) -> list[int]:
        """The prompt of ``text`` cut at its end to at most ``room`` tokens."""
        ids = list(tokenizer.encode(text, add_special_tokens=False))
        keep = len(ids)
        for _ in range(8):  # re-tokenising the cut text may shift a token or two
            prompt = self._encode_prompts(tokenizer, [text], index)[0]
            excess = len(prompt) - room
            if excess <= 0:
                return prompt
            keep -= excess + 2
            if keep <= 0:
                break
            text = tokenizer.decode(ids[:keep], skip_special_tokens=True)
        bare = len(self._encode_prompts(tokenizer, [""], index)[0])
        exc = ValueError(
            f"{self._where()}: text {index} cannot fit the model's context even cut short: "
            f"the prompt without it takes {bare} of the {room} tokens left for a prompt; "
            "shorten the instruction or the few-shot examples"
        )
        exc.text_index = index
        raise exc

    # -------------------------------------------------------------- shared prompt prefix
    def _reuse_kwargs(self, model: Any, tokenizer: Any) -> dict:
        """How :func:`score_label_sequences` reuses prompt heads, per ``prefix_cache``."""
        if self.prefix_cache == "off":
            return {"min_shared_prefix": None}
        if self.prefix_cache == "batch":
            return {}
        return {"prefix": self.shared_prefix(model, tokenizer)}

    def shared_prefix(self, model: Any = None, tokenizer: Any = None) -> PromptPrefix | None:
        """The prefilled head every prompt of the task starts with (``None``: too short).

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
                    # an empty PromptPrefix marks "nothing worth sharing" (tried once)
                    self._prefix = (prefill_prefix(model, probes[0][:n]) if n >= 8
                                    else PromptPrefix((), None))
        return self._prefix if len(self._prefix) else None

    def _batches(self, n: int, what: str):
        starts = range(0, n, self.batch_size)
        if len(starts) <= 1:
            return starts
        from tqdm.auto import tqdm

        return tqdm(starts, desc=f"{self.name}: {what}", unit="batch", disable=_tqdm_disable(self.show_progress), leave=False)

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
        them, although the shared instruction runs once per batch) and, in ``"generate"``
        mode, the tokens of the generated answers (re-tokenised from the decoded first
        lines, so close to but not exactly what was generated; over all ``n_votes``
        samples, once for greedy decoding). The label continuations scored on the prompt's
        cache are not counted.
        """
        t0 = time.perf_counter()
        texts = check_texts(texts, self._where())
        warn_blank_texts(texts, self._where())
        logmass, prompt_tokens = self._label_logprobs(texts)
        self.last_label_logprobs_ = logmass
        answered = np.isfinite(logmass).any(axis=1)  # False: skipped (long_texts="skip")
        probs = np.zeros_like(logmass)
        top = logmass[answered].max(axis=1, keepdims=True)
        probs[answered] = np.exp(logmass[answered] - top)
        probs[answered] /= probs[answered].sum(axis=1, keepdims=True)
        base = _base_seed(self.random_state)
        if self.vote_mode == "sample":
            votes = np.zeros_like(probs)
            rngs = [np.random.default_rng([base, _text_seed(t)])
                    for t, ok in zip(texts, answered) if ok]
            if rngs:
                votes[answered] = sample_votes(
                    sharpen(probs[answered], self.temperature, self.top_p),
                    int(self.n_votes), rngs)
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

    def generate_answers(self, texts: Sequence[str], base_seed: int | None = None) -> list[list[str]]:
        """``n_votes`` sampled free-text answers per text (the ``"generate"`` path).

        ``batch_size`` texts per ``generate`` call (left-padded, the prompts prefilled once
        and their KV cache repeated ``n_votes`` times, starting from the shared prefix with
        ``prefix_cache="shared"``); each answer stops at its first line break after some text, at the end
        of sequence or after ``max_new_tokens``, and is that first line. A batch is seeded
        from ``base_seed`` and its texts: the same texts in the same batches give the same
        answers; with ``batch_size=1`` a text's answers do not depend on the other texts.
        Across batch layouts answers are equal in distribution, not bit for bit.
        """
        texts = check_texts(texts, self._where())
        model, tokenizer, (seqs, _) = self._load()
        if base_seed is None:
            base_seed = _base_seed(self.random_state)
        max_new = self.max_new_tokens or (max(len(s) for s in seqs) + 3)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        sample = self.temperature > 0
        n_return = int(self.n_votes) if sample else 1
        gen_kwargs = dict(
            do_sample=sample,
            max_new_tokens=max_new,
            num_return_sequences=n_return,
            pad_token_id=pad,
            eos_token_id=tokenizer.eos_token_id,
        )
        if sample:
            gen_kwargs.update(temperature=float(self.temperature), top_p=float(self.top_p), top_k=0)
        prompts = self._encode_prompts(tokenizer, texts, 0)
        prompts, skipped = self._fit_context(tokenizer, texts, prompts, max_new)
        order = np.argsort([len(p) for p in prompts], kind="stable")
        order = order[~np.isin(order, skipped)]  # skipped texts keep no answers
        tables = line_tables(tokenizer, model)
        prefix = self.shared_prefix(model, tokenizer) if self.prefix_cache == "shared" else None
        answers: list[list[str]] = [[] for _ in texts]
        for start in self._batches(len(order), "generating"):
            idx = order[start: start + self.batch_size]
            seed = np.random.default_rng([base_seed, *(_text_seed(texts[i]) for i in idx)])
            try:
                decoded = generate_first_lines(
                    model, tokenizer, [prompts[i] for i in idx], int(seed.integers(2**62)),
                    tables, prefix=prefix, **gen_kwargs
                )
            except Exception as exc:
                raise RuntimeError(
                    f"{self._where()}: generation failed on texts {sorted(int(i) for i in idx)}: "
                    f"{exc}"
                ) from exc
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


def _describe_tokenizer(tokenizer: Any) -> dict:
    return {
        "name": getattr(tokenizer, "name_or_path", ""),
        "vocab": len(tokenizer),
        "chat_template_sha": hashlib.sha256(
            str(getattr(tokenizer, "chat_template", "") or "").encode()
        ).hexdigest()[:16],
    }


def _loaded_model_identity(annotator: TransformersAnnotator, model: Any) -> dict:
    """Configuration, weight digest (memoised on the annotator) and dtype of a loaded model."""
    config = getattr(model, "config", None)
    config_dict = config.to_dict() if config is not None else {}
    for volatile in ("_commit_hash", "transformers_version", "_name_or_path"):
        config_dict.pop(volatile, None)
    config_json = json.dumps(config_dict, sort_keys=True, default=str)
    if not hasattr(annotator, "_weights_digest"):
        annotator._weights_digest = _weights_fingerprint(model)
    return {
        "revision": getattr(config, "_commit_hash", None),
        "config_sha": hashlib.sha256(config_json.encode()).hexdigest()[:16],
        "weights_sha": annotator._weights_digest,
        "dtype": str(next(model.parameters()).dtype),
    }


def _has_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def _max_positions(model: Any) -> int | None:
    config = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _tqdm_disable(show: bool | None) -> bool | None:
    return None if show is None else not show
