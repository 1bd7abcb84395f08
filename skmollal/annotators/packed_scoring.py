"""Score every label of a batch of prompts in one forward pass from a shared prefix.

:func:`score_packed` is the fast path of label scoring when every prompt starts with a
prefilled head (:class:`~skmollal.annotators.kv_cache.PromptPrefix`):

* the texts' own tokens are **packed** one after the other into a single sequence after the
  prefix, so the prefix's KV cache (batch of one) is attended to as it is, never copied per
  text, and no row is padded;
* behind each text sit the label tokens (:func:`label_tree`: every label's tokens but its
  last, shared where labels start alike), so all labels are scored in the same pass;
* a custom attention mask keeps each text (and its labels) blind to the other texts, and
  position ids restart after the prefix for every text, so each score equals scoring
  ``prompt + label`` on its own.
"""
from __future__ import annotations

from typing import Any, NamedTuple, Sequence

from .kv_cache import (
    PromptPrefix,
    cache_view,
    expanded_cache,
    forward_cache_kwarg,
    full_attention_only,
)
from .label_scoring import check_scoring_inputs, score_label_sequences

__all__ = ["LabelTree", "label_tree", "pack_rows", "packable", "score_packed", "label_scorer"]

#: Fewest tokens a packed row holds by default (more when the prefix is longer).
ROW_TOKENS = 512

#: Attention implementations that honour a custom 4D attention mask.
_MASKED_ATTENTION = ("sdpa", "eager")


class LabelTree(NamedTuple):
    """The tokens that label scoring feeds after a prompt, shared by labels alike at start.

    ``tokens[u]`` is node ``u``'s input token, ``parents[u]`` the node before it (``-1``: the
    prompt's last token) and ``depths[u]`` its distance from the prompt's end (0 for a
    label's first token). ``picks[s]`` lists label ``s``'s ``(node, token)`` pairs: the
    label's log-probability is the sum over them of ``log p(token | ... node)`` (node ``-1``:
    read off the prompt's last position).
    """

    tokens: tuple[int, ...]
    parents: tuple[int, ...]
    depths: tuple[int, ...]
    picks: tuple[tuple[tuple[int, int], ...], ...]


def label_tree(label_ids: Sequence[Sequence[int]]) -> LabelTree:
    """The :class:`LabelTree` of some label token sequences (each non-empty).

    Examples
    --------
    >>> tree = label_tree([[5], [6, 7, 8], [6, 9]])
    >>> tree.tokens, tree.parents, tree.depths
    ((6, 7), (-1, 0), (0, 1))
    >>> tree.picks[1]
    ((-1, 6), (0, 7), (1, 8))
    """
    index: dict[tuple[int, ...], int] = {}
    tokens: list[int] = []
    parents: list[int] = []
    depths: list[int] = []
    picks = []
    for seq in label_ids:
        seq = tuple(int(t) for t in seq)
        if not seq:
            raise ValueError("label_tree: label token sequences must be non-empty")
        node, mine = -1, []
        for depth, token in enumerate(seq):
            mine.append((node, token))
            if depth + 1 < len(seq):  # the label goes on: this token is an input
                key = seq[: depth + 1]
                if key not in index:
                    index[key] = len(tokens)
                    tokens.append(token)
                    parents.append(node)
                    depths.append(depth)
                node = index[key]
        picks.append(tuple(mine))
    return LabelTree(tuple(tokens), tuple(parents), tuple(depths), tuple(picks))


def packable(model: Any, prefix: PromptPrefix | None) -> bool:
    """Whether :func:`score_packed` applies: a prefilled prefix, full attention, 4D masks."""
    if prefix is None or not len(prefix) or prefix.cache is None:
        return False
    attn = getattr(getattr(model, "config", None), "_attn_implementation", None)
    layers = getattr(prefix.cache, "layers", None)
    return (attn in _MASKED_ATTENTION and layers is not None
            and not any(getattr(layer, "is_sliding", False) for layer in layers))


