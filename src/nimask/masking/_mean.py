"""The mean image that EPI and background masks are computed from (nilearn's numbers)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._niimg import check_niimg

__all__ = ["mean_volume"]


def mean_volume(imgs: Any, target_affine=None, target_shape=None):
    """Mean over time of a 3D/4D image (or list of 3D images), optionally resampled.

    The mean is ``numpy.mean`` over the last axis of the array as loaded, in the data's
    own dtype (float32 stays float32, integers give float64), so its rounding is nilearn's
    bit for bit; a 3D image is copied unchanged (integers stay integers). With a target
    grid the mean is resampled (continuous interpolation, clipped), as nilearn does.

    Returns
    -------
    img : the loaded input image (header reference for the output mask)
    mean : ndarray (x, y, z)
    affine : ndarray (4, 4), the mean's affine
    """
    img = check_niimg(imgs)
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4:
        mean = data.mean(axis=-1)
    elif data.ndim == 3:
        mean = np.array(data, copy=True)
    else:
        from .._niimg import _dim_error, _filename

        raise _dim_error(data.ndim, 4, f"a {data.ndim}D image", _filename(img))
    affine = np.asarray(img.affine)
    if target_affine is not None or target_shape is not None:
        import nibabel as nib

        from ..image import resample_img

        resampled = resample_img(
            nib.Nifti1Image(mean, affine), target_affine=target_affine, target_shape=target_shape,
            interpolation="continuous", copy=False, copy_header=False,
        )
        mean = np.asanyarray(resampled.dataobj)
        affine = np.asarray(resampled.affine)
    return img, mean, affine
