"""The one estimator base of the seven maskers: validate, call kernels, store fitted attributes.

A masker is a thin scikit-learn transformer over the kernels:

* ``fit`` validates the declared parameters (:mod:`._params`), builds ``memory_`` and
  ``clean_args_`` and calls the masker's ``_fit`` (which loads the atlas or mask and
  prepares the operator of the fit grid, see :mod:`nimask.regions`);
* ``transform`` loads the run, asks ``operator_for(img)`` for the operator on the run's grid
  (no side effect), streams the run through it (:func:`nimask.pipeline.stream`), cleans the
  ``(T, n)`` signals (:meth:`BaseMasker.clean_signals`), then squeezes and casts. It never
  writes to ``self``: what one image teaches (its grid's coverage, the regions a mask
  emptied there) comes back from ``operator_for(img)``.

The whole extraction of an image is cached through the one content-keyed cache
(:func:`._cache.cached_call`) when ``memory`` is set and ``memory_level >= 1``.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, ClassVar

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from .._warnings import find_stack_level
from .._niimg import check_header_t_r, check_niimg
from ..exceptions import DimensionError, MaskError, NimaskDataWarning, ParameterError
from ..reporting._record import reported
from ._cache import as_key, cached_call, check_cache_location, fingerprint, make_memory
from ._params import COMMON_CONSTRAINTS, validate_params

__all__ = ["BaseMasker", "source_dtype", "has_scaling", "binarised_mask", "fingerprint", "cached_call",
           "check_cache_location", "load_run"]


# --------------------------------------------------------------------------------- helpers
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
                f"'{param}' has {n_bad} NaN/inf values; they are treated as outside the mask (0).",
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


# --------------------------------------------------------------------------------- the base
class BaseMasker(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Parameters, fit/transform flow, cache, dtype/shape rules and scikit-learn surface.

    A masker subclass declares ``_parameter_constraints``, ``_fitted_attrs`` and
    implements ``_fit(imgs)`` (store the fitted attributes, prepare the fit grid's
    operator in ``_operator``) and ``operator_for(img)``.
    """

    _parameter_constraints: ClassVar[dict] = COMMON_CONSTRAINTS
    _fitted_attrs: ClassVar[tuple] = ()
    _hv_first: ClassVar[bool] = False  # the high-variance confounds go before the user's (NiftiMasker)
    _load_dtype_param: ClassVar[bool] = False  # ``dtype`` also applies when loading (spheres)

    # ---- fit -----------------------------------------------------------------------------
    @reported("fit")
    def fit(self, imgs: Any = None, y: Any = None) -> BaseMasker:
        """Validate the parameters, load the atlas / mask and prepare its operator."""
        self._validate()
        self._fit(imgs, warn_given_mask=True)
        return self

    @reported("fit_transform")
    def fit_transform(self, imgs: Any, y: Any = None, confounds: Any = None, sample_mask: Any = None) -> Any:
        """Fit on ``imgs`` then transform them."""
        self._validate()
        self._fit(imgs, warn_given_mask=False)
        return self.transform(imgs, confounds=confounds, sample_mask=sample_mask)

    def _validate(self) -> None:
        validate_params(self, self._parameter_constraints)
        if self.t_r is not None:  # Difference from nilearn: t_r=-2 or 2000 (ms) refused even without a filter
            from ..signal import check_t_r

            check_t_r(self.t_r, purpose=f"{type(self).__name__}(t_r=...)")
        self.clean_args_ = {} if self.clean_args is None else dict(self.clean_args)
        self.memory_, self._memory_level = make_memory(self.memory, self.memory_level)

    def _fit(self, imgs: Any, warn_given_mask: bool) -> None:  # pragma: no cover - every masker defines it
        raise NotImplementedError

    # ---- transform -----------------------------------------------------------------------
    @reported("transform")
    def transform(self, imgs: Any, confounds: Any = None, sample_mask: Any = None) -> Any:
        """Signals ``(T, n_elements_)`` of a 4D image (``(n_elements_,)`` for a 3D image)."""
        self._check_fitted()
        self._warn_bool_standardize()
        return self.transform_single_imgs(imgs, confounds=confounds, sample_mask=sample_mask)

    def transform_single_imgs(self, imgs: Any, confounds: Any = None, sample_mask: Any = None,
                              copy: bool = True) -> np.ndarray:
        """The per-image pipeline: load, stream through the operator, clean, squeeze, cast."""
        self._check_fitted()
        return self._transform_one(imgs, confounds, sample_mask)

    def _transform_one(self, imgs: Any, confounds: Any, sample_mask: Any, cast: bool = True) -> np.ndarray:
        img, was_3d = load_run(imgs, dtype=self.dtype if self._load_dtype_param else None)
        check_header_t_r(img, self.t_r, type(self).__name__)
        src = source_dtype(img)
        op = self.operator_for(img)
        if self.high_variance_confounds:
            confounds = self._with_high_variance(img, confounds)
        key = lambda: ("signals", type(self).__name__, fingerprint(imgs), fingerprint(confounds),  # noqa: E731
                       as_key(sample_mask), self._state_key(), as_key(np.asarray(img.affine)))
        signals = self._cache(key, lambda: self._cleaned(self.extract(img, op), op, confounds, sample_mask))
        return self._finish(signals, was_3d, src if cast else None)

    def operator_for(self, img: Any) -> Any:  # pragma: no cover - every masker defines it
        """The operator of this fitted masker on the grid of ``img`` (no side effect)."""
        raise NotImplementedError

    def extract(self, img: Any, op: Any) -> np.ndarray:
        """Raw signals ``(T, n)`` of ``img`` through ``op`` (resampled and smoothed as set)."""
        from ..pipeline import stream

        return stream(img, [op], smoothing_fwhm=self.smoothing_fwhm, label=f"{type(self).__name__}.transform")[0]

    def clean_signals(self, signals: np.ndarray, img: Any, confounds: Any = None, sample_mask: Any = None,
                      op: Any = None) -> np.ndarray:
        """What ``transform`` returns for raw ``signals`` of the 4D image ``img``: cleaned, cast.

        ``signals`` is not modified. nimask extension, used by :mod:`nimask.batch` to clean one
        extraction with several strategies.
        """
        self._check_fitted()
        if self.high_variance_confounds:
            confounds = self._with_high_variance(img, confounds)
        cleaned = self._cleaned(np.array(signals, order="K"), op, confounds, sample_mask)
        return self._finish(cleaned, False, source_dtype(img))

    def _cleaned(self, signals: np.ndarray, op: Any, confounds: Any, sample_mask: Any) -> np.ndarray:
        """``signal.clean`` of owned ``signals`` with this masker's parameters (all-NaN columns left out)."""
        from ..signal._columns import clean_by_columns

        if self._nothing_to_clean(confounds, sample_mask):
            return signals if signals.dtype.kind == "f" else signals.astype(np.float64)
        kwargs = dict(
            runs=getattr(self, "runs", None), detrend=self.detrend, standardize=self.standardize,
            standardize_confounds=self.standardize_confounds, t_r=self.t_r, low_pass=self.low_pass,
            high_pass=self.high_pass, confounds=confounds, sample_mask=sample_mask, **self.clean_args_,
        )
        finite = None  # a column is all-NaN (an empty region) only if its first value is NaN
        if signals.shape[0] and signals.dtype.kind == "f" and np.isnan(signals[0]).any():
            finite = ~np.isnan(signals).all(axis=0)
        if finite is None or finite.all():
            return clean_by_columns(signals, _owned=True, **kwargs)
        cleaned = clean_by_columns(np.ascontiguousarray(signals[:, finite]), _owned=True, **kwargs)
        out = np.full((cleaned.shape[0], signals.shape[1]), np.nan, dtype=cleaned.dtype)
        out[:, finite] = cleaned
        return out

    def _nothing_to_clean(self, confounds: Any, sample_mask: Any) -> bool:
        return False

    def _with_high_variance(self, img: Any, confounds: Any) -> Any:
        hv = high_variance_of(img)
        if confounds is None:
            return hv
        user = list(confounds) if isinstance(confounds, list) else [confounds]
        return [hv, *user] if self._hv_first else [*user, hv]

    def _state_key(self) -> dict:
        """Content key of everything a transform depends on besides its inputs (cache key)."""
        params = {k: as_key(v) for k, v in self.get_params(deep=False).items() if k not in ("memory", "verbose",
                                                                                             "reports", "n_jobs")}
        params.update({a: fingerprint(getattr(self, a, None)) for a in self._fitted_attrs})
        return params

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
                FutureWarning, stacklevel=find_stack_level(),
            )

    # ---- outputs -------------------------------------------------------------------------
    def _output_dtype(self, src_dtype: Any) -> np.dtype | None:
        if self.dtype is None:
            return None
        if isinstance(self.dtype, str) and self.dtype == "auto":
            return np.dtype(np.int32) if np.dtype(src_dtype).kind == "i" else np.dtype(np.float32)
        return np.dtype(self.dtype)

    def _finish(self, signals: np.ndarray, was_3d: bool, src_dtype: Any) -> np.ndarray:
        """Squeeze for a 3D input (only while set_output was never configured), then cast.

        ``src_dtype`` None means "do not cast" (nilearn's Multi masker list path)."""
        if was_3d and getattr(self, "_sklearn_output_config", {}).get("transform") is None:
            signals = np.squeeze(signals)
        target = None if src_dtype is None else self._output_dtype(src_dtype)
        if target is not None and signals.dtype != target:
            signals = signals.astype(target)
        return signals

    def _inverse_input(self, X: Any, name: str) -> tuple[np.ndarray, np.dtype]:
        """``X`` as an array of ``(n_elements_,)`` or ``(T, n_elements_)``, and the image dtype."""
        self._check_fitted()
        if hasattr(X, "to_numpy"):
            X = np.squeeze(X.to_numpy())
        X = np.asarray(X)
        n = self.n_elements_
        if X.ndim not in (1, 2) or X.shape[-1] != n:
            expected = (n,) if X.ndim == 1 else ((X.shape[0], n) if X.ndim == 2 else "(n,) or (T, n)")
            raise ParameterError(
                f"Input to 'inverse_transform' has wrong shape.\nExpected {expected}.\nGot {X.shape}.",
                param=name, expected=expected, found=X.shape,
            )
        if X.dtype == bool:
            target = np.dtype(np.int32) if self.dtype is None else self._output_dtype(np.int32)
            warnings.warn(f"Casting boolean input to {target}.", UserWarning, stacklevel=find_stack_level())
        else:
            target = X.dtype if self.dtype is None else self._output_dtype(X.dtype)
        if target == np.int64:  # nibabel refuses int64 images: int32 when the values fit, else float64
            fits = not X.size or np.abs(X).max() <= np.iinfo(np.int32).max
            target = np.dtype(np.int32) if fits else np.dtype(np.float64)
        return X, np.dtype(target)

    # ---- sklearn surface -----------------------------------------------------------------
    @property
    def _n_features_out(self) -> int:
        return self.n_elements_

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """``<lowercase class name><i>`` for each output column (nilearn's names)."""
        self._check_fitted()
        return super().get_feature_names_out(input_features)

    def __sklearn_is_fitted__(self) -> bool:
        return all(hasattr(self, attr) for attr in self._fitted_attrs)

    def _check_fitted(self) -> None:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.three_d_array = True
        tags.requires_fit = True
        return tags

    # ---- report --------------------------------------------------------------------------
    def generate_report(self, title: str | None = None) -> Any:
        """An HTML report of the fitted masker (see :func:`nimask.reporting.masker_report`).

        Needs matplotlib (``nimask[plotting]``). Returns a :class:`nimask.reporting.Report`
        (``save_as_html``, ``open_in_browser``, ``_repr_html_`` in notebooks).
        """
        from ..reporting import masker_report

        return masker_report(self, title=title)


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
