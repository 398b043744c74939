"""Gaussian smoothing of images (``nilearn.image.smooth_img`` / ``smooth_array`` semantics).

:func:`smooth_array` is the kernel: it works on a 3D volume or a 4D chunk of volumes,
filtering the three spatial axes only, so a 4D run can be smoothed chunk by chunk with
identical numbers. :func:`smooth_img` streams each image through it.

Numerics follow nilearn 0.14.1: the FWHM in mm becomes a per-axis sigma in voxels,
``sigma_i = fwhm_i / (sqrt(8 ln 2) * ||affine[:3, i]||)``, and
``scipy.ndimage.gaussian_filter1d`` (reflect borders, truncate 4) runs in place along axes
0, 1, 2. ``fwhm="fast"`` replaces each voxel by ``(v + 0.2 * sum of its face neighbours) / 2.2``.

Differences from nilearn
------------------------
* A negative FWHM (scalar or per axis), a non-numeric one, a sequence whose length is not
  3, a boolean, or an array with fewer than 3 dimensions raise
  :class:`~nimask.exceptions.ParameterError` naming the parameter (nilearn filters with a
  negative width silently or fails with numpy errors).
* Boolean and float16 arrays are smoothed as float32 (nilearn keeps bool, which truncates
  the smoothed values, and fails on float16).
"""
from __future__ import annotations

import numbers
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import ndimage

from .._memory import with_small_pages
from .._niimg import check_niimg, is_niimg_like
from .._threads import n_threads
from ..exceptions import NimaskWarning, ParameterError

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["smooth_img", "smooth_array", "fwhm_to_sigma"]

_FWHM_OVER_SIGMA = np.sqrt(8 * np.log(2))


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _check_fwhm(fwhm: Any, warn: bool = True):
    """Normalise ``fwhm`` to None, "fast", or a list of 3 entries (float or None)."""
    if fwhm is None:
        return None
    if isinstance(fwhm, str):
        if fwhm == "fast":
            return "fast"
        raise ParameterError(
            f"'fwhm' must be a number of mm, a sequence of 3 of them, 'fast' or None; got the string {fwhm!r}.",
            param="fwhm", found=fwhm,
        )
    if _is_number(fwhm):
        if fwhm < 0 or not np.isfinite(fwhm):
            raise ParameterError(
                f"'fwhm' must be a finite number of mm >= 0; got {fwhm!r}.", param="fwhm", found=fwhm
            )
        if fwhm == 0:
            if not warn:
                return None
            warnings.warn(
                "The parameter 'fwhm' for smoothing is specified as 0. Setting it to None (no smoothing "
                "will be performed)",
                NimaskWarning,
                stacklevel=4,
            )
            return None
        return [float(fwhm)] * 3
    if isinstance(fwhm, Iterable) and not isinstance(fwhm, (bytes, dict)):
        items = list(np.asarray(fwhm, dtype=object).ravel()) if isinstance(fwhm, np.ndarray) else list(fwhm)
        if len(items) != 3:
            raise ParameterError(
                f"'fwhm' as a sequence must have one entry per spatial axis (3); got {len(items)} entries: {fwhm!r}.",
                param="fwhm", expected="length 3", found=fwhm,
            )
        out = []
        for item in items:
            if item is None:
                out.append(None)
            elif _is_number(item) and np.isfinite(item) and item >= 0:
                out.append(float(item))
            else:
                raise ParameterError(
                    f"'fwhm' entries must be None or finite numbers of mm >= 0; got {item!r} in {fwhm!r}.",
                    param="fwhm", found=fwhm,
                )
        return out
    raise ParameterError(
        f"'fwhm' must be a number of mm, a sequence of 3 of them, 'fast' or None; got {fwhm!r} "
        f"({type(fwhm).__name__}).",
        param="fwhm", found=fwhm,
    )


def fwhm_to_sigma(fwhm, affine) -> list[float]:
    """Per-axis Gaussian sigma in voxels for a FWHM in mm (None or 0 entries give 0).

    The voxel size along axis i is the norm of column i of ``affine[:3, :3]``, which is
    right for rotated and oblique affines too.
    """
    fwhm = _check_fwhm(fwhm, warn=False)
    if fwhm is None or fwhm == "fast":
        return [0.0, 0.0, 0.0]
    vox_size = np.sqrt(np.sum(np.asarray(affine, dtype=np.float64)[:3, :3] ** 2, axis=0))
    return [0.0 if f is None else float(f / (_FWHM_OVER_SIGMA * v)) for f, v in zip(fwhm, vox_size, strict=True)]


def _float_dtype(dtype: np.dtype) -> np.dtype:
    if dtype.kind in "iu":
        return np.dtype(np.float64) if dtype.itemsize == 8 else np.dtype(np.float32)
    if dtype.kind == "b" or dtype == np.float16:
        return np.dtype(np.float32)
    return dtype


def _fast_smooth(arr: np.ndarray) -> np.ndarray:
    """``(v + 0.2 * sum of existing face neighbours) / 2.2`` over the 3 spatial axes."""
    out = arr.copy(order="K")  # keep the layout: mixed C/F operands are several times slower
    for axis in range(3):
        lead = [slice(None)] * arr.ndim
        lag = [slice(None)] * arr.ndim
        lead[axis], lag[axis] = slice(1, None), slice(None, -1)
        out[tuple(lag)] += 0.2 * arr[tuple(lead)]  # this order reproduces nilearn's rounding
        out[tuple(lead)] += 0.2 * arr[tuple(lag)]
    out /= 2.2
    return out


