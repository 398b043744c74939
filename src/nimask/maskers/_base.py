"""Small estimator plumbing shared by nimask's maskers.

What every masker needs and nothing more: parameter checks done at ``fit`` (nilearn's
§1.3 rules), the ``memory_`` object (the cache itself is in ``_cache``), the output dtype and
squeeze rules, the ``inverse_transform`` dtype rule, the "fitted" test and scikit-learn's
feature names (``niftimasker0``, ...). Algorithms live in kernels, not here.

The class is written so that the region maskers (maps, spheres, labels) can switch to it:
each masker lists its boolean parameters in ``_bool_params`` and its fitted attributes in
``_fitted_attrs``.
"""
from __future__ import annotations

import os
import warnings
from typing import Any, Callable

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from .._niimg import check_niimg
from .._threads import single_threaded_blas
from ..exceptions import DimensionError, MaskError, NimaskDataWarning, ParameterError
from ._cache import cached_call, check_cache_location, fingerprint

__all__ = ["_BaseMasker", "source_dtype", "has_scaling", "binarised_mask", "fingerprint", "cached_call", "check_cache_location"]

STANDARDIZE_VALUES = ("zscore_sample", "psc", True, False, None)
_NUMBER = (int, float, np.integer, np.floating)


# --------------------------------------------------------------------------------- helpers
def source_dtype(img) -> np.dtype:
    """nilearn's "source dtype": the array dtype (float64 for a file with slope/intercept).

    Read from the proxy header, so the data are not loaded.
    """
    proxy = img.dataobj
    if isinstance(proxy, np.ndarray):
        return proxy.dtype
    if hasattr(proxy, "dtype"):
        return np.dtype(np.float64) if has_scaling(img) else np.dtype(proxy.dtype)
    return np.asanyarray(proxy[:1, :1, :1, ...]).dtype  # unusual proxies: read one voxel


def has_scaling(img) -> bool:
    """The image's data are scaled by a header slope/intercept (nibabel then gives float64)."""
    proxy = img.dataobj
    slope, inter = getattr(proxy, "slope", 1.0), getattr(proxy, "inter", 0.0)
    return not (np.all(np.asarray(slope) == 1) and np.all(np.asarray(inter) == 0))


def binarised_mask(mask_img, *, param: str = "mask_img"):
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
                f"'{param}' has {n_bad} NaN/inf values; they are treated as outside the mask (0).",
                NimaskDataWarning, stacklevel=3,
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


