"""Batched sampled generation that stops at the first line of each answer.

:func:`generate_first_lines` runs one left-padded ``model.generate`` call over a batch of
prompts (``num_return_sequences`` answers each) and returns each answer's first line; a
row stops at its first line break after some text (:class:`FirstLineStop`), so answers that
go on explaining cost no tokens past their label. Used by
:class:`~skmollal.annotators.local.TransformersAnnotator` in ``vote_mode="generate"``.
"""
from __future__ import annotations

from typing import Any, Sequence

__all__ = ["generate_first_lines", "line_tables", "FirstLineStop"]


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
    **gen_kwargs: Any,
) -> list[str]:
    """One left-padded ``model.generate`` call over ``prompt_ids``; the first line of each answer.

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
    **gen_kwargs
        Passed to ``generate`` (``num_return_sequences``, ``max_new_tokens``, ...).

    Returns
    -------
    list of str
        ``len(prompt_ids) * num_return_sequences`` answers, prompt by prompt: the text up to
        the first line break after some text, stripped.
    """
    import torch
    from transformers import StoppingCriteriaList

    device = next(model.parameters()).device
    pad = gen_kwargs.get("pad_token_id", 0)
    width = max(len(p) for p in prompt_ids)
    ids = torch.full((len(prompt_ids), width), pad, dtype=torch.long, device=device)
    mask = torch.zeros_like(ids)
    for row, prompt in enumerate(prompt_ids):
        ids[row, width - len(prompt):] = torch.as_tensor(list(prompt), device=device)
        mask[row, width - len(prompt):] = 1
    stop = StoppingCriteriaList([FirstLineStop(tables or line_tables(tokenizer, model))])
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        with torch.inference_mode():
            out = model.generate(input_ids=ids, attention_mask=mask, stopping_criteria=stop,
                                 **gen_kwargs)
    decoded = tokenizer.batch_decode(out[:, width:], skip_special_tokens=True)
    return [answer.strip().split("\n", 1)[0].strip() for answer in decoded]
