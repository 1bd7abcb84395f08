"""Tests of MLPModule, the classifier's default network."""
from __future__ import annotations

import torch

from skmollal.negative_learning import MLPModule


def test_mlp_module_shapes():
    m = MLPModule(5, 4, hidden_units=(7, 3))
    assert m(torch.zeros(2, 5)).shape == (2, 4)
    assert MLPModule(5, 2, hidden_units=())(torch.zeros(1, 5, dtype=torch.int64)).shape == (1, 2)
