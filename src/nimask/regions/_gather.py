"""Gathering a fixed set of voxels from chunks of volumes, whatever the chunk's memory layout."""
from __future__ import annotations

import numpy as np

__all__ = ["f_order_index", "gather"]


def f_order_index(index: np.ndarray, shape: tuple, start: tuple = (0, 0, 0),
                  box_shape: tuple | None = None) -> np.ndarray:
    """F-order flat indices of voxels given by C-order ``index`` into ``shape``, in a box of that
    grid starting at ``start`` with shape ``box_shape`` (default: the whole grid)."""
    coords = np.unravel_index(np.asarray(index), tuple(shape))
    shifted = tuple(c - s for c, s in zip(coords, start))
    return np.ravel_multi_index(shifted, tuple(shape if box_shape is None else box_shape), order="F").astype(np.intp)


def gather(chunk: np.ndarray, f_index: np.ndarray) -> np.ndarray:
    """``(n, n_voxels)`` C-ordered copy of the voxels ``f_index`` of a ``(x, y, z[, n])`` chunk.

    File chunks (NIfTI's layout) and smoothed chunks are Fortran-ordered: one flat ``take``
    along the contiguous voxel axis of the ``(n, x*y*z)`` view, several times faster than
    indexing with three coordinate arrays, which other layouts use.
    """
    if chunk.ndim == 3:
        chunk = chunk[..., np.newaxis]
    n = chunk.shape[3]
    if chunk.flags.f_contiguous:
        return np.take(chunk.reshape(-1, n, order="F").T, f_index, axis=1)
    coords = np.unravel_index(f_index, chunk.shape[:3], order="F")
    return np.ascontiguousarray(chunk[coords].T)
