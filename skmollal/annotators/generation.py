"""Batched sampled generation that stops at the first line of each answer.

:func:`generate_first_lines` runs one left-padded ``model.generate`` call over a batch of
prompts (``num_return_sequences`` answers each, the prompts prefilled once, from a shared
prefix's KV cache when given) and returns each answer's first line; a
row stops at its first line break after some text (:class:`FirstLineStop`), so answers that
go on explaining cost no tokens past their label. Used by
:class:`~skmollal.annotators.local.TransformersAnnotator` in ``vote_mode="generate"``.
"""
from __future__ import annotations

from typing import Any, Sequence

from .kv_cache import PromptPrefix, forward_cache_kwarg, output_cache, shared_head

__all__ = ["generate_first_lines", "line_tables", "FirstLineStop", "sampling_kwargs"]


def line_tables(tokenizer: Any, model: Any) -> tuple[Any, Any]:
    """Per token id: does it hold a line break / any non-blank text (ids past the vocab: no).

    Parameters
    ----------
    tokenizer : transformers tokenizer
        Decodes every token id on its own.
    model : transformers causal LM
        Its ``config.vocab_size`` (may exceed the tokenizer's) sizes the tables.

    Returns
    -------
    (breaks, text) : tuple of bool tensors of shape (vocab_size,)
    """
    import torch

    n = max(len(tokenizer), int(getattr(model.config, "vocab_size", 0) or 0))
    pieces = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    breaks = torch.zeros(n, dtype=torch.bool)
    text = torch.zeros(n, dtype=torch.bool)
    breaks[: len(pieces)] = torch.as_tensor(["\n" in p for p in pieces])
    text[: len(pieces)] = torch.as_tensor([bool(p.strip()) for p in pieces])
    return breaks, text


def sampling_kwargs(tokenizer: Any, temperature: float, top_p: float, n_return: int,
                    max_new_tokens: int) -> dict:
    """``generate`` arguments: sampled at ``temperature`` and ``top_p`` (greedy at ``<= 0``).

    ``n_return`` answers per prompt, at most ``max_new_tokens`` each; padding with the
    tokenizer's pad token (else its end of sequence).
    """
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    kwargs = dict(do_sample=temperature > 0, max_new_tokens=max_new_tokens,
                  num_return_sequences=n_return, pad_token_id=pad,
                  eos_token_id=tokenizer.eos_token_id)
    if temperature > 0:
        kwargs.update(temperature=temperature, top_p=top_p, top_k=0)
    return kwargs


class FirstLineStop:
    """Stopping criterion: a row is done at its first line break that follows some text.

    Parameters
    ----------
    tables : (breaks, text)
        Boolean tensors over token ids (:func:`line_tables`): which tokens hold a line
        break, which hold any non-blank text. A blank line before the answer does not stop
        it; a row's state lives in the instance, so use one per ``generate`` call.
    """

    def __init__(self, tables: tuple[Any, Any]) -> None:
        self.breaks, self.text = tables
        self.seen = None

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        last = input_ids[:, -1].cpu()
        if self.seen is None:
            self.seen = last.new_zeros(len(last), dtype=bool)
        done = self.breaks[last] & (self.seen | self.text[last])
        self.seen |= self.text[last]
        return done.to(input_ids.device)


def generate_first_lines(
    model: Any,
    tokenizer: Any,
    prompt_ids: Sequence[Sequence[int]],
    seed: int,
    tables: tuple[Any, Any] | None = None,
    prefix: PromptPrefix | None = None,
    num_return_sequences: int = 1,
    **gen_kwargs: Any,
) -> list[str]:
    """Sampled answers to a batch of prompts; the first line of each.

    The prompts (left-padded, after ``prefix`` when they start with it) are prefilled once,
    all but their last token; that KV cache is repeated ``num_return_sequences`` times and one
    ``model.generate`` call samples every answer from it. (``generate``'s own
    ``num_return_sequences`` would prefill each prompt once per answer.)

    Parameters
    ----------
    model, tokenizer
        A transformers causal LM and its tokenizer.
    prompt_ids : sequence of sequence of int
        Token ids of each prompt.
    seed : int
        Torch seed of the sampling (the global generator is restored afterwards).
    tables : (breaks, text), optional
        Per-token flags of :func:`line_tables` (computed when not given).
    prefix : PromptPrefix, optional
        A prefilled head of the prompts (:func:`~skmollal.annotators.kv_cache.prefill_prefix`),
        reused instead of run again; left unchanged.
    num_return_sequences : int, default=1
        Answers per prompt.
    **gen_kwargs
        Passed to ``generate`` (``do_sample``, ``max_new_tokens``, ``pad_token_id``, ...).

    Returns
    -------
    list of str
        ``len(prompt_ids) * num_return_sequences`` answers, prompt by prompt: the text up to
        the first line break after some text, stripped.
    """
    import torch
    from transformers import StoppingCriteriaList

    device = next(model.parameters()).device
    pad = gen_kwargs.get("pad_token_id") or 0
    cache_kw = forward_cache_kwarg(model)
    n = int(num_return_sequences)
    with torch.inference_mode():
        shared, cache = shared_head(model, prompt_ids, None, prefix)
        tails = [list(p[shared:]) for p in prompt_ids]
        width = max(len(t) for t in tails)
        ids = torch.full((len(tails), shared + width), pad, dtype=torch.long, device=device)
        ids[:, :shared] = torch.as_tensor(list(prompt_ids[0][:shared]), device=device)
        mask = torch.zeros_like(ids)
        mask[:, :shared] = 1
        for row, tail in enumerate(tails):
            ids[row, shared + width - len(tail):] = torch.as_tensor(tail, device=device)
            mask[row, shared + width - len(tail):] = 1
        if width > 1:  # prefill all but the last token; generate runs that one
            positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
            out = model(input_ids=ids[:, shared:-1], attention_mask=mask[:, :-1],
                        position_ids=positions[:, shared:-1], use_cache=True, logits_to_keep=1,
                        **({cache_kw: cache} if cache is not None else {}))
            cache = output_cache(out)
        if cache is not None:
            cache.batch_repeat_interleave(n)
        stop = StoppingCriteriaList([FirstLineStop(tables or line_tables(tokenizer, model))])
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            generated = model.generate(
                input_ids=ids.repeat_interleave(n, dim=0),
                attention_mask=mask.repeat_interleave(n, dim=0),
                stopping_criteria=stop,
                **({cache_kw: cache} if cache is not None else {}),
                **gen_kwargs,
            )
    decoded = tokenizer.batch_decode(generated[:, ids.shape[1]:], skip_special_tokens=True)
    return [answer.strip().split("\n", 1)[0].strip() for answer in decoded]
