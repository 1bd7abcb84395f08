"""Deprecated home of :mod:`skmollal.cascade.seed` (a FutureWarning; goes in 0.3)."""
import warnings

from ..cascade.seed import *  # noqa: F401,F403
from ..cascade.seed import __all__  # noqa: F401

warnings.warn("skmollal.aggregation.cascade_seed moved to skmollal.cascade.seed",
              FutureWarning, stacklevel=2)
