"""Input checks shared by the maskers: runs, masks, header dtypes, grids, old keyword names."""
from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from .._niimg import _filename, check_niimg, has_scaling, source_dtype
from .._warnings import find_stack_level
from ..exceptions import AtlasError, DimensionError, MaskError, NimaskDataWarning, ParameterError

__all__ = ["source_dtype", "has_scaling", "pipeline_dtype", "binarised_mask", "load_run", "resample_like",
           "high_variance_of", "pop_sessions", "check_fov", "check_labels_left", "check_data_grid",
           "check_filter_length"]


def pipeline_dtype(img: Any, grid: Any, smoothing_fwhm: Any, output_dtype: Any) -> np.dtype:
    """nilearn's dtype of a region masker's output for ``img`` with ``dtype=None`` (spec §1.6).

    ``output_dtype`` (the operator's rule) of the dtype of the values extracted on ``grid``
    (:func:`nimask.pipeline.values_dtype`), then ``clean``'s rule (other integers become
    float32, 8-byte integers float64). nimask computes the region values and their cleaning
    in float64 and casts only the output to this dtype (catalogue D12).
    """
    from ..pipeline import values_dtype
    from ..signal._detrend import as_float

    extracted = np.dtype(output_dtype(values_dtype(img, grid, smoothing_fwhm)))
    return as_float(np.zeros(0, extracted), copy=False).dtype


def binarised_mask(mask_img: Any, *, param: str = "mask_img") -> Any:
    """A constructor mask as a uint8 0/1 Nifti1Image, refusing what nilearn silently binarises.

    Accepted: a 3D image (or 4D with one volume) with one nonzero value and 0, or a single
    nonzero value (full mask). Non-finite values count as 0 (with a warning giving the count).

    Raises
    ------
    MaskError
        A 4D mask with several volumes, more than one nonzero value (values named), or an
        all-zero mask.
    """
    import nibabel as nib

    img = check_niimg(mask_img)
    shape = tuple(img.shape)
    if len(shape) == 4 and shape[3] == 1:
        img = check_niimg(img, ensure_ndim=3)
    elif len(shape) != 3:
        raise MaskError(
            f"'{param}' must be a 3D binary image; got an image of shape {shape}. Pass one volume "
            f"(e.g. nimask.image.index_img(mask, 0)) or intersect the volumes first.",
            param=param, expected="3D", found=shape,
        )
    data = np.asanyarray(img.dataobj)
    if data.dtype.kind in "fc":
        bad = ~np.isfinite(data)
        n_bad = int(bad.sum())
        if n_bad:
            warnings.warn(
                f"Non-finite values detected. '{param}' has {n_bad} NaN/inf values; they are treated as outside "
                f"the mask (0).",
                NimaskDataWarning, stacklevel=find_stack_level(),
            )
            data = np.where(bad, 0, data)
    values = np.unique(data)
    nonzero = values[values != 0]
    if nonzero.size == 0:
        raise MaskError(
            f"The mask is invalid as it is empty: it masks all data. '{param}' has only zeros "
            f"(shape {shape[:3]}).",
            param=param, found="all zeros",
        )
    if nonzero.size > 1:
        shown = nonzero[:10].tolist()
        raise MaskError(
            f"'{param}' must be binary (0 and one other value); found {nonzero.size} nonzero values "
            f"{shown}{' ...' if nonzero.size > 10 else ''}. Binarise it explicitly, e.g. "
            f"nimask.image.math_img('img > 0', img=mask).",
            param=param, expected="0 and one value", found=shown,
        )
    return nib.Nifti1Image((data != 0).astype(np.uint8), img.affine)


