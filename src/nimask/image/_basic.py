"""Basic image functions with nilearn's names, parameters and semantics (``nilearn.image``).

``load_img``, ``index_img``, ``iter_img``, ``mean_img``, ``new_img_like``, ``crop_img``,
``math_img`` and ``coord_transform``. File-backed images stay lazy: indexing reads only the
volumes it needs and ``mean_img`` streams chunks of volumes, so a 4D run is never loaded
whole by these functions.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import nibabel as nib
import numpy as np

from .._niimg import _filename, affines_close, check_niimg, check_niimg_4d, same_fov
from ..exceptions import GeometryError, NimaskDataWarning, NimaskWarning, ParameterError

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = [
    "coord_transform",
    "crop_img",
    "index_img",
    "iter_img",
    "load_img",
    "math_img",
    "mean_img",
    "new_img_like",
]


def load_img(img: Any, wildcards: bool = True, dtype: Any = None) -> SpatialImage:
    """Load a niimg-like object (path, glob pattern, image, or list concatenated to 4D).

    Parameters
    ----------
    img : str, Path, nibabel image or iterable of those
    wildcards : bool
        Expand glob patterns (sorted matches).
    dtype : None, "auto" or numpy dtype
        ``"auto"`` converts signed integers to int32 and everything else to float32.
    """
    return check_niimg(img, wildcards=wildcards, dtype=dtype)


def new_img_like(
    ref_niimg: Any, data: np.ndarray, affine: np.ndarray | None = None, copy_header: bool = True
) -> SpatialImage:
    """A new image of the reference's class holding ``data``.

    Bool data become uint8; int64 data become int32 when every value fits (with a warning).
    With ``copy_header`` the reference header is copied with the scale slope/intercept and
    ``glmax`` reset and ``cal_min``/``cal_max`` set to the data range.
    """
    if not hasattr(ref_niimg, "affine") and isinstance(ref_niimg, (list, tuple)):
        ref_niimg = ref_niimg[0]
    if not isinstance(ref_niimg, nib.spatialimages.SpatialImage):
        ref_niimg = check_niimg(ref_niimg)
    if affine is None:
        affine = ref_niimg.affine
    if data.dtype == bool:
        data = data.astype(np.uint8)
    elif data.dtype == np.int64:
        data = _narrow_int64(data)
    header = None
    if copy_header and getattr(ref_niimg, "header", None) is not None:
        header = ref_niimg.header.copy()
        for key, value in (("scl_slope", 0.0), ("scl_inter", 0.0), ("glmax", 0.0)):
            if key in header:
                header[key] = value
        if "cal_max" in header:
            header["cal_max"] = np.max(data) if data.size else 0.0
            header["cal_min"] = np.min(data) if data.size else 0.0
    return type(ref_niimg)(data, affine, header=header)


def _narrow_int64(data: np.ndarray) -> np.ndarray:
    info = np.iinfo(np.int32)
    if data.size == 0 or (data.min() >= info.min and data.max() <= info.max):
        warnings.warn(
            "Data array used to create a new image contains 64-bit ints. This is likely due to "
            "creating the array with numpy and passing `int` as the `dtype`. It was converted "
            "to int32: pass dtype='int32' (or another explicit dtype) to avoid this warning.",
            NimaskDataWarning,
            stacklevel=3,
        )
        return data.astype(np.int32)
    warnings.warn(
        f"Data array used to create a new image contains 64-bit ints, and some values too large "
        f"to store in 32-bit ints (range [{data.min()}, {data.max()}]); the image is kept as int64, "
        f"which some tools cannot read.",
        NimaskDataWarning,
        stacklevel=3,
    )
    return data


def _index_array(index: Any):
    if hasattr(index, "to_numpy"):  # pandas Series / DataFrame / Index
        index = index.to_numpy().ravel()
    return index


def index_img(imgs: Any, index: Any) -> SpatialImage:
    """Index the 4th axis: an int gives a 3D image; a slice, list, array or mask a 4D image.

    Only the selected volumes are read from a file (up to the last one for .nii.gz).
    """
    img = check_niimg_4d(imgs)
    n = img.shape[3]
    index = _index_array(index)
    if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
        if not -n <= index < n:
            raise IndexError(f"Integer index {index} out of range for last dimension with size {n}")
        data = np.asanyarray(img.dataobj[..., int(index)])
    elif isinstance(index, slice):
        data = np.asanyarray(img.dataobj[..., index])
    else:
        idx = np.asarray(index)
        if idx.dtype == bool and idx.shape != (n,):
            raise IndexError(
                f"Boolean index of length {idx.size} does not match the {n} volumes of the image."
            )
        data = np.asanyarray(img.dataobj)[..., idx]
    return new_img_like(img, data, img.affine, copy_header=True)


def iter_img(imgs: Any) -> Iterator:
    """Iterate over the 3D volumes of a 4D image (or list of 3D images)."""
    img = check_niimg_4d(imgs)
    for i in range(img.shape[3]):
        yield new_img_like(img, np.asanyarray(img.dataobj[..., i]), img.affine, copy_header=True)


def _mean_volume(img) -> np.ndarray:
    """Mean over the 4th axis (3D: the data), in numpy's ``mean`` dtype, streamed."""
    from .._nifti_io import iter_volume_chunks

    total = None
    count = 0
    src_dtype = None
    for _, chunk in iter_volume_chunks(img):
        src_dtype = chunk.dtype
        part = chunk.sum(axis=-1, dtype=np.float64)
        total = part if total is None else total + part
        count += chunk.shape[-1]
    out_dtype = np.mean(np.zeros(1, dtype=src_dtype)).dtype
    if count == 0:
        return np.full(img.shape[:3], np.nan, dtype=out_dtype)
    total /= count
    return total.astype(out_dtype, copy=False)


