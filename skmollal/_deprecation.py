"""A module ``__getattr__`` for names loaded on first use, and for names that moved."""
from __future__ import annotations

import importlib
import warnings
from typing import Any, Callable

__all__ = ["module_getattr", "moved_module"]


def module_getattr(module: str, namespace: dict[str, Any], lazy: dict[str, str] | None = None,
                   moved: dict[str, str] | None = None) -> Callable[[str], Any]:
    """A module-level ``__getattr__``: lazy names imported on first use, moved names found.

    Parameters
    ----------
    module : str
        The module (its ``__name__``).
    namespace : dict
        Its ``globals()``: a lazy name is stored there once imported.
    lazy : dict of str to str, optional
        Name -> the module (absolute, or relative to ``module``) that defines it.
    moved : dict of str to str, optional
        Name that left ``module`` -> the module that now holds it; found there after a
        ``FutureWarning`` that names that home.

    Returns
    -------
    callable
        ``__getattr__(name)``; ``AttributeError`` for any other name.
    """
    lazy, moved = lazy or {}, moved or {}

    def __getattr__(name: str) -> Any:
        if name in lazy:
            value = getattr(importlib.import_module(lazy[name], module), name)
            namespace[name] = value
            return value
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
