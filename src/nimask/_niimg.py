"""Turn "niimg-like" inputs (paths, nibabel images, lists of them) into nibabel images.

This is the single entry point every public function uses to load an image. It follows
nilearn's ``check_niimg`` semantics (``ensure_ndim``, ``atleast_4d``, lists concatenated
along time, 4D images with one volume squeezed when 3D is required). Files are opened
lazily through :mod:`nimask._nifti_io`, which validates them; reshaping keeps the lazy
proxy, so a loaded file can still be streamed chunk by chunk.

Differences from nilearn
------------------------
* A missing file raises :class:`~nimask.exceptions.ImageNotFoundError`, a
  ``FileNotFoundError`` (nilearn: ``ValueError``); the message is the same.
* Dimension errors name the file when there is one.
"""
from __future__ import annotations

import glob
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from .exceptions import DimensionError, GeometryError, ImageNotFoundError, ParameterError

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["load_niimg", "check_niimg", "check_niimg_3d", "check_niimg_4d", "get_data", "is_niimg_like", "same_fov",
           "affines_close", "AFFINE_ATOL", "header_t_r", "check_header_t_r", "source_dtype", "has_scaling"]

_GLOB_CHARS = set("*?[")
_SEE_DOC = "See https://nilearn.github.io/stable/manipulating_images/input_output.html."


def _is_pathlike(obj: Any) -> bool:
    return isinstance(obj, (str, os.PathLike))


def is_niimg_like(obj: Any) -> bool:
    """True for a nibabel spatial image or a path; lists are not counted."""
    return isinstance(obj, nib.spatialimages.SpatialImage) or _is_pathlike(obj)


def get_data(img: Any) -> np.ndarray:
    """Return the data array of a niimg-like object (scaled as nibabel does)."""
    img = load_niimg(img, allow_empty=True)
    return np.asanyarray(img.dataobj)


def _filename(img) -> str | None:
    try:
        return img.get_filename()
    except AttributeError:
        return None


def _dim_error(found: int, required: int, what: str, path: str | None = None) -> DimensionError:
    where = f" ({path!r})" if path else ""
    return DimensionError(
        found,
        required,
        f"Input data has incompatible dimensionality: Expected dimension is {required}D and you "
        f"provided {what}{where}. {_SEE_DOC}",
        path=path,
    )


def _expand_path(path: str, wildcards: bool) -> str | list[str]:
    path = os.path.expanduser(path)
    if os.path.exists(path) or not (wildcards and _GLOB_CHARS & set(path)):
        return path
    matches = sorted(glob.glob(path))
    if not matches:
        raise ImageNotFoundError(
            f"No files matching the entered niimg expression: {path!r}.\nYou may have left "
            f"wildcards usage activated: pass wildcards=False to deactivate this behavior.",
            path=path,
        )
    return matches[0] if len(matches) == 1 else matches


def _load_file(path: str):
    from ._nifti_io import load_file  # the streamed reader validates the file against its header

    return load_file(path)


def _first_leaf(items: list) -> tuple[int, Any]:
    """List nesting depth and the first non-list item (loaded), for nilearn's "(5D)" messages."""
    depth, obj = 0, items
    while isinstance(obj, (list, tuple)) and len(obj) > 0:
        depth += 1
        obj = obj[0]
    return depth, obj


def load_niimg(
    niimg: Any,
    ensure_ndim: int | None = None,
    atleast_4d: bool = False,
    dtype: Any = None,
    wildcards: bool = True,
    return_iterator: bool = False,
    allow_empty: bool = False,
) -> SpatialImage | Iterator[SpatialImage]:
    """Load a niimg-like object as a nibabel image.

    Parameters
    ----------
    niimg : str, Path, nibabel image, or iterable of those
        ``~`` is expanded; glob patterns give their sorted matches (with ``wildcards``);
        iterables are concatenated along the 4th axis (dtype of the first image).
    ensure_ndim : {None, 3, 4}
        Required dimensionality. A 4D image with a single volume is squeezed to 3D when
        3D is required; a 3D image given where 4D is required is an error unless
        ``atleast_4d`` is True (as in nilearn).
    atleast_4d : bool
        Promote 3D images to 4D with one volume.
    dtype : None, "auto" or numpy dtype
        Convert the data (``"auto"``: signed ints to int32, anything else to float32).
    wildcards : bool
        Expand glob patterns in strings (sorted matches).
    return_iterator : bool
        Return an iterator over the 3D volumes of the (4D) result.
    allow_empty : bool
        Accept images with a zero-length axis (``check_niimg`` does; the maskers do not).
    """
    if isinstance(niimg, np.ndarray):
        raise TypeError(
            "input should be a NiftiLike object or an iterable of NiftiLike object. Got: ndarray"
        )
    if _is_pathlike(niimg):
        expanded = _expand_path(os.fspath(niimg), wildcards)
        if isinstance(expanded, list):
            niimg = expanded
        else:
            niimg = _load_file(expanded)
    if isinstance(niimg, nib.spatialimages.SpatialImage):
        img = _finish(niimg, ensure_ndim, atleast_4d, dtype, allow_empty)
    elif isinstance(niimg, Iterable) and not isinstance(niimg, (bytes, dict)):
        img = _load_list(list(niimg), ensure_ndim, atleast_4d, dtype, wildcards, allow_empty)
    else:
        raise TypeError(
            "input should be a NiftiLike object or an iterable of NiftiLike object. "
            f"Got: {type(niimg).__name__}"
        )
    if return_iterator:
        return _iter_volumes(img)
    return img


