"""Shared fixtures. Tests that need the real LLM recordings use ``recordings_dir``."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
#: Where the recorded LLM annotations live: ``$SKMOLLAL_RECORDINGS`` or ``../shared/...``.
RECORDINGS = Path(
    os.environ.get("SKMOLLAL_RECORDINGS", REPO.parent / "shared" / "data" / "llm-recordings")
)


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The shared recordings folder; skips the test where it is absent."""
    if not (RECORDINGS / "trec_yi.json").exists():
        pytest.skip(f"LLM recordings not found at {RECORDINGS} (set SKMOLLAL_RECORDINGS)")
    return RECORDINGS


def make_signals(n=300, n_llms=4, n_classes=3, noise=(0.2, 0.35, 0.5, 0.6), seed=0):
    """Synthetic panel signals: each LLM is right with probability ``1 - noise[j]``.

    Returns ``(signals, y)`` with signals of shape (n, n_llms, 2, n_classes).
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, n_classes, n)
    S = np.zeros((n, n_llms, 2, n_classes))
    for j in range(n_llms):
        wrong = rng.random(n) < noise[j % len(noise)]
        said = np.where(wrong, rng.integers(0, n_classes, n), y)
        logits = rng.normal(0, 1, (n, n_classes))
        logits[np.arange(n), said] += 3.0
        p = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
        S[:, j, 0] = p
        votes = rng.multinomial(10, p) / 10.0
        S[:, j, 1] = votes
    return S, y


@pytest.fixture
def synthetic_signals():
    """``(signals, y)`` from :func:`make_signals` with default settings."""
    return make_signals()