def mean_img(imgs: Any, target_affine: Any = None, target_shape: Any = None, verbose: int = 0, n_jobs: int = 1,
             copy_header: bool = True) -> SpatialImage:
    """Mean over time of one 4D image, or the average of the means of several images.

    Each image's mean volume is computed by streaming chunks of volumes (int16 data give a
    float64 mean, float32 stays float32, as ``numpy.mean``), resampled to
    ``target_affine``/``target_shape`` (default: the first image's grid) with continuous
    interpolation, then averaged over images.
    """
    from ._resampling import resample_img

    if isinstance(imgs, (nib.spatialimages.SpatialImage, str, bytes)) or hasattr(imgs, "__fspath__"):
        imgs = [imgs]
    imgs = list(imgs)
    if not imgs:
        raise ParameterError("mean_img: 'imgs' is an empty list; expected at least one image.", param="imgs")
    first = check_niimg(imgs[0])
    if target_affine is None and target_shape is None:
        target_affine, target_shape = first.affine, first.shape[:3]
    running = None
    for item in imgs:
        img = check_niimg(item)
        mean = _mean_volume(img)
        mean_img_ = new_img_like(img, mean, img.affine, copy_header=False)
        needs_resample = (
            target_shape is None or tuple(target_shape) != tuple(mean.shape)
            or target_affine is None or not affines_close(np.asarray(target_affine), img.affine)
        )
        if needs_resample:
            mean_img_ = resample_img(
                mean_img_, target_affine=target_affine, target_shape=target_shape,
                force_resample=True, copy_header=True,
            )
            mean = np.asanyarray(mean_img_.dataobj)
        running = mean if running is None else running + mean
    if len(imgs) > 1:
        running = running / len(imgs)
    affine = mean_img_.affine if target_affine is not None or target_shape is not None else first.affine
    return new_img_like(first, running, affine, copy_header=copy_header)


