"""Parameter checks shared by the mask functions (nilearn's type rules, clear messages)."""
from __future__ import annotations

from typing import Any

import numpy as np

from ..exceptions import ParameterError

__all__ = ["ParameterTypeError", "check_bool", "check_float", "check_opening", "check_int"]


class ParameterTypeError(ParameterError, TypeError):
    """A parameter has the wrong type (nilearn raises ``TypeError`` here)."""


def check_bool(value: Any, name: str, func: str) -> bool:
    """``value`` must be a bool (nilearn rejects 0/1 ints too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ParameterTypeError(
            f"{func}: '{name}' must be of type bool; got {value!r} ({type(value).__name__}).",
            param=name, expected="bool", found=type(value).__name__,
        )
    return bool(value)


def check_float(value: Any, name: str, func: str) -> float:
    """``value`` must be a Python or numpy float (an int such as 0 is rejected, as in nilearn)."""
    if not isinstance(value, (float, np.floating)):
        raise ParameterTypeError(
            f"{func}: '{name}' must be of type float; got {value!r} ({type(value).__name__}).",
            param=name, expected="float", found=type(value).__name__,
        )
    if not np.isfinite(value):
        raise ParameterError(
            f"{func}: '{name}' must be a finite float; got {value!r}.", param=name, found=value,
        )
    return float(value)


def check_int(value: Any, name: str, func: str) -> int:
    """``value`` must be an int (bools are rejected)."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, (bool, np.bool_)):
        raise ParameterTypeError(
            f"{func}: '{name}' must be of type int; got {value!r} ({type(value).__name__}).",
            param=name, expected="int", found=type(value).__name__,
        )
    return int(value)


def check_opening(value: Any, func: str) -> int:
    """``opening``: bool or non-negative int; returns the number of iterations (True = 1).

    Differences from nilearn: a negative int is rejected (nilearn passes it on to scipy,
    where a negative iteration count erodes until nothing is left: an empty mask).
    """
    if not isinstance(value, (bool, np.bool_, int, np.integer)):
        raise ParameterTypeError(
            f"{func}: 'opening' must be a bool or an int; got {value!r} ({type(value).__name__}).",
            param="opening", expected="bool or int >= 0", found=type(value).__name__,
        )
    n = int(value)
    if n < 0:
        raise ParameterError(
            f"{func}: 'opening' must be a bool or an int >= 0 (number of erosion iterations); "
            f"got {n}.",
            param="opening", expected="bool or int >= 0", found=n,
        )
    return n
