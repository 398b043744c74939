"""Thread helpers shared by the kernels: thread counts, single-threaded BLAS, prefetching.

nimask parallelises over volumes or blocks with a thread pool (numpy, scipy and isal
release the GIL) and keeps BLAS to one thread meanwhile: OpenBLAS's own threads spin and
collapse when the cores are busy (measured 5-20x slower on a loaded 2-core machine).
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")

__all__ = ["n_threads", "prefetched", "single_threaded_blas"]


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


def prefetched(iterator: Iterable[T], depth: int = 1) -> Iterator[T]:
    """Iterate ``iterator`` with up to ``depth`` items produced ahead in a background thread.

    Decompression (isal/zlib) releases the GIL, so decoding the next chunk of a file overlaps
    the work on the current one. Exceptions of the producer are re-raised in the consumer;
    a consumer that stops early (break, error) stops the producer too.
    """
    import queue
    import threading

    box: queue.Queue = queue.Queue(maxsize=max(1, int(depth)))
    done = object()
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in iterator:
                if stop.is_set():
                    return
                box.put(item)
        except BaseException as exc:  # handed over to the consumer
            box.put(exc)
            return
        box.put(done)

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item = box.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                box.get_nowait()
            except queue.Empty:
                worker.join(timeout=0.01)
