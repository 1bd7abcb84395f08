"""Command line entry point: ``python -m skmollal`` / ``skmollal`` (see :mod:`skmollal.cli`)."""
from __future__ import annotations

import sys

from .cli import main, recordings_summary

__all__ = ["main", "recordings_summary"]

if __name__ == "__main__":
    sys.exit(main())
