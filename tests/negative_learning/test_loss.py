"""Tests of negative_learning_loss against the loss written out by hand."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from skmollal.negative_learning import negative_learning_loss


def reference_loss(logits, target, weight, mask, nl_weight):
    """The loss written out with numpy, one sample at a time.

    mean over samples of w * CE, plus nl_weight times the mean over the samples *that have
    negative labels* of their mean -log(1 - p_neg) (the MoLLIA reference normalisation).
    """
    ces, nls = [], []
    for z, t, w, m in zip(logits, target, weight, mask):
        p = np.exp(z - z.max())
        p /= p.sum()
        ces.append(w * -np.sum(t * np.log(p)))
        if m.any():
            nls.append(np.mean(-np.log(1 - p[m])))
    return np.mean(ces) + (nl_weight * np.mean(nls) if nls else 0.0)


def loss_inputs(dtype=torch.float64, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (6, 4))
    target = rng.dirichlet(np.ones(4), 6)
    weight = rng.uniform(0.2, 1.5, 6)
    mask = rng.random((6, 4)) < 0.4
    mask[0] = False  # a row without negatives
    mask[1] = [True, True, True, False]
    return logits, target, weight, mask


def test_loss_matches_hand_computation():
    logits, target, weight, mask = loss_inputs()
    got = negative_learning_loss(
        torch.tensor(logits), torch.tensor(target), torch.tensor(weight), torch.tensor(mask),
        nl_weight=0.7,
    )
    assert got.item() == pytest.approx(reference_loss(logits, target, weight, mask, 0.7), rel=1e-10)


def test_loss_reductions():
    logits, target, weight, mask = loss_inputs(seed=3)
    args = [torch.tensor(a) for a in (logits, target, weight, mask)]
    per_sample = negative_learning_loss(*args, nl_weight=0.5, reduction="none")
    total = negative_learning_loss(*args, nl_weight=0.5, reduction="sum")
    assert per_sample.shape == (6,) and total.item() == pytest.approx(per_sample.sum().item())
    # no negatives anywhere: the NL term vanishes
    no_neg = negative_learning_loss(*args[:3], torch.zeros(6, 4, dtype=torch.bool), nl_weight=5.0)
    assert no_neg.item() == pytest.approx(negative_learning_loss(*args[:3]).item())


def test_loss_hard_targets_and_no_nl_equal_cross_entropy():
    logits, _, _, mask = loss_inputs(seed=1)
    y = torch.tensor([0, 1, 2, 3, 1, 0])
    z = torch.tensor(logits)
    expected = torch.nn.functional.cross_entropy(z, y)
    assert negative_learning_loss(z, y).item() == pytest.approx(expected.item())
    assert negative_learning_loss(z, y, negative_mask=torch.tensor(mask), nl_weight=0.0).item() \
        == pytest.approx(expected.item())
    per_sample = negative_learning_loss(z, y, reduction="none")
    assert per_sample.shape == (6,)
    with pytest.raises(ValueError, match="reduction"):
        negative_learning_loss(z, y, reduction="bad")


def test_loss_gradient_gradcheck():
    logits, target, weight, mask = loss_inputs(seed=2)
    z = torch.tensor(logits, requires_grad=True)

    def f(z_):
        return negative_learning_loss(z_, torch.tensor(target), torch.tensor(weight),
                                      torch.tensor(mask), nl_weight=0.9)

    assert torch.autograd.gradcheck(f, (z,), eps=1e-6, atol=1e-6)


def test_nl_gradient_matches_closed_form():
    # d/dz_j of -log(1 - p_k) = p_k (delta_jk - p_j) / (1 - p_k)
    z = torch.tensor([[0.3, -1.2, 2.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[False, True, False]])
    loss = negative_learning_loss(z, torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64),
                                  torch.zeros(1, dtype=torch.float64), mask, nl_weight=1.0)
    loss.backward()
    p = torch.softmax(z.detach(), 1)[0].numpy()
    k = 1
    expected = p[k] * ((np.arange(3) == k) - p) / (1 - p[k])
    np.testing.assert_allclose(z.grad[0].numpy(), expected, rtol=1e-10)


def test_loss_is_finite_when_negative_class_is_certain():
    z = torch.tensor([[60.0, 0.0, 0.0]], requires_grad=True)
    loss = negative_learning_loss(z, torch.tensor([1]), negative_mask=torch.tensor([[1, 0, 0]]),
                                  nl_weight=1.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z.grad).all()
    assert loss.item() > 10  # -log(eps) dominates: the clamp, not a silent zero
