"""The negative-learning loss: weighted cross-entropy plus a term on the negative labels.

The loss of a batch ``B`` is

.. math::

    \\frac{1}{|B|} \\sum_{i \\in B} w_i \\, \\mathrm{CE}(t_i, p_i)
    + \\lambda \\frac{1}{|B_N|} \\sum_{i \\in B_N} \\mathrm{NL}_i, \\qquad
    \\mathrm{NL}_i = \\frac{1}{|N_i|} \\sum_{c \\in N_i} -\\log(1 - p_{ic})

where ``p_i`` is the softmax of the module's logits, ``t_i`` the (hard or soft) target,
``w_i`` a per-sample weight (annotation discrepancy), ``N_i`` the sample's negative labels
(classes the LLM panel all but rules out), ``B_N`` the samples of the batch that have
negative labels (the NL term is 0 when there are none) and ``lambda`` the negative-learning
weight; this is the loss of the MoLLIA reference implementation.
"""
from __future__ import annotations

import torch

__all__ = ["negative_learning_loss"]


def negative_learning_loss(logits: torch.Tensor, target: torch.Tensor,
                           sample_weight: torch.Tensor | None = None,
                           negative_mask: torch.Tensor | None = None,
                           nl_weight: float = 0.0, eps: float = 1e-6,
                           reduction: str = "mean") -> torch.Tensor:
    """Weighted cross-entropy plus ``nl_weight`` times the negative-learning loss.

    With ``reduction="mean"`` (the training loss) this is
    ``mean_i(w_i CE_i) + nl_weight * mean_{i: N_i non-empty}(NL_i)``: the NL term is
    averaged over the samples of the batch that have negative labels, as in the MoLLIA
    reference implementation (0 when none has).

    Parameters
    ----------
    logits : Tensor of shape (n, C)
        Unnormalised class scores.
    target : Tensor of shape (n, C) or (n,)
        Soft targets (rows summing to 1) or class indices.
    sample_weight : Tensor of shape (n,) or None
        Multiplies each sample's cross-entropy (not its NL term). None means 1.
    negative_mask : bool Tensor of shape (n, C) or None
        Negative labels; a sample's NL term is the mean over its negative classes of
        ``-log(1 - p)``, and 0 when it has none.
    nl_weight : float, default=0.0
        Weight of the NL term.
    eps : float, default=1e-6
        ``1 - p`` is clamped to at least ``eps`` before the log.
    reduction : {"mean", "sum", "none"}, default="mean"
        "mean" as above; "sum" is ``sum_i(w_i CE_i + nl_weight NL_i)``; "none" returns the
        per-sample ``w_i CE_i + nl_weight NL_i``.

    Returns
    -------
    Tensor
        A scalar, or per-sample losses (n,) when ``reduction="none"``.
    """
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    log_p = torch.log_softmax(logits, dim=-1)
    if target.dim() == 1:
        ce = -log_p.gather(1, target.long().view(-1, 1)).squeeze(1)
    else:
        ce = -(target.to(log_p.dtype) * log_p).sum(dim=1)
    if sample_weight is not None:
        ce = ce * sample_weight.to(ce.dtype)
    if negative_mask is None or not nl_weight:
        nl = torch.zeros_like(ce)
        has_neg = torch.zeros_like(ce, dtype=torch.bool)
    else:
        mask = negative_mask.to(log_p.dtype)
        # log(1 - p) = log(-expm1(log p)), clamped away from log(0) when p -> 1
        log_one_minus_p = torch.log(torch.clamp(-torch.expm1(log_p), min=eps))
        n_neg = mask.sum(dim=1)
        nl = -(mask * log_one_minus_p).sum(dim=1) / n_neg.clamp(min=1)
        has_neg = n_neg > 0
    if reduction == "none":
        return ce + nl_weight * nl
    if reduction == "sum":
        return ce.sum() + nl_weight * nl.sum()
    nl_term = nl[has_neg].mean() if bool(has_neg.any()) else nl.sum()
    return ce.mean() + nl_weight * nl_term
