"""Combining several masks: keep voxels present in more than a fraction of them."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .._niimg import _filename, check_niimg_3d, same_fov
from ..exceptions import GeometryError, ParameterError
from ._checks import ParameterTypeError, check_bool
from ._load import _load_mask
from ._morphology import largest_connected_component

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["intersect_masks", "intersect_mask_arrays"]

_MAX_THRESHOLD = 1 - 1e-7


def _check_threshold(threshold: Any, func: str) -> float:
    if not isinstance(threshold, (int, float, np.integer, np.floating)) or isinstance(threshold, (bool, np.bool_)):
        raise ParameterTypeError(
            f"{func}: 'threshold' must be a number in [0, 1]; got {threshold!r} ({type(threshold).__name__}).",
            param="threshold", expected="number in [0, 1]", found=type(threshold).__name__,
        )
    if threshold > 1:
        raise ParameterError(
            f"The threshold should be smaller than 1: {func} got threshold={threshold} (expected a "
            f"fraction of the masks in [0, 1]).",
            param="threshold", expected="[0, 1]", found=threshold,
        )
    if not threshold >= 0:  # also catches NaN
        raise ParameterError(
            f"The threshold should be greater than 0: {func} got threshold={threshold} (expected a "
            f"fraction of the masks in [0, 1]).",
            param="threshold", expected="[0, 1]", found=threshold,
        )
    return min(float(threshold), _MAX_THRESHOLD)


def intersect_mask_arrays(masks: list[np.ndarray], threshold: float = 0.5, connected: bool = True) -> np.ndarray:
    """Voxels set in more than ``threshold * len(masks)`` boolean masks (strict ``>``).

    ``threshold`` 0 gives the union, 1 (capped at ``1 - 1e-7``) the intersection. With
    ``connected`` only the largest 6-connected component of a non-empty result is kept.
    """
    threshold = _check_threshold(threshold, "intersect_masks")
    counts = np.zeros(masks[0].shape, dtype=np.int64)
    for mask in masks:
        counts += mask
    group = counts > threshold * len(masks)
    if connected and group.any():
        group = largest_connected_component(group)
    return group


def intersect_masks(mask_imgs: Any, threshold: float = 0.5, connected: bool = True) -> SpatialImage:
    """Combine binary masks: voxels present in more than ``threshold`` of them.

    Parameters
    ----------
    mask_imgs : list of niimg-like
        3D binary masks (0 and one other value; empty masks allowed) on one grid.
    threshold : float in [0, 1]
        0 keeps the union, 1 the intersection, 0.5 the voxels in a strict majority.
    connected : bool
        Keep only the largest 6-connected component.

    Returns
    -------
    Nifti1Image
        int8 mask with the first mask's header and affine.

    Differences from nilearn
    ------------------------
    * A single image (not in a list) raises a clear ``TypeError`` (nilearn: "object of type
      'Nifti1Image' has no len()").
    * Field-of-view errors name the offending mask (index, file) and both grids.
    """
    from ..image import new_img_like

    func = "intersect_masks"
    if not isinstance(mask_imgs, (list, tuple)):
        raise ParameterTypeError(
            f"{func}: 'mask_imgs' must be a list of 3D mask images; got {type(mask_imgs).__name__}.",
            param="mask_imgs", expected="list of niimg-like", found=type(mask_imgs).__name__,
        )
    if len(mask_imgs) == 0:
        raise ParameterError(
            "No mask provided for intersection: intersect_masks got an empty list of masks.",
            param="mask_imgs", expected="at least one mask", found=0,
        )
    threshold = _check_threshold(threshold, func)
    connected = check_bool(connected, "connected", func)
    imgs = [check_niimg_3d(m) for m in mask_imgs]
    ref = imgs[0]
    for i, img in enumerate(imgs[1:], start=1):
        if not same_fov(ref, img):
            name = _filename(img)
            where = f" ({name!r})" if name else ""
            raise GeometryError(
                f"Following field of view errors were detected:\n- img_#0 and img_#{i}{where} do not "
                f"have the same {'shape' if ref.shape[:3] != img.shape[:3] else 'affine'}: "
                f"shapes {tuple(ref.shape[:3])} and {tuple(img.shape[:3])}, affines\n{ref.affine}\nand\n{img.affine}",
                param="mask_imgs", index=i, path=name,
            )
    masks = [_load_mask(img, allow_empty=True, param=f"mask_imgs[{i}]")[0] for i, img in enumerate(imgs)]
    group = intersect_mask_arrays(masks, threshold, connected)
    return new_img_like(ref, group.astype(np.int8), ref.affine, copy_header=True)
