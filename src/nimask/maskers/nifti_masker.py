"""NiftiMasker: voxel time series inside a binary mask, cleaned (nilearn 0.14.1 numbers).

The data path is one streamed pass over the volumes: read a chunk of volumes, resample it
to the mask grid if the grids differ, smooth it, take the mask voxels, then clean the
``(T, n_voxels)`` matrix (:func:`nimask.signal.clean` on blocks of columns in a thread
pool, written back in place: the same numbers as one call). With no resampling and no
smoothing the masked voxels are gathered straight from the decompressed bytes
(:func:`nimask._nifti_io.gather_masked`). Peak memory stays near twice the output matrix.

Differences from nilearn
------------------------
* ``mask_img`` must be binary: nilearn silently binarises a mask with values {0, 2, 3}
  (or keeps the voxels nonzero in every volume of a 4D mask); nimask raises a
  :class:`~nimask.exceptions.MaskError` naming the values (or the shape).
* NaN/inf values inside the mask are set to 0 as in nilearn, but with a
  :class:`~nimask.exceptions.NimaskDataWarning` giving their count.
* ``memory_level`` is never changed in place (nilearn sets it to 1 when a cache location is
  given with level 0; nimask warns and uses level 1 internally). Level 1 caches the mask
  computation and the whole extraction of each image; cache keys use the *content* of input
  files (size, mtime and a checksum), so an input rewritten in place is never served stale.
  There are no separate level-2 caches (caching never changes the numbers).
* ``memory_level > 1`` without a cache location warns (nilearn 0.14.1 crashes).
* ``generate_report()`` gives nimask's own self-contained HTML page (mask over the mean
  image, coverage, cleaning steps, warnings, carpet plot); ``reports=False`` records nothing
  for it (``cmap`` is accepted and stored).
* Old scripts: ``sessions=`` is accepted with a ``DeprecationWarning`` and used as ``runs``.
* ``t_r`` is checked at ``fit`` even without filters: zero, negative or > 100 s (milliseconds?)
  raise a :class:`~nimask.exceptions.ParameterError` (nilearn accepts them and, once a filter
  is on, wipes the signal).
* Template strategies need a template: nimask ships none, so pass
  ``mask_args={"template": <image or path>}`` (nilearn's own file gives nilearn's mask) or
  keep a TemplateFlow cache (see :func:`nimask.masking.compute_brain_mask`).

scikit-learn
------------
``get_params``/``set_params``/``clone``, Pipeline and GridSearchCV (X = list of 3D images),
``set_output`` and ``get_feature_names_out`` work. In ``sklearn.utils.estimator_checks`` the
API checks pass; the checks that fit or transform numpy arrays do not apply (X is an image,
arrays are refused with a ``TypeError`` as in nilearn): they are listed with that reason in
``tests/maskers/test_masker_nifti_sklearn.py``, where the same properties are tested on images.
"""
from __future__ import annotations

import inspect
import warnings
from typing import Any

import numpy as np

from .._niimg import affines_close, check_header_t_r, check_niimg
from .._nonfinite import zero_nonfinite
from .._threads import n_threads, prefetched
from ..exceptions import MaskError, NimaskGeometryWarning, ParameterError
from ._base import _BaseMasker, binarised_mask, clean_by_columns, fingerprint, source_dtype
from ..reporting._record import reported

__all__ = ["NiftiMasker", "masked_signals"]

_STRATEGIES = {
    "background": ("compute_background_mask", {}),
    "epi": ("compute_epi_mask", {}),
    "whole-brain-template": ("compute_brain_mask", {"mask_type": "whole-brain"}),
    "gm-template": ("compute_brain_mask", {"mask_type": "gm"}),
    "wm-template": ("compute_brain_mask", {"mask_type": "wm"}),
}
_TEMPLATE_KEYS = ("threshold", "connected", "opening", "memory", "verbose", "template")
_RESAMPLING_WARNING = (
    "imgs are being resampled to the mask_img resolution. This process is memory intensive. You "
    "might want to provide a target_affine that is equal to the affine of the imgs or resample "
    "the mask beforehand to save memory and computation time."
)


