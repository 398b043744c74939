"""Separable spline resampling for axis-aligned voxel mappings (a fast path, same numbers).

When the target-to-source voxel mapping is diagonal (scaling, flips and shifts, no
rotation), output voxel ``(i, j, k)`` reads source coordinate ``(a0 i + b0, a1 j + b1,
a2 k + b2)``, so scipy's cubic B-spline interpolation is a tensor product of three 1D
operators. Each 1D operator is a small dense matrix ``W_axis @ P_axis`` (the interpolation
weights after the spline prefilter), and resampling a chunk of volumes becomes three
matrix products in float64 (BLAS) instead of 64 spline taps per output voxel. Linear
interpolation has at most two taps per output sample, so its 1D operators are applied as
two gathers and a weighted sum (:class:`_Taps`) instead of dense products: about 50x fewer
operations on a 1 mm -> 2 mm grid, for the same sums up to float64 rounding.

The 1D matrices are *measured* from scipy itself: ``W`` by interpolating unit impulses with
``scipy.ndimage.affine_transform(prefilter=False)``, ``P`` by running
``scipy.ndimage.spline_filter1d`` on the identity, and the out-of-bounds rule (voxels that
get ``cval``) by interpolating zeros with ``cval=1``. The result therefore equals
``affine_transform(volume, diag, offset, order=3, mode="constant", cval=fill_value)`` up to
float64 rounding (about 1e-15 relative; the float32 outputs are the same bits except for
rare last-bit rounding).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import ndimage

from .._threads import single_threaded_blas

__all__ = ["separable_weights", "resample_separable", "is_selection"]

_BLOCK_VOXELS = 1 << 21  # float64 temporaries of about 16 MB each per block of volumes


@lru_cache(maxsize=32)
def _axis_operator(n_in: int, n_out: int, scale: float, offset: float, order: int):
    """``(M, outside)``: the (n_out, n_in) operator of one axis and its out-of-bounds rows."""
    weights = np.empty((n_out, n_in), dtype=np.float64)
    impulse = np.zeros(n_in, dtype=np.float64)
    for k in range(n_in):
        impulse[k] = 1.0
        ndimage.affine_transform(
            impulse, [scale], offset=offset, output_shape=(n_out,), output=weights[:, k], order=order,
            mode="constant", cval=0.0, prefilter=False,
        )
        impulse[k] = 0.0
    outside = ndimage.affine_transform(
        np.zeros(n_in), [scale], offset=offset, output_shape=(n_out,), order=order, mode="constant",
        cval=1.0, prefilter=False,
    ) > 0.5
    if order > 1:
        prefilter = ndimage.spline_filter1d(
            np.eye(n_in), order, axis=0, output=np.float64, mode="constant"
        )
        weights = weights @ prefilter
    weights.setflags(write=False)
    outside.setflags(write=False)
    return weights, outside


class _Taps:
    """A 1D operator with few nonzeros per row: ``out[i] = sum_k weight[k, i] * x[index[k, i]]``."""

    def __init__(self, dense: np.ndarray) -> None:
        nonzero = dense != 0
        n_taps = max(int(nonzero.sum(axis=1).max(initial=0)), 1)
        self.shape = dense.shape
        self.index = np.zeros((n_taps, dense.shape[0]), dtype=np.intp)
        self.weight = np.zeros((n_taps, dense.shape[0]), dtype=np.float64)
        for i, row in enumerate(nonzero):
            cols = np.flatnonzero(row)
            self.index[: cols.size, i] = cols
            self.weight[: cols.size, i] = dense[i, cols]

    @property
    def is_selection(self) -> bool:
        """Every output sample is one source sample (weight 1) or nothing (weight 0)."""
        return self.index.shape[0] == 1 and bool(np.all((self.weight == 0) | (self.weight == 1)))

    def apply(self, x: np.ndarray, axis: int) -> np.ndarray:
        """Contract ``x`` along ``axis`` (the operator's columns) into the operator's rows."""
        shape = [1] * x.ndim
        shape[axis] = self.shape[0]
        out = np.take(x, self.index[0], axis=axis) * self.weight[0].reshape(shape)  # float64
        for index, weight in zip(self.index[1:], self.weight[1:], strict=True):
            out += np.take(x, index, axis=axis) * weight.reshape(shape)
        return out


_MAX_TAPS = 2  # operators with at most this many nonzeros per row use _Taps


def _as_taps(weights: np.ndarray):
    """``weights`` as :class:`_Taps` when it is that sparse, else None."""
    if weights.size and int((weights != 0).sum(axis=1).max()) <= _MAX_TAPS:
        return _Taps(weights)
    return None


def separable_weights(matrix, offset, in_shape, out_shape, order: int):
    """The three axis operators for a diagonal voxel mapping, or None when not separable.

    Parameters
    ----------
    matrix : array of shape (3,) or (3, 3)
        Target-to-source voxel mapping as passed to ``affine_transform`` (a 1D array is
        the diagonal).
    offset : array of shape (3,)
    in_shape, out_shape : sequences of 3 ints
    order : int
        Spline order.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim == 2:
        if np.any(matrix != np.diag(np.diag(matrix))):
            return None
        matrix = np.diag(matrix)
    return tuple(
        _axis_operator(int(n_in), int(n_out), float(a), float(b), int(order))
        for n_in, n_out, a, b in zip(in_shape[:3], out_shape[:3], matrix, np.asarray(offset, dtype=np.float64),
                                     strict=True)
    )


def is_selection(operators) -> bool:
    """True when linear resampling with these axis operators only copies source samples (or gives 0
    / the fill value): grids on whole multiples of each other, e.g. 1 mm -> 2 mm."""
    taps = [_as_taps(m) for m, _ in operators]
    return all(t is not None and t.is_selection for t in taps)


def resample_separable(
    volumes: np.ndarray, operators, fill_value: float, out: np.ndarray, n_threads: int = 1
) -> None:
    """Resample the volumes of a 4D chunk ``(x, y, z, t)`` into ``out`` (float, ``(X, Y, Z, t)``).

    Works on blocks of volumes so the float64 temporaries stay small; blocks run over
    ``n_threads`` threads with single-threaded BLAS (numpy releases the GIL in matrix
    products, and OpenBLAS's own threads collapse when the cores are busy: measured 5x
    slower on a loaded 2-core machine). Every volume must be finite (non-finite volumes
    take the scipy path, which fills them first).
    """
    (m0, o0), (m1, o1), (m2, o2) = operators
    n_vol = volumes.shape[3]
    vox_in = int(np.prod(volumes.shape[:3]))
    threads = max(1, min(int(n_threads), n_vol))
    block = max(1, min(_BLOCK_VOXELS // max(vox_in, 1), -(-n_vol // threads)))
    # out-of-bounds samples form slabs (a sample is outside when it is outside on one axis):
    # filling three slabs is much cheaper than a boolean mask over the whole output
    outside = (o0, o1, o2)
    any_outside = any(bool(o.any()) for o in outside)

    taps = [_as_taps(m) for m in (m0, m1, m2)]

    selection = all(t is not None and t.is_selection for t in taps)
    strided = None
    if selection:  # grids on whole multiples of each other (1 mm -> 2 mm): no arithmetic at all
        picks = [t.index[0] for t in taps]
        dropped = tuple(t.weight[0] == 0 for t in taps)  # samples without a source tap: 0
        any_dropped = any(bool(d.any()) for d in dropped)
        strided = _as_slices(picks, dropped)

    if strided is not None:  # strided, converting copies straight into ``out`` (memory-bound: no threads)
        dst, src = strided
        for t in range(n_vol):  # volume by volume: the innermost loop runs along x
            out[dst + (t,)] = volumes[src + (t,)]
        _fill_outside(out, dst, 0)
        if any_outside and (fill_value != 0 or not _within_outside(outside, dst)):
            _fill_slabs(out, outside, fill_value)
        return

    def one_block(t0: int) -> None:
        chunk = volumes[..., t0 : t0 + block]
        if selection:
            # (t, z, y, x) view: take z, y, then x (outer axes first: row copies)
            result = np.take(np.take(np.take(chunk.T, picks[2], axis=1), picks[1], axis=2), picks[0], axis=3).T
            if any_dropped:
                _fill_slabs(result, dropped, 0)
        elif all(t is not None for t in taps):
            # (t, z, y, x) C-ordered view; contract z, y, then x: the outer axes first, so
            # the gathers copy whole rows, and the float64 sums start from the stored dtype
            x = taps[2].apply(chunk.T, 1)
            x = taps[1].apply(x, 2)
            result = taps[0].apply(x, 3).T
        else:
            # (t, z, y, x) in C order is the F-ordered (x, y, z, t) chunk: no transposed copies
            data = np.asarray(chunk.T, dtype=np.float64)
            nt, n2, n1, n0 = data.shape
            x = data.reshape(-1, n0) @ m0.T  # contract x: one GEMM
            x = m1 @ x.reshape(nt, n2, n1, m0.shape[0])  # contract y: batched GEMMs
            n1o, n0o = x.shape[2], x.shape[3]
            x = m2 @ x.reshape(nt, n2, n1o * n0o)  # contract z: one GEMM per volume
            result = x.reshape(nt, m2.shape[0], n1o, n0o).T  # (X, Y, Z, t), F-ordered view
        if any_outside:
            _fill_slabs(result, outside, fill_value)
        out[..., t0 : t0 + result.shape[3]] = result

    starts = range(0, n_vol, block)
    with single_threaded_blas():
        if threads > 1 and len(starts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(threads, len(starts))) as pool:
                list(pool.map(one_block, starts))
        else:
            for t0 in starts:
                one_block(t0)


def _as_slices(picks: list, dropped: tuple):
    """``(dst, src)`` slices when each axis picks an arithmetic progression of source samples for
    one contiguous run of output samples (the others dropped), else None."""
    dst, src = [], []
    for pick, drop in zip(picks, dropped, strict=True):
        kept = np.flatnonzero(~drop)
        if kept.size == 0 or kept[-1] - kept[0] + 1 != kept.size:
            return None
        first = int(pick[kept[0]])
        step = int(pick[kept[1]] - pick[kept[0]]) if kept.size > 1 else 1
        if step == 0 or np.any(pick[kept] != first + step * np.arange(kept.size)):
            return None
        last = first + step * (kept.size - 1)
        dst.append(slice(int(kept[0]), int(kept[-1]) + 1))
        src.append(slice(first, None if last + np.sign(step) < 0 else last + int(np.sign(step)), step))
    return tuple(dst), tuple(src)


def _within_outside(flagged: tuple, inner: tuple) -> bool:
    """True when every flagged sample of each axis lies outside ``inner`` (so already filled with 0)."""
    return all(not np.any(f[part]) for f, part in zip(flagged, inner, strict=True))


def _fill_outside(result: np.ndarray, inner: tuple, value: float) -> None:
    """Set ``result`` to ``value`` outside the box ``inner`` (slices of its first three axes)."""
    for axis, part in enumerate(inner):
        for cut in (slice(0, part.start), slice(part.stop, result.shape[axis])):
            if cut.stop > cut.start:
                index = [slice(None)] * result.ndim
                index[axis] = cut
                result[tuple(index)] = value


def _fill_slabs(result: np.ndarray, rows: tuple, value: float) -> None:
    """Set ``result[i, j, k, :]`` to ``value`` wherever ``rows[0][i] | rows[1][j] | rows[2][k]``."""
    for axis, flagged in enumerate(rows):
        if flagged.any():
            index = [slice(None)] * result.ndim
            index[axis] = flagged
            result[tuple(index)] = value
