"""Declared parameter constraints of the maskers, checked once at ``fit`` (scikit-learn style).

Each masker lists, per constructor parameter, what it accepts
(``_parameter_constraints = {"detrend": [bool], "t_r": [None, Interval(0, None)], ...}``);
:func:`validate_params` checks every listed parameter and raises an error naming it, what
was expected and what was found. A wrong *type* is a ``TypeError``; a value of the right
type outside its set or range is a :class:`~nimask.exceptions.ParameterError` (a
``ValueError``).
"""
from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import ParameterError

__all__ = ["Interval", "Options", "Check", "validate_params", "make_memory", "COMMON_CONSTRAINTS", "STANDARDIZE_VALUES"]

STANDARDIZE_VALUES = ("zscore_sample", "psc", True, False, None)


@dataclass(frozen=True)
class Interval:
    """A real number (not a bool) in ``[low, high]`` (None: unbounded); ``integer`` for ints only."""

    low: float | None = None
    high: float | None = None
    integer: bool = False

    def describe(self) -> str:
        return "an int" if self.integer else "a number"

    def bounds(self) -> str:
        if self.low is not None and self.high is not None:
            return f"in [{self.low}, {self.high}]"
        if self.low is not None:
            return f">= {self.low}"
        return f"<= {self.high}"

    def type_ok(self, value: Any) -> bool:
        kind = numbers.Integral if self.integer else numbers.Real
        return isinstance(value, kind) and not isinstance(value, (bool, np.bool_))

    def value_ok(self, value: Any) -> bool:
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values (``True`` is not ``1``: identity for bools and None)."""

    values: tuple

    def describe(self) -> str:
        return f"one of {self.values}"

    def type_ok(self, value: Any) -> bool:
        return True  # any value outside the set is a ParameterError (a ValueError)

    def value_ok(self, value: Any) -> bool:
        return any(_same(value, v) for v in self.values)


@dataclass(frozen=True)
class Check:
    """A custom check: ``func(value)`` returns None when fine, else the expected description."""

    func: Callable[[Any], str | None]
    text: str

    def describe(self) -> str:
        return self.text

    def type_ok(self, value: Any) -> bool:
        return self.func(value) is None

    def value_ok(self, value: Any) -> bool:
        return True


def _same(value: Any, option: Any) -> bool:
    if option is None or isinstance(option, bool):
        return value is option
    if isinstance(value, (bool, np.bool_)):
        return False
    try:
        return bool(value == option)
    except Exception:  # arrays and other objects without a truth value are not options
        return False


def _describe(spec: Any) -> str:
    if spec is None:
        return "None"
    if isinstance(spec, type):
        return {bool: "a bool", dict: "a dict", str: "a str", int: "an int", list: "a list"}.get(
            spec, f"a {spec.__name__}")
    return spec.describe()


def _type_ok(spec: Any, value: Any) -> bool:
    if spec is None:
        return value is None
    if isinstance(spec, type):
        if spec is bool:
            return isinstance(value, bool)
        if spec is int:
            return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))
        return isinstance(value, spec)
    return spec.type_ok(value)


def validate_params(estimator: Any, constraints: dict[str, list]) -> None:
    """Check each listed parameter of ``estimator`` against its constraints.

    Raises
    ------
    TypeError
        The value's type matches none of the constraints.
    ParameterError
        The type matches but the value is outside the allowed set or range.
    """
    owner = type(estimator).__name__
    for name, specs in constraints.items():
        value = getattr(estimator, name)
        typed = [s for s in specs if _type_ok(s, value)]
        if not typed:
            expected = " or ".join(_describe(s) for s in sorted(specs, key=lambda s: s is None))
            raise TypeError(
                f"{owner}: '{name}' must be {expected}; got {value!r} ({type(value).__name__})."
            )
        if not any(s is None or isinstance(s, type) or s.value_ok(value) for s in typed):
            spec = typed[0]
            if isinstance(spec, Options):
                message = f"{owner}: '{name}' must be one of {spec.values}. {value!r} was provided."
            else:
                message = f"{owner}: '{name}' must be {spec.bounds()}; got {value!r}."
            raise ParameterError(message, param=name, expected=spec.describe(), found=value)


def _dtype_check(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value == "auto"):
        return None
    if value is bool or (isinstance(value, str) and value in ("bool", "?")):
        raise TypeError("'dtype' cannot be bool")
    try:
        resolved = np.dtype(value)
    except TypeError:
        return "None, 'auto' or a numpy dtype"
    if resolved == np.dtype(bool):
        raise TypeError("'dtype' cannot be bool")
    return None


def _memory_check(value: Any) -> str | None:
    import joblib

    if value is None or isinstance(value, (str, os.PathLike, joblib.Memory)):
        return None
    return "None, a path or a joblib.Memory"


COMMON_CONSTRAINTS: dict[str, list] = {
    "smoothing_fwhm": [None, Interval(0)],
    "standardize": [Options(STANDARDIZE_VALUES)],
    "standardize_confounds": [bool],
    "detrend": [bool],
    "high_variance_confounds": [bool],
    "low_pass": [None, Interval()],
    "high_pass": [None, Interval()],
    "t_r": [None, Interval()],
    "dtype": [Check(_dtype_check, "None, 'auto' or a numpy dtype")],
    "memory": [Check(_memory_check, "None, a path or a joblib.Memory")],
    "memory_level": [Interval(integer=True)],
    "verbose": [bool, Interval(integer=True)],
    "reports": [bool],
    "clean_args": [None, dict],
}


def make_memory(memory: Any, memory_level: int) -> tuple[Any, int]:
    """``(joblib.Memory, effective level)`` for a masker's ``memory`` / ``memory_level``.

    The parameter itself is never changed: a cache location with level 0 warns and uses
    level 1; a level above 1 without a location warns (caching stays off).
    """
    import joblib

    if memory is None:
        mem = joblib.Memory(location=None, verbose=0)
    elif isinstance(memory, joblib.Memory):
        mem = memory
    else:
        from ._cache import check_cache_location

        mem = joblib.Memory(location=check_cache_location(memory), verbose=0)
    level = int(memory_level)
    if mem.location is not None and level == 0:
        warnings.warn(
            "memory_level is currently set to 0 but a Memory object has been provided. Setting memory_level to 1.",
            UserWarning, stacklevel=find_stack_level(),
        )
        level = 1
    elif mem.location is None and level > 1:
        warnings.warn(
            f"Caching has been enabled (memory_level = {level}) but no Memory object or path has been provided "
            "(parameter memory). Caching deactivated.",
            UserWarning, stacklevel=find_stack_level(),
        )
    return mem, level
