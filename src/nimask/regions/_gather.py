"""Gathering a fixed set of voxels from chunks of volumes, whatever the chunk's memory layout."""
from __future__ import annotations

import numpy as np

__all__ = ["VoxelGather"]


class VoxelGather:
    """``(n_voxels, n)`` values of fixed voxels from ``(x, y, z, n)`` chunks.

    File chunks are Fortran-ordered (NIfTI's layout); for them the voxels are taken with one
    flat index into the ``(x*y*z, n)`` view, which is several times faster than indexing
    with three coordinate arrays. Other layouts use the coordinates.

    Parameters
    ----------
    voxels : tuple of 3 int arrays
        Voxel coordinates.
    shape : 3-tuple
        Grid shape.
    """

    def __init__(self, voxels: tuple, shape: tuple) -> None:
        self.voxels = voxels
        self.shape = tuple(int(n) for n in shape[:3])
        self._f_index: np.ndarray | None = None

    @property
    def n_voxels(self) -> int:
        return int(self.voxels[0].size)

    def __call__(self, chunk: np.ndarray) -> np.ndarray:
        if chunk.ndim == 3:
            chunk = chunk[..., np.newaxis]
        n = chunk.shape[3]
        if chunk.flags.f_contiguous:
            if self._f_index is None:
                self._f_index = np.ravel_multi_index(self.voxels, self.shape, order="F")
            # take along the contiguous voxel axis of the (n, x*y*z) view: ~3x faster than rows
            return np.take(chunk.reshape(-1, n, order="F").T, self._f_index, axis=1).T
        return chunk[self.voxels]
