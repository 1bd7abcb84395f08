"""The default network of :class:`~skmollal.negative_learning.NegativeLearningClassifier`."""
from __future__ import annotations

import numbers
from typing import Sequence

import torch
from torch import nn

__all__ = ["MLPModule"]


class MLPModule(nn.Module):
    """Feed-forward classifier head: ``Linear -> ReLU -> Dropout`` blocks, then a linear layer.

    Parameters
    ----------
    n_features : int
        Input dimension (filled in from the data by the classifier).
    n_classes : int
        Number of output logits (filled in by the classifier).
    hidden_units : int or sequence of int, default=(256,)
        Widths of the hidden layers; ``()`` gives a linear (softmax-regression) model.
    dropout : float, default=0.1
        Dropout after each hidden layer.
    """

    def __init__(self, n_features: int, n_classes: int, hidden_units: int | Sequence[int] = (256,),
                 dropout: float = 0.1):
        super().__init__()
        if isinstance(hidden_units, numbers.Integral):
            hidden_units = (int(hidden_units),)
        layers: list[nn.Module] = []
        width = int(n_features)
        for units in hidden_units:
            layers += [nn.Linear(width, int(units)), nn.ReLU(), nn.Dropout(dropout)]
            width = int(units)
        layers.append(nn.Linear(width, int(n_classes)))
        self.net = nn.Sequential(*layers)

    def forward(self, X: torch.Tensor) -> torch.Tensor:  # noqa: N803 (sklearn naming)
        if not torch.is_floating_point(X):
            X = X.float()
        return self.net(X)
