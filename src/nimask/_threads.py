"""Thread helpers shared by the kernels: how many threads to use, and single-threaded BLAS.

nimask parallelises over volumes or blocks with a thread pool (numpy, scipy and isal
release the GIL) and keeps BLAS to one thread meanwhile: OpenBLAS's own threads spin and
collapse when the cores are busy (measured 5-20x slower on a loaded 2-core machine).
"""
from __future__ import annotations

import contextlib
import os

__all__ = ["n_threads", "single_threaded_blas"]


def n_threads(n_tasks: int, cap: int = 4) -> int:
    """Threads for ``n_tasks`` independent tasks: at most the usable cores and ``cap``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(int(n_tasks), cores, int(cap)))


def single_threaded_blas(active: bool = True):
    """Context limiting BLAS to one thread (a no-op when ``active`` is False or without threadpoolctl)."""
    if not active:
        return contextlib.nullcontext()
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")