def _own_block(torch: Any, n_text: int, tree: LabelTree) -> Any:
    """Which of its own tokens each token of one packed text sees (bool, square).

    The text's tokens see the text causally; each label node sees the whole text, its
    ancestors and itself.
    """
    m = len(tree.tokens)
    block = torch.zeros((n_text + m, n_text + m), dtype=torch.bool)
    block[:n_text, :n_text] = torch.ones((n_text, n_text), dtype=torch.bool).tril()
    block[n_text:, :n_text] = True
    for u in range(m):
        w = u
        while w >= 0:
            block[n_text + u, n_text + w] = True
            w = tree.parents[w]
    return block


def _packed_inputs(torch: Any, tails: Sequence[Sequence[int]], tree: LabelTree,
                   start: int) -> tuple[Any, Any, Any, list[int]]:
    """(ids, positions, own-token mask, offset of each text) of one packed sequence."""
    ids, positions, blocks, offsets = [], [], [], []
    depths = torch.as_tensor(tree.depths, dtype=torch.long)
    at = 0
    for tail in tails:
        n = len(tail)
        offsets.append(at)
        ids.append(torch.as_tensor(list(tail) + list(tree.tokens), dtype=torch.long))
        positions.append(torch.cat([torch.arange(n), n + depths]) + start)
        blocks.append(_own_block(torch, n, tree))
        at += n + len(tree.tokens)
    return torch.cat(ids), torch.cat(positions), torch.block_diag(*blocks), offsets


