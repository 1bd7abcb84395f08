"""Label log-probabilities from a causal LM: every label's full token sequence after a prompt.

:func:`score_label_sequences` scores a batch of prompts against the label set in two passes
over the prompts' KV cache (the prompts, left-padded, then the labels of two or more tokens
on a copy of that cache per label), from a prompt head run once per batch or prefilled once
(:mod:`~skmollal.annotators.kv_cache`). It serves ``prefix_cache="batch"`` and ``"off"`` and
models the packed path (:func:`~skmollal.annotators.packed_scoring.score_packed`) does not
take. :func:`label_sequences` gives the token sequences a task's labels are scored as.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .kv_cache import PromptPrefix, forward_cache_kwarg, output_cache, shared_head
from .task import label_variants

__all__ = ["score_label_sequences", "label_sequences", "check_scoring_inputs"]


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

    check_scoring_inputs(prompt_ids, label_ids, "score_label_sequences")
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


def check_scoring_inputs(prompt_ids: Sequence[Sequence[int]],
                         label_ids: Sequence[Sequence[int]], where: str) -> None:
    """Raise ``ValueError`` (naming ``where``) without prompts, labels, or on an empty one."""
    if not prompt_ids or not label_ids:
        raise ValueError(f"{where}: needs at least one prompt and one label")
    if any(len(p) == 0 for p in prompt_ids) or any(len(s) == 0 for s in label_ids):
        raise ValueError(f"{where}: prompts and labels must be non-empty")


def _log_softmax_at(logits: Any, index: Any) -> Any:
    """``log_softmax(logits).gather(-1, index)`` in float64, without a float64 vocab copy.

    ``index`` has the dimensions of ``logits`` (last one: which entries to pick).
    """
    import torch

    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()
    lse = torch.logsumexp(logits, dim=-1, keepdim=True)
    return (logits.gather(-1, index) - lse).double()


def label_sequences(task: Any, tokenizer: Any, case_variants: bool = True,
                    where: str = "label scoring") -> tuple[list[list[int]], np.ndarray]:
    """Token ids of every scored surface form of ``task``'s labels and the class of each.

    Each form is encoded after the task's answer prefix; duplicates are scored once. A
    label whose own form tokenizes to nothing usable raises ``ValueError`` naming it (a
    case variant that does is dropped).
    """
    prefix = task.answer_prefix(tokenizer)
    seqs: list[list[int]] = []
    owner: list[int] = []
    for c, label in enumerate(task.labels):
        for form in label_variants(label) if case_variants else [label]:
            ids = list(tokenizer.encode(prefix + form, add_special_tokens=False))
            if not ids or all(i == tokenizer.unk_token_id for i in ids if i is not None):
                if form == label:
                    raise ValueError(f"{where}: label {c} ({label!r}) tokenizes to no usable "
                                     "tokens")
                continue
            if ids not in seqs:
                seqs.append(ids)
                owner.append(c)
    return seqs, np.asarray(owner)
