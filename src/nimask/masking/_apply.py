"""Masked voxels to a matrix (``apply_mask``) and back (``unmask``), with reusable kernels.

The kernels work on arrays and precomputed indices so that the maskers can call them on
chunks of volumes:

* :func:`mask_indices` precomputes, once per mask, the flat offsets of the mask voxels
  (listed in C order, as ``data[mask]``) for C- and F-ordered volumes;
* :func:`gather` takes a chunk ``(x, y, z, n)`` and returns its ``(n, n_voxels)`` rows;
* :func:`scatter` writes ``(n, n_voxels)`` rows back into zero-filled volumes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from .._memory import with_small_pages
from .._niimg import _filename, affines_close, check_niimg
from ..exceptions import GeometryError, ParameterError
from ._checks import ParameterTypeError
from ._load import _load_mask

if TYPE_CHECKING:
    from nibabel.spatialimages import SpatialImage

__all__ = ["apply_mask", "unmask", "MaskIndices", "mask_indices", "gather", "scatter"]


class MaskIndices(NamedTuple):
    """Flat offsets of the mask voxels (in C order of the voxels) within one volume."""

    shape: tuple
    c_flat: np.ndarray  # offsets in a C-ordered volume
    f_flat: np.ndarray  # offsets in an F-ordered volume
    mask: np.ndarray  # the boolean mask itself

    @property
    def n_voxels(self) -> int:
        return int(self.c_flat.size)


def mask_indices(mask_bool: np.ndarray) -> MaskIndices:
    """Precompute the voxel offsets of a 3D boolean mask for :func:`gather` / :func:`scatter`."""
    mask = np.asarray(mask_bool, dtype=bool)
    if mask.ndim != 3:
        raise ParameterError(
            f"mask_bool must be a 3D boolean array; got shape {mask.shape}.", param="mask_bool",
            expected="3D", found=mask.shape,
        )
    coords = np.nonzero(mask)
    c_flat = np.ravel_multi_index(coords, mask.shape, order="C").astype(np.intp)
    f_flat = np.ravel_multi_index(coords, mask.shape, order="F").astype(np.intp)
    return MaskIndices(tuple(mask.shape), c_flat, f_flat, mask)


def gather(data_chunk: np.ndarray, indices: MaskIndices, out: np.ndarray | None = None) -> np.ndarray:
    """Rows of masked voxels of a chunk of volumes: ``data_chunk[mask].T``.

    Parameters
    ----------
    data_chunk : ndarray (x, y, z) or (x, y, z, n)
    indices : MaskIndices
    out : ndarray (n, n_voxels), optional
        Written in place (any dtype; values are cast with numpy's ``same_kind``-free rules).

    Returns
    -------
    ndarray (n, n_voxels), C-contiguous (``(n_voxels,)`` for a 3D chunk without ``out``).
    """
    chunk = np.asarray(data_chunk)
    if tuple(chunk.shape[:3]) != indices.shape:
        raise GeometryError(
            f"gather: the chunk has spatial shape {tuple(chunk.shape[:3])}, the mask {indices.shape}.",
            expected=indices.shape, found=tuple(chunk.shape[:3]),
        )
    squeeze = chunk.ndim == 3
    if squeeze:
        chunk = chunk[..., np.newaxis]
    n = chunk.shape[3]
    n_spatial = int(np.prod(indices.shape))
    if out is None:
        out = np.empty((n, indices.n_voxels), dtype=chunk.dtype)
    if chunk.flags.f_contiguous:
        rows = chunk.reshape((n_spatial, n), order="F").T  # (n, n_spatial), C-contiguous view
        if out.dtype == chunk.dtype:
            np.take(rows, indices.f_flat, axis=1, out=out)
        else:
            out[...] = np.take(rows, indices.f_flat, axis=1)
    elif chunk.flags.c_contiguous:
        cols = chunk.reshape((n_spatial, n))
        out[...] = np.take(cols, indices.c_flat, axis=0).T
    else:
        out[...] = chunk[indices.mask].T
    return out[0] if squeeze else out


def scatter(X: np.ndarray, indices: MaskIndices, order: str = "F") -> np.ndarray:
    """Zero-filled volumes holding the rows of ``X`` at the mask voxels (``unmask`` kernel).

    ``X`` of shape ``(n_voxels,)`` gives a 3D array, ``(n, n_voxels)`` a 4D array with ``n``
    volumes, in ``X``'s dtype and the requested memory order.
    """
    X = np.asarray(X)
    if X.ndim == 1:
        data = np.zeros(indices.shape, dtype=X.dtype, order=order)
        data[indices.mask] = X
        return data
    data = np.zeros(indices.shape + (X.shape[0],), dtype=X.dtype, order=order)
    data[indices.mask, :] = X.T
    return data


def _output_dtype(src: np.dtype, dtype: Any) -> np.dtype:
    if isinstance(dtype, str) and dtype == "f":
        return src if src.kind == "f" else np.dtype(np.float32)
    return np.dtype(dtype)


def _is_int_dtype(dtype: Any) -> bool:
    if isinstance(dtype, str) and dtype == "f":
        return False
    try:
        return np.dtype(dtype).kind in "iu"
    except TypeError:
        return False


def _stored_dtype(img) -> np.dtype:
    """The dtype the data come in (float64 for a file with a scale slope/intercept)."""
    proxy = img.dataobj
    if isinstance(proxy, np.ndarray):
        return proxy.dtype
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    if np.all(np.asarray(slope) == 1) and np.all(np.asarray(inter) == 0):
        return np.dtype(img.get_data_dtype())
    return np.dtype(np.float64)


def _cast_to_int(values: np.ndarray, dtype: np.dtype, where: str) -> np.ndarray:
    """Cast masked values to an integer dtype, refusing casts numpy would silently garble."""
    bad = ~np.isfinite(values) if values.dtype.kind == "f" else np.zeros(0, bool)
    if bad.any():
        raise ParameterError(
            f"apply_mask: cannot cast to dtype={dtype}: {int(np.count_nonzero(bad))} masked value(s) are "
            f"NaN or infinite (pass ensure_finite=True to set them to 0, or a float dtype).",
            param="dtype", expected="finite values for an integer dtype", found=int(np.count_nonzero(bad)),
        )
    info = np.iinfo(dtype)
    lo, hi = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if lo < info.min or hi >= info.max + 1:
        raise ParameterError(
            f"apply_mask: cannot cast to dtype={dtype}: the masked values span [{lo}, {hi}], outside "
            f"the range [{info.min}, {info.max}] of {dtype} ({where}); use a wider or a float dtype.",
            param="dtype", expected=(int(info.min), int(info.max)), found=(lo, hi),
        )
    return values.astype(dtype)


def _check_same_grid(img, mask_shape, mask_affine, mask_where: str) -> None:
    name = _filename(img)
    img_where = f" ({name!r})" if name else ""
    if not affines_close(mask_affine, img.affine):
        raise GeometryError(
            f"Mask affine:\n{mask_affine}\n is different from img affine:\n{img.affine}\n"
            f"({mask_where} vs imgs{img_where}; resample one onto the other first.)",
            param="mask_img", expected=np.asarray(mask_affine).tolist(), found=np.asarray(img.affine).tolist(),
        )
    if tuple(mask_shape) != tuple(img.shape[:3]):
        raise GeometryError(
            f"Mask shape: {tuple(mask_shape)}\n is different from img shape:{tuple(img.shape[:3])}\n"
            f"({mask_where} vs imgs{img_where}.)",
            param="mask_img", expected=tuple(mask_shape), found=tuple(img.shape[:3]),
        )


@with_small_pages
def apply_mask(
    imgs: Any, mask_img: Any, dtype: Any = "f", smoothing_fwhm: Any = None, ensure_finite: bool = True
) -> np.ndarray:
    """Extract the masked voxels of a 3D/4D image as a ``(n_volumes, n_voxels)`` array.

    Parameters
    ----------
    imgs : niimg-like
        3D or 4D image, or a list of 3D images; same grid as the mask.
    mask_img : niimg-like
        3D binary mask (0 and one other value).
    dtype : "f" or numpy dtype
        "f" keeps float data's dtype and turns other data into float32; anything else is
        cast to exactly.
    smoothing_fwhm : None or number
        Gaussian smoothing (FWHM in mm) of each volume before masking (forces
        ``ensure_finite``); 0 warns and does not smooth.
    ensure_finite : bool
        Set NaN and inf to 0.

    Returns
    -------
    ndarray (n_volumes, n_voxels), C-contiguous; ``(n_voxels,)`` for a 3D image. Voxels are
    in C order of the mask.

    Notes
    -----
    File-backed images are read chunk by chunk (the 4D array is never loaded whole);
    smoothing is done volume chunk by volume chunk, which gives the same numbers.

    Differences from nilearn
    ------------------------
    * Grid-mismatch errors name the mask and image files.
    * With an integer ``dtype`` and float data, non-finite values are set to 0 *before* the
      cast when ``ensure_finite`` (nilearn casts first: NaN becomes -2147483648 in int32),
      and NaN/inf without ``ensure_finite`` or values outside the integer range raise a
      ``ParameterError`` (numpy would silently produce garbage). Values are truncated
      toward zero, as in nilearn.
    """
    from .._nifti_io import gather_masked, iter_volume_chunks

    if smoothing_fwhm is not None and (
        not isinstance(smoothing_fwhm, (int, float, np.integer, np.floating))
        or isinstance(smoothing_fwhm, (bool, np.bool_))
    ):
        raise ParameterTypeError(
            f"apply_mask: 'smoothing_fwhm' must be a number (mm) or None; got {smoothing_fwhm!r} "
            f"({type(smoothing_fwhm).__name__}). Use nimask.image.smooth_img for per-axis or 'fast' smoothing.",
            param="smoothing_fwhm", expected="float, int or None", found=type(smoothing_fwhm).__name__,
        )
    mask, mask_affine, mask_loaded = _load_mask(mask_img)
    img = check_niimg(imgs)
    if img.ndim not in (3, 4):
        from .._niimg import _dim_error

        raise _dim_error(img.ndim, 4, f"a {img.ndim}D image", _filename(img))
    from ._load import describe_mask

    _check_same_grid(img, mask.shape, mask_affine, describe_mask(mask_loaded))
    if smoothing_fwhm is None:
        if _is_int_dtype(dtype):
            values = gather_masked(img, mask, dtype=_stored_dtype(img), ensure_finite=bool(ensure_finite))
            return _cast_to_int(values, np.dtype(dtype), describe_mask(mask_loaded))
        return gather_masked(img, mask, dtype=dtype, ensure_finite=bool(ensure_finite))
    from ..image import smooth_array

    indices = mask_indices(mask)
    n_vol = 1 if img.ndim == 3 else img.shape[3]
    affine = np.asarray(img.affine)[:3, :3]
    out = None
    for t0, chunk in iter_volume_chunks(img):
        target = _output_dtype(chunk.dtype, dtype)
        chunk = np.asarray(chunk, dtype=target, order="F")
        chunk = smooth_array(chunk, affine, fwhm=smoothing_fwhm, ensure_finite=True, copy=False)
        if out is None:
            out = np.empty((n_vol, indices.n_voxels), dtype=chunk.dtype)
        gather(chunk, indices, out=out[t0 : t0 + chunk.shape[3]])
    return out[0] if img.ndim == 3 else out


@with_small_pages
def unmask(X: Any, mask_img: Any, order: str = "F") -> SpatialImage | list[SpatialImage]:
    """Put masked data back into images: zeros outside the mask.

    Parameters
    ----------
    X : ndarray (n_voxels,) or (n_samples, n_voxels), or a list of those
        1-D gives a 3D image, 2-D a 4D image with ``n_samples`` volumes; a list gives a list.
    mask_img : niimg-like
        The 3D binary mask used to extract ``X``.
    order : {"F", "C"}
        Memory layout of the output data.

    Returns
    -------
    Nifti1Image or list of them, in ``X``'s dtype (bool becomes uint8, int64 becomes int32
    when the values fit), with the mask's affine and a fresh header.
    """
    from ..image import new_img_like

    if order not in ("C", "F"):
        raise ParameterError(
            f"unmask: 'order' must be 'C' or 'F'; got {order!r}.", param="order", expected="'C' or 'F'", found=order,
        )
    mask, affine, mask_loaded = _load_mask(mask_img)
    indices = mask_indices(mask)
    ref = mask_loaded

    def one(x):
        x = np.asanyarray(x)
        if x.ndim not in (1, 2):
            raise ParameterTypeError(
                f"Masked data X must be 2D or 1D array; got shape: {x.shape}.",
                param="X", expected="1D or 2D", found=x.shape,
            )
        if x.shape[-1] != indices.n_voxels:
            raise ParameterTypeError(
                f"X must be of shape (samples, {indices.n_voxels}). Got shape {x.shape}: its last "
                f"axis ({x.shape[-1]}) must match the {indices.n_voxels} voxels of the mask.",
                param="X", expected=f"(samples, {indices.n_voxels})", found=x.shape,
            )
        return new_img_like(ref, scatter(x, indices, order=order), affine, copy_header=False)

    if isinstance(X, list):
        return [one(x) for x in X]
    return one(X)