class _BaseMasker(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Parameter checks, memory, dtype/shape rules and sklearn surface of the maskers."""

    _bool_params: tuple[str, ...] = ("detrend", "standardize_confounds")
    _fitted_attrs: tuple[str, ...] = ("mask_img_",)

    # ---- parameters ----------------------------------------------------------------------
    def _check_params(self) -> None:
        """nilearn's fit-time type checks (§1.3); sets ``clean_args_`` and ``memory_``."""
        name = type(self).__name__
        standardize = self.standardize
        if isinstance(standardize, np.bool_) or not any(
            standardize is v or (isinstance(v, str) and standardize == v) for v in STANDARDIZE_VALUES
        ):
            raise ParameterError(
                f"'standardize' must be one of {STANDARDIZE_VALUES}. {standardize!r} was provided.",
                param="standardize", found=standardize,
            )
        fwhm = self.smoothing_fwhm
        if fwhm is not None and (isinstance(fwhm, bool) or not isinstance(fwhm, _NUMBER)):
            raise TypeError(
                f"{name}: 'smoothing_fwhm' must be a number of mm or None; got {fwhm!r} ({type(fwhm).__name__})."
            )
        if fwhm is not None and fwhm < 0:
            raise ParameterError(f"{name}: 'smoothing_fwhm' must be >= 0 mm; got {fwhm!r}.", param="smoothing_fwhm")
        for param in ("t_r", "low_pass", "high_pass"):
            value = getattr(self, param)
            if value is not None and (isinstance(value, bool) or not isinstance(value, _NUMBER)):
                raise TypeError(f"{name}: '{param}' must be a number or None; got {value!r} ({type(value).__name__}).")
        # Difference from nilearn: t_r is checked at fit even with no filter (nilearn accepts
        # t_r=-2 or t_r=2000 ms silently and wipes the signal once a filter is on)
        if self.t_r is not None:
            from ..signal import check_t_r

            check_t_r(self.t_r, purpose=f"{name}(t_r=...)")
        for param in self._bool_params:
            value = getattr(self, param)
            if not isinstance(value, bool):
                raise TypeError(f"{name}: '{param}' must be a bool; got {value!r} ({type(value).__name__}).")
        level = self.memory_level
        if not isinstance(level, (int, np.integer)) or isinstance(level, bool):
            raise TypeError(f"{name}: 'memory_level' must be an int; got {level!r} ({type(level).__name__}).")
        if not isinstance(self.verbose, (bool, int, np.integer)):
            raise TypeError(f"{name}: 'verbose' must be a bool or an int; got {self.verbose!r}.")
        self._check_dtype()
        clean_args = self.clean_args
        if clean_args is not None and not isinstance(clean_args, dict):
            raise TypeError(f"{name}: 'clean_args' must be a dict or None; got {type(clean_args).__name__}.")
        self.clean_args_ = {} if clean_args is None else dict(clean_args)
        self.memory_ = self._make_memory()

    def _check_dtype(self) -> None:
        dtype = self.dtype
        if dtype is None or (isinstance(dtype, str) and dtype == "auto"):
            return
        if dtype is bool or (isinstance(dtype, str) and dtype in ("bool", "?")):
            raise TypeError("'dtype' cannot be bool")
        try:
            resolved = np.dtype(dtype)
        except TypeError as exc:
            raise TypeError(f"'dtype' must be None, 'auto' or a numpy dtype; got {dtype!r}.") from exc
        if resolved == bool:
            raise TypeError("'dtype' cannot be bool")

    def _make_memory(self):
        """``joblib.Memory`` for ``memory`` (None, path or Memory); the effective level is kept apart."""
        import joblib

        memory = self.memory
        if memory is None:
            mem = joblib.Memory(location=None, verbose=0)
        elif isinstance(memory, joblib.Memory):
            mem = memory
        elif isinstance(memory, (str, os.PathLike)):
            mem = joblib.Memory(location=check_cache_location(memory), verbose=0)
        else:
            raise TypeError(f"'memory' must be None, a path or a joblib.Memory; got {type(memory).__name__}.")
        self._memory_level = int(self.memory_level)
        if mem.location is not None and self._memory_level == 0:
            warnings.warn(
                "memory_level is currently set to 0 but a Memory object has been provided. "
                "Setting memory_level to 1.",
                UserWarning, stacklevel=4,
            )
            self._memory_level = 1
        elif mem.location is None and self._memory_level > 1:
            warnings.warn(
                f"Caching has been enabled (memory_level = {self._memory_level}) but no Memory object or "
                "path has been provided (parameter memory). Caching deactivated.",
                UserWarning, stacklevel=4,
            )
        return mem

    def _cache(self, key: Any, compute: Callable[[], Any], level: int = 1) -> Any:
        """Run ``compute`` through ``memory_`` when the effective memory level allows it.

        ``key`` may be a callable returning the key: it is then only built (file checksums
        read) when a cache location is in use.
        """
        if getattr(self, "_memory_level", 0) >= level and getattr(self.memory_, "location", None) is not None:
            return cached_call(self.memory_, key() if callable(key) else key, compute)
        return compute()

    def _warn_bool_standardize(self) -> None:
        if isinstance(self.standardize, bool):
            warnings.warn(
                "boolean values for 'standardize' will be deprecated in nilearn 0.15.0. Use "
                "'zscore_sample' instead of 'True' or use 'None' instead of 'False'.",
                FutureWarning, stacklevel=3,
            )

    # ---- images --------------------------------------------------------------------------
    @staticmethod
    def _load_run(imgs):
        """(image, was_3d) for a 3D/4D niimg or a list of 3D niimgs (list of 4D: DimensionError)."""
        img = check_niimg(imgs, ensure_ndim=None if not isinstance(imgs, (list, tuple)) else 4)
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
            raise ParameterError(
                f"The image is empty: shape {tuple(img.shape)}{where}.", path=name, found=tuple(img.shape)
            )
        return img, ndim == 3

    # ---- outputs -------------------------------------------------------------------------
    def _output_dtype(self, src_dtype) -> np.dtype | None:
        if self.dtype is None:
            return None
        if isinstance(self.dtype, str) and self.dtype == "auto":
            return np.dtype(np.int32) if np.dtype(src_dtype).kind == "i" else np.dtype(np.float32)
        return np.dtype(self.dtype)

    def _finish(self, signals: np.ndarray, was_3d: bool, src_dtype) -> np.ndarray:
        """Squeeze for a 3D input (only while set_output was never configured), then cast.

        ``src_dtype`` None means "do not cast" (nilearn's Multi masker list path)."""
        if was_3d and getattr(self, "_sklearn_output_config", {}).get("transform") is None:
            signals = np.squeeze(signals)
        target = None if src_dtype is None else self._output_dtype(src_dtype)
        if target is not None and signals.dtype != target:
            signals = signals.astype(target)
        return signals

    def _inverse_dtype(self, signals: np.ndarray) -> np.dtype:
        if signals.dtype == bool:
            target = np.dtype(np.int32) if self.dtype is None else self._output_dtype(np.int32)
            warnings.warn(f"Casting boolean input to {target}.", UserWarning, stacklevel=3)
            return target
        if self.dtype is None:
            return signals.dtype
        return self._output_dtype(signals.dtype)

    # ---- sklearn surface -----------------------------------------------------------------
    @property
    def _n_features_out(self) -> int:
        return self.n_elements_

    def get_feature_names_out(self, input_features=None):
        """``<lowercase class name><i>`` for each output column (nilearn's names)."""
        self._check_fitted()
        return super().get_feature_names_out(input_features)

    def __sklearn_is_fitted__(self) -> bool:
        return all(hasattr(self, attr) for attr in self._fitted_attrs)

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags

    # ---- report --------------------------------------------------------------------------
    def generate_report(self, title: str | None = None):
        """An HTML report of the fitted masker (see :func:`nimask.reporting.masker_report`).

        Needs matplotlib (``nimask[plotting]``). Returns a :class:`nimask.reporting.Report`
        (``save_as_html``, ``open_in_browser``, ``_repr_html_`` in notebooks).
        """
        from ..reporting import masker_report

        return masker_report(self, title=title)


# --------------------------------------------------------------------------------- cleaning
from ..signal._columns import clean_by_columns  # noqa: F401