def smooth_array(
    arr: np.ndarray,
    affine: np.ndarray | None,
    fwhm: Any = None,
    ensure_finite: bool = True,
    copy: bool = True,
) -> np.ndarray:
    """Smooth a 3D volume or a 4D chunk of volumes with a Gaussian of the given FWHM.

    Parameters
    ----------
    arr : ndarray, shape (x, y, z) or (x, y, z, t)
        Only the first three (spatial) axes are filtered.
    affine : (3, 3) or (4, 4) array
        Voxel-to-world affine; gives the voxel sizes (column norms). Unused for "fast"/None.
    fwhm : None, "fast", number or sequence of 3 numbers/None
        Full width at half maximum in mm; 0 or None entries skip an axis; scalar 0 warns and
        does nothing.
    ensure_finite : bool
        Set NaN and infinite values to 0 first.
    copy : bool
        Work on a copy (False filters a float array in place).

    Returns
    -------
    ndarray of the input shape. Integer arrays become float32 (float64 for 64-bit ints);
    float arrays keep their dtype.
    """
    arr = np.asarray(arr)
    fwhm = _check_fwhm(fwhm)
    if arr.ndim < 3:
        raise ParameterError(
            f"'arr' must have at least 3 dimensions (x, y, z[, t]); got an array of shape {arr.shape}.",
            param="arr", expected=">= 3D", found=arr.shape,
        )
    dtype = _float_dtype(arr.dtype)
    if dtype != arr.dtype:
        arr = arr.astype(dtype)
    elif copy:
        arr = arr.copy(order="K")
    if ensure_finite:
        arr[~np.isfinite(arr)] = 0
    if fwhm is None:
        return arr
    if fwhm == "fast":
        return _fast_smooth(arr)
    if affine is None:
        raise ParameterError(
            f"'affine' is needed to convert fwhm={fwhm!r} mm into voxels; got None.", param="affine"
        )
    sigmas = fwhm_to_sigma(fwhm, affine)
    if arr.ndim == 4 and arr.shape[3] > 1 and _n_threads(arr.shape[3]) > 1:
        # volumes are independent (only the spatial axes are filtered) and scipy releases
        # the GIL: filter them over a thread pool, with the same numbers
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(_n_threads(arr.shape[3])) as pool:
            list(pool.map(lambda t: _gaussian_in_place(arr[..., t], sigmas), range(arr.shape[3])))
    else:
        _gaussian_in_place(arr, sigmas)
    return arr


def _gaussian_in_place(arr: np.ndarray, sigmas) -> None:
    """``gaussian_filter1d`` along axes 0, 1, 2 in turn, in place (axes with sigma 0 skipped)."""
    for axis, sigma in enumerate(sigmas):
        if sigma > 0:
            ndimage.gaussian_filter1d(arr, sigma, output=arr, axis=axis)


def _n_threads(n_volumes: int) -> int:
    return n_threads(n_volumes)


def _smooth_one(img, fwhm):
    """Smooth one loaded image, streaming 4D data chunk by chunk straight into the output."""
    from .._nifti_io import iter_volume_chunks
    from ._basic import new_img_like

    shape = tuple(img.shape)
    out = None
    try:
        for t0, chunk in iter_volume_chunks(img):
            if out is None:
                n_vol = shape[3] if len(shape) == 4 else 1
                out = np.empty(shape[:3] + (n_vol,), dtype=_float_dtype(chunk.dtype), order="F")
            dst = out[..., t0 : t0 + chunk.shape[3]]
            dst[...] = chunk  # the one copy (and cast); the input is never written to
            smoothed = smooth_array(dst, img.affine, fwhm, ensure_finite=True, copy=False)
            if smoothed is not dst:  # "fast" builds a new array
                dst[...] = smoothed
        data = out[..., 0] if len(shape) == 3 else out
    except (ValueError, TypeError, AttributeError):  # not a streamable NIfTI: whole array
        data = smooth_array(np.asanyarray(img.dataobj), img.affine, fwhm, ensure_finite=True, copy=True)
    return new_img_like(img, data, img.affine, copy_header=True)


@with_small_pages
def smooth_img(imgs: Any, fwhm: Any) -> SpatialImage | list[SpatialImage]:
    """Smooth images with a Gaussian of the given FWHM (in mm).

    Parameters
    ----------
    imgs : niimg-like or iterable of niimg-like
        3D or 4D images (4D images are smoothed volume by volume).
    fwhm : None, "fast", number or sequence of 3 numbers/None
        See :func:`smooth_array`. Non-finite values become 0 in every case.

    Returns
    -------
    nibabel image, or a list of images when ``imgs`` is an iterable (no concatenation).
    """
    _check_fwhm(fwhm, warn=False)  # fail before loading anything
    if is_niimg_like(imgs) or not isinstance(imgs, Iterable):
        return _smooth_one(check_niimg(imgs), fwhm)
    return [_smooth_one(check_niimg(img), fwhm) for img in imgs]
