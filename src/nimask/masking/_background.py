"""Background masks: everything that differs from the value found on the image border."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..exceptions import ParameterError
from ._checks import check_bool, check_int, check_opening
from ._mean import mean_volume
from ._morphology import post_process_mask

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["compute_background_mask", "border_values"]

_EMPTY_MSG = "Are you sure that input images have a homogeneous background."


def border_values(data: np.ndarray, border_size: int) -> np.ndarray:
    """The first and last ``border_size`` slabs along each of the 3 axes, concatenated.

    Edges and corners appear several times, as in nilearn (this weights the median).
    """
    slabs = []
    for axis in range(3):
        index = [slice(None)] * 3
        index[axis] = slice(None, border_size)
        slabs.append(data[tuple(index)].ravel())
        index[axis] = slice(data.shape[axis] - min(border_size, data.shape[axis]), None)
        slabs.append(data[tuple(index)].ravel())
    return np.concatenate(slabs)


def compute_background_mask(
    data_imgs: Any,
    border_size: int = 2,
    connected: bool = False,
    opening: bool | int = False,
    target_affine: Any = None,
    target_shape: Any = None,
    memory: Any = None,
    verbose: int = 0,
) -> SpatialImage:
    """Mask of the voxels whose mean differs from the background value (border median).

    The background value is the median of the mean image over ``border_size`` voxel slabs
    on each face; if any border value is NaN the mask is instead the non-NaN voxels.
    The comparison is exact (``mean != background``), then the optional opening and
    largest-component steps are applied.

    Parameters
    ----------
    data_imgs : niimg-like
        3D or 4D image, or a list of 3D images.
    border_size : int
        Thickness (voxels, >= 1) of the border slabs.
    connected : bool
        Keep only the largest 6-connected component.
    opening : bool or int
        Number of erosion iterations of the morphological opening.
    target_affine, target_shape : optional
        Resample the mean image to this grid first.
    memory, verbose :
        Accepted for compatibility.

    Returns
    -------
    Nifti1Image
        uint8 mask (header copied from the input image).

    Differences from nilearn
    ------------------------
    * ``border_size`` must be >= 1: nilearn accepts 0 and negative values, for which its
      slab arithmetic takes whole or almost whole volumes as the "border".
    * A negative ``opening`` is rejected (nilearn returns an empty mask).
    """
    from ..image import new_img_like

    func = "compute_background_mask"
    border_size = check_int(border_size, "border_size", func)
    if border_size < 1:
        raise ParameterError(
            f"{func}: 'border_size' must be an int >= 1 (thickness in voxels of the border slabs); "
            f"got {border_size}.",
            param="border_size", expected=">= 1", found=border_size,
        )
    connected = check_bool(connected, "connected", func)
    n_open = check_opening(opening, func)
    img, mean, affine = mean_volume(data_imgs, target_affine, target_shape)
    border = border_values(mean, border_size)
    if border.dtype.kind == "f" and np.isnan(border).any():
        mask = ~np.isnan(mean)
    else:
        background = np.median(border)
        mask = mean != background
    from .._niimg import _filename

    source = _filename(img) or f"an in-memory image of shape {tuple(img.shape)}"
    mask = post_process_mask(
        mask, n_open, connected,
        f"{_EMPTY_MSG} (compute_background_mask on {source}: {int(mask.sum())} voxels differ from the "
        f"background before the opening={n_open}.)",
    )
    return new_img_like(img, mask.astype(np.uint8), affine, copy_header=True)