def load_run(imgs: Any, dtype: Any = None) -> tuple[Any, bool]:
    """(image, was_3d) for a 3D/4D niimg or a list of 3D niimgs (a list of 4D: DimensionError)."""
    img = check_niimg(imgs, ensure_ndim=None if not isinstance(imgs, (list, tuple)) else 4, dtype=dtype)
    ndim = len(img.shape)
    name = img.get_filename() if hasattr(img, "get_filename") else None
    where = f" ({name!r})" if name else ""
    if ndim not in (3, 4):
        raise DimensionError(
            ndim, 4,
            f"Input data has incompatible dimensionality: Expected dimension is 4D and you provided "
            f"a {ndim}D image of shape {tuple(img.shape)}{where}.",
            path=name,
        )
    if any(s == 0 for s in img.shape):
        raise ParameterError(f"The image is empty: shape {tuple(img.shape)}{where}.", path=name,
                             found=tuple(img.shape))
    return img, ndim == 3


def check_filter_length(masker: Any, img: Any, was_3d: bool, described: str) -> None:
    """Refuse Butterworth filtering of an image with too few volumes, before reading it.

    scipy's own error speaks of ``padlen``; this one names the masker, the cut-offs, the image
    (``described``) and its volumes: a 3D image is one volume and cannot be filtered.
    """
    from ..signal._filters import butterworth_min_samples

    low_pass, high_pass = getattr(masker, "low_pass", None), getattr(masker, "high_pass", None)
    needed = butterworth_min_samples(low_pass, high_pass, getattr(masker, "t_r", None), masker.clean_args_)
    n = 1 if was_3d else int(img.shape[3])
    if needed is None or n > needed:
        return
    given = [f"{k}={v}" for k, v in (("low_pass", low_pass), ("high_pass", high_pass)) if v is not None]
    has = "is 3D (a single volume)" if was_3d else f"has {n} volume{'s' if n > 1 else ''}"
    raise ParameterError(
        f"{type(masker).__name__}: {' and '.join(given)} need{'s' if len(given) == 1 else ''} a 4D time series "
        f"with more volumes: the image {described} {has}, and Butterworth filtering (t_r={masker.t_r}) needs more "
        f"than {needed} volumes. Give a 4D image with more volumes, or set "
        f"{' and '.join(g.split('=')[0] + '=None' for g in given)}.",
        param="low_pass" if low_pass is not None else "high_pass", path=_filename(img),
        expected=f"> {needed} volumes", found=n,
    )


def resample_like(img: Any, target: Any, interpolation: str, **kw: Any) -> Any:
    """``img`` resampled onto the grid of ``target`` (nimask's ``resample_img``)."""
    from ..image import resample_img

    return resample_img(img, target_affine=target.affine, target_shape=target.shape[:3],
                        interpolation=interpolation, copy_header=True, force_resample=True, **kw)


def high_variance_of(img: Any) -> np.ndarray:
    """The 5 high-variance confounds of the raw image (all voxels), as nilearn's maskers add them."""
    from ..signal import high_variance_confounds

    data = np.asanyarray(img.dataobj)
    series = data.reshape(-1, data.shape[-1]).T if data.ndim == 4 else data.reshape(1, -1)
    return high_variance_confounds(series)


def pop_sessions(runs: Any, kwargs: dict, owner: str) -> Any:
    """Map the old ``sessions=`` keyword to ``runs`` (DeprecationWarning); refuse others."""
    if "sessions" in kwargs:
        sessions = kwargs.pop("sessions")
        warnings.warn(
            f"{owner}: 'sessions' is the old name of 'runs' (renamed in nilearn 0.8); use runs=.",
            DeprecationWarning, stacklevel=find_stack_level(),
        )
        if runs is not None and sessions is not None:
            raise ParameterError(f"{owner}: give 'runs' or its old name 'sessions', not both.", param="sessions")
        runs = sessions if runs is None else runs
    if kwargs:
        name = sorted(kwargs)[0]
        hint = " Pass cleaning options in clean_args={...}." if name.startswith("clean__") else ""
        raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {name!r}.{hint}")
    return runs