def crop_img(img: Any, rtol: float = 1e-8, copy: bool = True, pad: bool = True,
             return_offset: bool = False, copy_header: bool = True
             ) -> SpatialImage | tuple[SpatialImage, tuple[slice, ...]]:
    """Crop to the box of voxels with ``|v| > rtol * max|data|`` (any volume for 4D).

    With ``pad`` a 1-voxel margin is kept; the affine origin moves to the box corner.
    ``return_offset`` also returns the tuple of slices used.
    """
    img = check_niimg(img)
    data = np.asanyarray(img.dataobj)
    inf_norm = max(-np.nanmin(data), np.nanmax(data)) if data.size else 0
    keep = (data < -rtol * inf_norm) | (data > rtol * inf_norm)
    if keep.ndim == 4:
        keep = keep.any(axis=-1)
    coords = np.argwhere(keep)
    if coords.shape[0] == 0:
        warnings.warn(f"No values above {rtol}. Returning original image.", NimaskDataWarning, stacklevel=2)
        return (img, tuple(slice(0, s) for s in img.shape[:3])) if return_offset else img
    start = coords.min(axis=0)
    end = coords.max(axis=0) + 1
    if pad:
        start = np.maximum(start - 1, 0)
        end = np.minimum(end + 1, data.shape[:3])
    slices = tuple(slice(int(s), int(e)) for s, e in zip(start, end, strict=True))
    cropped = data[slices]
    if copy:
        cropped = cropped.copy()
    affine = img.affine.copy()
    affine[:3, 3] = affine[:3, :3] @ start + affine[:3, 3]
    out = new_img_like(img, cropped, affine, copy_header=copy_header)
    return (out, slices) if return_offset else out


def math_img(formula: str, copy_header_from: str | None = None, **imgs: Any) -> SpatialImage:
    """Evaluate ``formula`` with each keyword bound to its image's data (``np`` available).

    The images must share one field of view. The result takes the first image's affine; its
    header is copied only from ``copy_header_from`` (the name of one of the keywords).
    """
    if not imgs:
        raise ParameterError("math_img: no image given; pass images as keyword arguments.", param="imgs")
    loaded = {name: check_niimg(value) for name, value in imgs.items()}
    names = list(loaded)
    ref = loaded[names[0]]
    for name in names[1:]:
        other = loaded[name]
        if not same_fov(ref, other):
            raise GeometryError(
                f"math_img: images '{names[0]}' and '{name}' do not share a field of view: shapes "
                f"{ref.shape[:3]} and {other.shape[:3]}, affines\n{ref.affine}\nand\n{other.affine}",
                param=name,
                path=_filename(other),
            )
    unused = [name for name in names if not re.search(rf"\b{re.escape(name)}\b", formula)]
    if unused:
        warnings.warn(f"Some images ({unused}) are not mentioned in the formula={formula!r}.", NimaskWarning,
                      stacklevel=2)
    namespace = {name: np.asanyarray(img.dataobj) for name, img in loaded.items()}
    namespace["np"] = np
    result = np.asarray(eval(formula, namespace))  # noqa: S307 - nilearn's documented semantics
    if copy_header_from is None:
        return new_img_like(ref, result, ref.affine, copy_header=False)
    if copy_header_from not in loaded:
        raise ParameterError(
            f"math_img: copy_header_from={copy_header_from!r} is not one of the images {names}.",
            param="copy_header_from",
        )
    src = loaded[copy_header_from]
    if result.ndim != len(src.shape):
        raise ValueError(
            "Cannot copy the header. The result of the formula has a different number of "
            "dimensions than the image to copy the header from."
        )
    return new_img_like(src, result, ref.affine, copy_header=True)


def coord_transform(x: Any, y: Any, z: Any, affine: np.ndarray) -> tuple[Any, Any, Any]:
    """Apply a 4x4 affine to coordinates (scalars give floats, arrays keep their shape)."""
    is_number = not hasattr(x, "__iter__")
    shape = np.asarray(x).shape
    coords = np.c_[
        np.atleast_1d(x).flat, np.atleast_1d(y).flat, np.atleast_1d(z).flat,
        np.ones_like(np.atleast_1d(z).flat),
    ].T
    x, y, z, _ = np.dot(np.asarray(affine), coords)
    if is_number:
        return x.item(), y.item(), z.item()
    return np.reshape(x, shape), np.reshape(y, shape), np.reshape(z, shape)