def _load_list(items: list, ensure_ndim, atleast_4d, dtype, wildcards, allow_empty):
    if not items:
        raise TypeError("Cannot concatenate empty objects.")
    depth, leaf = _first_leaf(items)
    if ensure_ndim is not None:
        leaf_img = load_niimg(leaf, wildcards=wildcards, allow_empty=True)
        leaf_ndim = len(leaf_img.shape)
        total = leaf_ndim + depth
        squeezable = leaf_ndim == 4 and leaf_img.shape[3] == 1 and total - 1 == ensure_ndim  # as nilearn
        if ensure_ndim == 3 or (total != ensure_ndim and not squeezable):
            what = "a " + "list of " * depth + f"{leaf_ndim}D images ({total}D)"
            raise _dim_error(total, ensure_ndim, what)
    from .image._concat import concat_imgs

    img = concat_imgs(items, dtype=None, ensure_ndim=None if ensure_ndim is None else ensure_ndim - 1)
    return _finish(img, ensure_ndim, atleast_4d, dtype, allow_empty)


def _iter_volumes(img):
    if len(img.shape) == 3:
        yield img
        return
    for i in range(img.shape[3]):
        yield _reshaped(img, img.dataobj[..., i], img.shape[:3])


def _reshaped(img, dataobj, shape):
    """A new image of ``img``'s class (NIfTI) with ``dataobj`` reshaped to ``shape``, lazily."""
    from nibabel.arrayproxy import reshape_dataobj

    klass = type(img) if isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) else nib.Nifti1Image
    header = img.header.copy() if isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) else None
    new = klass(reshape_dataobj(dataobj, shape), img.affine, header=header)
    return new


def _finish(img, ensure_ndim, atleast_4d, dtype, allow_empty):
    shape = img.shape
    path = _filename(img)
    if len(shape) == 3 and atleast_4d:
        img = _reshaped(img, img.dataobj, shape + (1,))
    elif len(shape) == 4 and ensure_ndim == 3 and shape[3] == 1:
        img = _reshaped(img, img.dataobj, shape[:3])
    if ensure_ndim is not None and len(img.shape) != ensure_ndim:
        raise _dim_error(len(img.shape), ensure_ndim, f"a {len(img.shape)}D image", path)
    if not allow_empty and any(s == 0 for s in img.shape):
        where = f" {path!r}" if path else ""
        raise ParameterError(
            f"The image is empty.{where} has shape {tuple(img.shape)} (a zero-length axis).",
            path=path,
            found=tuple(img.shape),
        )
    if dtype is not None:
        img = _convert_dtype(img, dtype)
    return img


def _convert_dtype(img, dtype):
    data = np.asanyarray(img.dataobj)
    if isinstance(dtype, str) and dtype == "auto":
        target = np.dtype(np.int32) if data.dtype.kind == "i" else np.dtype(np.float32)
    else:
        target = np.dtype(dtype)
    if data.dtype == target:
        return img
    klass = type(img) if isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) else nib.Nifti1Image
    header = img.header.copy() if isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)) else None
    out = klass(data.astype(target), img.affine, header=header)
    out.header.set_data_dtype(target)
    return out


def check_niimg(niimg: Any, ensure_ndim: int | None = None, atleast_4d: bool = False, dtype: Any = None,
                return_iterator: bool = False, wildcards: bool = True) -> SpatialImage | Iterator[SpatialImage]:
    """nilearn's ``check_niimg``: :func:`load_niimg` accepting empty images."""
    return load_niimg(
        niimg, ensure_ndim=ensure_ndim, atleast_4d=atleast_4d, dtype=dtype,
        wildcards=wildcards, return_iterator=return_iterator, allow_empty=True,
    )


