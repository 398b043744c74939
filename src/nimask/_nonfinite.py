"""nimask's non-finite policy: NaN/inf data inside masks and regions become 0, counted and warned.

Every masker applies the same rule (nilearn zeroes such values, silently for voxel and
region maskers): the values are set to 0 and one :class:`~nimask.exceptions.NimaskNonFiniteWarning`
per transform gives how many there were. Strict callers turn the warning into an error
(``warnings.simplefilter("error", NimaskNonFiniteWarning)``), which refuses the data.

:func:`nimask.pipeline.stream` applies it to every chunk it reads and warns once per run
(:func:`warn_nonfinite`).
"""
from __future__ import annotations

import warnings

import numpy as np

from ._warnings import find_stack_level
from .exceptions import NimaskNonFiniteWarning

__all__ = ["zero_nonfinite", "warn_nonfinite"]


def zero_nonfinite(values: np.ndarray) -> int:
    """Set NaN/inf to 0 in place; return how many there were (cheap when there are none)."""
    if values.dtype.kind not in "fc" or values.size == 0:
        return 0
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(values, axis=None, dtype=np.float64)):
            return 0
    bad = ~np.isfinite(values)
    count = int(bad.sum())
    values[bad] = 0
    return count


def warn_nonfinite(n_bad: int, where: str, what: str = "inside the mask", stacklevel: int = 3) -> None:
    """Emit the policy's warning for ``n_bad`` values (nothing when 0)."""
    if n_bad:
        warnings.warn(
            f"{where}: Non-finite values detected. {n_bad} NaN/inf values {what} were set to 0.",
            NimaskNonFiniteWarning, stacklevel=find_stack_level(),
        )