def without_sessions_alias(cls: type) -> type:
    """Give ``cls`` the signature nilearn's class has: its ``__init__`` without ``self`` and without
    the ``**kwargs`` that only carries the old ``sessions=`` alias (which is not a parameter:
    ``get_params`` does not list it). ``inspect.signature(cls)`` and ``help`` then show nilearn's
    parameters, and scikit-learn's checks, which pass a value for every parameter of the
    signature, do not pass one named ``kwargs``."""
    sig = inspect.signature(cls.__init__)
    params = [p for p in list(sig.parameters.values())[1:] if p.kind is not inspect.Parameter.VAR_KEYWORD]
    cls.__signature__ = _OwnSignature(cls, sig.replace(parameters=params, return_annotation=inspect.Signature.empty))
    return cls


class _OwnSignature:
    """``__signature__`` of one class only: a subclass (a user's) gets its own, computed as usual."""

    def __init__(self, owner: type, sig: inspect.Signature) -> None:
        self.owner, self.sig = owner, sig

    def __get__(self, obj: Any, objtype: Any = None) -> inspect.Signature | None:
        return self.sig if obj is None and objtype is self.owner else None


def check_fov(reference: Any, what: str, others: list) -> None:
    """``resampling_target=None``: every ``(image, name)`` of ``others`` must be on ``reference``'s grid.

    Raises
    ------
    GeometryError
        Listing each image whose shape or affine differs.
    """
    from .._niimg import affines_close
    from ..exceptions import GeometryError

    problems = []
    for other, name in others:
        if other is None:
            continue
        if tuple(other.shape[:3]) != tuple(reference.shape[:3]):
            problems.append(f"- {what} and {name} do not have the same shape: {tuple(reference.shape[:3])} vs "
                            f"{tuple(other.shape[:3])}")
        elif not affines_close(other.affine, reference.affine):
            problems.append(f"- {what} and {name} do not have the same affine")
    if problems:
        raise GeometryError("Following field of view errors were detected (resampling_target=None):\n"
                            + "\n".join(problems), param="resampling_target")


def in_memory(img: Any) -> Any:
    """A fitted image with its data loaded and cached, as nilearn's fitted images are.

    nilearn's ``image.get_data`` fills nibabel's data cache of the image it reads; with the
    cache already filled, reading the data of a fitted attribute (``mask_img_``, ...) changes
    nothing in it, so its ``joblib.hash`` (cache keys built on it) stays the same.
    """
    if img is None:
        return None
    import nibabel as nib

    if not isinstance(img.dataobj, np.ndarray):
        img = nib.Nifti1Image(np.asanyarray(img.dataobj), img.affine, img.header)
    img._data_cache = img.dataobj  # nibabel's own cache attribute (what get_data would store)
    return img


def check_labels_left(labels_img: Any, mask_img: Any, background_label: Any) -> None:
    """Raise when ``mask_img`` (on the labels' grid) keeps no voxel of any region."""
    lab = np.asanyarray(labels_img.dataobj)
    if not np.any(lab[np.asanyarray(mask_img.dataobj) != 0] != background_label):
        raise AtlasError("No label left after applying mask to the labels image: every voxel of mask_img "
                         "falls on the background.", param="mask_img")


def check_data_grid(labels_img: Any, img: Any) -> None:
    """``resampling_target=None`` at transform: ``img`` must be on the labels' grid (nilearn's wording)."""
    from .._niimg import affines_close
    from ..exceptions import GeometryError

    if tuple(img.shape[:3]) != tuple(labels_img.shape[:3]):
        raise GeometryError(f"Images have incompatible shapes. With resampling_target=None the data must be on "
                            f"the labels' grid: data shape {tuple(img.shape[:3])}, labels shape "
                            f"{tuple(labels_img.shape[:3])}.", param="resampling_target")
    if not affines_close(img.affine, labels_img.affine):
        raise GeometryError("Images have different affine matrices. With resampling_target=None the data must be "
                            "on the labels' grid (same shape and affine).", param="resampling_target")
