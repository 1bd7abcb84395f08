"""Prompts fitted to the model's context (per ``long_texts``) and batched by length.

A text whose prompt (with the longest answer after it) exceeds the model's context is cut at
its end until it fits (``"truncate"``), left unannotated (``"skip"``) or refused
(``"error"``); warnings and errors name the text's index and its start
(:func:`fit_context`). The prompts left then run in batches of similar length
(:func:`length_batches`), behind a progress bar (:func:`progress`); a batch that fails names
its texts (:func:`batch_errors`). Used by
:class:`~skmollal.annotators.local.TransformersAnnotator` before scoring and generating.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

import numpy as np

__all__ = ["fit_context", "truncated_prompt", "length_batches", "progress", "batch_errors",
           "LONG_TEXT_MODES"]

logger = logging.getLogger(__name__)

#: What :class:`TransformersAnnotator` does with a text whose prompt exceeds the context.
LONG_TEXT_MODES = ("truncate", "skip", "error")
#: Default ``max_prompt_tokens`` of a transformers annotator: a page of text.
DEFAULT_MAX_PROMPT_TOKENS = 2048

#: ``encode(texts, offset) -> prompts``: token ids of each text's prompt.
Encoder = Callable[[Sequence[str], int], list]


def fit_context(encode: Encoder, tokenizer: Any, texts: Sequence[str],
                prompts: list[list[int]], answer_len: int, max_len: int | None,
                long_texts: str, where: str, offset: int = 0,
                cap: int | None = None) -> tuple[list[list[int]], list[int]]:
    """Make every prompt fit ``max_len`` tokens with ``answer_len`` tokens after it, and at
    most ``cap`` tokens (``max_prompt_tokens``) where that is less.

    Returns the (possibly truncated) prompts and the indices of the texts to skip. Warnings
    and errors name the text (``offset`` + its index).
    """
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
    if long_texts == "error":
        exc = ValueError(f"{where}: {what}; long_texts='truncate' cuts such texts "
                         "to fit, 'skip' leaves them unannotated")
        exc.text_index = offset + first
        raise exc
    if long_texts == "skip":
        logger.warning("%s: %s; they are skipped (no answer: zero probabilities and "
                       "votes)", where, what)
        return prompts, too_long
    prompts = list(prompts)
    for i in too_long:
        prompts[i] = truncated_prompt(encode, tokenizer, texts[i], room, offset + i, where)
    logger.warning("%s: %s; their ends are cut to fit", where, what)
    return prompts, []


def truncated_prompt(encode: Encoder, tokenizer: Any, text: str, room: int, index: int,
                     where: str) -> list[int]:
    """The prompt of ``text`` cut at its end to at most ``room`` tokens."""
    ids = list(tokenizer.encode(text, add_special_tokens=False))
    keep = len(ids)
    for _ in range(8):  # re-tokenising the cut text may shift a token or two
        prompt = encode([text], index)[0]
        excess = len(prompt) - room
        if excess <= 0:
            return prompt
        keep -= excess + 2
        if keep <= 0:
            break
        text = tokenizer.decode(ids[:keep], skip_special_tokens=True)
    bare = len(encode([""], index)[0])
    exc = ValueError(
        f"{where}: text {index} cannot fit the model's context even cut short: "
        f"the prompt without it takes {bare} of the {room} tokens left for a prompt; "
        "shorten the instruction or the few-shot examples"
    )
    exc.text_index = index
    raise exc


def length_batches(prompts: Sequence[Sequence[int]], skipped: Sequence[int],
                   batch_size: int) -> list[np.ndarray]:
    """Indices of the prompts in batches of ``batch_size``, by length, ``skipped`` left out.

    Prompts of similar length go together (less padding); results never depend on the
    batching, and callers put rows back in the input order.
    """
    order = np.argsort([len(p) for p in prompts], kind="stable")
    order = order[~np.isin(order, list(skipped))]
    return [order[start: start + batch_size] for start in range(0, len(order), batch_size)]


def progress(batches: list, desc: str, show: bool | None) -> Any:
    """``batches`` behind a tqdm bar when there are several (``show=None``: on a terminal)."""
    if len(batches) <= 1:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc=desc, unit="batch", leave=False,
                disable=None if show is None else not show)


@contextmanager
def batch_errors(what: str, idx: Sequence[int]) -> Iterator[None]:
    """Re-raise a failure as ``RuntimeError("<what> [sorted text indices]: <error>")``."""
    try:
        yield
    except Exception as exc:
        raise RuntimeError(f"{what} {sorted(int(i) for i in idx)}: {exc}") from exc
