"""The images ``inverse_transform`` returns: nilearn's dtype rules for 64-bit integer signals."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import NimaskWarning

__all__ = ["int32_if_fits", "inverse_image"]

_INT64 = (np.dtype(np.int64), np.dtype(np.uint64))


def _fits_int32(values: np.ndarray) -> bool:
    """Whether integer ``values`` can be stored as int32 without change."""
    info = np.iinfo(np.int32)
    return not values.size or (int(values.min()) >= info.min and int(values.max()) <= info.max)


def int32_if_fits(X: np.ndarray) -> np.ndarray:
    """64-bit integer signals as int32 when the values fit, with nilearn's warning (same values)."""
    if X.dtype in _INT64 and _fits_int32(X):
        warnings.warn(
            f"The signals given to inverse_transform are 64-bit ints ({X.dtype}). Many tools such as FSL "
            "and SPM cannot deal with int64 in Nifti images, so for compatibility the data has been "
            "converted to int32 (the values are unchanged).",
            NimaskWarning, stacklevel=find_stack_level(),
        )
        return X.astype(np.int32)
    return X


def inverse_image(data: np.ndarray, affine: Any, target: np.dtype) -> Any:
    """The image of ``inverse_transform``: ``data`` cast to ``target``, as nilearn stores it.

    A 64-bit integer ``target`` keeps ``target`` in the header while the array is int32
    when the values fit (nilearn's int32 conversion, with its warning); otherwise the
    array stays 64-bit (with nilearn's warning about values too large for int32).
    """
    import nibabel as nib

    data = data.astype(target, copy=False)
    if target not in _INT64:
        return nib.Nifti1Image(data, affine)
    if _fits_int32(data):
        warnings.warn(
            f"Data array used to create a new image contains 64-bit ints ({target}). Many tools such as "
            "FSL and SPM cannot deal with int64 in Nifti images, so for compatibility the data has been "
            f"converted to int32 (the header keeps {target}).",
            NimaskWarning, stacklevel=find_stack_level(),
        )
        img = nib.Nifti1Image(data.astype(np.int32), affine)
        img.set_data_dtype(target)
        return img
    warnings.warn(
        f"Data array used to create a new image contains 64-bit ints ({target}), and some values too "
        "large to store in 32-bit ints. The resulting image thus contains 64-bit ints, which may cause "
        "some compatibility issues with some other tools or an error when saving the image to a Nifti file.",
        NimaskWarning, stacklevel=find_stack_level(),
    )
    return nib.Nifti1Image(data, affine, dtype=target)
