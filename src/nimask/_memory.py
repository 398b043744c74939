"""Page size of the large arrays nimask allocates: ordinary pages, not transparent huge pages.

numpy asks the kernel for transparent huge pages (``madvise(MADV_HUGEPAGE)``) on every array
of 4 MiB or more. On virtual machines that hand freed memory back to their host (free page
reporting, as on the 2-core machines this project runs and tests on), the first write to such
an array can stall for seconds: touching a fresh 276 MB output matrix took 1.8-3.8 s with huge
pages and 0.09-0.12 s without them (``benchmarks/bench_floor.py``; every case that allocates
its output varied 2-4x between runs). On other machines ordinary pages cost at most the page
faults of the first touch (about 0.05 s for the same 276 MB).

:func:`small_pages` turns numpy's huge-page advice off while nimask's public entry points run
and restores the previous setting afterwards (reference-counted, so nested and concurrent
calls restore it once, when the last one ends). A user who sets ``NUMPY_MADVISE_HUGEPAGE``
keeps numpy's own choice: nimask then changes nothing.
"""
from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

__all__ = ["small_pages", "with_small_pages"]

F = TypeVar("F", bound=Callable)

_lock = threading.Lock()
_depth = 0
_saved: bool | None = None


def _numpy_switch() -> Callable[[bool], bool] | None:
    """numpy's setter (returns the previous value), or None where numpy has none."""
    for mod in ("_core", "core"):
        multiarray = getattr(getattr(np, mod, None), "multiarray", None)
        setter = getattr(multiarray, "_set_madvise_hugepage", None)
        if setter is not None:
            return setter
    return None


@contextlib.contextmanager
def small_pages() -> Iterator[None]:
    """Context in which numpy allocates new arrays without asking for huge pages."""
    global _depth, _saved
    setter = _numpy_switch()
    if setter is None or "NUMPY_MADVISE_HUGEPAGE" in os.environ:
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = bool(setter(False))
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                setter(bool(_saved))


def with_small_pages(func: F) -> F:
    """Decorator: run ``func`` inside :func:`small_pages`."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with small_pages():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
