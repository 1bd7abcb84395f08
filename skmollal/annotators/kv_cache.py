"""Reusing a KV cache across prompts that share their first tokens.

Every prompt of an annotation task starts with the same instruction and few-shot examples.
:func:`prefill_prefix` runs that head once and keeps its KV cache (:class:`PromptPrefix`);
:func:`cache_view` gives a forward pass a view of it cut to what the prompts share, and
:func:`shared_head` a private copy repeated over a batch (the prefix object itself never
changes, so one prefix serves every batch and thread). Label scoring
(:func:`~skmollal.annotators.packed_scoring.score_packed`, or
:func:`~skmollal.annotators.label_scoring.score_label_sequences`) and batched generation
(:func:`~skmollal.annotators.generation.generate_first_lines`) start from it, so each text
pays only for its own tokens. :func:`full_attention_only` says whether a model's cache may
be reused at all (not with a sliding window).
"""
from __future__ import annotations

import copy
import inspect
from typing import Any, Sequence

__all__ = ["PromptPrefix", "prefill_prefix", "shared_head", "common_prefix_length", "cache_view",
           "expanded_cache", "full_attention_only"]


def forward_cache_kwarg(model: Any) -> str:
    """``cache`` (transformers >= 5.2x) or ``past_key_values`` (older)."""
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def full_attention_only(model: Any) -> bool:
    """Whether every layer of ``model`` attends to its whole past (no sliding window).

    Only then is a reused KV cache exact: a sliding layer's cache keeps the last tokens of
    the window alone, and positions past it would be attended to with a prefix reused.
    """
    from transformers import DynamicCache

    try:
        layers = DynamicCache(config=model.config).layers
    except Exception:  # noqa: BLE001 - no config the cache understands: assume the worst
        return False
    return not any(getattr(layer, "is_sliding", False) for layer in layers)


def output_cache(outputs: Any) -> Any:
    cache = getattr(outputs, "cache", None)
    return cache if cache is not None else getattr(outputs, "past_key_values", None)


class PromptPrefix:
    """The token ids every prompt of a task starts with, and their KV cache (batch of 1).

    Made by :func:`prefill_prefix`. Label scoring
    (:func:`~skmollal.annotators.packed_scoring.score_packed`) attends to the cache as it
    is, and the copying paths copy it, so one prefix serves any number of batches (and
    threads) unchanged.

    Parameters
    ----------
    ids : sequence of int
        The prefix's token ids.
    cache : transformers.DynamicCache or None
        The model's KV cache after ``ids`` (batch of one).
    """

    __slots__ = ("ids", "cache")

    def __init__(self, ids: Sequence[int], cache: Any) -> None:
        self.ids = tuple(int(i) for i in ids)
        self.cache = cache

    def __len__(self) -> int:
        return len(self.ids)

    def fits(self, prompt_ids: Sequence[Sequence[int]]) -> bool:
        """Whether every prompt starts with the prefix and has tokens of its own after it."""
        return self.usable_length(prompt_ids) == len(self.ids)

    def usable_length(self, prompt_ids: Sequence[Sequence[int]]) -> int:
        """How many of the prefix's tokens every prompt starts with (leaving one of its own).

        Shorter than the prefix when a text's first characters merge with the template's
        last token (``" Wh"`` instead of ``" "`` + ``"Wh"``); the cache is then cut there.
        """
        n = min(len(self.ids), min(len(p) for p in prompt_ids) - 1)
        for p in prompt_ids:
            n = next((i for i in range(n) if p[i] != self.ids[i]), n)
        return max(n, 0)


def prefill_prefix(model: Any, ids: Sequence[int]) -> PromptPrefix:
    """Run ``ids`` through ``model`` once and keep the KV cache.

    Parameters
    ----------
    model : transformers causal LM
    ids : sequence of int
        Token ids every prompt starts with (non-empty).

    Returns
    -------
    PromptPrefix
    """
    import torch

    if not len(ids):
        raise ValueError("prefill_prefix: the prefix is empty")
    device = next(model.parameters()).device
    with torch.inference_mode():
        out = model(input_ids=torch.as_tensor([list(ids)], device=device), use_cache=True,
                    logits_to_keep=1)
    return PromptPrefix(ids, output_cache(out))


def cache_view(cache: Any, length: int) -> Any:
    """A copy of a KV cache cut to its first ``length`` tokens, sharing its tensors.

    ``cache`` itself is left as is: layers are copied shallowly, and the cut (a view) and
    any later forward pass assign new tensors to the copy's layers (``torch.cat``), never
    writing into ``cache``'s tensors.
    """
    clone = copy.copy(cache)
    clone.layers = [copy.copy(layer) for layer in cache.layers]
    for layer in clone.layers:
        if layer.get_seq_length() > length:
            layer.keys = layer.keys[..., :length, :]
            layer.values = layer.values[..., :length, :]
    return clone


def expanded_cache(cache: Any, n: int, length: int) -> Any:
    """A copy of a batch-1 KV cache cut to ``length`` tokens and repeated ``n`` times."""
    clone = cache_view(cache, length)
    clone.batch_repeat_interleave(n)
    return clone


def _croppable(cache: Any) -> bool:
    return all(getattr(layer, "is_croppable", False) and not getattr(layer, "is_sliding", False)
               for layer in cache.layers)


def shared_head(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    min_shared_prefix: int | None,
    prefix: PromptPrefix | None,
) -> tuple[int, Any]:
    """(number of leading tokens shared by the prompts, their KV cache repeated over them).

    The prefilled ``prefix`` (cut to what every prompt starts with) when that keeps at
    least ``min_shared_prefix`` tokens; else, with ``min_shared_prefix``, the prompts'
    common head run once now; else ``(0, None)``.
    """
    n_prompts = len(prompt_ids)
    if prefix is not None and len(prefix):
        usable = prefix.usable_length(prompt_ids)
        if usable == len(prefix) or (usable >= max(min_shared_prefix or 1, 1)
                                     and _croppable(prefix.cache)):
            return usable, expanded_cache(prefix.cache, n_prompts, usable)
    if min_shared_prefix is None or n_prompts < 2:
        return 0, None
    shared = min(common_prefix_length(prompt_ids), min(len(p) for p in prompt_ids) - 1)
    if shared < max(min_shared_prefix, 1):
        return 0, None
    head = prefill_prefix(model, prompt_ids[0][:shared])
    head.cache.batch_repeat_interleave(n_prompts)  # used once: no copy needed
    return shared, head.cache


def common_prefix_length(seqs: Sequence[Sequence[int]]) -> int:
    first, n = seqs[0], min(len(s) for s in seqs)
    for other in seqs[1:]:
        n = next((i for i in range(n) if other[i] != first[i]), n)
    return n
