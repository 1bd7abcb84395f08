"""Shared fixtures. Tests that need the real LLM recordings use ``recordings_dir``."""
from __future__ import annotations

from pathlib import Path

import pytest

from skmollal.datasets import default_recordings_path
from skmollal.testing import make_signals

#: Where the recorded LLM annotations live: ``$SKMOLLAL_RECORDINGS`` or ``../shared/...``.
RECORDINGS = default_recordings_path()


@pytest.fixture(scope="session")
def recordings_dir() -> Path:
    """The shared recordings folder; skips the test where it is absent."""
    if not (RECORDINGS / "trec_yi.json").exists():
        pytest.skip(f"LLM recordings not found at {RECORDINGS} (set SKMOLLAL_RECORDINGS)")
    return RECORDINGS


@pytest.fixture
def synthetic_signals():
    """``(signals, y)`` from :func:`make_signals` with default settings."""
    return make_signals()