# ------------------------------------------------------------------------------ the kernel
def _mask_box(mask: np.ndarray, affine: np.ndarray):
    """Crop a mask to its bounding box plus a 1-voxel margin (nilearn's ``crop_img(pad=True)``)."""
    coords = np.argwhere(mask)
    start = np.maximum(coords.min(axis=0) - 1, 0)
    end = np.minimum(coords.max(axis=0) + 2, mask.shape)
    box = mask[tuple(slice(int(s), int(e)) for s, e in zip(start, end))]
    box_affine = np.array(affine, dtype=np.float64)
    box_affine[:3, 3] = box_affine[:3, :3] @ start + box_affine[:3, 3]
    return np.ascontiguousarray(box), box_affine


def _smoothing_box(mask: np.ndarray, sigmas) -> tuple[slice, ...]:
    """Box of voxels whose smoothed values at the mask voxels are exact: the mask's bounding
    box plus the Gaussian kernel radius on each side (clamped to the grid, where the reflect
    border of the whole grid then applies unchanged)."""
    coords = np.argwhere(mask)
    lo, hi = coords.min(axis=0), coords.max(axis=0) + 1
    radius = [int(4.0 * s + 0.5) + 1 for s in sigmas]  # scipy's radius (truncate=4) + 1
    return tuple(slice(max(int(a) - r, 0), min(int(b) + r, n)) for a, b, r, n in zip(lo, hi, radius, mask.shape))


def _smoothed(part: np.ndarray, sigmas, pool=None) -> np.ndarray:
    """Float copy of a ``(x, y, z, n)`` chunk laid out ``(n, z, y, x)`` (C order), non-finite
    values set to 0, Gaussian-filtered along x, y then z (as ``smooth_array``).

    Same per-line computation as filtering the ``(x, y, z, n)`` array (bitwise equal), but
    scipy runs about twice as fast when each volume is contiguous. With a thread ``pool``
    the volumes are shared among its threads (scipy releases the GIL while filtering).
    """
    from ..image._smoothing import _float_dtype

    out = np.empty(part.shape[::-1], dtype=_float_dtype(part.dtype))
    n = part.shape[3]
    if pool is None or n < 2:
        _smooth_volumes(part, sigmas, out)
        return out
    splits = np.array_split(np.arange(n), n_threads(n))  # the pool holds n_threads(n_vol) >= these
    futures = [pool.submit(_smooth_volumes, part[..., s[0] : s[-1] + 1], sigmas, out[s[0] : s[-1] + 1])
               for s in splits if s.size]
    for future in futures:
        future.result()
    return out


def _smooth_volumes(part: np.ndarray, sigmas, out: np.ndarray) -> None:
    """:func:`_smoothed` of ``part`` written into ``out`` (``(n, z, y, x)``, C order)."""
    from scipy import ndimage

    out[...] = part.T
    zero_nonfinite(out)
    for axis, sigma in enumerate(sigmas):
        if sigma > 0:
            ndimage.gaussian_filter1d(out, sigma, axis=3 - axis, output=out)


