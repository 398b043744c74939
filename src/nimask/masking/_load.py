"""Loading and validating a binary mask image (nilearn's ``load_mask_img`` rule)."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._niimg import _filename, check_niimg_3d
from ..exceptions import MaskError, NimaskDataWarning

__all__ = ["load_mask_img", "describe_mask"]

_MAX_LISTED = 10


def describe_mask(img: Any, param: str = "mask_img") -> str:
    """``"mask_img 'path'"`` or ``"mask_img (in-memory image, shape (x, y, z))"`` for messages."""
    name = _filename(img)
    if name:
        return f"{param} {name!r}"
    shape = tuple(getattr(img, "shape", ()))
    return f"{param} (in-memory image, shape {shape})"


def _list_values(values: np.ndarray) -> str:
    if values.size <= _MAX_LISTED:
        return str(values)
    head = ", ".join(str(v) for v in values[:_MAX_LISTED])
    return f"[{head}, ...] ({values.size} distinct values)"


def mask_array(img: Any, param: str = "mask_img") -> np.ndarray:
    """The data of a loaded 3D mask image with non-finite values set to 0 (with a warning)."""
    data = np.asanyarray(img.dataobj)
    if data.dtype.kind in "fc":
        bad = ~np.isfinite(data)
        n_bad = int(np.count_nonzero(bad))
        if n_bad:
            warnings.warn(
                f"Non-finite values detected. These values will be replaced with zeros: {n_bad} "
                f"NaN/inf voxel(s) in {describe_mask(img, param)} were set to 0 (outside the mask).",
                NimaskDataWarning,
                stacklevel=4,
            )
            data = np.where(bad, 0, data)
    return data


def _load_mask(mask_img: Any, allow_empty: bool = False, param: str = "mask_img"):
    img = check_niimg_3d(mask_img)
    data = mask_array(img, param)
    values = np.unique(data)
    where = describe_mask(img, param)
    if values.size == 1:
        if values[0] == 0 and not allow_empty:
            raise MaskError(
                f"The mask is invalid as it is empty: it masks all data. {where} holds only 0.",
                param=param, path=_filename(img), expected="at least one nonzero voxel", found=[0],
            )
    elif values.size == 2:
        if 0 not in values:
            raise MaskError(
                f"Background of the mask must be represented with 0. Given mask contains: "
                f"{values}. ({where}: expected 0 for the background and one other value.)",
                param=param, path=_filename(img), expected="0 and one other value", found=values.tolist(),
            )
    elif values.size > 2:
        raise MaskError(
            f"Given mask is not made of 2 values: {_list_values(values)}. Cannot interpret as "
            f"true or false. ({where}: expected 0 and one other value.)",
            param=param, path=_filename(img), expected="0 and one other value",
            found=values[:_MAX_LISTED].tolist(),
        )
    return data.astype(bool), img.affine, img


def load_mask_img(mask_img: Any, allow_empty: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Load a 3D binary mask and check it (nilearn's rule).

    The image must hold two values one of which is 0 (the background), or a single value
    (an empty all-zero mask is accepted only with ``allow_empty``). Non-finite values are
    set to 0 first.

    Parameters
    ----------
    mask_img : niimg-like
        3D image (a 4D image with one volume is accepted).
    allow_empty : bool
        Accept an all-zero mask.

    Returns
    -------
    mask : ndarray of bool, shape (x, y, z)
    affine : ndarray (4, 4)

    Raises
    ------
    MaskError
        Empty mask, two values without 0, or more than two values; the message names the
        file (or the in-memory image) and lists the values found.

    Differences from nilearn
    ------------------------
    * Non-finite values are set to 0 with a ``NimaskDataWarning`` that gives their count
      (nilearn: a generic ``UserWarning`` without the count).
    * Error messages name the mask file and the values found.
    """
    mask, affine, _ = _load_mask(mask_img, allow_empty=allow_empty)
    return mask, affine
