"""nimask's non-finite policy: NaN/inf data inside masks and regions become 0, counted and warned.

Every masker applies the same rule (nilearn zeroes such values, silently for voxel and
region maskers): the values are set to 0 and one :class:`~nimask.exceptions.NimaskNonFiniteWarning`
per transform gives how many there were. Strict callers turn the warning into an error
(``warnings.simplefilter("error", NimaskNonFiniteWarning)``), which refuses the data.

Kernels that work chunk by chunk report their counts with :func:`note`; the code that runs
the whole image wraps the loop in :func:`collecting`, so the warning is emitted once with
the total. Without a collector, :func:`note` warns at once.
"""
from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator

import numpy as np

from ._warnings import find_stack_level
from .exceptions import NimaskNonFiniteWarning

__all__ = ["zero_nonfinite", "count_nonfinite_img", "note", "collecting", "warn_nonfinite"]

_local = threading.local()


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


def count_nonfinite_img(img) -> int:
    """Number of NaN/inf values in a 3D/4D image (streamed for files; 0 for integer data)."""
    from ._nifti_io import iter_volume_chunks

    total = 0
    for _, chunk in iter_volume_chunks(img):
        if chunk.dtype.kind not in "fc":
            return 0
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.add.reduce(chunk, axis=None, dtype=np.float64)):
                continue
        total += int((~np.isfinite(chunk)).sum())
    return total


def warn_nonfinite(n_bad: int, where: str, what: str = "inside the mask", stacklevel: int = 3) -> None:
    """Emit the policy's warning for ``n_bad`` values (nothing when 0)."""
    if n_bad:
        warnings.warn(
            f"{where}: Non-finite values detected. {n_bad} NaN/inf values {what} were set to 0.",
            NimaskNonFiniteWarning, stacklevel=find_stack_level(),
        )


def note(n_bad: int, where: str, what: str = "inside the regions") -> None:
    """Report ``n_bad`` zeroed values to the active collector, or warn now if there is none."""
    if not n_bad:
        return
    stack = getattr(_local, "stack", None)
    if stack:
        stack[-1] += n_bad
    else:
        warn_nonfinite(n_bad, where, what, stacklevel=find_stack_level())


@contextlib.contextmanager
def collecting(where: str, what: str = "inside the regions") -> Iterator[None]:
    """Sum the counts noted inside the block and warn once at its end (if any)."""
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    stack.append(0)
    try:
        yield
    except BaseException:
        stack.pop()
        raise
    warn_nonfinite(stack.pop(), where, what, stacklevel=find_stack_level())