def check_niimg_3d(niimg: Any, dtype: Any = None) -> SpatialImage:
    """Load a niimg-like object that must be 3D (a 4D image with one volume is squeezed)."""
    return check_niimg(niimg, ensure_ndim=3, dtype=dtype)


def check_niimg_4d(niimg: Any, return_iterator: bool = False, dtype: Any = None
                   ) -> SpatialImage | Iterator[SpatialImage]:
    """Load a niimg-like object that must be 4D (lists of 3D images are concatenated)."""
    return check_niimg(niimg, ensure_ndim=4, return_iterator=return_iterator, dtype=dtype)


_TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6}


def source_dtype(img: Any) -> np.dtype:
    """nilearn's "source dtype": the array dtype (float64 for a file with slope/intercept).

    Read from the proxy header, so the data are not loaded.
    """
    proxy = img.dataobj
    if isinstance(proxy, np.ndarray):
        return proxy.dtype
    if hasattr(proxy, "dtype"):
        return np.dtype(np.float64) if has_scaling(img) else np.dtype(proxy.dtype)
    return np.asanyarray(proxy[:1, :1, :1, ...]).dtype  # unusual proxies: read one voxel


def has_scaling(img: Any) -> bool:
    """The image's data are scaled by a header slope/intercept (nibabel then gives float64)."""
    proxy = img.dataobj
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    return not (np.all(np.asarray(slope) == 1) and np.all(np.asarray(inter) == 0))


def header_t_r(img) -> float | None:
    """Repetition time in seconds from a 4D NIfTI header (``pixdim[4]``, unit-aware), or None.

    None when the image is not 4D NIfTI, ``pixdim[4]`` is not positive, or the time unit is
    unknown / not a time (``xyzt_units`` 0, Hz, ppm).
    """
    header = getattr(img, "header", None)
    if not isinstance(header, nib.nifti1.Nifti1Header) or len(img.shape) != 4:
        return None
    try:
        unit = header.get_xyzt_units()[1]
        value = float(header["pixdim"][4])
    except Exception:
        return None
    if unit not in _TIME_UNITS or not np.isfinite(value) or value <= 0:
        return None
    return value * _TIME_UNITS[unit]


def check_header_t_r(img, t_r, where: str) -> None:
    """Warn when ``t_r`` disagrees (by more than 1 %) with the repetition time of the header."""
    if t_r is None:
        return
    header_value = header_t_r(img)
    if header_value is None or abs(header_value - float(t_r)) <= 0.01 * header_value:
        return
    import warnings

    from .exceptions import NimaskDataWarning

    name = _filename(img)
    warnings.warn(
        f"{where}: t_r={t_r} s but the header of {name or 'the image'!r} gives a repetition time of "
        f"{header_value:g} s (pixdim[4] with its time unit); the t_r parameter is used.",
        NimaskDataWarning, stacklevel=3,
    )


AFFINE_ATOL = 1e-4  # mm: float noise in an affine below this never triggers resampling


def affines_close(a, b, rtol: float = 1e-5, atol: float = AFFINE_ATOL) -> bool:
    """True when two affines describe the same grid up to float noise.

    Entries may differ by ``atol`` (1e-4 mm, or mm per voxel) on top of nilearn's relative
    ``1e-5``, so affines written by different tools (float32 sform vs float64 qform,
    rounding in a header round trip) do not trigger an interpolation. Difference from
    nilearn: its ``atol=1e-8`` resamples an image whose origin differs by 5e-5 mm.
    """
    return bool(np.allclose(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64), rtol=rtol, atol=atol))


def same_fov(a, b, rtol: float = 1e-5, atol: float = AFFINE_ATOL) -> bool:
    """Masker-level field-of-view test: equal 3D shape and affines equal up to float noise."""
    return tuple(a.shape[:3]) == tuple(b.shape[:3]) and affines_close(a.affine, b.affine, rtol=rtol, atol=atol)


def _check_same_fov_list(imgs) -> None:
    ref = imgs[0]
    for i, img in enumerate(imgs[1:], start=1):
        if not same_fov(ref, img):
            name = _filename(img)
            where = f" ({name!r})" if name else ""
            raise GeometryError(
                f"Field of view of image #{i}{where} is different from reference FOV.\n"
                f"Reference affine:\n{ref.affine!r}\nImage affine:\n{img.affine!r}\n"
                f"Reference shape:\n{ref.shape[:3]!r}\nImage shape:\n{img.shape[:3]!r}\n",
                index=i,
                path=name,
            )
