"""``clean_by_columns``: :func:`nimask.signal.clean` computed on blocks of columns, in threads."""
from __future__ import annotations

import os
import threading

import numpy as np

from .._threads import single_threaded_blas
from ._clean import clean
from ._confounds import load_confounds_array

__all__ = ["clean_by_columns"]

_CLEAN_BLOCK_ELEMENTS = 1 << 21  # ~8 MB of float32 per column block: stays in cache


def clean_by_columns(signals: np.ndarray, *, n_threads: int | None = None, **clean_kwargs) -> np.ndarray:
    """``clean(signals, **clean_kwargs)`` computed on blocks of columns.

    Every step of ``clean`` treats each column on its own (detrend, filters, censoring and its
    interpolation, confound projection, z-score), except ``standardize="psc"`` whose "add the
    mean back" decision uses all columns: that case (and small inputs, non-float inputs, and
    calls from a thread other than the main one, e.g. ``MultiNiftiMasker(n_jobs>1)``'s
    workers, which are parallel already) runs ``clean`` once. Blocks of ~8 MB keep the
    float64 temporaries in cache (1.7x faster single-threaded on a 300 x 228k run) and run in
    a thread pool (NumPy, BLAS and scipy's filters release the GIL). Results go back into
    ``signals`` (which must be owned by the caller) when the row count is unchanged, so peak
    memory stays near one copy of the matrix plus a block per thread. The numbers are those
    of one ``clean`` call (column-wise operations; BLAS block shapes may change the last
    float32 bit).

    Warnings: nimask's warnings of ``clean`` depend on the parameters, the row count and the
    confounds only, the same for every block. The first block runs alone and gives them (and
    its errors); blocks 2..n run with ``clean``'s private ``_quiet=True``, which silences
    nimask's own warnings for that call in its thread only. ``warnings.filters`` is never
    changed (other threads keep their warnings; a caller's "error" filter raises from the
    first block). Warnings of other libraries (NumPy, SciPy) come from every block.
    """
    owned = {"_owned": True} if clean_kwargs.pop("_owned", False) else {}  # whole matrix is ours
    n_rows, n_cols = signals.shape
    step = max(256, _CLEAN_BLOCK_ELEMENTS // max(n_rows, 1))
    standardize = clean_kwargs.get("standardize")
    if (
        n_cols <= 2 * step
        or (isinstance(standardize, str) and standardize == "psc")
        or threading.current_thread() is not threading.main_thread()
        or signals.dtype.kind != "f"
    ):
        return clean(signals, **clean_kwargs, **owned)
    if clean_kwargs.get("confounds") is not None:  # read files once, not once per block
        clean_kwargs["confounds"] = load_confounds_array(clean_kwargs["confounds"], n_rows)
    edges = list(range(0, n_cols, step)) + [n_cols]
    blocks = [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]

    def block_of(cols: slice, quiet: bool) -> np.ndarray:  # a contiguous copy, cleaned in place by clean
        return clean(np.ascontiguousarray(signals[:, cols]), **clean_kwargs, _owned=True, _quiet=quiet)

    first = block_of(blocks[0], quiet=False)  # errors and warnings surface here
    in_place = first.shape[0] == n_rows and first.dtype == signals.dtype
    out = signals if in_place else np.empty((first.shape[0], n_cols), dtype=first.dtype)
    out[:, blocks[0]] = first
    del first

    def one(cols: slice) -> None:
        out[:, cols] = block_of(cols, quiet=True)

    if n_threads is None:
        try:
            n_threads = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n_threads = os.cpu_count() or 1
    n_threads = max(1, min(int(n_threads), 8, len(blocks) - 1))
    with single_threaded_blas(n_threads > 1):
        if n_threads == 1:
            for cols in blocks[1:]:
                one(cols)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(n_threads) as pool:
                for future in [pool.submit(one, cols) for cols in blocks[1:]]:
                    future.result()
    return out
