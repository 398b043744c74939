"""The mean image that EPI and background masks are computed from (nilearn's numbers)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .._niimg import check_niimg
from .._threads import prefetched

__all__ = ["mean_volume"]


def mean_volume(imgs: Any, target_affine=None, target_shape=None):
    """Mean over time of a 3D/4D image (or list of 3D images), optionally resampled.

    The mean is ``numpy.mean`` over the last axis of the array as loaded, in the data's
    own dtype (float32 stays float32, integers give float64), so its rounding is nilearn's
    bit for bit; a 3D image is copied unchanged (integers stay integers). File-backed 4D
    images are streamed (:func:`_streamed_mean`), with the same bits. With a target
    grid the mean is resampled (continuous interpolation, clipped), as nilearn does.

    Returns
    -------
    img : the loaded input image (header reference for the output mask)
    mean : ndarray (x, y, z)
    affine : ndarray (4, 4), the mean's affine
    """
    img = check_niimg(imgs)
    if len(img.shape) == 4 and not isinstance(img.dataobj, np.ndarray):
        mean = _streamed_mean(img)  # file-backed run: never hold the whole 4D array
        data = None
    else:
        data = np.asanyarray(img.dataobj)
    if data is None:
        pass
    elif data.ndim == 4:
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


def _streamed_mean(img) -> np.ndarray:
    """``numpy.mean(data, axis=-1)`` of a file-backed 4D image, read chunk by chunk.

    numpy reduces the last axis of nibabel's F-ordered array by adding the volumes one after
    the other into an accumulator of the mean's dtype (float32 for float32 data, float64
    otherwise) and then dividing by T; adding the volumes in the same order gives the same
    bits, with one volume-sized accumulator instead of the whole run in memory.
    """
    from .._nifti_io import iter_volume_chunks

    acc = None
    n = 0
    for _, chunk in prefetched(iter_volume_chunks(img)):
        if acc is None:
            kind = chunk.dtype
            acc_dtype = kind if kind in (np.float32, np.float64) else np.dtype(np.float64)
            if kind == np.float16:
                acc_dtype = np.dtype(np.float32)
            acc = np.zeros(chunk.shape[:3], dtype=acc_dtype)
        if kind.kind in "iub" and kind.itemsize <= 4:
            # integer sums below 2**53 are exact in float64: any order gives numpy's bits
            acc += np.add.reduce(chunk, axis=-1, dtype=np.float64)
        else:
            for i in range(chunk.shape[3]):
                acc += chunk[..., i]
        n += chunk.shape[3]
    mean = np.true_divide(acc, n, out=acc, casting="unsafe")
    if kind == np.float16:
        mean = mean.astype(np.float16)
    return mean
