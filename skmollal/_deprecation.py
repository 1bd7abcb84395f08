"""Names that moved: a module ``__getattr__`` that still finds them, with a FutureWarning."""
from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

__all__ = ["moved_module", "moved_names"]


def moved_names(module: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for names that left ``module`` for another module.

    Parameters
    ----------
    module : str
        The module the names left (its ``__name__``).
    moved : dict of str to str
        Name -> the module that now holds it.

    Returns
    -------
    callable
        ``__getattr__(name)``: the object from its new home, after a ``FutureWarning`` that
        names that home; ``AttributeError`` for any other name.
    """
    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        home = moved[name]
        warnings.warn(f"{module}.{name} has moved: import it from {home} ({module}.{name} "
                      "will be removed in the next release)", FutureWarning, stacklevel=2)
        return getattr(importlib.import_module(home), name)

    return __getattr__


def moved_module(old: str, new: str) -> None:
    """Warn that module ``old`` is now ``new`` (called from ``old``'s stub).

    Parameters
    ----------
    old, new : str
        Dotted module names.
    """
    warnings.warn(f"module {old} has moved to {new} ({old} will be removed in the next "
                  "release)", FutureWarning, stacklevel=3)
