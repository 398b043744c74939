"""Concatenation of images along time (nilearn's ``concat_imgs``)."""
from __future__ import annotations

from typing import Any

import nibabel as nib
import numpy as np

from ..exceptions import DimensionError


def concat_imgs(
    niimgs: Any,
    dtype: Any = np.float32,
    ensure_ndim: int | None = None,
    memory: Any = None,
    memory_level: int = 0,
    auto_resample: bool = False,
    verbose: int = 0,
) -> nib.Nifti1Image:
    """Concatenate 3D or 4D images along the 4th axis.

    Items must all be 3D or all 4D and share one field of view (unless ``auto_resample``,
    which resamples every item to the first item's grid with continuous interpolation).
    ``dtype=None`` keeps the first item's dtype. File-backed items are read one at a
    time into the preallocated F-ordered output. As in nilearn, the output header is a copy
    of the first item's (its stored data dtype is not updated).
    """
    from .._niimg import _check_same_fov_list, load_niimg

    items = [load_niimg(x) for x in niimgs]
    if ensure_ndim == 3:  # as nilearn: a 4D item with one volume counts as 3D
        items = [load_niimg(im, ensure_ndim=3) if len(im.shape) == 4 and im.shape[3] == 1 else im for im in items]
    if not items:
        raise TypeError("Cannot concatenate empty objects.")
    first_ndim = len(items[0].shape)
    for i, img in enumerate(items):
        nd = len(img.shape)
        if nd not in (3, 4):
            raise DimensionError(nd, 4, index=i)
        if nd != first_ndim:
            raise DimensionError(
                nd + 1, first_ndim + 1,
                f"Input data has incompatible dimensionality: image #{i} is {nd}D while the first "
                f"image is {first_ndim}D; all items of a list must have the same dimensionality.",
                index=i,
            )
    if ensure_ndim is not None and first_ndim != ensure_ndim:
        raise DimensionError(
            first_ndim + 1, ensure_ndim + 1,
            f"Input data has incompatible dimensionality: Expected dimension is {ensure_ndim + 1}D "
            f"and you provided a list of {first_ndim}D images ({first_ndim + 1}D).",
        )
    if auto_resample:
        from ._resampling import resample_img

        ref = items[0]
        items = [ref] + [
            resample_img(im, target_affine=ref.affine, target_shape=ref.shape[:3]) for im in items[1:]
        ]
    else:
        _check_same_fov_list(items)
    out_dtype = items[0].get_data_dtype() if dtype is None else np.dtype(dtype)
    if dtype is None:
        out_dtype = np.asanyarray(items[0].dataobj[(0,) * len(items[0].shape)]).dtype
    lengths = [1 if len(im.shape) == 3 else im.shape[3] for im in items]
    data = np.empty(items[0].shape[:3] + (sum(lengths),), dtype=out_dtype, order="F")
    t = 0
    for im, n in zip(items, lengths, strict=True):
        arr = np.asanyarray(im.dataobj)
        if arr.ndim == 3:
            arr = arr[..., np.newaxis]
        data[..., t : t + n] = arr
        t += n
    # as nilearn: the first item's header is copied unchanged (its data dtype included)
    return nib.Nifti1Image(data, items[0].affine, header=items[0].header.copy())
