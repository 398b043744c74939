"""The images ``inverse_transform`` returns: nilearn's dtype rules for 64-bit integer signals."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._warnings import find_stack_level
from ..exceptions import NimaskWarning, ParameterError
from ._verbose import say

__all__ = ["int32_if_fits", "inverse_image", "inverse_input"]

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


def inverse_input(masker: Any, X: Any, name: str) -> tuple[np.ndarray, np.dtype]:
    """``X`` as an array of ``(n_elements_,)`` or ``(T, n_elements_)``, and the image dtype.

    As nilearn: a data frame is squeezed and a single value is the signal of a single
    region; booleans are cast (with a warning) to ``dtype`` or int32; the image dtype is
    ``dtype`` (``"auto"``: int32 for signed integers, float32 otherwise) or else the
    signals' dtype. 64-bit integer signals whose values fit in int32 are converted to
    int32 with nilearn's warning (same values; nibabel refuses int64 arrays).
    """
    masker._check_fitted()
    say(masker, "inverse_transform", "Computing image from signals")
    if hasattr(X, "to_numpy"):
        X = np.squeeze(X.to_numpy())
    X = np.atleast_1d(np.asarray(X))
    n = masker.n_elements_
    if X.ndim not in (1, 2) or X.shape[-1] != n:
        expected = (n,) if X.ndim == 1 else ((X.shape[0], n) if X.ndim == 2 else "(n,) or (T, n)")
        raise ParameterError(
            f"Input to 'inverse_transform' has wrong shape.\nExpected {expected}.\nGot {X.shape}.",
            param=name, expected=expected, found=X.shape,
        )
    if X.dtype == bool:
        target = np.dtype(np.int32) if masker.dtype is None else masker._output_dtype(np.int32)
        warnings.warn(f"Casting boolean input to {target}.", UserWarning, stacklevel=find_stack_level())
        X = X.astype(target)
    else:
        target = X.dtype if masker.dtype is None else masker._output_dtype(X.dtype)
    X = int32_if_fits(X)
    return X, np.dtype(target)
