"""Deprecated home of :mod:`skmollal.cascade.masked` (a FutureWarning; goes in 0.3)."""
import warnings

from ..cascade.masked import *  # noqa: F401,F403
from ..cascade.masked import __all__  # noqa: F401

warnings.warn("skmollal.aggregation.masked moved to skmollal.cascade.masked",
              FutureWarning, stacklevel=2)
