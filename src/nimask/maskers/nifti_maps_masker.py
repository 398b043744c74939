"""NiftiMapsMasker: one signal per (weighted, possibly overlapping) map, by least squares.

Same parameters, fitted attributes and numbers as nilearn 0.14.1's ``NiftiMapsMasker``.
The maps are factored once per grid (:func:`nimask.regions._maps.prepare_maps`) and the
image is streamed chunk by chunk: each chunk is one matrix product, and only the voxels
where a kept map is nonzero are read.

Differences from nilearn
------------------------
* A map that is all zero (after NaN removal and resampling) gives a warning naming its
  index (nilearn returns a silent zero column).
* ``allow_overlap=False`` names a pair of overlapping maps in the error.
* A 3D maps image whose values look like integer labels (more than 2 distinct integer
  values) gives a warning suggesting ``NiftiLabelsMasker`` (it is still used as one map).
* ``memory_level >= 2`` without a cache location warns instead of crashing.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._niimg import affines_close, check_header_t_r, check_niimg, same_fov
from ..exceptions import AtlasError, DimensionError, GeometryError, NimaskDataWarning, NimaskGeometryWarning, ParameterError
from ..regions._maps import MapsOperator, NonFiniteMaps, extract_chunks, maps_array, prepare_maps, signals_to_array
from ..reporting._record import reported
from ._base import has_scaling
from ._base import source_dtype as base_source_dtype

try:  # scikit-learn is a dependency of the estimators only
    from sklearn.base import BaseEstimator, TransformerMixin
except ImportError:  # pragma: no cover
    BaseEstimator, TransformerMixin = object, object

__all__ = ["NiftiMapsMasker"]

_STANDARDIZE = ("zscore_sample", "psc", True, False, None)


# --------------------------------------------------------------------------------------------
# plumbing shared by the maps and spheres maskers (kept small; see maskers/_base.py for NiftiMasker)
# --------------------------------------------------------------------------------------------
class _RegionMaskerMixin(TransformerMixin, BaseEstimator):
    """Validation, cleaning, dtype and output rules shared by the region maskers."""

    _bool_params = ("detrend", "standardize_confounds")

    def _check_params(self) -> None:
        if self.standardize not in _STANDARDIZE or isinstance(self.standardize, (np.bool_,)):
            raise ParameterError(
                f"'standardize' must be one of {_STANDARDIZE}. {self.standardize!r} was provided.",
                param="standardize",
            )
        number = (int, float, np.integer, np.floating)
        fwhm = self.smoothing_fwhm
        if fwhm is not None and (isinstance(fwhm, bool) or not isinstance(fwhm, number)):
            raise TypeError(f"'smoothing_fwhm' must be a number of mm or None, found {fwhm!r} ({type(fwhm).__name__}).")
        for name in ("t_r", "low_pass", "high_pass"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, number)):
                raise TypeError(f"'{name}' must be a number or None, found {value!r} ({type(value).__name__}).")
        if self.t_r is not None:  # Difference from nilearn: t_r=-2 or 2000 (ms) refused even without a filter
            from ..signal import check_t_r

            check_t_r(self.t_r, purpose=f"{type(self).__name__}(t_r=...)")
        for name in self._bool_params:
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise TypeError(f"'{name}' must be a bool, found {value!r} ({type(value).__name__}).")
        if not isinstance(self.memory_level, (int, np.integer)) or isinstance(self.memory_level, bool):
            raise TypeError(f"'memory_level' must be an int, found {self.memory_level!r}.")
        if not isinstance(self.verbose, (bool, int, np.integer)):
            raise TypeError(f"'verbose' must be a bool or an int, found {self.verbose!r}.")
        if self.dtype is bool or (self.dtype is not None and not isinstance(self.dtype, str) and np.dtype(self.dtype) == bool):
            raise TypeError("'dtype' cannot be bool")
        if isinstance(self.dtype, str) and self.dtype != "auto":
            np.dtype(self.dtype)
        clean_args = self.clean_args
        if clean_args is not None and not isinstance(clean_args, dict):
            raise TypeError(f"'clean_args' must be a dict or None, found {type(clean_args).__name__}.")
        self.clean_args_ = {} if clean_args is None else clean_args
        self.memory_ = self._make_memory()

    def _make_memory(self):
        import joblib

        memory = self.memory
        if memory is None or isinstance(memory, joblib.Memory):
            mem = memory if memory is not None else joblib.Memory(location=None, verbose=0)
        elif isinstance(memory, (str,)) or hasattr(memory, "__fspath__"):
            from ._base import check_cache_location

            mem = joblib.Memory(location=check_cache_location(memory), verbose=0)
        else:
            raise TypeError(f"'memory' must be None, a path or a joblib.Memory, found {type(memory).__name__}.")
        if mem.location is not None and self.memory_level == 0:
            warnings.warn(
                "memory_level is currently set to 0 but a Memory object has been provided. "
                "Setting memory_level to 1.",
                UserWarning,
                stacklevel=4,
            )
            self.memory_level = 1
        elif mem.location is None and self.memory_level > 1:
            warnings.warn(
                f"Caching has been enabled (memory_level = {self.memory_level}) but no Memory object or "
                "path has been provided (parameter memory). Caching deactivated for function "
                "transform_single_imgs.",
                UserWarning,
                stacklevel=4,
            )
        return mem

    # ---- images -----------------------------------------------------------------------------
    @staticmethod
    def _load_data(imgs, dtype=None):
        """(4D image, was_3d) for a 3D/4D niimg or a list of 3D niimgs."""
        img = check_niimg(imgs, dtype=dtype)
        ndim = len(img.shape)
        if ndim == 3:
            return check_niimg(img, atleast_4d=True), True
        if ndim != 4:
            raise DimensionError(ndim, 4, f"Input data has incompatible dimensionality: Expected dimension is 4D and you provided a {ndim}D image.")
        return img, False

    @staticmethod
    def _binarised_mask(mask_img):
        """Constructor masks as uint8 0/1, with NiftiMasker's checks (:func:`binarised_mask`).

        Difference from nilearn: a probability map, a mask with several nonzero values or a
        4D mask with several volumes is refused instead of silently binarised / AND-ed;
        NaN counts as 0 with a warning giving the count.
        """
        if mask_img is None:
            return None
        from ._base import binarised_mask

        return binarised_mask(mask_img)

    @staticmethod
    def _resample(img, target, interpolation, **kw):
        from ..image import resample_img

        return resample_img(
            img, target_affine=target.affine, target_shape=target.shape[:3], interpolation=interpolation,
            copy_header=True, force_resample=True, **kw,
        )

    @staticmethod
    def _smooth(img, fwhm):
        from .._nonfinite import count_nonfinite_img, note
        from ..image import smooth_img

        # smoothing zeroes NaN/inf (nilearn silently): count them for the policy's warning
        note(count_nonfinite_img(img), "smoothing", "in the image (before smoothing)")
        return smooth_img(img, fwhm)

    # ---- signals ----------------------------------------------------------------------------
    def _high_variance(self, img):
        from ..signal import high_variance_confounds

        data = np.asanyarray(img.dataobj)
        series = data.reshape(-1, data.shape[-1]).T
        return high_variance_confounds(series)

    def _clean(self, signals, confounds, sample_mask, img, source_dtype):
        from ..signal import clean, load_confounds_array

        if self.high_variance_confounds:
            hv = self._high_variance(img)
            user = load_confounds_array(confounds, signals.shape[0]) if confounds is not None else None
            confounds = hv if user is None else np.hstack([user, hv])
        signals = clean(
            signals,
            detrend=self.detrend,
            standardize=self.standardize,
            standardize_confounds=self.standardize_confounds,
            t_r=self.t_r,
            low_pass=self.low_pass,
            high_pass=self.high_pass,
            confounds=confounds,
            sample_mask=sample_mask,
            **self.clean_args_,
        )
        return signals

    def _cast(self, signals, source_dtype):
        if self.dtype is None:
            return signals
        if isinstance(self.dtype, str) and self.dtype == "auto":
            target = np.int32 if np.dtype(source_dtype).kind == "i" else np.float32
        else:
            target = np.dtype(self.dtype)
        return signals.astype(target)

    def _finish(self, signals, was_3d):
        if was_3d and getattr(self, "_sklearn_output_config", {}).get("transform") is None:
            return np.squeeze(signals)
        return signals

    def _inverse_dtype(self, signals):
        if signals.dtype == bool:
            target = np.int32 if self.dtype is None else self._cast(np.zeros(1), np.int32).dtype
            warnings.warn(f"Casting boolean input to {np.dtype(target)}.", UserWarning, stacklevel=3)
            return np.dtype(target)
        if self.dtype is None:
            return signals.dtype
        return self._cast(np.zeros(1, signals.dtype), signals.dtype).dtype

    def get_feature_names_out(self, input_features=None):
        self._check_fitted()
        prefix = type(self).__name__.lower()
        return np.asarray([f"{prefix}{i}" for i in range(self.n_elements_)], dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return all(hasattr(self, a) for a in self._fitted_attrs)

    def _check_fitted(self):
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    @reported("fit_transform")
    def fit_transform(self, imgs, y=None, confounds=None, sample_mask=None):
        return self.fit(imgs, y).transform(imgs, confounds=confounds, sample_mask=sample_mask)

    @reported("transform")
    def transform(self, imgs, confounds=None, sample_mask=None):
        """Extract and clean the signals of ``imgs`` (3D gives 1-D output)."""
        self._check_fitted()
        return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)

    # ---- report --------------------------------------------------------------------------
    def generate_report(self, title: str | None = None):
        """An HTML report of the fitted masker (see :func:`nimask.reporting.masker_report`).

        Needs matplotlib (``nimask[plotting]``). Returns a :class:`nimask.reporting.Report`
        (``save_as_html``, ``open_in_browser``, ``_repr_html_`` in notebooks).
        """
        from ..reporting import masker_report

        return masker_report(self, title=title)


def _signature_overlap(maps: np.ndarray) -> tuple[int, int] | None:
    """A pair of maps that are both positive in one voxel, or None."""
    positive = maps > 0
    count = positive.sum(axis=3)
    if not np.any(count > 1):
        return None
    voxel = np.argwhere(count > 1)[0]
    which = np.flatnonzero(positive[tuple(voxel)])
    return int(which[0]), int(which[1])


class NiftiMapsMasker(_RegionMaskerMixin):
    """Extract one signal per map of a 4D maps image (least-squares fit of each scan).

    Parameters
    ----------
    maps_img : 4D niimg-like
        One map per volume (a 3D image is one map).
    mask_img : 3D niimg-like or None
        Restricts the regression; binarised (nonzero in every volume).
    allow_overlap : bool, default=True
        If False, zero the map weights below machine epsilon (negative ones included, as
        nilearn) and refuse voxels shared by two maps.
    smoothing_fwhm, standardize, standardize_confounds, high_variance_confounds, detrend,
    low_pass, high_pass, t_r, dtype, memory, memory_level, verbose, reports, cmap, clean_args
        As nilearn.
    resampling_target : {"data", "mask", "maps", None}, default="data"
    keep_masked_maps : bool, default=False
        Deprecated in nilearn: keep maps outside the mask as zero columns.
    """

    _fitted_attrs = ("maps_img_", "n_elements_")

    def __init__(
        self,
        maps_img=None,
        mask_img=None,
        allow_overlap=True,
        smoothing_fwhm=None,
        standardize=False,
        standardize_confounds=True,
        high_variance_confounds=False,
        detrend=False,
        low_pass=None,
        high_pass=None,
        t_r=None,
        dtype=None,
        resampling_target="data",
        keep_masked_maps=False,
        memory=None,
        memory_level=0,
        verbose=0,
        reports=True,
        cmap="CMRmap_r",
        clean_args=None,
    ):
        self.maps_img = maps_img
        self.mask_img = mask_img
        self.allow_overlap = allow_overlap
        self.smoothing_fwhm = smoothing_fwhm
        self.standardize = standardize
        self.standardize_confounds = standardize_confounds
        self.high_variance_confounds = high_variance_confounds
        self.detrend = detrend
        self.low_pass = low_pass
        self.high_pass = high_pass
        self.t_r = t_r
        self.dtype = dtype
        self.resampling_target = resampling_target
        self.keep_masked_maps = keep_masked_maps
        self.memory = memory
        self.memory_level = memory_level
        self.verbose = verbose
        self.reports = reports
        self.cmap = cmap
        self.clean_args = clean_args

    _bool_params = ("detrend", "standardize_confounds", "keep_masked_maps")

    # ---- fit -----------------------------------------------------------------------------------
    @reported("fit")
    def fit(self, imgs=None, y=None):
        """Load (and resample) the maps and the mask; ``imgs`` gives the grid for ``"data"``."""
        import nibabel as nib

        self._check_params()
        if self.resampling_target not in ("data", "mask", "maps", None):
            raise ParameterError(
                f"resampling_target must be one of ('data', 'mask', 'maps', None), found "
                f"{self.resampling_target!r}.",
                param="resampling_target",
            )
        if self.maps_img is None:
            raise AtlasError("maps_img must be given (a 4D image with one map per volume), found None.", param="maps_img")
        if self.keep_masked_maps:
            warnings.warn(
                "'keep_masked_maps' is deprecated (nilearn 0.15 removes it); maps outside the mask "
                "give zero columns.",
                FutureWarning,
                stacklevel=2,
            )
        raw = check_niimg(self.maps_img)
        if len(raw.shape) not in (3, 4):
            raise DimensionError(len(raw.shape), 4, f"maps_img must be a 3D or 4D image (one map per volume), found a {len(raw.shape)}D image of shape {raw.shape}.")
        maps_img = check_niimg(raw, atleast_4d=True)
        if len(raw.shape) == 3 and np.asanyarray(raw.dataobj).dtype.kind in "iu":
            n_values = np.unique(np.asanyarray(raw.dataobj)).size
            if n_values > 2:
                warnings.warn(
                    f"maps_img is a 3D integer image with {n_values} distinct values: it looks like a "
                    "labels atlas (use NiftiLabelsMasker); here it is used as ONE weighted map.",
                    NimaskDataWarning,
                    stacklevel=2,
                )
        mask_img = self._binarised_mask(self.mask_img)
        if self.resampling_target == "mask" and mask_img is None:
            raise ParameterError(
                "resampling_target has been set to 'mask' but no mask has been provided.\n"
                "Set resampling_target to something else or provide a mask.",
                param="resampling_target",
            )
        ref = None
        if self.resampling_target == "data" and imgs is not None:
            ref = self._load_data(imgs)[0]
        elif self.resampling_target == "mask":
            ref = mask_img
        elif self.resampling_target == "maps":
            ref = maps_img
        if self.resampling_target is None:
            ref_img = self._load_data(imgs)[0] if imgs is not None else None
            self._check_fov(maps_img, mask_img, ref_img)
        if ref is not None and not same_fov(ref, maps_img):
            maps_img = self._resample_maps(maps_img, ref)  # streamed from the file, converted per chunk
        else:
            maps_img = nib.Nifti1Image(maps_array(maps_img), maps_img.affine)
        if mask_img is not None and ref is not None and not same_fov(ref, mask_img):
            mask_img = self._resample(mask_img, ref, "nearest")
        data = np.asarray(maps_img.dataobj)
        if not np.any(data):
            raise AtlasError("maps_img contains no map (every value is 0 or non-finite).", param="maps_img")
        empty = np.flatnonzero(~np.any(data != 0, axis=(0, 1, 2)))
        if empty.size:
            warnings.warn(
                f"maps_img: maps {empty.tolist()} are all zero; their signals are zero columns.",
                NimaskDataWarning,
                stacklevel=2,
            )
        if mask_img is not None and ref is not None and same_fov(mask_img, maps_img):
            if not np.any(data[np.asarray(mask_img.dataobj) != 0]):
                raise AtlasError(
                    "No map left after applying mask to the maps image (no nonzero map value inside mask_img).",
                    param="mask_img",
                )
        self.maps_img_ = maps_img
        self.mask_img_ = mask_img
        self.n_elements_ = int(data.shape[3])
        self._operators = {}
        self._reporting_data = None
        if ref is not None and self.allow_overlap and (mask_img is None or same_fov(mask_img, maps_img)):
            # the extraction grid is known: factor the maps now, once for every image
            self._operator(maps_img, mask_img)
        return self

    def _resample_maps(self, maps_img, ref):
        """Maps resampled to ``ref`` (linear, clipped), as float maps with non-finite values 0."""
        from ..image._resampling import resample_prepared

        tally = NonFiniteMaps()
        stored = np.dtype(maps_img.get_data_dtype())
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if stored.kind in "iub" and not has_scaling(maps_img):
                # integer maps (no NaN possible) go straight into float: no float copy of the 1 mm maps
                float_dtype = np.float64 if stored.itemsize == 8 else np.float32
                maps_img = resample_prepared(maps_img, ref, "linear", clip=True, dtype=float_dtype)
            else:
                maps_img = resample_prepared(maps_img, ref, "linear", clip=True, prepare=tally)
        tally.warn(stacklevel=3)
        if not np.any(np.asarray(maps_img.dataobj)):
            raise AtlasError(
                "No map left after resampling maps_img (every resampled value is 0).", param="maps_img"
            )
        return maps_img

    @staticmethod
    def _check_fov(maps_img, mask_img, data_img):
        problems = []
        for other, what in ((mask_img, "mask"), (data_img, "data")):
            if other is None:
                continue
            if tuple(other.shape[:3]) != tuple(maps_img.shape[:3]):
                problems.append(f"- maps and {what} do not have the same shape: {maps_img.shape[:3]} vs {other.shape[:3]}")
            elif not affines_close(other.affine, maps_img.affine):
                problems.append(f"- maps and {what} do not have the same affine")
        if problems:
            raise GeometryError(
                "Following field of view errors were detected (resampling_target=None):\n" + "\n".join(problems),
                param="resampling_target",
            )

    # ---- transform -----------------------------------------------------------------------------
    def _operator(self, maps_img, mask_img) -> MapsOperator:
        key = (id(maps_img), id(mask_img))
        op = self._operators.get(key)
        if op is None:
            mask = None if mask_img is None else np.asarray(mask_img.dataobj) != 0
            op = prepare_maps(np.asarray(maps_img.dataobj), mask, keep_masked_maps=self.keep_masked_maps)
            self._operators = {key: op}  # keep only the latest grid
        return op

    def transform_single_imgs(self, imgs, confounds=None, sample_mask=None):
        """Signals ``(T, n_maps)`` of one 3D/4D image (``(n_maps,)`` for a 3D image)."""
        from .._nifti_io import iter_volume_chunks
        from .._threads import prefetched

        self._check_fitted()
        img, was_3d = self._load_data(imgs)
        check_header_t_r(img, self.t_r, type(self).__name__)
        source_dtype = base_source_dtype(img)
        maps_img, mask_img = self.maps_img_, self.mask_img_
        target = self.resampling_target
        if target is None:
            self._check_fov(maps_img, mask_img, img)
        elif target == "data":
            if not same_fov(img, maps_img):
                warnings.warn("Resampling maps at transform time...", NimaskGeometryWarning, stacklevel=2)
                maps_img = self._resample_maps(maps_img, img)
            if mask_img is not None and not same_fov(img, mask_img):
                warnings.warn("Resampling mask at transform time...", NimaskGeometryWarning, stacklevel=2)
                mask_img = self._resample(mask_img, img, "nearest")
        elif not same_fov(img, maps_img):
            warnings.warn(
                "Resampling images at transform time (the data grid differs from the maps grid)...",
                NimaskGeometryWarning,
                stacklevel=2,
            )
            img = self._resample(img, maps_img, "continuous", clip=True)
        if not self.allow_overlap:
            self._zero_small_weights(maps_img)
        if self.smoothing_fwhm is not None:
            img = self._smooth(img, self.smoothing_fwhm)
        op = self._operator(maps_img, mask_img)
        signals = extract_chunks(op, prefetched(iter_volume_chunks(img)))
        signals = self._clean(signals, confounds, sample_mask, img, source_dtype)
        return self._finish(self._cast(signals, source_dtype), was_3d)

    def _zero_small_weights(self, maps_img):
        data = np.asarray(maps_img.dataobj)
        small = data < np.finfo(data.dtype).eps
        if np.any(small & (data != 0)):
            data[small] = 0  # in place, as nilearn (changes the fitted maps)
            self._operators = {}
        pair = _signature_overlap(data)
        if pair is not None:
            raise AtlasError(
                f"Overlap detected in the maps: maps {pair[0]} and {pair[1]} are both positive in at "
                "least one voxel. Use allow_overlap=True or non-overlapping maps.",
                param="allow_overlap",
            )

    # ---- inverse -------------------------------------------------------------------------------
    def inverse_transform(self, region_signals):
        """Image ``signals @ maps.T`` on the ``maps_img_`` grid (mask support only)."""
        import nibabel as nib

        self._check_fitted()
        signals = np.asarray(region_signals)
        dtype = self._inverse_dtype(signals)
        if signals.ndim not in (1, 2) or signals.shape[-1] != self.n_elements_:
            raise AtlasError(
                f"region_signals must have shape (n_maps,) or (T, n_maps) with n_maps = {self.n_elements_}, "
                f"found shape {signals.shape}.",
                param="region_signals",
            )
        mask = None
        if self.mask_img_ is not None:
            mask_img = self.mask_img_
            if not same_fov(mask_img, self.maps_img_):
                mask_img = self._resample(mask_img, self.maps_img_, "nearest")
            mask = np.asarray(mask_img.dataobj) != 0
        op = prepare_maps(np.asarray(self.maps_img_.dataobj), mask, for_inverse=True)
        data = signals_to_array(signals.astype(dtype) if signals.dtype == bool else signals, op)
        return nib.Nifti1Image(data.astype(dtype, copy=False), self.maps_img_.affine)