def masked_signals(
    img,
    mask: np.ndarray,
    mask_affine: np.ndarray,
    *,
    smoothing_fwhm: float | None = None,
    chunk_size: int | None = None,
) -> tuple[np.ndarray, int]:
    """Signals ``(T, n_voxels)`` of a 3D/4D image inside a boolean mask, and the NaN/inf count.

    Steps, chunk of volumes by chunk: resample to the mask grid (continuous, clipped to the
    whole run's ``[min(data, 0), max(data, 0)]``) when the grids differ, smooth (FWHM in mm)
    when asked, take the mask voxels (C order, as ``data[mask]``). Float data keep their
    dtype, other data become float32. Non-finite values inside the mask become 0 and are
    counted. Equal to ``apply_mask(smooth_img(resample_img(img, ...)), mask)`` of nilearn.

    Parameters
    ----------
    img : nibabel image (3D or 4D)
    mask : bool ndarray (x, y, z) on the grid ``mask_affine``
    mask_affine : (4, 4) array
    smoothing_fwhm : float or None
    chunk_size : int or None
        Volumes per chunk (default: the reader's, about 8 MB of stored data).
    """
    from .._nifti_io import gather_masked, iter_volume_chunks

    if smoothing_fwhm is not None:
        from ..image._smoothing import _check_fwhm

        if _check_fwhm(smoothing_fwhm) is None:  # 0: nilearn's warning, then no smoothing
            smoothing_fwhm = None
    resample = tuple(img.shape[:3]) != mask.shape or not affines_close(img.affine, mask_affine)
    n_vol = img.shape[3] if len(img.shape) == 4 else 1
    if not resample and smoothing_fwhm is None:
        signals = gather_masked(img, mask, chunk_size=chunk_size, ensure_finite=False).reshape(n_vol, -1)
        return signals, zero_nonfinite(signals)
    from ..image._resampling import clip_bounds

    grid_mask, grid_affine = _mask_box(mask, mask_affine) if resample else (mask, np.asarray(img.affine))
    box, sigmas = (slice(None),) * 3, None
    if smoothing_fwhm is not None:
        from ..image._smoothing import fwhm_to_sigma

        sigmas = fwhm_to_sigma(smoothing_fwhm, grid_affine)
        box = _smoothing_box(grid_mask, sigmas)
    box_mask = grid_mask[box]
    idx = np.ravel_multi_index(np.nonzero(box_mask), box_mask.shape, order="F")
    bounds = None
    if resample and smoothing_fwhm is not None:  # clipping comes before smoothing: bounds first
        for _, chunk in iter_volume_chunks(img, chunk_size):
            bounds = clip_bounds(chunk, bounds)
    pool = None
    if smoothing_fwhm is not None and n_threads(n_vol) > 1:
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(n_threads(n_vol))
    try:
        signals, n_bad, bounds = _masked_chunks(
            img, chunk_size, resample, smoothing_fwhm, bounds, grid_affine, grid_mask, box, sigmas, idx,
            n_vol, pool,
        )
    finally:
        if pool is not None:
            pool.shutdown()
    n_bad += zero_nonfinite(signals)
    if resample and smoothing_fwhm is None and bounds is not None:
        np.clip(signals, signals.dtype.type(bounds[0]), signals.dtype.type(bounds[1]), out=signals)
    return signals, n_bad


def _masked_chunks(img, chunk_size, resample, smoothing_fwhm, bounds, grid_affine, grid_mask, box, sigmas, idx,
                   n_vol, pool):
    """The chunk loop of :func:`masked_signals`: ``(signals, non-finite count before smoothing, clip bounds)``."""
    from .._nifti_io import iter_volume_chunks
    from ..image._resampling import clip_bounds, resample_array

    signals, n_bad = None, 0
    for t0, chunk in prefetched(iter_volume_chunks(img, chunk_size)):
        if resample:
            if smoothing_fwhm is None:
                bounds = clip_bounds(chunk, bounds)
            clip = bounds if (smoothing_fwhm is not None and bounds is not None) else False
            chunk = resample_array(chunk, img.affine, grid_affine, grid_mask.shape, clip=clip)
        n = chunk.shape[3]
        if smoothing_fwhm is not None:
            if chunk.dtype.kind == "f":
                n_bad += int((~np.isfinite(chunk[grid_mask])).sum())
            block = _smoothed(chunk[box], sigmas, pool).reshape(n, -1)  # (n, voxels of the box in F order)
        else:
            block = chunk.reshape(-1, n, order="F").T  # (n, n_grid_voxels), a view for F-ordered chunks
        if signals is None:
            dtype = block.dtype if block.dtype.kind == "f" else np.dtype(np.float32)
            signals = np.empty((n_vol, idx.size), dtype=dtype)
        if block.dtype == signals.dtype:
            np.take(block, idx, axis=1, out=signals[t0 : t0 + n])
        else:
            signals[t0 : t0 + n] = block[:, idx]
    return signals, n_bad, bounds


