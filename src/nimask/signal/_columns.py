"""``clean_by_columns``: :func:`nimask.signal.clean` computed on blocks of columns, in threads."""
from __future__ import annotations

import os
import threading

import numpy as np

from .._threads import single_threaded_blas
from ._clean import _cleaning_matrix, clean
from ._confounds import load_confounds_array

__all__ = ["clean_by_columns"]

_CLEAN_BLOCK_ELEMENTS = 1 << 21  # ~8 MB of float32 per column block: stays in cache
_MATRIX_BLOCK_ELEMENTS = 1 << 20  # ~8 MB of float64 per column block of the matrix path
_MATRIX_MAX_ROWS = 1000  # 2 n flops per value: past ~1200 rows the steps of clean are faster (measured)
_MATRIX_PATH: bool | None = None  # private switch (tests): None chooses, True/False forces when it applies


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

    Matrix path: every step before the z-score is linear in time, so for float32/float64
    signals of up to ``_MATRIX_MAX_ROWS`` rows with many columns, no runs, no psc and no
    ``ensure_finite``, the cleaning is one ``n x n`` float64 matrix built once from
    ``clean(eye(n))`` and applied to blocks of columns as a BLAS product (then the z-score per
    column and the censored rows' treatment); see :func:`_clean_by_matrix`. 3.5x faster on a
    300 x 100k float32 matrix (1.2x at 1000 rows); the numbers are the float64 cleaning
    rounded to the signals' dtype.

    Warnings: nimask's warnings of ``clean`` depend on the parameters, the row count and the
    confounds only, the same for every block. The first block runs alone and gives them (and
    its errors); blocks 2..n run with ``clean``'s private ``_quiet=True``, which silences
    nimask's own warnings for that call in its thread only. ``warnings.filters`` is never
    changed (other threads keep their warnings; a caller's "error" filter raises from the
    first block). Warnings of other libraries (NumPy, SciPy) come from every block.
    """
    owned = {"_owned": True} if clean_kwargs.pop("_owned", False) else {}  # whole matrix is ours
    if _matrix_path_applies(signals, clean_kwargs):
        return _clean_by_matrix(signals, n_threads, clean_kwargs)
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


def _matrix_path_applies(signals: np.ndarray, clean_kwargs: dict) -> bool:
    """Whether :func:`_clean_by_matrix` is tried: float32/float64 2D signals of at most
    ``_MATRIX_MAX_ROWS`` rows, no runs, no ``ensure_finite``, no psc, and (unless forced by
    ``_MATRIX_PATH``) enough columns to pay for building the matrix (one ``clean`` of
    ``n_samples`` columns)."""
    if _MATRIX_PATH is False or signals.ndim != 2 or signals.dtype not in (np.float32, np.float64):
        return False
    n_rows, n_cols = signals.shape
    standardize = clean_kwargs.get("standardize", "zscore_sample")
    if (
        not 2 <= n_rows <= _MATRIX_MAX_ROWS
        or n_cols == 0
        or clean_kwargs.get("runs") is not None
        or "sessions" in clean_kwargs
        or clean_kwargs.get("ensure_finite", False)
        or (isinstance(standardize, str) and standardize == "psc")
    ):
        return False
    return _MATRIX_PATH is True or n_cols >= max(4 * n_rows, 2048)


def _clean_by_matrix(signals: np.ndarray, n_threads: int | None, clean_kwargs: dict) -> np.ndarray:
    """``clean(signals, **clean_kwargs)`` as ``standardize(L @ X)`` on blocks of columns.

    ``L`` (see ``_clean._CleaningMatrix``) is built once in float64 from ``clean(eye(n))``;
    each block of columns is then one BLAS product, ``clean``'s z-score (ddof=1, the same
    absolute near-constant threshold, catalogue D13) in float64 and a cast back to the signals'
    dtype. The float64 product is closer to the exact cleaning than ``clean``'s float32 chain
    on float32 signals. Errors and nimask warnings come from a ``clean`` call on the first
    column alone (they depend on the parameters, the confounds and the row count only); blocks
    with NaN/inf go through ``clean`` itself (quiet), as before.
    """
    n_rows, n_cols = signals.shape
    kwargs = dict(clean_kwargs)
    if kwargs.get("confounds") is not None:  # read files once
        kwargs["confounds"] = load_confounds_array(kwargs["confounds"], n_rows)
    probe = clean(np.array(signals[:, :1]), **kwargs)  # errors and warnings surface here
    plan = _cleaning_matrix(n_rows, **kwargs)
    if plan is None or plan.n_out != probe.shape[0]:  # not expected: clean itself, warned already
        return clean(signals, **kwargs, _quiet=True)
    dtype = probe.dtype
    del probe
    in_place = plan.n_out == n_rows and dtype == signals.dtype
    out = signals if in_place else np.empty((plan.n_out, n_cols), dtype=dtype)
    step = max(64, _MATRIX_BLOCK_ELEMENTS // n_rows)
    blocks = [slice(a, min(a + step, n_cols)) for a in range(0, n_cols, step)]

    def one(cols: slice) -> None:
        block = signals[:, cols]
        if not plan.apply(block, out[:, cols]):  # NaN/inf: clean's own propagation, as without the matrix
            out[:, cols] = clean(np.array(block), **kwargs, _owned=True, _quiet=True)

    on_main = threading.current_thread() is threading.main_thread()
    if n_threads is None:
        try:
            n_threads = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n_threads = os.cpu_count() or 1
    n_threads = max(1, min(int(n_threads), 8, len(blocks))) if on_main else 1
    if n_threads == 1:
        for cols in blocks:
            one(cols)
        return out
    from concurrent.futures import ThreadPoolExecutor

    with single_threaded_blas(), ThreadPoolExecutor(n_threads) as pool:
        for future in [pool.submit(one, cols) for cols in blocks]:
            future.result()
    return out
