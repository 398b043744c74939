"""The warnings of :mod:`nimask.signal`, which a caller can silence for its own call only.

:func:`clean_by_columns <nimask.signal._columns.clean_by_columns>` cleans blocks of columns
with the same parameters: the first block gives the warnings, the other blocks would repeat
them. Silencing them with ``warnings.catch_warnings`` would swap the process-wide filters
(other threads lose or gain warnings meanwhile); instead ``clean(..., _quiet=True)`` sets a
context variable, local to the running thread (or task), that :func:`warn` reads. Warnings
of other libraries (NumPy, SciPy) are not affected.
"""
from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Iterator

__all__ = ["warn", "silenced"]

_SILENT: contextvars.ContextVar[bool] = contextvars.ContextVar("nimask_signal_silent", default=False)


def warn(message: str, category: type[Warning], stacklevel: int = 1) -> None:
    """``warnings.warn`` pointing at the first frame outside nimask, unless silenced here.

    ``stacklevel`` is kept for the callers' signature; the location is always the caller's
    code (:func:`nimask._warnings.find_stack_level`), however deep the call came from.
    """
    if not _SILENT.get():
        from .._warnings import find_stack_level

        warnings.warn(message, category, stacklevel=find_stack_level())


@contextlib.contextmanager
def silenced(active: bool = True) -> Iterator[None]:
    """Within the block (in this thread / context only), :func:`warn` emits nothing."""
    if not active:
        yield
        return
    token = _SILENT.set(True)
    try:
        yield
    finally:
        _SILENT.reset(token)
