"""Per-subject work of :mod:`nimask.connectome` in a thread pool.

Subjects are taken in fixed chunks of :data:`CHUNK`; each chunk runs in one thread and the
chunks' results come back in order. The caller keeps BLAS to one thread meanwhile
(:func:`nimask._threads.single_threaded_blas`, once per call: OpenBLAS's own threads collapse
on busy cores). Sums over subjects are
formed chunk by chunk and then over the chunks in order, so the numbers do not depend on the
number of threads.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from .._threads import n_threads

__all__ = ["CHUNK", "map_chunks"]

CHUNK = 8
T = TypeVar("T")


def map_chunks(func: Callable[[range], T], n_items: int, chunk: int = CHUNK) -> list[T]:
    """``[func(range(0, chunk)), func(range(chunk, 2 * chunk)), ...]`` over ``n_items`` items.

    One chunk runs in the calling thread; several run in a pool of up to 8 threads. An
    exception of a chunk is raised after the chunks before it have finished (the first failing
    chunk in order is the one reported).
    """
    chunks = [range(start, min(start + chunk, n_items)) for start in range(0, n_items, chunk)]
    workers = n_threads(len(chunks), cap=8)
    if workers == 1:
        return [func(c) for c in chunks]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(func, chunks))
