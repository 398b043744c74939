"""The voxels of a binary mask as an operator: one output column per mask voxel (NiftiMasker)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["VoxelOperator", "prepare_voxels"]


@dataclass
class VoxelOperator:
    """The voxels of a mask, in C order (``data[mask]``), on a fixed grid.

    Attributes
    ----------
    mask : bool ndarray (x, y, z)
    affine : (4, 4) ndarray
    """

    mask: np.ndarray
    affine: np.ndarray

    batch_volumes = 1
    pointwise = True
    nonfinite_where = "inside the mask"
    coverage = None

    @property
    def shape(self) -> tuple:
        return tuple(self.mask.shape)

    @property
    def index(self) -> np.ndarray:
        """C-order flat indices of the mask voxels."""
        return np.flatnonzero(self.mask.ravel(order="C"))

    @property
    def names(self) -> list[str]:
        return [f"voxel{i}" for i in range(int(self.mask.sum()))]

    def reduce(self, values: np.ndarray) -> np.ndarray:
        """The values themselves; non-float data become float32 (nilearn's ``apply_mask``)."""
        return values if values.dtype.kind == "f" else values.astype(np.float32)


def prepare_voxels(mask: np.ndarray, affine: np.ndarray, *, crop: bool = False) -> VoxelOperator:
    """A :class:`VoxelOperator` for a boolean mask on the grid ``affine``.

    With ``crop``, the grid is cut to the mask's bounding box plus a 1-voxel margin (same
    voxels, same order: images resampled onto it cost only the box).
    """
    mask = np.asarray(mask, dtype=bool)
    affine = np.asarray(affine, dtype=np.float64)
    if not crop or not mask.any():
        return VoxelOperator(mask, affine)
    coords = np.argwhere(mask)
    start = np.maximum(coords.min(axis=0) - 1, 0)
    end = np.minimum(coords.max(axis=0) + 2, mask.shape)
    box = mask[tuple(slice(int(s), int(e)) for s, e in zip(start, end))]
    box_affine = affine.copy()
    box_affine[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
    return VoxelOperator(np.ascontiguousarray(box), box_affine)