def _warn_nonfinite(n_bad: int, what: str) -> None:
    from .._nonfinite import warn_nonfinite  # the policy shared by every masker

    warn_nonfinite(n_bad, what, "inside the mask", stacklevel=4)


# ------------------------------------------------------------------------------ the estimator
class NiftiMasker(_BaseMasker):
    """Extract voxel time series inside a mask, optionally smoothed, resampled and cleaned.

    Drop-in replacement for ``nilearn.maskers.NiftiMasker`` (0.14.1): same parameters in the
    same order, same fitted attributes, same numbers (<= 1e-6 relative).

    Parameters
    ----------
    mask_img : 3D niimg-like, optional
        Binary mask (0 and one other value). When None, a mask is computed at ``fit`` with
        ``mask_strategy``.
    runs : ndarray of shape (T,), optional
        Run label of each scan; each run is cleaned separately (rows regrouped in sorted
        label order).
    smoothing_fwhm : float, optional
        FWHM of the Gaussian smoothing in mm, applied after resampling.
    standardize : {"zscore_sample", "psc", True, False, None}, default=False
    standardize_confounds : bool, default=True
    detrend : bool, default=False
    high_variance_confounds : bool, default=False
        Add 5 CompCor-style confounds computed from the raw image.
    low_pass, high_pass : float, optional
        Butterworth cut-offs in Hz (need ``t_r``).
    t_r : float, optional
        Repetition time in seconds.
    target_affine : (3, 3) or (4, 4) array, optional
        The mask is resampled (nearest) to it at fit; images are resampled to the mask grid.
    target_shape : 3-tuple, optional
        Needs a 4x4 ``target_affine``.
    mask_strategy : {"background", "epi", "whole-brain-template", "gm-template", "wm-template"}
        How to compute the mask when ``mask_img`` is None.
    mask_args : dict, optional
        Extra keyword arguments of the mask function (``{"template": img}`` passes a template
        to ``compute_brain_mask``); unsupported keys are dropped with a warning.
    dtype : None, "auto" or numpy dtype
        Output dtype (None: the pipeline's float dtype).
    memory : None, str, Path or joblib.Memory
        Cache location.
    memory_level : int, default=1
    verbose : int, default=0
    reports : bool, default=True
        Record what ``generate_report()`` shows (warnings, image sources, a sample of the
        signals) during ``fit``/``transform``.
    cmap : str, default="gray"
        Accepted for compatibility (stored).
    clean_args : dict, optional
        Extra keyword arguments of :func:`nimask.signal.clean`.

    Attributes
    ----------
    mask_img_ : Nifti1Image (uint8 0/1)
    affine_ : the given ``target_affine`` or the mask's affine
    n_elements_ : int, number of mask voxels
    clean_args_ : dict
    memory_ : joblib.Memory

    Examples
    --------
    >>> import numpy as np, nibabel as nib
    >>> img = nib.Nifti1Image(np.random.default_rng(0).random((7, 8, 9, 20), dtype=np.float32), np.eye(4))
    >>> mask = np.zeros((7, 8, 9), np.uint8); mask[2:5, 2:6, 3:7] = 1
    >>> masker = NiftiMasker(nib.Nifti1Image(mask, np.eye(4)))
    >>> masker.fit_transform(img).shape
    (20, 48)
    """

    _fitted_attrs = ("mask_img_",)

    def __init__(
        self,
        mask_img=None,
        runs=None,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        detrend=False,
        high_variance_confounds=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        target_affine=None,
        target_shape=None,
        mask_strategy="background",
        mask_args=None,
        dtype=None,
        memory=None,
        memory_level=1,
        verbose=0,
        reports=True,
        cmap="gray",
        clean_args=None,
        **kwargs,
    ):
        self.mask_img = mask_img
        self.runs = _pop_sessions(runs, kwargs, type(self).__name__)
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.detrend = detrend
        self.high_variance_confounds = high_variance_confounds
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.target_affine = target_affine
        self.target_shape = target_shape
        self.mask_strategy = mask_strategy
        self.mask_args = mask_args
        self.dtype = dtype
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args

    # ---- fit -----------------------------------------------------------------------------
    @reported("fit")
    def fit(self, imgs=None, y=None):
        """Binarise the given mask (or compute one from ``imgs``) and resample it to the target."""
        self._check_params()
        self._check_target()
        imgs_img = None if imgs is None else self._load_fit_imgs(imgs)
        if self.mask_img is not None:
            if imgs is not None and not getattr(self, "_in_fit_transform", False):
                warnings.warn(
                    f"[{type(self).__name__}.fit] Generation of a mask has been requested (imgs != None) "
                    "while a mask was given at masker creation. Given mask will be used.",
                    RuntimeWarning, stacklevel=2,
                )
            mask_img = binarised_mask(self.mask_img)
        elif imgs is None:
            raise ParameterError(
                f"Parameter 'imgs' must be provided to {type(self).__name__}.fit() if no mask is passed "
                "to mask_img.",
                param="imgs",
            )
        else:
            mask_img = self._compute_mask(imgs, imgs_img)
        mask_img = self._mask_to_target(mask_img)
        self._set_mask(mask_img)
        self.affine_ = self.target_affine if self.target_affine is not None else mask_img.affine
        return self

    def _load_fit_imgs(self, imgs):
        """The fit images as one image (a list is concatenated along time), checked non-empty."""
        img = check_niimg(imgs, atleast_4d=True)
        if any(s == 0 for s in img.shape):
            import os

            name = os.fspath(imgs) if isinstance(imgs, (str, os.PathLike)) else img.get_filename()
            where = f" ({name!r})" if name else ""
            raise ParameterError(
                f"The image is empty: shape {tuple(img.shape)}{where}.", param="imgs", path=name,
                found=tuple(img.shape),
            )
        return img

    def _check_target(self) -> None:
        if self.target_shape is not None and self.target_affine is None:
            raise ParameterError(
                "If target_shape is specified, target_affine should be specified too.",
                param="target_affine",
            )

    def _mask_to_target(self, mask_img):
        if self.target_affine is None and self.target_shape is None:
            return mask_img
        from ..image import resample_img

        return self._cache(
            lambda: ("resample_mask", fingerprint(mask_img), _as_key(self.target_affine), _as_key(self.target_shape)),
            lambda: resample_img(
                mask_img, target_affine=self.target_affine, target_shape=self.target_shape,
                interpolation="nearest", copy=False,
            ),
        )

    def _set_mask(self, mask_img, allow_empty: bool = False) -> None:
        import nibabel as nib

        mask = np.asanyarray(mask_img.dataobj) != 0
        if not mask.any() and not allow_empty:
            raise MaskError(
                f"The mask is invalid as it is empty: it masks all data ({type(self).__name__}, "
                f"mask of shape {mask.shape}).",
                param="mask_img",
            )
        header = getattr(mask_img, "header", None)
        self.mask_img_ = nib.Nifti1Image(mask.astype(np.uint8), mask_img.affine, header=header)
        self.mask_img_.set_data_dtype(np.uint8)
        self._mask = mask
        self.n_elements_ = int(mask.sum())

    def _mask_function(self, multi: bool = False):
        from .. import masking

        if self.mask_strategy not in _STRATEGIES:
            raise ParameterError(
                f"Unknown value of mask_strategy '{self.mask_strategy}'. Acceptable values are "
                f"{tuple(_STRATEGIES)}.",
                param="mask_strategy", found=self.mask_strategy,
            )
        name, fixed = _STRATEGIES[self.mask_strategy]
        if multi:
            name = name.replace("compute_", "compute_multi_")
        return getattr(masking, name), dict(fixed)

    def _mask_kwargs(self, func, fixed: dict) -> dict:
        accepted = set(inspect.signature(func).parameters)
        if "mask_type" in fixed:
            accepted &= set(_TEMPLATE_KEYS)
        args = dict(self.mask_args or {})
        dropped = sorted(k for k in args if k not in accepted)
        if dropped:
            warnings.warn(
                f"The following arguments are not supported by the masking strategy "
                f"'{self.mask_strategy}': {dropped}",
                UserWarning, stacklevel=4,
            )
        kwargs = {k: v for k, v in args.items() if k in accepted}
        kwargs.update(fixed)
        kwargs["verbose"] = max(0, int(self.verbose) - 1)
        return kwargs

    def _compute_mask(self, imgs, imgs_img):
        func, fixed = self._mask_function()
        kwargs = self._mask_kwargs(func, fixed)
        key = lambda: ("mask", func.__name__, fingerprint(imgs), {k: fingerprint(v) for k, v in kwargs.items()})  # noqa: E731
        return self._cache(key, lambda: func(imgs_img, **kwargs))

    @reported("fit_transform")
    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None):
        """Fit on ``imgs`` (no "mask given" warning) and transform them."""
        self._in_fit_transform = True
        try:
            self.fit(imgs, y)
        finally:
            del self._in_fit_transform
        return self.transform(imgs, confounds=confounds, sample_mask=sample_mask)

    # ---- transform -----------------------------------------------------------------------
    @reported("transform")
    def transform(self, imgs, confounds=None, sample_mask=None):
        """Signals ``(T, n_elements_)`` of a 4D image (``(n_elements_,)`` for a 3D image)."""
        self._check_fitted()
        self._warn_bool_standardize()
        return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)

    def transform_single_imgs(self, imgs, confounds=None, sample_mask=None, copy=True):
        """The per-image pipeline: load, resample, smooth, mask, clean, squeeze, cast."""
        self._check_fitted()
        return self._transform_one(imgs, confounds, sample_mask)

    def _transform_one(self, imgs, confounds, sample_mask, cast: bool = True):
        img, was_3d = self._load_run(imgs)
        check_header_t_r(img, self.t_r, type(self).__name__)
        src = source_dtype(img) if cast else None
        if self.high_variance_confounds:
            confounds = self._with_high_variance(img, confounds)
        key = lambda: (  # noqa: E731
            "signals", fingerprint(imgs), fingerprint(confounds), _as_key(sample_mask),
            self._mask.tobytes(), _as_key(self.mask_img_.affine), self._clean_params(),
        )
        signals = self._cache(key, lambda: self._signals(img, confounds, sample_mask))
        return self._finish(signals, was_3d, src)

    def _signals(self, img, confounds, sample_mask) -> np.ndarray:
        if tuple(img.shape[:3]) != self._mask.shape or not affines_close(img.affine, self.mask_img_.affine):
            warnings.warn(_RESAMPLING_WARNING, NimaskGeometryWarning, stacklevel=5)
        signals, n_bad = masked_signals(
            img, self._mask, self.mask_img_.affine, smoothing_fwhm=self.smoothing_fwhm,
        )
        _warn_nonfinite(n_bad, f"{type(self).__name__}.transform")
        if self._nothing_to_clean(confounds, sample_mask):
            return signals  # clean() would return a float copy of the same values
        return clean_by_columns(  # column blocks in threads; same numbers as one clean() call
            signals,
            runs=self.runs,
            detrend=self.detrend,
            standardize=self.standardize,
            standardize_confounds=self.standardize_confounds,
            t_r=self.t_r,
            low_pass=self.low_pass,
            high_pass=self.high_pass,
            confounds=confounds,
            sample_mask=sample_mask,
            _owned=True,  # the extracted matrix is ours: clean it in place, no second copy
            **self.clean_args_,
        )

    def _nothing_to_clean(self, confounds, sample_mask) -> bool:
        return (
            confounds is None and sample_mask is None and self.runs is None and not self.detrend
            and self.standardize in (False, None) and self.low_pass is None and self.high_pass is None
            and not self.clean_args_
        )

    def _clean_params(self) -> dict:
        names = (
            "runs", "smoothing_fwhm", "standardize", "standardize_confounds", "detrend", "low_pass",
            "high_pass", "t_r", "high_variance_confounds",
        )
        params = {n: _as_key(getattr(self, n)) for n in names}
        params["clean_args"] = {k: fingerprint(v) for k, v in self.clean_args_.items()}
        return params

    @staticmethod
    def _with_high_variance(img, confounds):
        """nilearn's NiftiMasker order: the 5 high-variance confounds first, then the user's."""
        from ..signal import high_variance_confounds

        data = np.asanyarray(img.dataobj)
        series = data.reshape(-1, data.shape[-1]).T if data.ndim == 4 else data.reshape(1, -1)
        hv = high_variance_confounds(series)
        if confounds is None:
            return hv
        if isinstance(confounds, list):
            return [hv, *confounds]
        return [hv, confounds]

    # ---- inverse -------------------------------------------------------------------------
    def inverse_transform(self, X):
        """Image of ``X`` on the mask grid: 1-D ``(n_elements_,)`` gives 3D, 2D gives 4D."""
        import nibabel as nib

        self._check_fitted()
        if hasattr(X, "to_numpy"):
            X = np.squeeze(X.to_numpy())
        X = np.asarray(X)
        n = self.n_elements_
        if X.ndim not in (1, 2) or X.shape[-1] != n:
            expected = (n,) if X.ndim == 1 else ((X.shape[0], n) if X.ndim == 2 else "(n,) or (T, n)")
            raise ParameterError(
                f"Input to 'inverse_transform' has wrong shape.\nExpected {expected}.\nGot {X.shape}.",
                param="X", expected=expected, found=X.shape,
            )
        dtype = self._inverse_dtype(X)
        if dtype == np.int64 and X.size and np.abs(X).max() <= np.iinfo(np.int32).max:
            dtype = np.dtype(np.int32)
        mask = self._mask
        if X.ndim == 1:
            data = np.zeros(mask.shape, dtype=dtype)
            data[mask] = X
        else:
            data = np.zeros(mask.shape + (X.shape[0],), dtype=dtype, order="F")
            data[mask] = X.T
        return nib.Nifti1Image(data, self.mask_img_.affine)


def _pop_sessions(runs, kwargs: dict, owner: str):
    """Map the old ``sessions=`` keyword to ``runs`` (DeprecationWarning); refuse others."""
    if "sessions" in kwargs:
        sessions = kwargs.pop("sessions")
        warnings.warn(
            f"{owner}: 'sessions' is the old name of 'runs' (renamed in nilearn 0.8); use runs=.",
            DeprecationWarning, stacklevel=3,
        )
        if runs is not None and sessions is not None:
            raise ParameterError(f"{owner}: give 'runs' or its old name 'sessions', not both.", param="sessions")
        runs = sessions if runs is None else runs
    if kwargs:
        name = sorted(kwargs)[0]
        hint = " Pass cleaning options in clean_args={...}." if name.startswith("clean__") else ""
        raise TypeError(f"{owner}.__init__() got an unexpected keyword argument {name!r}.{hint}")
    return runs


def _as_key(value: Any) -> Any:
    """A joblib-hashable, content-based version of an array-like parameter."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return [_as_key(v) for v in value]
    return fingerprint(value)
