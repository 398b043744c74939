"""Turn "niimg-like" inputs (paths, nibabel images, lists of them) into nibabel images.

This is the single entry point every public function uses to load an image. It follows
nilearn's ``check_niimg`` semantics (``ensure_ndim``, ``atleast_4d``, lists concatenated
along time, 4D images with one volume squeezed when 3D is required).
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np

from .exceptions import DimensionError, GeometryError, ImageNotFoundError, ParameterError

__all__ = ["load_niimg", "check_niimg", "check_niimg_3d", "check_niimg_4d", "get_data", "is_niimg_like"]

_GLOB_CHARS = set("*?[")


def _is_pathlike(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def is_niimg_like(obj: Any) -> bool:
    """True for a nibabel spatial image or a path; lists are not counted."""
    return isinstance(obj, nib.spatialimages.SpatialImage) or _is_pathlike(obj)


def get_data(img) -> np.ndarray:
    """Return the data array of a niimg-like object (scaled as nibabel does)."""
    img = load_niimg(img)
    return np.asanyarray(img.dataobj)


def _nesting_depth(obj: Any) -> int:
    depth = 0
    while isinstance(obj, (list, tuple)) and len(obj) > 0:
        depth += 1
        obj = obj[0]
    return depth


def _load_path(path: str, wildcards: bool):
    path = os.path.expanduser(path)
    if wildcards and _GLOB_CHARS & set(path) and not os.path.exists(path):
        matches = sorted(glob.glob(path))
        if not matches:
            raise ImageNotFoundError(
                f"No files matching the entered niimg expression: {path!r}", path=path
            )
        if len(matches) == 1:
            return _load_file(matches[0])
        return [_load_file(m) for m in matches]
    return _load_file(path)


def _load_file(path: str):
    # Delegated to the streamed reader, which validates the file against its header.
    from ._nifti_io import load_file

    return load_file(path)


def load_niimg(
    niimg: Any,
    ensure_ndim: int | None = None,
    atleast_4d: bool = False,
    dtype: Any = None,
    wildcards: bool = True,
    return_iterator: bool = False,
):
    """Load a niimg-like object as a nibabel image.

    Parameters
    ----------
    niimg : str, Path, nibabel image, or iterable of those
        Iterables are concatenated along the 4th axis.
    ensure_ndim : {None, 3, 4}
        Required dimensionality. A 4D image with a single volume is squeezed to 3D when
        3D is required; a 3D image becomes 4D when ``atleast_4d`` is True.
    atleast_4d : bool
        Promote 3D images to 4D with one volume.
    dtype : None, "auto" or numpy dtype
        Convert the data (``"auto"``: signed ints to int32, anything else to float32).
    wildcards : bool
        Expand glob patterns in strings (sorted matches).
    """
    if isinstance(niimg, np.ndarray):
        raise TypeError(
            "input should be a NiftiLike object or an iterable of NiftiLike object. Got: ndarray"
        )
    if _is_pathlike(niimg):
        loaded = _load_path(os.fspath(niimg), wildcards)
        if isinstance(loaded, list):
            niimg = loaded
        else:
            img = loaded
            return _finish(img, ensure_ndim, atleast_4d, dtype)
    if isinstance(niimg, nib.spatialimages.SpatialImage):
        return _finish(niimg, ensure_ndim, atleast_4d, dtype)
    if isinstance(niimg, Iterable) and not isinstance(niimg, (str, bytes)):
        items = list(niimg)
        if ensure_ndim == 3:
            raise DimensionError(
                _nesting_depth(items) + 3,
                3,
                f"Input data has incompatible dimensionality: Expected dimension is 3D and you "
                f"provided a list of images ({_nesting_depth(items) + 3}D).",
            )
        inner_ndim = None if ensure_ndim is None else ensure_ndim - 1
        from .image._concat import concat_imgs

        img = concat_imgs(items, dtype=None if dtype is None else dtype, ensure_ndim=inner_ndim)
        return _finish(img, ensure_ndim, atleast_4d, None)
    raise TypeError(
        "Data given cannot be loaded because it is not compatible with nibabel format: "
        f"got an object of type {type(niimg).__name__}"
    )


def _finish(img, ensure_ndim, atleast_4d, dtype):
    shape = img.shape
    if len(shape) == 3 and (atleast_4d or ensure_ndim == 4):
        data = np.asanyarray(img.dataobj)[..., np.newaxis]
        img = _like(img, data)
    elif len(shape) == 4 and ensure_ndim == 3 and shape[3] == 1:
        data = np.asanyarray(img.dataobj)[..., 0]
        img = _like(img, data)
    if ensure_ndim is not None and len(img.shape) != ensure_ndim:
        raise DimensionError(
            len(img.shape),
            ensure_ndim,
            path=getattr(img, "get_filename", lambda: None)(),
        )
    if any(s == 0 for s in img.shape):
        raise ParameterError("The image is empty.", found=img.shape)
    if dtype is not None:
        img = _convert_dtype(img, dtype)
    return img


def _like(img, data):
    new = nib.Nifti1Image(data, img.affine, header=img.header.copy() if hasattr(img, "header") else None)
    if data.dtype != img.get_data_dtype():
        new.header.set_data_dtype(data.dtype)
    return new


def _convert_dtype(img, dtype):
    data = np.asanyarray(img.dataobj)
    if isinstance(dtype, str) and dtype == "auto":
        target = np.int32 if data.dtype.kind == "i" else np.float32
    else:
        target = np.dtype(dtype)
    if data.dtype == target:
        return img
    out = nib.Nifti1Image(data.astype(target), img.affine, header=img.header.copy())
    out.header.set_data_dtype(target)
    return out


def check_niimg(niimg, ensure_ndim=None, atleast_4d=False, dtype=None, wildcards=True, **_):
    """nilearn-compatible alias of :func:`load_niimg`."""
    return load_niimg(niimg, ensure_ndim=ensure_ndim, atleast_4d=atleast_4d, dtype=dtype, wildcards=wildcards)


def check_niimg_3d(niimg, dtype=None):
    """Load a niimg-like object that must be 3D (a 4D image with one volume is squeezed)."""
    return load_niimg(niimg, ensure_ndim=3, dtype=dtype)


def check_niimg_4d(niimg, return_iterator=False, dtype=None):
    """Load a niimg-like object that must be 4D (lists of 3D images are concatenated)."""
    img = load_niimg(niimg, ensure_ndim=4, dtype=dtype)
    if return_iterator:
        return (img.slicer[..., i] for i in range(img.shape[3]))
    return img


def same_fov(a, b, rtol: float = 1e-5, atol: float = 1e-8) -> bool:
    """nilearn's masker-level field-of-view test: equal 3D shape and allclose affines."""
    return tuple(a.shape[:3]) == tuple(b.shape[:3]) and np.allclose(a.affine, b.affine, rtol=rtol, atol=atol)


def _check_same_fov_list(imgs) -> None:
    ref = imgs[0]
    for i, img in enumerate(imgs[1:], start=1):
        if not same_fov(ref, img):
            raise GeometryError(
                f"Field of view of image #{i} is different from reference FOV.\n"
                f"Reference affine:\n{ref.affine!r}\nImage affine:\n{img.affine!r}\n"
                f"Reference shape:\n{ref.shape[:3]!r}\nImage shape:\n{img.shape[:3]!r}\n",
                index=i,
            )
