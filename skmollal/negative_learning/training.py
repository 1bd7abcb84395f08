"""Around skorch's training loop: the default callbacks, seeding, and Ctrl-C passed on."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from sklearn.utils import check_random_state
from skorch.callbacks import EpochScoring, EpochTimer, PassthroughScoring, PrintLog

__all__ = ["TrainingInterrupted", "default_callbacks", "index_accuracy", "interrupts_raised",
           "seeded"]


class TrainingInterrupted(Exception):
    """Ctrl-C during training, carried past skorch's ``except KeyboardInterrupt``."""


@contextmanager
def interrupts_raised() -> Iterator[None]:
    """Turn :class:`TrainingInterrupted` back into the ``KeyboardInterrupt`` it was."""
    try:
        yield
    except TrainingInterrupted as exc:
        raise KeyboardInterrupt("training interrupted") from exc.__cause__


def index_accuracy(net, X, y) -> float:
    """Validation accuracy on encoded class indices (``y`` inside skorch is the index).

    Parameters
    ----------
    net : NegativeLearningClassifier
        The net being trained.
    X : dict or array-like
        Validation features.
    y : array-like or Tensor of int
        Their class indices.

    Returns
    -------
    float
    """
    proba = net.predict_proba(X)
    y = np.asarray(y.cpu() if isinstance(y, torch.Tensor) else y)
    return float(np.mean(proba.argmax(axis=1) == y))


def default_callbacks() -> list[tuple[str, object]]:
    """skorch's default callbacks, with validation accuracy on class indices."""
    return [
        ("epoch_timer", EpochTimer()),
        ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
        ("valid_loss", PassthroughScoring(name="valid_loss")),
        ("valid_acc", EpochScoring(index_accuracy, name="valid_acc", lower_is_better=False)),
        ("print_log", PrintLog()),
    ]


@contextmanager
def seeded(random_state) -> Iterator[None]:
    """Seed torch from ``random_state`` inside the block, leaving the global RNG as it was.

    Parameters
    ----------
    random_state : int, RandomState or None
        None: no seeding.
    """
    if random_state is None:
        yield
        return
    seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