def pack_rows(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Consecutive groups of items whose lengths add up to at most ``budget`` (>= 1 item each).

    Examples
    --------
    >>> pack_rows([3, 3, 3, 5, 1], budget=6)
    [[0, 1], [2], [3, 4]]
    """
    rows: list[list[int]] = []
    used = budget
    for i, n in enumerate(lengths):
        if used + n > budget:
            rows.append([])
            used = 0
        rows[-1].append(i)
        used += n
    return rows


def _packed_batch(torch: Any, tails: Sequence[Sequence[int]], tree: LabelTree, shared: int,
                  dtype: Any, budget: int) -> tuple[dict, list[list[int]], Any]:
    """Model inputs of the packed rows, the texts of each row and where their logits are read.

    Rows are right-padded; a pad sees the prefix only and is never seen. Returns the
    inputs (ids, mask, positions, ``logits_to_keep``: per row, each text's last position
    and its label nodes, the last text's repeated in a short row) and the rows.
    """
    m = len(tree.tokens)
    rows = pack_rows([len(t) + m for t in tails], budget)
    packs = [_packed_inputs(torch, [tails[i] for i in row], tree, shared) for row in rows]
    width = max(len(ids) for ids, *_ in packs)
    most = max(len(row) for row in rows)
    ids = torch.zeros((len(rows), width), dtype=torch.long)
    positions = torch.full((len(rows), width), shared, dtype=torch.long)
    mask = torch.full((len(rows), 1, width, shared + width), torch.finfo(dtype).min, dtype=dtype)
    mask[..., :shared] = 0
    keep = torch.zeros((len(rows), most * (m + 1)), dtype=torch.long)
    for r, (row, (row_ids, row_pos, own, offsets)) in enumerate(zip(rows, packs)):
        n = len(row_ids)
        ids[r, :n] = row_ids
        positions[r, :n] = row_pos
        mask[r, 0, :n, shared: shared + n].masked_fill_(own, 0)
        reads = [o + len(tails[i]) - 1 + j for o, i in zip(offsets, row) for j in range(m + 1)]
        reads += reads[-(m + 1):] * (most - len(row))
        keep[r] = torch.as_tensor(reads)
    inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": positions,
              "logits_to_keep": keep}
    return inputs, rows, most


def score_packed(
    model: Any,
    prompt_ids: Sequence[Sequence[int]],
    label_ids: Sequence[Sequence[int]],
    prefix: PromptPrefix,
    tree: LabelTree | None = None,
    row_tokens: int | None = None,
) -> Any:
    """Log-probability of each label sequence after each prompt, in one forward pass.

    Parameters
    ----------
    model : transformers causal LM
        With ``sdpa`` or ``eager`` attention and no sliding window (``packable``).
    prompt_ids : sequence of sequence of int
        Token ids of each prompt (B prompts); each starts with part of ``prefix`` and has a
        token of its own after what all of them share with it.
    label_ids : sequence of sequence of int
        Token ids of each candidate answer (S non-empty sequences).
    prefix : PromptPrefix
        The prefilled head (:func:`~skmollal.annotators.kv_cache.prefill_prefix`), cut to
        what every prompt starts with; left unchanged.
    tree : LabelTree, optional
        ``label_tree(label_ids)``, when already made.
    row_tokens : int, optional
        Most tokens packed into one row (a text and its label nodes always fit in one);
        texts beyond it go to further rows of the same pass, each with its own copy of
        the prefix's cache. Default: the prefix's length, at least :data:`ROW_TOKENS`, so
        the masked-out attention to a row's other texts costs at most about as much as the
        attention to the prefix, and a short prefix is not copied for many thin rows.

    Returns
    -------
    ndarray of shape (B, S), float64
        What :func:`~skmollal.annotators.label_scoring.score_label_sequences` gives.
    """
    import torch

    check_scoring_inputs(prompt_ids, label_ids, "score_packed")
    tree = tree if tree is not None else label_tree(label_ids)
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    shared = prefix.usable_length(prompt_ids)
    if shared < 1:
        raise ValueError("score_packed: the prompts do not start with the prefix")
    tails = [list(p[shared:]) for p in prompt_ids]
    inputs, rows, most = _packed_batch(torch, tails, tree, shared, dtype,
                                       row_tokens or max(shared, ROW_TOKENS))
    cache = (cache_view(prefix.cache, shared) if len(rows) == 1
             else expanded_cache(prefix.cache, len(rows), shared))
    m = len(tree.tokens)
    with torch.inference_mode():
        out = model(**{k: v.to(device) for k, v in inputs.items()}, use_cache=True,
                    **{forward_cache_kwarg(model): cache})
        logits = out.logits.view(len(rows), most, m + 1, -1)
        logits = torch.cat([logits[r, : len(row)] for r, row in enumerate(rows)])
        if logits.dtype in (torch.float16, torch.bfloat16):
            logits = logits.float()
        lse = torch.logsumexp(logits, dim=-1)
        flat = [(s, node + 1, token) for s, pick in enumerate(tree.picks) for node, token in pick]
        owner, nodes, tokens = (torch.as_tensor(col, device=logits.device) for col in zip(*flat))
        picked = (logits[:, nodes, tokens] - lse[:, nodes]).double()  # (B, label tokens)
        total = torch.zeros((len(tails), len(tree.picks)), dtype=torch.float64,
                            device=logits.device)
        total.index_add_(1, owner, picked)
    return total.cpu().numpy()


def label_scorer(model: Any, label_ids: Sequence[Sequence[int]], pad_token_id: int,
                 prefix_cache: str, prefix: PromptPrefix | None) -> Any:
    """``prompts -> (B, S) label log-probabilities`` for a ``prefix_cache`` mode.

    ``"shared"`` with a prefilled ``prefix`` the model can pack after (:func:`packable`):
    :func:`score_packed`; else :func:`~skmollal.annotators.label_scoring.score_label_sequences`
    from ``prefix`` (``"shared"``), from each batch's common head (``"batch"``) or from
    nothing (``"off"``).
    """
    if prefix_cache == "shared" and packable(model, prefix):
        tree = label_tree(label_ids)
        return lambda prompts: score_packed(model, prompts, label_ids, prefix, tree)
    if not full_attention_only(model):  # a reused head would lose the sliding window
        prefix_cache = "off"
    reuse: dict = {"min_shared_prefix": None} if prefix_cache == "off" else {}
    if prefix_cache == "shared":
        reuse = {"prefix": prefix}
    return lambda prompts: score_label_sequences(model, prompts, label_ids,
                                                 pad_token_id=pad_token_id, **reuse)
